//! The seed's convention, which `ucall-guest` speaks: the exit carries the guest-virtual address
//! of a [`ucall_abi::Record`] (an MMIO store, `rdi` at a port I/O `in`, `a0` of an SBI call), or
//! of a rooted call that also names the tables (`ucall_abi::rooted`); the record's `cmd` is a
//! [`ucall_abi::Command`] or a user command; a reply overwrites the record's arguments.
//!
//! ```
//! use ucall_host::convention::{seed::Seed, Convention};
//! use ucall_host::decode::{Exit, Located, Transport};
//! use ucall_host::paging::x86_64::X86_64;
//! use vm_memory::{GuestAddress, GuestMemoryMmap};
//!
//! let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
//! let exit = Exit::mmio_write(0x2800_0000_0000, &0x7000u64.to_le_bytes());
//! let seed: &dyn Convention<GuestMemoryMmap, X86_64> = &Seed;
//! let located = seed.locate(&Transport::mmio(0x2800_0000_0000), &exit, &memory, &mut || 0)?;
//! assert_eq!(located, Some(Located { record: 0x7000, root: None }));
//! # Ok::<(), ucall_host::decode::Error>(())
//! ```

use super::{Convention, ConventionKind};
use crate::decode::{self, Exit, Located, Transport, Ucall, write_reply};
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

    /// [`Transport::locate`]: the address in the exit, or the rooted call it points to.
    fn locate(
        &self,
        transport: &Transport,
        exit: &Exit,
        memory: &M,
        record_register: &mut dyn FnMut() -> u64,
    ) -> Result<Option<Located>, decode::Error> {
        transport.locate(exit, memory, record_register)
    }

    /// [`decode::decode`].
    fn decode(&self, guest: &GuestView<'_, M, F>, record: u64) -> Result<Ucall, decode::Error> {
        decode::decode(guest, record)
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
