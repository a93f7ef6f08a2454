//! Answering a ucall: the host's reply, written over the record's arguments.

use crate::paging::{self, GuestView, PageTableFormat};
use ucall_abi::{MAX_ARGS, Record};
use vm_memory::GuestMemory;
use zerocopy::IntoBytes;

/// Writes `reply` over the arguments of the record at guest-virtual `record_gva` (at
/// [`Record::ARGS_OFFSET`]), all six words or none, through `guest`'s tables with every check
/// a read has plus the guest's own write permission. `cmd` is never written.
///
/// A record the guest may not write (a read-only mapping, the MMIO page, memory outside RAM)
/// is a [`paging::Error`] and nothing is written.
///
/// ```
/// use ucall_abi::{Record, FIRST_USER_COMMAND};
/// use ucall_host::decode::write_reply;
/// use ucall_host::paging::{x86_64::X86_64, MemoryKind, PageTables};
/// use vm_memory::{Bytes, GuestAddress};
/// use ucall_host::memory::HeapMemory;
/// use zerocopy::IntoBytes;
///
/// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
/// let mut tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)?;
/// tables.identity_map(&memory, 0..0x20_0000, MemoryKind::Normal)?;
/// memory.write_slice(Record::with_cmd(FIRST_USER_COMMAND, &[40, 2]).as_bytes(), GuestAddress(0x1_0000)).unwrap();
/// write_reply(&tables.view(&memory), 0x1_0000, &[42, 0, 0, 0, 0, 0])?;
/// let cmd: u64 = memory.read_obj(GuestAddress(0x1_0000)).unwrap();
/// let answer: u64 = memory.read_obj(GuestAddress(0x1_0008)).unwrap();
/// assert_eq!((cmd, answer), (FIRST_USER_COMMAND, 42));
/// # Ok::<(), ucall_host::Error>(())
/// ```
pub fn write_reply<M: GuestMemory + ?Sized, F: PageTableFormat>(
    guest: &GuestView<'_, M, F>,
    record_gva: u64,
    reply: &[u64; MAX_ARGS],
) -> Result<(), paging::Error> {
    let args_gva =
        record_gva
            .checked_add(Record::ARGS_OFFSET as u64)
            .ok_or(paging::Error::WrapsAround {
                gva: record_gva,
                len: Record::SIZE,
            })?;
    guest.write(args_gva, reply.as_bytes())
}
