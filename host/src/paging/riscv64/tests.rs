//! The Sv48 and Sv39 format against hand-made and hand-broken tables.

use super::*;
use crate::memory::HeapMemory;
use crate::paging::tests::{
    assert_a_1g_leaf_at_level_3_translates, assert_translates, entry, entry_gpa, set_entry,
};
use crate::paging::{BadEntryReason, Error, PageSize, PageTableFormat, PageTables, Translation};
use vm_memory::Bytes;

/// RAM as on QEMU's `virt` machine: 4 MiB at 2 GiB, tables at its start.
const RAM: u64 = 0x8000_0000;
const MEMORY: u64 = 0x40_0000;
const TABLES: u64 = RAM + 0x1000;

fn memory() -> HeapMemory {
    HeapMemory::from_ranges(&[(GuestAddress(RAM), MEMORY as usize)]).unwrap()
}

fn mapped_in(memory: &HeapMemory, mode: Mode) -> PageTables<Riscv64> {
    let format = Riscv64::new(mode, 40);
    let mut tables = PageTables::new(memory, format, GuestAddress(TABLES), 0x10_000).unwrap();
    tables
        .identity_map(memory, RAM..RAM + MEMORY, MemoryKind::Normal)
        .unwrap();
    tables
}

fn mapped(memory: &HeapMemory) -> PageTables<Riscv64> {
    mapped_in(memory, Mode::Sv48)
}

/// The error of translating `gva`, which must be a malformed entry: its level and reason.
fn bad_entry(memory: &HeapMemory, tables: &PageTables<Riscv64>, gva: u64) -> (u8, BadEntryReason) {
    match tables.view(memory).translate(gva) {
        Err(Error::BadEntry { level, reason, .. }) => (level, reason),
        other => panic!("expected a malformed entry, got {other:?}"),
    }
}

fn page(gva: u64, gpa: u64, kind: MemoryKind) -> Mapping {
    Mapping {
        gva,
        gpa,
        size: PageSize::Size4K,
        kind,
    }
}

#[test]
fn identity_map_translates_every_address_to_itself() {
    let memory = memory();
    for mode in [Mode::Sv48, Mode::Sv39] {
        let tables = mapped_in(&memory, mode);
        for gva in [
            RAM,
            RAM + 0xfff,
            RAM + 0x1000,
            RAM + 0x20_0000,
            RAM + MEMORY - 1,
        ] {
            assert_eq!(
                tables.view(&memory).translate(gva).unwrap().gpa,
                gva,
                "{mode:?}"
            );
        }
    }
}

#[test]
fn identity_map_uses_2m_megapages_where_aligned() {
    let memory = memory();
    let tables = mapped(&memory);
    // The 2 MiB translation itself: `paging::tests::riscv64::identity_map_uses_2m_pages_where_aligned`.
    let megapage = entry(&memory, &tables, RAM, 2);
    assert_eq!(megapage >> 10 << 12, RAM);
}

#[test]
fn ram_is_readable_writable_executable_accessed_and_dirty() {
    let memory = memory();
    let tables = mapped(&memory);
    let megapage = entry(&memory, &tables, RAM, 2);
    assert_eq!(
        megapage & 0x3ff,
        DIRTY | ACCESSED | EXECUTE | WRITE | READ | VALID
    );
}

#[test]
fn a_pointer_to_a_table_has_only_the_valid_bit() {
    let memory = memory();
    let tables = mapped(&memory);
    for level in [4, 3] {
        assert_eq!(entry(&memory, &tables, RAM, level) & 0x3ff, VALID);
    }
}

#[test]
fn a_device_page_is_readable_and_writable_but_not_executable() {
    let memory = memory();
    let mut tables = mapped(&memory);
    let gva = 0x80_0000_0000;
    tables
        .map(&memory, page(gva, gva, MemoryKind::Device))
        .unwrap();
    let leaf = entry(&memory, &tables, gva, 1);
    assert_eq!(leaf & 0x3ff, DIRTY | ACCESSED | WRITE | READ | VALID);
    assert_eq!(leaf >> 10 << 12, gva);
}

#[test]
fn a_4k_page_maps_anywhere_in_the_lower_half_of_sv48() {
    let memory = memory();
    let mut tables = mapped(&memory);
    let gva = 0x7fff_0000_0000;
    tables
        .map(&memory, page(gva, RAM + 0x3000, MemoryKind::Normal))
        .unwrap();
    assert_translates(&memory, &tables, gva + 0x12, RAM + 0x3012, 0x1000);
}

#[test]
fn the_upper_half_is_mapped_through_the_root_s_upper_entries() {
    let memory = memory();
    let mut tables = mapped(&memory);
    let gva = 0xffff_8000_0000_0000;
    tables
        .map(&memory, page(gva, RAM + 0x5000, MemoryKind::Normal))
        .unwrap();
    assert_eq!(
        tables.view(&memory).translate(gva + 1).unwrap().gpa,
        RAM + 0x5001
    );
    assert_eq!(
        entry_gpa(&memory, &tables, gva, 4),
        tables.root().0 + 256 * 8
    );
}

#[test]
fn sv39_tables_have_three_levels() {
    let memory = memory();
    let mut tables = mapped_in(&memory, Mode::Sv39);
    let gva = 0x40_0000_0000 - 0x1000;
    tables
        .map(&memory, page(gva, RAM + 0x3000, MemoryKind::Normal))
        .unwrap();
    assert_eq!(
        tables.view(&memory).translate(gva).unwrap().gpa,
        RAM + 0x3000
    );
    // The root's entry for 2 GiB is the third: 1 GiB per entry.
    assert_eq!(entry_gpa(&memory, &tables, RAM, 3), tables.root().0 + 2 * 8);
}

#[test]
fn a_1g_gigapage_is_built_one_level_below_the_sv48_root_and_at_the_sv39_root() {
    let memory = memory();
    for (mode, level) in [(Mode::Sv48, 3), (Mode::Sv39, 3)] {
        let format = Riscv64::new(mode, 40);
        let mut tables = PageTables::new(&memory, format, GuestAddress(TABLES), 0x10_000).unwrap();
        let mapping = Mapping {
            gva: 0x40_0000_0000 - 0x4000_0000,
            gpa: RAM,
            size: PageSize::Size1G,
            kind: MemoryKind::Normal,
        };
        tables.map(&memory, mapping).unwrap();
        assert_eq!(
            tables
                .view(&memory)
                .translate(mapping.gva + 0x1234)
                .unwrap(),
            Translation {
                gpa: RAM + 0x1234,
                page_size: 0x4000_0000
            },
            "{mode:?}"
        );
        let leaf = entry(&memory, &tables, mapping.gva, level);
        assert_eq!(
            leaf & 0x3ff,
            DIRTY | ACCESSED | EXECUTE | WRITE | READ | VALID
        );
    }
}

#[test]
fn non_canonical_addresses_are_refused_for_each_width() {
    let memory = memory();
    for (mode, gva) in [
        (Mode::Sv48, 0x0000_8000_0000_0000),
        (Mode::Sv39, 0x40_0000_0000),
    ] {
        let tables = mapped_in(&memory, mode);
        let bits = mode.virtual_address_bits();
        let err = tables.view(&memory).translate(gva).unwrap_err();
        assert!(
            matches!(err, Error::NonCanonical { gva: g, bits: b } if g == gva && b == bits),
            "{err}"
        );
    }
}

#[test]
fn mapping_a_non_canonical_address_is_refused() {
    let memory = memory();
    let mut tables = mapped_in(&memory, Mode::Sv39);
    let mapping = page(1 << 39, RAM, MemoryKind::Normal);
    assert!(matches!(
        tables.map(&memory, mapping),
        Err(Error::NonCanonical { bits: 39, .. })
    ));
}

#[test]
fn each_reserved_high_bit_makes_an_entry_malformed() {
    let memory = memory();
    let tables = mapped(&memory);
    let megapage = entry(&memory, &tables, RAM, 2);
    for bit in 54..64 {
        set_entry(&memory, &tables, RAM, 2, megapage | 1 << bit);
        let (level, why) = bad_entry(&memory, &tables, RAM);
        assert_eq!((level, why), (2, BadEntryReason::ReservedBits));
    }
}

#[test]
fn write_without_read_is_malformed_even_in_a_pointer() {
    let memory = memory();
    let tables = mapped(&memory);
    let pointer = entry(&memory, &tables, RAM, 4);
    set_entry(&memory, &tables, RAM, 4, pointer | WRITE);
    assert_eq!(
        bad_entry(&memory, &tables, RAM),
        (4, BadEntryReason::WriteWithoutRead)
    );
}

#[test]
fn entry_with_address_beyond_the_physical_width_is_malformed() {
    let memory = memory();
    let tables = mapped(&memory);
    let megapage = entry(&memory, &tables, RAM, 2);
    // Physical address bit 40 is page-number bit 28, entry bit 38.
    set_entry(&memory, &tables, RAM, 2, megapage | 1 << 38);
    assert_eq!(
        bad_entry(&memory, &tables, RAM),
        (2, BadEntryReason::AddressBeyondPhysicalWidth)
    );
}

#[test]
fn a_pointer_at_the_page_level_is_malformed() {
    let memory = memory();
    let mut tables = mapped(&memory);
    let gva = 0x80_0000_0000;
    tables
        .map(&memory, page(gva, RAM, MemoryKind::Normal))
        .unwrap();
    set_entry(&memory, &tables, gva, 1, (RAM >> 2) | VALID);
    assert_eq!(
        bad_entry(&memory, &tables, gva),
        (1, BadEntryReason::TableAtPageLevel)
    );
}

#[test]
fn accessed_dirty_or_user_in_a_pointer_is_malformed() {
    let memory = memory();
    let tables = mapped(&memory);
    let pointer = entry(&memory, &tables, RAM, 3);
    for bit in [ACCESSED, DIRTY, USER] {
        set_entry(&memory, &tables, RAM, 3, pointer | bit);
        assert_eq!(
            bad_entry(&memory, &tables, RAM),
            (3, BadEntryReason::LeafBitsInTable)
        );
    }
}

#[test]
fn misaligned_megapage_is_malformed() {
    let memory = memory();
    let tables = mapped(&memory);
    let megapage = entry(&memory, &tables, RAM, 2);
    set_entry(&memory, &tables, RAM, 2, megapage | 1 << 10);
    assert_eq!(
        bad_entry(&memory, &tables, RAM),
        (2, BadEntryReason::MisalignedHugePage)
    );
}

#[test]
fn execute_only_leaf_maps_memory() {
    let memory = memory();
    let tables = mapped(&memory);
    let megapage = entry(&memory, &tables, RAM, 2);
    set_entry(&memory, &tables, RAM, 2, megapage & !(READ | WRITE));
    assert_eq!(
        tables.view(&memory).translate(RAM + 8).unwrap().gpa,
        RAM + 8
    );
}

#[test]
fn a_1g_gigapage_at_level_3_translates() {
    let memory = memory();
    let tables = mapped(&memory);
    assert_a_1g_leaf_at_level_3_translates(&memory, &tables, RAM, (RAM >> 2) | READ | VALID);
}

#[test]
fn a_512g_terapage_at_the_sv48_root_translates() {
    let memory = memory();
    let tables = mapped(&memory);
    set_entry(&memory, &tables, RAM, 4, READ | VALID);
    assert_translates(&memory, &tables, RAM + 0x1234, RAM + 0x1234, 0x80_0000_0000);
}

#[test]
fn table_outside_memory_is_reported_with_its_address() {
    let memory = memory();
    let tables = mapped(&memory);
    set_entry(&memory, &tables, RAM, 4, (0x1000_0000 >> 2) | VALID);
    let err = tables.view(&memory).translate(RAM).unwrap_err();
    assert!(
        matches!(
            err,
            Error::TableOutsideMemory {
                level: 3,
                table_gpa: 0x1000_0000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn table_that_points_to_itself_terminates() {
    let memory = memory();
    let tables = mapped(&memory);
    let root = tables.root().0;
    // Index 0 at every level: the address 0 walks the root four times, then finds a pointer
    // where a page must be.
    memory
        .write_obj((root >> 2) | VALID, GuestAddress(root))
        .unwrap();
    assert_eq!(
        bad_entry(&memory, &tables, 0),
        (1, BadEntryReason::TableAtPageLevel)
    );
}

#[test]
fn from_satp_reads_the_mode_and_root_and_ignores_the_asid() {
    let asid = 0xbeef << 44;
    assert_eq!(
        Riscv64::from_satp(8 << 60 | asid | 0x8_0002, 40),
        Ok((Riscv64::new(Mode::Sv39, 40), GuestAddress(0x8000_2000)))
    );
    assert_eq!(
        Riscv64::from_satp(9 << 60 | asid | 0x8_0002, 40),
        Ok((Riscv64::new(Mode::Sv48, 40), GuestAddress(0x8000_2000)))
    );
}

#[test]
fn from_satp_refuses_bare_sv57_and_reserved_modes() {
    for mode in [0u8, 1, 10, 11, 15] {
        let satp = u64::from(mode) << 60 | 0x8_0000;
        assert_eq!(
            Riscv64::from_satp(satp, 40),
            Err(UnsupportedSatpMode { satp, mode })
        );
    }
    let err = Riscv64::from_satp(10 << 60, 40).unwrap_err();
    assert_eq!(
        err.to_string(),
        "satp 0xa000000000000000 selects translation mode 10 (Sv57); ucalls need Sv39 (8) or Sv48 (9)"
    );
}

#[test]
fn tables_walked_from_their_own_satp_translate_as_built() {
    let memory = memory();
    let tables = mapped_in(&memory, Mode::Sv39);
    let satp = tables.format().satp(tables.root());
    let (format, root) = Riscv64::from_satp(satp, 40).unwrap();
    assert_eq!(
        format.translate(&memory, root, RAM + 0x44).unwrap().gpa,
        RAM + 0x44
    );
}

#[test]
fn write_through_a_leaf_without_w_is_not_writable() {
    let memory = memory();
    let tables = mapped(&memory);
    let leaf = entry(&memory, &tables, RAM, 2);
    set_entry(&memory, &tables, RAM, 2, leaf & !WRITE);
    let view = tables.view(&memory);
    assert!(matches!(
        view.write(RAM + 8, &[1]),
        Err(Error::NotWritable { level: 2, entry, .. }) if entry == leaf & !WRITE
    ));
    assert_eq!(view.translate(RAM + 8).unwrap().gpa, RAM + 8);
}

#[test]
fn write_through_a_writable_leaf_lands() {
    let memory = memory();
    let tables = mapped(&memory);
    tables.view(&memory).write(RAM + 0x10, &[9]).unwrap();
    assert_eq!(memory.read_obj::<u8>(GuestAddress(RAM + 0x10)).unwrap(), 9);
}
