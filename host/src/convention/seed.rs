//! The seed's convention, which `ucall-guest` speaks: the exit carries the guest-virtual address
//! of a [`ucall_abi::Record`] (an MMIO store, `rdi` at a port I/O `in`, `a0` of an SBI call), or
//! of a rooted call that also names the tables (`ucall_abi::rooted`); the record's `cmd` is a
//! [`ucall_abi::Command`] or a user command; a reply overwrites the record's arguments.
//! An exit carrying all-ones is what a guest of the pool convention sends when it finds no
//! pool (it was built for today's selftests but has no `ucall_pool`, or the seed convention
//! was chosen for it): [`super::selftests::Error::NoPool`], which says so.
//!
//! ```
//! use ucall_host::convention::{seed::Seed, Convention, ExitAt};
//! use ucall_host::decode::{Exit, Located, Transport};
//! use ucall_host::paging::x86_64::X86_64;
//! use vm_memory::GuestAddress;
//! use ucall_host::memory::HeapMemory;
//!
//! let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
//! let exit = Exit::mmio_write(0x2800_0000_0000, &0x7000u64.to_le_bytes());
//! let seed: &dyn Convention<HeapMemory, X86_64> = &Seed;
//! let transport = Transport::mmio(0x2800_0000_0000);
//! let mut at = ExitAt {
//!     transport: &transport,
//!     exit: &exit,
//!     memory: &memory,
//!     record_register: &mut || 0,
//! };
//! let located = seed.locate(&mut at)?;
//! assert_eq!(located, Some(Located { record: 0x7000, root: None }));
//! # Ok::<(), ucall_host::convention::CallError>(())
//! ```

use super::{CallError, Convention, ConventionKind, ExitAt, selftests};
use crate::decode::{self, Located, Ucall, write_reply};
use crate::paging::{self, GuestView, PageTableFormat};
use ucall_abi::MAX_ARGS;
use vm_memory::GuestMemory;

/// The seed's convention; it keeps nothing in the guest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seed;

impl<M: GuestMemory + ?Sized, F: PageTableFormat> Convention<M, F> for Seed {
    fn kind(&self) -> ConventionKind {
        ConventionKind::Seed
    }

    /// [`ExitAt::locate`]: the address in the exit, or the rooted call it points to.
    fn locate(&self, at: &mut ExitAt<'_, M>) -> Result<Option<Located>, CallError> {
        let located = at.locate()?;
        if located.is_some_and(|at| at.record == ucall_abi::selftests::FAILED) {
            return Err(selftests::Error::NoPool.into());
        }
        Ok(located)
    }

    /// [`decode::decode`]; every seed ucall carries a record.
    fn decode(&self, guest: &GuestView<'_, M, F>, record: u64) -> Result<Option<Ucall>, CallError> {
        Ok(Some(decode::decode(guest, record)?))
    }

    /// [`decode::write_reply`]: over the record's six arguments.
    fn reply(
        &self,
        guest: &GuestView<'_, M, F>,
        record: u64,
        reply: &[u64; MAX_ARGS],
    ) -> Result<(), paging::Error> {
        write_reply(guest, record, reply)
    }
}
