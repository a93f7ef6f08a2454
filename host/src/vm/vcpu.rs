//! The run loop: a vCPU runs until its next ucall, and every other way it stops is typed.

use super::arch::{Arch, Native, RootError, SystemStop};
use super::event::PendingCall;
use super::ioctls::counted;
use super::log::VcpuLog;
use super::watchdog::Watchdog;
use super::{ExitKind, Format, KvmError, Position, RunError, ShutdownReason, TableRoot};
use crate::decode::{Exit, Transport, Ucall};
use crate::paging::GuestView;
use kvm_ioctls::{VcpuExit, VcpuFd};
use std::sync::Arc;
use std::time::Duration;
use vm_memory::{GuestAddress, GuestMemoryMmap};

/// One vCPU of a [`Vm`](super::Vm), ready to run on any thread.
#[derive(Debug)]
pub struct Vcpu {
    pub(super) index: usize,
    pub(super) fd: VcpuFd,
    pub(super) memory: Arc<GuestMemoryMmap>,
    pub(super) format: Format,
    pub(super) root: GuestAddress,
    pub(super) table_root: TableRoot,
    pub(super) transport: Transport,
    pub(super) timeout: Duration,
    pub(super) watchdog: Watchdog,
    pub(super) finished: bool,
    pub(super) ioctls: u64,
    /// The read that the last event was, until the vCPU runs again.
    pub(super) pending_read: Option<Exit>,
    /// The ucall that the last event was, until the vCPU runs again.
    pub(super) pending_call: Option<PendingCall>,
    pub(super) log: Option<VcpuLog>,
}

impl Vcpu {
    /// The vCPU's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The vCPU's file descriptor, for anything this type does not offer.
    pub fn fd(&mut self) -> &mut VcpuFd {
        &mut self.fd
    }

    /// How many vCPU ioctls (`KVM_RUN`, `KVM_GET_ONE_REG`, ...) this vCPU's calls have issued,
    /// counted as they are issued: what a ucall costs, in the unit that dominates its cost on an
    /// emulating or nested hypervisor. A SYNC ucall from `ucall-guest` costs one, the `KVM_RUN`,
    /// on every architecture.
    ///
    /// ```no_run
    /// use ucall_host::vm::VmBuilder;
    ///
    /// let elf = std::fs::read("target/guests/x86_64/sync_stages")?;
    /// let mut vcpu = VmBuilder::new(&elf).build()?.take_vcpus().remove(0);
    /// let before = vcpu.ioctl_count();
    /// vcpu.next_ucall()?;
    /// assert_eq!(vcpu.ioctl_count() - before, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ioctl_count(&self) -> u64 {
        self.ioctls
    }

    /// Changes how long the vCPU may run without making a ucall (the builder's
    /// [`timeout`](super::VmBuilder::timeout)), from its next run on: a test harness gives each
    /// run what is left of the test's whole time.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Runs the guest until an MMIO, port I/O or SBI exit (a read gets zeros, unless
    /// [`answer_read`](Vcpu::answer_read) supplies its data), under the watchdog.
    pub(super) fn next_access(&mut self) -> Result<Exit, RunError> {
        let vcpu = self.index;
        let _armed = self.watchdog.arm(self.timeout);
        loop {
            if self.watchdog.fired() {
                return Err(RunError::Timeout {
                    vcpu,
                    after: self.timeout,
                });
            }
            let mut kvm_exit = match counted(|| self.fd.run()) {
                Ok(exit) => exit,
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
                Err(source) => {
                    let source = KvmError {
                        what: "KVM_RUN",
                        source,
                    };
                    return Err(RunError::Kvm { vcpu, source });
                }
            };
            if let VcpuExit::MmioRead(_, data) | VcpuExit::IoIn(_, data) = &mut kvm_exit {
                data.fill(0);
            }
            if let Some(exit) = Exit::from_kvm(&kvm_exit) {
                return Ok(exit);
            }
            return Err(match kvm_exit {
                VcpuExit::Intr => continue,
                VcpuExit::Hlt => RunError::Halted { vcpu },
                VcpuExit::Shutdown => RunError::Shutdown {
                    vcpu,
                    reason: ShutdownReason::TripleFault,
                },
                VcpuExit::SystemEvent(kind, data) => {
                    let data = data.to_vec();
                    match Native::system_event(&mut self.fd, kind, &data) {
                        SystemStop::Shutdown(reason) => RunError::Shutdown { vcpu, reason },
                        SystemStop::Exception {
                            syndrome,
                            at,
                            fault_address,
                        } => RunError::GuestException {
                            vcpu,
                            syndrome,
                            at,
                            fault_address,
                        },
                    }
                }
                VcpuExit::FailEntry(reason, _) => RunError::FailEntry { vcpu, reason },
                VcpuExit::Unsupported(reason) => match Native::other_exit(&mut self.fd, reason) {
                    Some(exit) => return Ok(exit),
                    None => RunError::UnexpectedExit {
                        vcpu,
                        exit: ExitKind::Other { reason },
                    },
                },
                VcpuExit::InternalError => {
                    internal_error(vcpu, &mut self.fd, &self.memory, &self.format, self.root)
                }
                _ => RunError::UnexpectedExit {
                    vcpu,
                    exit: ExitKind::Other {
                        reason: self.fd.get_kvm_run().exit_reason,
                    },
                },
            });
        }
    }
}

/// The format and root of the tables vCPU `vcpu` runs with now.
pub(super) fn live_tables(
    vcpu: usize,
    fd: &mut VcpuFd,
    built: Format,
) -> Result<(Format, GuestAddress), RunError> {
    Native::live_tables(fd, built).map_err(|e| match e {
        RootError::Kvm(source) => RunError::Kvm { vcpu, source },
        RootError::Unsupported(mode) => RunError::UnsupportedPagingMode { vcpu, mode },
    })
}

/// The tables a rooted ucall named, checked as the architecture requires.
pub(super) fn carried_tables(
    vcpu: usize,
    root: u64,
    built: Format,
) -> Result<(Format, GuestAddress), RunError> {
    Native::carried_tables(root, built).map_err(|e| match e {
        RootError::Kvm(source) => RunError::Kvm { vcpu, source },
        RootError::Unsupported(mode) => RunError::UnsupportedPagingMode { vcpu, mode },
    })
}

/// KVM's internal-error report for vCPU `vcpu`, with where the guest was (read through the
/// live tables when the mode allows a walk, else the `built` ones: a report, best effort).
fn internal_error(
    vcpu: usize,
    fd: &mut VcpuFd,
    memory: &GuestMemoryMmap,
    format: &Format,
    built: GuestAddress,
) -> RunError {
    // SAFETY: KVM filled the `internal` member of the exit union for this exit.
    let internal = unsafe { fd.get_kvm_run().__bindgen_anon_1.internal };
    let words = (internal.ndata as usize).min(internal.data.len());
    let pc = Native::program_counter(fd).ok();
    let (format, root) = live_tables(vcpu, fd, *format).unwrap_or((*format, built));
    let guest = GuestView::new(memory, &format, root);
    let mut instruction = vec![0; <Native as Arch>::MAX_INSTRUCTION_LEN];
    if pc.is_none_or(|pc| guest.read(pc, &mut instruction).is_err()) {
        instruction.clear();
    }
    RunError::InternalError {
        vcpu,
        suberror: internal.suberror,
        data: internal.data[..words].to_vec(),
        position: Position { pc, instruction },
    }
}

/// Finishes an exit that KVM completes on the next `KVM_RUN` (the data of an `in` or MMIO read)
/// without running the guest further, so that registers read next (say with `KVM_GET_REGS`)
/// show the instruction as completed, as the seed's `vcpu_run_complete_io` does. The ucall run
/// loop never needs it: it resumes with `KVM_RUN` anyway. Offered for VMMs that inspect a vCPU
/// between exits.
pub fn complete_pending_io(vcpu: &mut VcpuFd) -> Result<(), KvmError> {
    vcpu.set_kvm_immediate_exit(1);
    let result = counted(|| vcpu.run()).map(drop);
    vcpu.set_kvm_immediate_exit(0);
    match result {
        Err(e) if e.errno() == libc::EINTR => Ok(()),
        Ok(()) => Ok(()),
        Err(source) => Err(KvmError {
            what: "KVM_RUN (complete pending I/O)",
            source,
        }),
    }
}

/// Runs a single-vCPU guest to DONE, ABORT or UNHANDLED, handing each ucall to `on_ucall`, and
/// returns the last one.
///
/// ```no_run
/// use ucall_host::vm::{run_to_end, VmBuilder};
/// use ucall_host::Ucall;
///
/// let elf = std::fs::read("target/guests/x86_64/demo")?;
/// let mut vcpu = VmBuilder::new(&elf).build()?.take_vcpus().remove(0);
/// let last = run_to_end(&mut vcpu, |ucall| println!("{ucall}"))?;
/// assert_eq!(last, Ucall::Done);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_to_end(vcpu: &mut Vcpu, mut on_ucall: impl FnMut(&Ucall)) -> Result<Ucall, RunError> {
    loop {
        let ucall = vcpu.next_ucall()?;
        on_ucall(&ucall);
        if ucall.is_final() {
            return Ok(ucall);
        }
    }
}
