//! Rooted ucalls (see `ucall_abi::rooted`): exits that carry the guest's table root beside the
//! record, so that finding the record takes no register read.

use super::{Error, Exit, Transport};
use ucall_abi::access;
use ucall_abi::rooted::{MMIO_OFFSET, RootedCall, SBI_FUNCTION};
use vm_memory::{Bytes, GuestAddress, GuestMemory};
use zerocopy::{FromZeros, IntoBytes};

/// Where a ucall's record is, and the table root its exit carried, if it carried one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Located {
    /// The record's guest-virtual address.
    pub record: u64,
    /// The root the guest named (TTBR0_EL1 or `satp`, as the guest read it), untrusted like
    /// the rest; `None` for a plain ucall, whose tables are the ones the vCPU runs with.
    pub root: Option<u64>,
}

impl Transport {
    /// Where the record of the ucall in `exit` is, rooted ucalls included: the doorbell at
    /// the MMIO address + [`MMIO_OFFSET`] takes the guest-physical address of a
    /// [`RootedCall`], read here from `memory` (it must lie in guest memory, 16-byte aligned).
    /// Every other exit is as [`Transport::record_address`] says.
    ///
    /// ```
    /// use ucall_host::decode::{Exit, Located, Transport};
    /// use ucall_abi::rooted::RootedCall;
    /// use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
    /// use zerocopy::IntoBytes;
    ///
    /// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
    /// let call = RootedCall { record: 0x7000, root: 0x1000 };
    /// memory.write_slice(call.as_bytes(), GuestAddress(0x8000)).unwrap();
    /// let transport = Transport::mmio(0x2800_0000_0000);
    /// let exit = Exit::mmio_write(0x2800_0000_0008, &0x8000u64.to_le_bytes());
    /// let located = transport.locate(&exit, &memory, || 0)?;
    /// assert_eq!(located, Some(Located { record: 0x7000, root: Some(0x1000) }));
    /// # Ok::<(), ucall_host::decode::Error>(())
    /// ```
    pub fn locate<M: GuestMemory + ?Sized>(
        &self,
        exit: &Exit,
        memory: &M,
        record_register: impl FnOnce() -> u64,
    ) -> Result<Option<Located>, Error> {
        let doorbell = self.mmio_gpa.and_then(|gpa| gpa.checked_add(MMIO_OFFSET));
        match *exit {
            Exit::MmioWrite { gpa, data, len } if Some(gpa) == doorbell => {
                if len != access::MMIO_LEN {
                    return Err(Error::BadMmioAccess {
                        gpa,
                        len,
                        is_write: true,
                    });
                }
                let call = read_rooted_call(memory, u64::from_le_bytes(data))?;
                Ok(Some(Located {
                    record: call.record,
                    root: Some(call.root),
                }))
            }
            // riscv64: the record's address and the guest's `satp` in two registers.
            Exit::Sbi {
                extension,
                function: SBI_FUNCTION,
                args,
            } if Some(extension) == self.sbi_extension => Ok(Some(Located {
                record: args[0],
                root: Some(args[1]),
            })),
            Exit::MmioRead { gpa, len } if Some(gpa) == doorbell => Err(Error::BadMmioAccess {
                gpa,
                len,
                is_write: false,
            }),
            _ => Ok(self
                .record_address(exit, record_register)?
                .map(|record| Located { record, root: None })),
        }
    }
}

/// The [`RootedCall`] at guest-physical `gpa`.
fn read_rooted_call<M: GuestMemory + ?Sized>(memory: &M, gpa: u64) -> Result<RootedCall, Error> {
    if gpa % RootedCall::SIZE as u64 != 0 {
        return Err(Error::RootedCallMisaligned { gpa });
    }
    let mut call = RootedCall::new_zeroed();
    memory
        .read_slice(call.as_mut_bytes(), GuestAddress(gpa))
        .map_err(|_| Error::RootedCallOutsideMemory { gpa })?;
    Ok(call)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    const UCALL_GPA: u64 = 0x2800_0000_0000;
    const DOORBELL: u64 = UCALL_GPA + MMIO_OFFSET;
    const END: u64 = 0x10_0000;

    fn memory_with_call_at(gpa: u64) -> GuestMemoryMmap {
        let memory = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), END as usize)]).unwrap();
        let call = RootedCall {
            record: 0x7000,
            root: 0x1000,
        };
        memory
            .write_slice(call.as_bytes(), GuestAddress(gpa))
            .unwrap();
        memory
    }

    fn locate(memory: &GuestMemoryMmap, exit: Exit) -> Result<Option<Located>, Error> {
        Transport::mmio(UCALL_GPA).locate(&exit, memory, || 0)
    }

    #[test]
    fn rooted_doorbell_gives_the_record_and_root_of_the_call_block() {
        let memory = memory_with_call_at(0x8000);
        let exit = Exit::mmio_write(DOORBELL, &0x8000u64.to_le_bytes());
        let expected = Located {
            record: 0x7000,
            root: Some(0x1000),
        };
        assert_eq!(locate(&memory, exit).unwrap(), Some(expected));
    }

    #[test]
    fn plain_doorbell_gives_the_record_without_a_root() {
        let memory = memory_with_call_at(0x8000);
        let exit = Exit::mmio_write(UCALL_GPA, &0x7000u64.to_le_bytes());
        let expected = Located {
            record: 0x7000,
            root: None,
        };
        assert_eq!(locate(&memory, exit).unwrap(), Some(expected));
    }

    #[test]
    fn call_block_not_16_byte_aligned_is_refused() {
        let memory = memory_with_call_at(0x8000);
        let exit = Exit::mmio_write(DOORBELL, &0x8008u64.to_le_bytes());
        let err = locate(&memory, exit).unwrap_err();
        assert!(matches!(err, Error::RootedCallMisaligned { gpa: 0x8008 }));
    }

    #[test]
    fn call_block_outside_guest_memory_is_refused() {
        let memory = memory_with_call_at(0x8000);
        for gpa in [END, UCALL_GPA, u64::MAX - 15] {
            let exit = Exit::mmio_write(DOORBELL, &gpa.to_le_bytes());
            let err = locate(&memory, exit).unwrap_err();
            assert!(
                matches!(err, Error::RootedCallOutsideMemory { gpa: at } if at == gpa),
                "{gpa:#x}: {err}"
            );
        }
    }

    #[test]
    fn rooted_doorbell_of_4_bytes_is_a_bad_access() {
        let memory = memory_with_call_at(0x8000);
        let err = locate(&memory, Exit::mmio_write(DOORBELL, &[0; 4])).unwrap_err();
        assert!(matches!(
            err,
            Error::BadMmioAccess {
                gpa: DOORBELL,
                len: 4,
                is_write: true
            }
        ));
    }

    #[test]
    fn read_of_the_rooted_doorbell_is_a_bad_access() {
        let memory = memory_with_call_at(0x8000);
        let exit = Exit::MmioRead {
            gpa: DOORBELL,
            len: 8,
        };
        let err = locate(&memory, exit).unwrap_err();
        assert!(matches!(
            err,
            Error::BadMmioAccess {
                gpa: DOORBELL,
                len: 8,
                is_write: false
            }
        ));
    }
}
