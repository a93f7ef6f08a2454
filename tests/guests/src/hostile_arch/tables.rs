//! The cases that edit the live page tables (found through the root register), the same on
//! every architecture but for the descriptor bits and their encoding (`cases::descriptor`).
use crate::arch::{exit_with, install_root, root, tables_changed};
use crate::cases::descriptor::entry;
use crate::cases::*;
use crate::{HOSTILE_TABLES, put, put_bytes, send_raw};
use ucall_guest::{Command, Record};

/// The guest's own table `i`.
pub fn table(i: usize) -> *mut u64 {
    // SAFETY: `i` < 4 at every call; the pointer stays within the static.
    unsafe { HOSTILE_TABLES.ptr().cast::<[u64; 512]>().add(i).cast() }
}

pub fn set(table: *mut u64, index: u64, entry: u64) {
    // SAFETY: `index` < 512: within the table.
    put(unsafe { table.add(index as usize) }, entry);
}

/// Points the root's free slot at a chain of the guest's tables down to `page` (4 KiB,
/// at index 0 of the last table; index 1 stays not present).
pub fn map_chain(page: u64) {
    set(root(), ROOT_SLOT, entry(table(0) as u64, descriptor::TABLE));
    set(table(0), 0, entry(table(1) as u64, descriptor::TABLE));
    set(table(1), 0, entry(table(2) as u64, descriptor::TABLE));
    set(table(2), 0, entry(page, descriptor::PAGE));
}

/// A call with the record at `page` (at `SLOT_BASE`), mapped through the guest's tables with
/// `bits` in its page-level entry: the cases of an entry the page level does not allow.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
pub fn call_through_a_page_entry(page: u64, bits: u64) {
    map_chain(page);
    set(table(2), 0, entry(page, bits));
    tables_changed();
    exit_with(SLOT_BASE);
}

/// A user call through a chain of the guest's tables that ends in `pages` (4 KiB each,
/// from index 0 of the last table), with the root's entry `root_bits`, and the record at
/// `offset` into the first page.
fn call_through(pages: &[u64], root_bits: u64, record: *mut Record, offset: u64) {
    set(root(), ROOT_SLOT, entry(table(0) as u64, root_bits));
    set(table(0), 0, entry(table(1) as u64, descriptor::TABLE));
    set(table(1), 0, entry(table(2) as u64, descriptor::TABLE));
    for (i, &page) in pages.iter().enumerate() {
        set(table(2), i as u64, page);
    }
    tables_changed();
    put(record, Record::with_cmd(CALL, &[1, 2, 3, 4, 5, 6]));
    exit_with(SLOT_BASE + offset);
}

/// Points the root's free slot at the guest's table 0 and puts `entry` at its index 0.
fn one_below_the_root(below: u64) {
    set(root(), ROOT_SLOT, entry(table(0) as u64, descriptor::TABLE));
    set(table(0), 0, below);
}

pub fn misbehave(case: Case, record: *mut Record, text: *mut u8) {
    match case {
        Case::RecordStraddlesOntoAnUnmappedPage => map_chain(text as u64),
        Case::PrintfStraddlesOntoAnUnmappedPage => {
            map_chain(text as u64);
            // SAFETY: within the 8 KiB text buffer.
            put_bytes(unsafe { text.add(0xffc) }, b"xxxx");
        }
        Case::TableThatPointsToItself => {
            set(root(), ROOT_SLOT, entry(root() as u64, descriptor::TABLE))
        }
        Case::TableOutsideMemory => set(root(), ROOT_SLOT, entry(BEYOND_MEMORY, descriptor::TABLE)),
        Case::PageOutsideMemory => one_below_the_root(entry(BEYOND_MEMORY, descriptor::BLOCK_1G)),
        Case::ReservedBitInAnEntry => set(
            root(),
            ROOT_SLOT,
            entry(
                table(0) as u64 | 1 << descriptor::RESERVED_ADDRESS_BIT,
                descriptor::TABLE,
            ),
        ),
        Case::HugePageBitInTheRoot => set(
            root(),
            ROOT_SLOT,
            entry(table(0) as u64, descriptor::BLOCK_AT_ROOT),
        ),
        Case::ReservedBitInAHugePage => one_below_the_root(entry(
            0x4000_0000 | 1 << descriptor::RESERVED_BLOCK_BIT,
            descriptor::BLOCK_1G,
        )),
        Case::NonPresentEntryWithBits => one_below_the_root(0xdead_b000 | 0x2),
        Case::CallWithAReadOnlyRecord => {
            let page = entry(record as u64, descriptor::PAGE_READ_ONLY);
            return call_through(&[page], descriptor::TABLE, record, 0);
        }
        Case::CallUnderAReadOnlyTable => {
            let page = entry(record as u64, descriptor::PAGE);
            return call_through(&[page], descriptor::TABLE_READ_ONLY, record, 0);
        }
        Case::CallStraddlingOntoAReadOnlyPage => {
            // The record's first 16 bytes at the end of the writable text page, the rest at
            // the start of the read-only one after it.
            let pages = [
                entry(text as u64, descriptor::PAGE),
                entry(text as u64 + 0x1000, descriptor::PAGE_READ_ONLY),
            ];
            // SAFETY: within the 8 KiB text buffer.
            let at = unsafe { text.add(0xff0) }.cast::<Record>();
            return call_through(&pages, descriptor::TABLE, at, 0xff0);
        }
        Case::SwitchedPageTables => {
            // A copy of the root, plus a 1 GiB alias of RAM's first GiB at the free slot.
            let (old, new) = (root(), table(3));
            for i in 0..512 {
                // SAFETY: i < 512, within the root table.
                set(new, i, unsafe { old.add(i as usize).read_volatile() });
            }
            set(new, ROOT_SLOT, entry(table(0) as u64, descriptor::TABLE));
            set(table(0), 0, entry(RAM_BASE, descriptor::BLOCK_1G));
            tables_changed();
            install_root(new);
            put(record, Record::new(Command::Sync, &[0x5ca1ab1e, 1]));
            exit_with(SLOT_BASE + (record as u64 - RAM_BASE));
            return;
        }
        _ => return,
    }
    tables_changed();
    match case {
        Case::RecordStraddlesOntoAnUnmappedPage => exit_with(SLOT_BASE + 0xff8),
        Case::PrintfStraddlesOntoAnUnmappedPage => send_raw(
            record,
            Command::Printf as u64,
            [SLOT_BASE + 0xffc, 0, 0, 0, 0, 0],
        ),
        Case::TableThatPointsToItself => {
            // Every level takes the same slot back to the root; the "page" is the root,
            // and offset 0x400 is the slot's own entry.
            let s = ROOT_SLOT;
            exit_with(s << 39 | s << 30 | s << 21 | s << 12 | 0x400);
        }
        _ => exit_with(SLOT_BASE),
    }
}
