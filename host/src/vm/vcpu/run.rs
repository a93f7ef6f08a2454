//! `KVM_RUN`: a vCPU runs until its next MMIO, port I/O or SBI exit, under the watchdog, and
//! every other way it stops is a typed error.

use super::Vcpu;
use super::tables::{Tables, live_tables};
use crate::arch::Arch;
use crate::decode::Exit;
use crate::vm::arch::{KvmArch, Native, SystemStop};
use crate::vm::ioctl_count::counted;
use crate::vm::{ExitKind, KvmError, Position, RunError, ShutdownReason};
use kvm_ioctls::{VcpuExit, VcpuFd};
use vm_memory::GuestMemoryMmap;

impl Vcpu {
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
                    internal_error(vcpu, &mut self.fd, &self.memory, self.built)
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

/// KVM's internal-error report for vCPU `vcpu`, with where the guest was (read through the
/// live tables when the mode allows a walk, else the `built` ones: a report, best effort).
fn internal_error(
    vcpu: usize,
    fd: &mut VcpuFd,
    memory: &GuestMemoryMmap,
    built: Tables,
) -> RunError {
    // SAFETY: KVM filled the `internal` member of the exit union for this exit.
    let internal = unsafe { fd.get_kvm_run().__bindgen_anon_1.internal };
    let words = (internal.ndata as usize).min(internal.data.len());
    let pc = Native::program_counter(fd).ok();
    let tables = live_tables(vcpu, fd, built.format).unwrap_or(built);
    let guest = tables.view(memory);
    let mut instruction = vec![0; <Native as KvmArch>::Arch::MAX_INSTRUCTION_LEN];
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
