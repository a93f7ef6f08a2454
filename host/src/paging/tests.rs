//! What every page-table format must do alike, run once per format: each test is a generic
//! function over a [`Fixture`], and `for_each_format!` instantiates it as
//! `paging::tests::<format>::<name>`.

use super::radix::{Encoding, index, read_entry};
use super::{Error, Mapping, MemoryKind, PageSize, PageTableFormat, PageTables};
use crate::memory::HeapMemory;
use vm_memory::{Bytes, GuestAddress};

/// Where the entry that maps `gva` at `level` is, in tables the host built (every format's
/// tests edit entries through it).
pub(super) fn entry_gpa<F: Encoding>(
    memory: &HeapMemory,
    tables: &PageTables<F>,
    gva: u64,
    level: u8,
) -> u64 {
    let format = tables.format();
    let mut table = tables.root().0;
    for l in (level + 1..=format.levels()).rev() {
        let (_, entry) = read_entry(memory, gva, l, table).unwrap();
        table = format.output_address(entry);
    }
    table + index(gva, level) * 8
}

/// The entry that maps `gva` at `level`.
pub(super) fn entry<F: Encoding>(
    memory: &HeapMemory,
    tables: &PageTables<F>,
    gva: u64,
    level: u8,
) -> u64 {
    memory
        .read_obj(GuestAddress(entry_gpa(memory, tables, gva, level)))
        .unwrap()
}

/// Overwrites the entry that maps `gva` at `level` with `value`.
pub(super) fn set_entry<F: Encoding>(
    memory: &HeapMemory,
    tables: &PageTables<F>,
    gva: u64,
    level: u8,
    value: u64,
) {
    memory
        .write_obj(value, GuestAddress(entry_gpa(memory, tables, gva, level)))
        .unwrap();
}

/// Asserts that `tables` translate `gva` to `gpa` in a page of `page_size` bytes.
#[track_caller]
pub(super) fn assert_translates<F: Encoding>(
    memory: &HeapMemory,
    tables: &PageTables<F>,
    gva: u64,
    gpa: u64,
    page_size: u64,
) {
    let translation = tables.view(memory).translate(gva).unwrap();
    assert_eq!(translation, super::Translation { gpa, page_size });
}

/// Puts the hand-made `leaf`, a 1 GiB page at `ram`, in the level-3 entry that maps `ram`, and
/// asserts that an address in it translates through it.
#[track_caller]
pub(super) fn assert_a_1g_leaf_at_level_3_translates<F: Encoding>(
    memory: &HeapMemory,
    tables: &PageTables<F>,
    ram: u64,
    leaf: u64,
) {
    set_entry(memory, tables, ram, 3, leaf);
    let gva = ram + 0x1234_5678;
    assert_translates(memory, tables, gva, gva, 0x4000_0000);
}

/// Bytes of RAM in each test guest.
const MEMORY: u64 = 0x40_0000;
/// Far outside every fixture's RAM.
const BEYOND_MEMORY: u64 = 0x1000_0000;
/// A valid entry that points to a table: the same low bits on both formats.
const TABLE_FLAGS: u64 = 0b11;

/// A format and where its guests' RAM starts.
trait Fixture {
    type Format: PageTableFormat;
    /// Where RAM starts, as on the architecture's guests.
    const RAM: u64;
    fn format() -> Self::Format;
}

struct X86_64Tables;
impl Fixture for X86_64Tables {
    type Format = super::x86_64::X86_64;
    const RAM: u64 = 0;
    fn format() -> Self::Format {
        super::x86_64::X86_64::new(46)
    }
}

/// riscv64 (Sv48) shares the tests that do not write entries by hand (its entries keep the page
/// number at bit 10, and a table pointer has one form at every level); the rest are in
/// `riscv64/tests.rs`.
struct Riscv64Tables;
impl Fixture for Riscv64Tables {
    type Format = super::riscv64::Riscv64;
    const RAM: u64 = 0x8000_0000;
    fn format() -> Self::Format {
        super::riscv64::Riscv64::new(super::riscv64::Mode::Sv48, 40)
    }
}

struct Aarch64Tables;
impl Fixture for Aarch64Tables {
    type Format = super::aarch64::Aarch64;
    const RAM: u64 = 0x4000_0000;
    fn format() -> Self::Format {
        super::aarch64::Aarch64::new(40)
    }
}

fn memory<T: Fixture>() -> HeapMemory {
    HeapMemory::from_ranges(&[(GuestAddress(T::RAM), MEMORY as usize)]).unwrap()
}

fn empty<T: Fixture>(memory: &HeapMemory) -> PageTables<T::Format> {
    PageTables::new(memory, T::format(), GuestAddress(T::RAM + 0x1000), 0x10_000).unwrap()
}

/// All of RAM identity-mapped.
fn mapped<T: Fixture>(memory: &HeapMemory) -> PageTables<T::Format> {
    let mut tables = empty::<T>(memory);
    tables
        .identity_map(memory, T::RAM..T::RAM + MEMORY, MemoryKind::Normal)
        .unwrap();
    tables
}

fn page(gva: u64, gpa: u64, size: PageSize) -> Mapping {
    Mapping {
        gva,
        gpa,
        size,
        kind: MemoryKind::Normal,
    }
}

fn identity_map_translates_every_address_to_itself<T: Fixture>() {
    let memory = memory::<T>();
    let tables = mapped::<T>(&memory);
    for offset in [0, 0xfff, 0x1000, 0x1f_ffff, 0x20_0000, MEMORY - 1] {
        let gva = T::RAM + offset;
        assert_eq!(tables.view(&memory).translate(gva).unwrap().gpa, gva);
    }
}

fn identity_map_uses_2m_pages_where_aligned<T: Fixture>() {
    let memory = memory::<T>();
    let tables = mapped::<T>(&memory);
    let translation = tables.view(&memory).translate(T::RAM + 0x20_0000).unwrap();
    assert_eq!(translation.page_size, 0x20_0000);
}

fn mapping_a_mapped_page_again_is_refused<T: Fixture>() {
    let memory = memory::<T>();
    let mut tables = mapped::<T>(&memory);
    let gva = T::RAM + 0x1000;
    let err = tables
        .map(&memory, page(gva, gva, PageSize::Size4K))
        .unwrap_err();
    assert!(
        matches!(err, Error::AlreadyMapped { gva: g } if g == gva),
        "{err}"
    );
}

fn misaligned_mapping_is_refused<T: Fixture>() {
    let memory = memory::<T>();
    let mut tables = mapped::<T>(&memory);
    let mapping = page(T::RAM + 0x100_1000, T::RAM + 0x1000, PageSize::Size2M);
    let err = tables.map(&memory, mapping).unwrap_err();
    assert!(
        matches!(err, Error::Misaligned { gva, gpa, page_size: 0x20_0000 }
            if gva == mapping.gva && gpa == mapping.gpa),
        "{err}"
    );
}

fn page_mapped_beyond_memory_is_outside_memory<T: Fixture>() {
    let memory = memory::<T>();
    let mut tables = mapped::<T>(&memory);
    let beyond = 0x8000_0000;
    tables
        .map(&memory, page(beyond, beyond, PageSize::Size4K))
        .unwrap();
    let err = tables.view(&memory).read(beyond, &mut [0; 8]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutsideMemory {
                gva: 0x8000_0000,
                gpa: 0x8000_0000
            }
        ),
        "{err}"
    );
}

fn read_across_a_page_boundary_onto_an_unmapped_page_names_that_page<T: Fixture>() {
    let memory = memory::<T>();
    let mut tables = empty::<T>(&memory);
    let gva = T::RAM + 0x10_0000;
    tables
        .map(&memory, page(gva, gva, PageSize::Size4K))
        .unwrap();
    let err = tables
        .view(&memory)
        .read(gva + 0xff8, &mut [0; 16])
        .unwrap_err();
    assert!(
        matches!(err, Error::NotMapped { gva: g, level: 1, entry: 0, .. } if g == gva + 0x1000),
        "{err}"
    );
}

fn table_outside_memory_is_reported_with_its_address<T: Fixture>() {
    let memory = memory::<T>();
    let tables = mapped::<T>(&memory);
    // RAM's root entry is the first on both formats.
    let root = tables.root().0;
    memory
        .write_obj(BEYOND_MEMORY | TABLE_FLAGS, GuestAddress(root))
        .unwrap();
    let gva = T::RAM + 0x1000;
    let err = tables.view(&memory).translate(gva).unwrap_err();
    assert!(
        matches!(err, Error::TableOutsideMemory { gva: g, level: 3, table_gpa: BEYOND_MEMORY } if g == gva),
        "{err}"
    );
}

fn table_that_points_to_itself_terminates<T: Fixture>() {
    let memory = memory::<T>();
    let tables = mapped::<T>(&memory);
    let root = tables.root().0;
    memory
        .write_obj(root | TABLE_FLAGS, GuestAddress(root))
        .unwrap();
    // Index 0 at every level: address 0 walks the root four times and ends on the root itself.
    assert_eq!(tables.view(&memory).translate(0).unwrap().gpa, root);
}

/// A module `$module` with one `#[test]` per generic test named.
fn string_crossing_pages_stops_at_its_nul<T: Fixture>() {
    let memory = memory::<T>();
    let tables = mapped::<T>(&memory);
    memory
        .write_slice(b"abc\0def", GuestAddress(T::RAM + 0x1_0ffe))
        .unwrap();
    let text = tables
        .view(&memory)
        .read_c_string(T::RAM + 0x1_0ffe, 1024)
        .unwrap();
    assert_eq!(text, "abc");
}

fn string_without_nul_within_bound_is_unterminated<T: Fixture>() {
    let memory = memory::<T>();
    let tables = mapped::<T>(&memory);
    let gva = T::RAM + 0x1_0000;
    memory.write_slice(&[b'x'; 64], GuestAddress(gva)).unwrap();
    let err = tables.view(&memory).read_c_string(gva, 64).unwrap_err();
    assert!(
        matches!(err, Error::StringUnterminated { gva: g, max_len: 64 } if g == gva),
        "{err}"
    );
}

fn string_of_invalid_utf8_says_where_it_goes_wrong<T: Fixture>() {
    let memory = memory::<T>();
    let tables = mapped::<T>(&memory);
    let gva = T::RAM + 0x1_0000;
    memory.write_slice(b"ab\xff\0", GuestAddress(gva)).unwrap();
    let err = tables.view(&memory).read_c_string(gva, 64).unwrap_err();
    assert!(
        matches!(err, Error::StringNotUtf8 { gva: g, valid_up_to: 2 } if g == gva),
        "{err}"
    );
}

/// 1 GiB above RAM is another entry of the level-3 table that maps RAM: that entry is empty.
fn unmapped_address_names_the_level_that_is_not_valid<T: Fixture>() {
    let memory = memory::<T>();
    let tables = mapped::<T>(&memory);
    let gva = T::RAM + 0x4000_0000;
    let err = tables.view(&memory).translate(gva).unwrap_err();
    assert!(
        matches!(err, Error::NotMapped { gva: g, level: 3, entry: 0, .. } if g == gva),
        "{err}"
    );
}

macro_rules! tests_for {
    ($module:ident = $fixture:ident: $($test:ident),* $(,)?) => {
        mod $module {
            $(
                #[test]
                fn $test() {
                    super::$test::<super::$fixture>();
                }
            )*
        }
    };
}

/// Every test above, for each format named.
macro_rules! for_each_format {
    ($($module:ident = $fixture:ident),*) => {
        $(
            tests_for!(
                $module = $fixture:
                identity_map_translates_every_address_to_itself,
                identity_map_uses_2m_pages_where_aligned,
                mapping_a_mapped_page_again_is_refused,
                misaligned_mapping_is_refused,
                page_mapped_beyond_memory_is_outside_memory,
                read_across_a_page_boundary_onto_an_unmapped_page_names_that_page,
                table_outside_memory_is_reported_with_its_address,
                table_that_points_to_itself_terminates,
                string_crossing_pages_stops_at_its_nul,
                string_without_nul_within_bound_is_unterminated,
                string_of_invalid_utf8_says_where_it_goes_wrong,
                unmapped_address_names_the_level_that_is_not_valid,
            );
        )*
    };
}

for_each_format!(x86_64 = X86_64Tables, aarch64 = Aarch64Tables);

tests_for!(
    riscv64 = Riscv64Tables:
    identity_map_uses_2m_pages_where_aligned,
    mapping_a_mapped_page_again_is_refused,
    misaligned_mapping_is_refused,
    read_across_a_page_boundary_onto_an_unmapped_page_names_that_page,
    string_crossing_pages_stops_at_its_nul,
    string_without_nul_within_bound_is_unterminated,
    string_of_invalid_utf8_says_where_it_goes_wrong,
    unmapped_address_names_the_level_that_is_not_valid,
);
