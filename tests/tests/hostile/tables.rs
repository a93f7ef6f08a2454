//! Hostile guests: page tables the guest rewrote.

use super::*;

#[cfg(not(target_arch = "riscv64"))]
#[test]
fn table_that_points_to_itself_terminates_and_reads_the_table_as_the_record() {
    each_transport(|t| {
        let mut guest = Hostile::start(Case::TableThatPointsToItself, t);
        let s = ROOT_SLOT;
        let gva = s << 39 | s << 30 | s << 21 | s << 12 | 0x400;
        // The record is the root table's own slot: its command is the self-pointing entry, and
        // its arguments the root's next (empty) slots. Where the layout puts the root decides
        // what that command is: below 0x10000, a user command (a CALL the guest goes on from).
        let cmd = guest.root() | descriptor::TABLE;
        let (ucalls, err) = guest.run();
        if ucall_abi::is_user_command(cmd) {
            let call = Ucall::Call {
                number: cmd,
                args: [0; 6],
            };
            assert_eq!(ucalls, [call, Ucall::Done], "{err:?}");
        } else {
            assert_eq!(ucalls, []);
            assert!(
                matches!(err, Some(RunError::Decode(decode::Error::UnknownCommand { cmd: c, record_gva })) if c == cmd && record_gva == gva),
                "{err:?}"
            );
        }
        guest.neighbours_finish_normally();
    });
}

/// On riscv64 a pointer to a table is one format at every level: the walk follows the root's
/// own slot down to level 1, where a pointer is malformed.
#[cfg(target_arch = "riscv64")]
#[test]
fn table_that_points_to_itself_is_a_table_at_the_page_level() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::TableThatPointsToItself, t);
        let s = ROOT_SLOT;
        let gva = s << 39 | s << 30 | s << 21 | s << 12 | 0x400;
        let slot = guest.root() + s * 8;
        let value = descriptor::entry(guest.root(), descriptor::TABLE);
        assert!(
            matches!(&err, RunError::Decode(decode::Error::Paging(paging::Error::BadEntry { gva: g, level: 1, entry_gpa, entry, reason: BadEntryReason::TableAtPageLevel })) if *g == gva && *entry_gpa == slot && *entry == value),
            "{err:?}"
        );
    });
}

#[test]
fn entry_pointing_to_a_table_outside_memory_names_the_table() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::TableOutsideMemory, t);
        assert!(
            matches!(
                err,
                RunError::Decode(decode::Error::Paging(paging::Error::TableOutsideMemory {
                    gva: SLOT_BASE,
                    level: 3,
                    table_gpa: BEYOND_MEMORY
                }))
            ),
            "{err:?}"
        );
    });
}

#[test]
fn huge_page_outside_memory_is_outside_memory() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::PageOutsideMemory, t);
        assert!(
            matches!(
                err,
                RunError::Decode(decode::Error::Paging(paging::Error::OutsideMemory {
                    gva: SLOT_BASE,
                    gpa: BEYOND_MEMORY
                }))
            ),
            "{err:?}"
        );
    });
}

fn bad_root_entry(case: Case, flags: u64, reason: BadEntryReason) {
    each_transport(|t| {
        let (err, guest) = Hostile::error(case, t);
        let slot = guest.root() + ROOT_SLOT * 8;
        let value = descriptor::entry(guest.symbol("HOSTILE_TABLES"), flags);
        assert!(
            matches!(&err, RunError::Decode(decode::Error::Paging(paging::Error::BadEntry { gva: SLOT_BASE, level: 4, entry_gpa, entry, reason: r })) if *entry_gpa == slot && *entry == value && *r == reason),
            "{err:?}"
        );
    });
}

#[test]
fn entry_with_an_address_bit_beyond_the_physical_width_is_malformed() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::ReservedBitInAnEntry, t);
        let bit = descriptor::RESERVED_ADDRESS_BIT;
        let slot = guest.root() + ROOT_SLOT * 8;
        let table = guest.symbol("HOSTILE_TABLES") | 1 << bit;
        if bit >= guest.vm.address_widths().physical {
            let value = descriptor::entry(table, descriptor::TABLE);
            assert!(
                matches!(&err, RunError::Decode(decode::Error::Paging(paging::Error::BadEntry { gva: SLOT_BASE, level: 4, entry_gpa, entry, reason: BadEntryReason::AddressBeyondPhysicalWidth })) if *entry_gpa == slot && *entry == value),
                "{err:?}"
            );
        } else {
            // KVM gave the VM a physical width that includes the bit (a 48-bit IPA on
            // aarch64): the entry is well-formed and names a table beyond guest memory.
            assert!(
                matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::TableOutsideMemory { gva: SLOT_BASE, level: 3, table_gpa })) if table_gpa == table),
                "{err:?}"
            );
        }
    });
}

/// Why a huge page at the root is malformed: x86_64 and aarch64 have none there; Sv48 has
/// 512 GiB pages, and the guest's one is not aligned.
#[cfg(not(target_arch = "riscv64"))]
const HUGE_PAGE_AT_ROOT: BadEntryReason = BadEntryReason::BlockAtRoot;
#[cfg(target_arch = "riscv64")]
const HUGE_PAGE_AT_ROOT: BadEntryReason = BadEntryReason::MisalignedHugePage;

/// Why a 1 GiB page with the case's bit is malformed: the bit is reserved on x86_64 and
/// aarch64; on riscv64 it is an address bit below 1 GiB, which misaligns the page.
#[cfg(not(target_arch = "riscv64"))]
const HUGE_PAGE_WITH_THE_BIT: BadEntryReason = BadEntryReason::ReservedBlockBits;
#[cfg(target_arch = "riscv64")]
const HUGE_PAGE_WITH_THE_BIT: BadEntryReason = BadEntryReason::MisalignedHugePage;

#[test]
fn page_size_bit_in_a_root_entry_is_malformed() {
    bad_root_entry(
        Case::HugePageBitInTheRoot,
        descriptor::BLOCK_AT_ROOT,
        HUGE_PAGE_AT_ROOT,
    );
}

#[test]
fn huge_page_entry_with_reserved_bits_is_malformed() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::ReservedBitInAHugePage, t);
        let table = guest.symbol("HOSTILE_TABLES");
        let value = descriptor::entry(
            0x4000_0000 | 1 << descriptor::RESERVED_BLOCK_BIT,
            descriptor::BLOCK_1G,
        );
        assert!(
            matches!(&err, RunError::Decode(decode::Error::Paging(paging::Error::BadEntry { gva: SLOT_BASE, level: 3, entry_gpa, entry, reason })) if *entry_gpa == table && *entry == value && *reason == HUGE_PAGE_WITH_THE_BIT),
            "{err:?}"
        );
    });
}

#[test]
fn non_present_entry_with_other_bits_is_not_mapped_and_shows_the_bits() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::NonPresentEntryWithBits, t);
        let table = guest.symbol("HOSTILE_TABLES");
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::NotMapped { gva: SLOT_BASE, level: 3, entry_gpa, entry: 0xdead_b002 })) if entry_gpa == table),
            "{err:?}"
        );
    });
}

#[cfg(target_arch = "aarch64")]
#[test]
fn block_descriptor_at_the_page_level_is_malformed() {
    let (err, guest) = Hostile::error(Case::BlockAtThePageLevel, TransportKind::Mmio);
    let last_table = guest.symbol("HOSTILE_TABLES") + 2 * 0x1000;
    let value = guest.symbol("HOSTILE_TEXT") | descriptor::BLOCK_1G;
    assert!(
        matches!(&err, RunError::Decode(decode::Error::Paging(paging::Error::BadEntry { gva: SLOT_BASE, level: 1, entry_gpa, entry, reason: BadEntryReason::ReservedAtPageLevel })) if *entry_gpa == last_table && *entry == value),
        "{err:?}"
    );
}

#[cfg(target_arch = "riscv64")]
#[test]
fn table_pointer_at_the_page_level_is_malformed() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::BlockAtThePageLevel, t);
        let last_table = guest.symbol("HOSTILE_TABLES") + 2 * 0x1000;
        let value = descriptor::entry(guest.symbol("HOSTILE_TEXT"), descriptor::TABLE);
        assert!(
            matches!(&err, RunError::Decode(decode::Error::Paging(paging::Error::BadEntry { gva: SLOT_BASE, level: 1, entry_gpa, entry, reason: BadEntryReason::TableAtPageLevel })) if *entry_gpa == last_table && *entry == value),
            "{err:?}"
        );
    });
}

#[test]
fn host_follows_page_tables_the_guest_switched_to() {
    each_transport(|t| {
        let mut guest = Hostile::start(Case::SwitchedPageTables, t);
        let (ucalls, error) = guest.run();
        assert!(error.is_none(), "{error:?}");
        let sync = Ucall::Sync {
            args: [0x5ca1ab1e, 1, 0, 0, 0, 0],
        };
        assert_eq!(ucalls, [sync, Ucall::Done]);
        guest.neighbours_finish_normally();
    });
}
