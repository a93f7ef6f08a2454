//! The next thing a vCPU stops for that the test may handle: the guest's logged lines first,
//! then ucalls (located and decoded through the VM's convention) and the test's own MMIO and
//! port I/O.

use super::Vcpu;
use super::reply::PendingCall;
use super::tables::{carried_tables, live_tables};
use crate::convention::ExitAt;
use crate::decode::{Exit, Ucall};
use crate::vm::arch::{KvmArch, Native};
use crate::vm::event::Event;
use crate::vm::ioctl_count::counting;
use crate::vm::log_drain::VcpuLog;
use crate::vm::{ExitKind, RunError, TableRoot};

impl Vcpu {
    /// Runs the guest until its next ucall or its next MMIO or port I/O exit that is not a
    /// ucall, and returns it; every other way the vCPU stops is an error, as for
    /// [`next_ucall`](Vcpu::next_ucall). After DONE, ABORT or UNHANDLED the vCPU does not run
    /// again.
    ///
    /// With the guest's log ring enabled (see [`VmBuilder::log_ring`](crate::vm::VmBuilder::log_ring)),
    /// the lines the guest logged before an exit come first, one [`Ucall::Log`] per call, then
    /// the exit's event or error; a ring the host cannot drain is a [`RunError::LogRing`] in
    /// that place. LOG_FLUSH exits are served here and never returned; they count against the
    /// same timeout, so a guest that only flushes ends in [`RunError::Timeout`].
    pub fn next_event(&mut self) -> Result<Event, RunError> {
        let (event, ioctls) = counting(|| self.event());
        self.ioctls += ioctls;
        event
    }

    /// [`next_event`](Vcpu::next_event) before counting its ioctls: the lines the guest logged
    /// first, then the exit's event.
    fn event(&mut self) -> Result<Event, RunError> {
        if let Some(earlier) = self.log.as_mut().and_then(VcpuLog::next) {
            return earlier;
        }
        if self.finished {
            return Err(RunError::Finished { vcpu: self.index });
        }
        // One deadline for the whole call: progress is a ucall or an exit handed to the caller,
        // so LOG_FLUSHes served here (which re-armed it once, each) cannot keep a guest alive.
        let _armed = self.watchdog.arm(self.timeout);
        loop {
            let outcome = self.next_exit_event();
            let Some(log) = &mut self.log else {
                return outcome;
            };
            if !VcpuLog::is_flush(&outcome) {
                return log.before(&self.memory, outcome);
            }
            log.flush(&self.memory);
            if let Some(earlier) = log.next() {
                return earlier;
            }
        }
    }

    /// LOG_FLUSH exits served so far: the exits the guest made for its log ring only.
    pub fn log_flushes(&self) -> u64 {
        self.log.as_ref().map_or(0, VcpuLog::flushes)
    }

    /// [`next_event`](Vcpu::next_event) without the log ring: the next exit, as it is.
    fn next_exit_event(&mut self) -> Result<Event, RunError> {
        // A call that carries nothing (the convention decodes it to `None`) is resumed at once.
        loop {
            if let Some(event) = self.next_exit_event_or_resume()? {
                return Ok(event);
            }
        }
    }

    /// The next exit's event, or `None` for a ucall the convention says carries nothing.
    fn next_exit_event_or_resume(&mut self) -> Result<Option<Event>, RunError> {
        let vcpu = self.index;
        self.pending_read = None;
        self.pending_call = None;
        let exit = self.next_access()?;
        // Only port I/O asks for the register, and the builder offers it only where it exists.
        let fd = &mut self.fd;
        let mut record_register = || Native::record_register(fd).unwrap_or_default();
        let located = self.convention.locate(&mut ExitAt {
            transport: &self.transport,
            exit: &exit,
            memory: &*self.memory,
            record_register: &mut record_register,
        })?;
        let Some(located) = located else {
            if matches!(exit, Exit::MmioRead { .. } | Exit::PioIn { .. }) {
                self.pending_read = Some(exit);
            }
            return Ok(Some(Event::Exit(exit)));
        };
        let record_gva = located.record;
        // A rooted ucall names its tables; a plain one is read through the live or built ones.
        let tables = match (located.root, self.table_root) {
            (Some(root), _) => carried_tables(vcpu, root, self.built.format)?,
            (None, TableRoot::Live) => live_tables(vcpu, &mut self.fd, self.built.format)?,
            (None, TableRoot::Built) => self.built,
        };
        let Some(ucall) = self
            .convention
            .decode(&tables.view(&*self.memory), record_gva)?
        else {
            return Ok(None);
        };
        let ucall = self.with_sender(ucall);
        self.finished = ucall.is_final();
        self.pending_call = Some(PendingCall {
            record_gva,
            tables,
            port_io: matches!(exit, Exit::PioIn { .. }),
        });
        Ok(Some(Event::Ucall(ucall)))
    }

    /// Runs the guest until its next ucall and returns it; any other exit (MMIO or port I/O
    /// included: see [`next_event`](Vcpu::next_event) for those), and a guest that makes no
    /// ucall within the timeout, is an error. After DONE, ABORT or UNHANDLED the vCPU does not
    /// run again.
    pub fn next_ucall(&mut self) -> Result<Ucall, RunError> {
        match self.next_event()? {
            Event::Ucall(ucall) => Ok(ucall),
            Event::Exit(exit) => Err(RunError::UnexpectedExit {
                vcpu: self.index,
                exit: ExitKind::Access(exit),
            }),
        }
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
