//! Everything a vCPU stops for that the test may handle: ucalls, and the MMIO and port I/O of
//! the test's own devices, with the data its reads return; and the host's replies to ucalls.

use super::arch::{Arch, Native};
use super::ioctls::counting;
use super::log::VcpuLog;
use super::vcpu::{Vcpu, carried_tables, live_tables};
use super::{ExitKind, Format, RunError, TableRoot};
use crate::decode::{Exit, Ucall, decode, write_reply};
use crate::paging::GuestView;
use kvm_bindings::kvm_run;
use ucall_abi::MAX_ARGS;
use vm_memory::GuestAddress;

/// What a vCPU stopped for: a ucall, or an MMIO or port I/O exit that is not one (the test's
/// own device or port).
///
/// ```no_run
/// use ucall_host::decode::Exit;
/// use ucall_host::vm::{Event, VmBuilder};
/// use ucall_host::Ucall;
///
/// let elf = std::fs::read("guest.elf")?;
/// let mut vcpu = VmBuilder::new(&elf).build()?.take_vcpus().remove(0);
/// loop {
///     match vcpu.next_event()? {
///         Event::Exit(Exit::PioIn { port: 0x60, .. }) => vcpu.answer_read(&[0x2a])?,
///         Event::Exit(exit) => println!("device access: {exit}"),
///         Event::Ucall(Ucall::Done) => break,
///         Event::Ucall(ucall) => println!("{ucall}"),
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A ucall, decoded; [`Vcpu::reply`] answers it.
    Ucall(Ucall),
    /// An MMIO or port I/O exit that is not a ucall. A read (`MmioRead`, `PioIn`) returns
    /// zeros unless [`Vcpu::answer_read`] supplies its data before the vCPU runs again.
    Exit(Exit),
}

/// The ucall a vCPU waits in, for [`Vcpu::reply`].
#[derive(Clone, Copy, Debug)]
pub(super) struct PendingCall {
    record_gva: u64,
    format: Format,
    root: GuestAddress,
    /// Whether it came by port I/O, whose reply also goes in a register.
    port_io: bool,
}

impl Vcpu {
    /// Runs the guest until its next ucall or its next MMIO or port I/O exit that is not a
    /// ucall, and returns it; every other way the vCPU stops is an error, as for
    /// [`next_ucall`](Vcpu::next_ucall). After DONE, ABORT or UNHANDLED the vCPU does not run
    /// again.
    ///
    /// With the guest's log ring enabled (see [`VmBuilder::log_ring`](super::VmBuilder::log_ring)),
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
        let vcpu = self.index;
        self.pending_read = None;
        self.pending_call = None;
        let exit = self.next_access()?;
        // Only port I/O asks for the register, and the builder offers it only where it exists.
        let located = self.transport.locate(&exit, &*self.memory, || {
            Native::record_register(&mut self.fd).unwrap_or_default()
        })?;
        let Some(located) = located else {
            if matches!(exit, Exit::MmioRead { .. } | Exit::PioIn { .. }) {
                self.pending_read = Some(exit);
            }
            return Ok(Event::Exit(exit));
        };
        let record_gva = located.record;
        // A rooted ucall names its tables; a plain one is read through the live or built ones.
        let (format, root) = match (located.root, self.table_root) {
            (Some(root), _) => carried_tables(vcpu, root, self.format)?,
            (None, TableRoot::Live) => live_tables(vcpu, &mut self.fd, self.format)?,
            (None, TableRoot::Built) => (self.format, self.root),
        };
        let ucall = decode(&GuestView::new(&*self.memory, &format, root), record_gva)?;
        let ucall = self.with_sender(ucall);
        self.finished = ucall.is_final();
        self.pending_call = Some(PendingCall {
            record_gva,
            format,
            root,
            port_io: matches!(exit, Exit::PioIn { .. }),
        });
        Ok(Event::Ucall(ucall))
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

    /// Answers the ucall just returned: writes `reply` over its record's six arguments, which
    /// the guest reads back when it resumes (see [`ucall_abi`]'s replies). The record is
    /// written through the tables it was read with, only where the guest's own tables let it
    /// write and only in guest RAM, all six words or none; a record the guest may not write is
    /// [`RunError::Reply`]. Over x86_64 port I/O, `reply[0]` also goes into `rsi` through the
    /// synced registers, at no extra ioctl.
    ///
    /// ```no_run
    /// use ucall_host::vm::VmBuilder;
    /// use ucall_host::Ucall;
    ///
    /// let elf = std::fs::read("guest.elf")?;
    /// let mut vcpu = VmBuilder::new(&elf).build()?.take_vcpus().remove(0);
    /// if let Ucall::Call { number: 0x100, args } = vcpu.next_ucall()? {
    ///     vcpu.reply([args[0] + args[1], 0, 0, 0, 0, 0])?;
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reply(&mut self, reply: [u64; MAX_ARGS]) -> Result<(), RunError> {
        let vcpu = self.index;
        let call = self
            .pending_call
            .ok_or(RunError::NothingToAnswer { vcpu })?;
        let guest = GuestView::new(&*self.memory, &call.format, call.root);
        write_reply(&guest, call.record_gva, &reply).map_err(|source| RunError::Reply {
            vcpu,
            record_gva: call.record_gva,
            source,
        })?;
        if call.port_io {
            Native::set_reply_register(&mut self.fd, reply[0]);
        }
        Ok(())
    }

    /// Supplies the data that the MMIO read or `in` just returned by
    /// [`next_event`](Vcpu::next_event) reads: exactly as many bytes as it reads (for string
    /// I/O, size times count). Without it, the read returns zeros.
    pub fn answer_read(&mut self, data: &[u8]) -> Result<(), RunError> {
        let vcpu = self.index;
        let exit = self.pending_read.ok_or(RunError::NoPendingRead { vcpu })?;
        let wanted = match exit {
            Exit::MmioRead { len, .. } => len,
            Exit::PioIn { size, .. } => size,
            _ => return Err(RunError::NoPendingRead { vcpu }),
        };
        if data.len() != wanted {
            return Err(RunError::ReadLength {
                vcpu,
                exit,
                given: data.len(),
            });
        }
        let run: *mut kvm_run = self.fd.get_kvm_run();
        match exit {
            Exit::MmioRead { .. } => {
                // SAFETY: the last exit was KVM_EXIT_MMIO (a read of `wanted` bytes, at most
                // the 8 of `mmio.data`), so `mmio` is the union member KVM filled, and `run`
                // is the live kvm_run mapping of this vCPU, which nothing else borrows now.
                unsafe { (&mut (*run).__bindgen_anon_1.mmio.data)[..wanted].copy_from_slice(data) };
            }
            _ => {
                // SAFETY: the last exit was KVM_EXIT_IO, an `in` of `wanted` bytes (size
                // times count), so `io` is the union member KVM filled, and its data lies at
                // `data_offset` bytes into the vCPU's kvm_run mapping, which KVM sized to
                // hold it (kvm-ioctls hands out the same bytes as the exit's slice).
                unsafe {
                    let offset = (*run).__bindgen_anon_1.io.data_offset as usize;
                    let to = run.cast::<u8>().add(offset);
                    std::ptr::copy_nonoverlapping(data.as_ptr(), to, wanted);
                }
            }
        }
        Ok(())
    }
}
