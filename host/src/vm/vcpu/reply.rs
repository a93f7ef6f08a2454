//! The host's answers: a reply to the ucall just returned, and the data of a device read.

use super::{Tables, Vcpu};
use crate::decode::Exit;
use crate::vm::RunError;
use crate::vm::arch::{KvmArch, Native};
use kvm_bindings::kvm_run;
use ucall_abi::MAX_ARGS;

/// The ucall a vCPU waits in, for [`Vcpu::reply`].
#[derive(Clone, Copy, Debug)]
pub(in crate::vm) struct PendingCall {
    pub(in crate::vm) record_gva: u64,
    /// The tables it was read through, which the reply is written through.
    pub(in crate::vm) tables: Tables,
    /// Whether it came by port I/O, whose reply also goes in a register.
    pub(in crate::vm) port_io: bool,
}

impl Vcpu {
    /// Answers the ucall just returned: writes `reply` over its record's six arguments, which
    /// the guest reads back when it resumes (see [`ucall_abi`]'s replies). The record is
    /// written through the tables it was read with, only where the guest's own tables let it
    /// write and only in guest RAM, all six words or none; a record the guest may not write is
    /// [`RunError::Reply`]. Over x86_64 port I/O, `reply[0]` also goes into `rsi` through the
    /// synced registers, at no extra ioctl. A guest whose convention has no replies (the pool
    /// convention) gets nothing written, and the reply is [`RunError::NoReplies`].
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
        if !self.convention.has_replies() {
            return Err(RunError::NoReplies {
                vcpu,
                convention: self.convention.kind(),
            });
        }
        let guest = call.tables.view(&*self.memory);
        let written = self.convention.reply(&guest, call.record_gva, &reply);
        written.map_err(|source| RunError::Reply {
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
