//! x86_64 4-level paging (48-bit virtual addresses), as set up by the host and walked to find
//! ucall records.

use super::radix::{Encoding, LEVELS, VIRTUAL_BITS, bits, level_shift, sign_extended};
use super::{BadEntryReason, Mapping, MemoryKind};
use x86_64::structures::paging::PageTableFlags as Flags;

/// Physical-address bits above 51 are never address bits.
const MAX_PHYSICAL_BITS: u8 = 52;

/// The x86_64 4-level page-table format, for a CPU with `physical_bits` of physical address
/// (CPUID 0x80000008 `EAX[7:0]`, as KVM reports it).
///
/// ```
/// use ucall_host::paging::{x86_64::X86_64, PageTableFormat};
///
/// assert_eq!(X86_64::new(46).virtual_address_bits(), 48);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X86_64 {
    physical_bits: u8,
}

impl X86_64 {
    /// The format for a CPU with `physical_bits` of physical address (clamped to 52).
    pub fn new(physical_bits: u8) -> Self {
        X86_64 {
            physical_bits: physical_bits.clamp(12, MAX_PHYSICAL_BITS),
        }
    }

    /// Bits that must be zero in every entry: from the physical width up to bit 51.
    fn reserved_mask(&self) -> u64 {
        bits(self.physical_bits, MAX_PHYSICAL_BITS)
    }
}

impl Encoding for X86_64 {
    /// Canonical for 4-level paging: bits 63..47 all equal.
    fn in_range(&self, gva: u64) -> bool {
        sign_extended(gva, VIRTUAL_BITS)
    }

    /// Bits 12 up to the physical width.
    fn address_mask(&self) -> u64 {
        bits(12, self.physical_bits)
    }

    fn is_valid(&self, entry: u64) -> bool {
        Flags::from_bits_truncate(entry).contains(Flags::PRESENT)
    }

    fn is_block(&self, entry: u64, level: u8) -> bool {
        // Bit 7 is PS in levels 4 to 2 (reserved in level 4) and PAT in level 1.
        level > 1 && Flags::from_bits_truncate(entry).contains(Flags::HUGE_PAGE)
    }

    fn malformed(&self, entry: u64, level: u8) -> Option<BadEntryReason> {
        if entry & self.reserved_mask() != 0 {
            return Some(BadEntryReason::AddressBeyondPhysicalWidth);
        }
        if !self.is_block(entry, level) {
            return None;
        }
        if level == LEVELS {
            return Some(BadEntryReason::BlockAtRoot);
        }
        // In a huge-page entry, bit 12 is PAT and the bits up to the page size are reserved.
        let page_size = 1u64 << level_shift(level);
        (entry & (page_size - 1) & !0x1fff & self.address_mask() != 0)
            .then_some(BadEntryReason::ReservedBlockBits)
    }

    /// R/W at every level: a clear bit in any entry makes the whole range below read-only.
    fn writable(&self, entry: u64, _level: u8) -> bool {
        Flags::from_bits_truncate(entry).contains(Flags::WRITABLE)
    }

    fn table_entry(&self, table: u64) -> u64 {
        table | (Flags::PRESENT | Flags::WRITABLE).bits()
    }

    fn leaf_entry(&self, mapping: &Mapping, level: u8) -> u64 {
        let mut flags = Flags::PRESENT | Flags::WRITABLE;
        if level > 1 {
            flags |= Flags::HUGE_PAGE;
        }
        if mapping.kind == MemoryKind::Device {
            flags |= Flags::NO_CACHE | Flags::WRITE_THROUGH;
        }
        mapping.gpa | flags.bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::HeapMemory;
    use crate::paging::tests::{assert_translates, entry, entry_gpa, set_entry};
    use crate::paging::{Error, PageSize, PageTables};
    use vm_memory::{Bytes, GuestAddress};

    const MEMORY: u64 = 0x40_0000;
    const TABLES: u64 = 0x1000;

    fn memory() -> HeapMemory {
        HeapMemory::from_ranges(&[(GuestAddress(0), MEMORY as usize)]).unwrap()
    }

    fn mapped(memory: &HeapMemory) -> PageTables<X86_64> {
        let mut tables =
            PageTables::new(memory, X86_64::new(46), GuestAddress(TABLES), 0x10_000).unwrap();
        tables
            .identity_map(memory, 0..MEMORY, MemoryKind::Normal)
            .unwrap();
        tables
    }

    #[test]
    fn a_4k_page_maps_anywhere_in_the_address_space() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let gva = 0x5000_0000_0000;
        let mapping = Mapping {
            gva,
            gpa: 0x3000,
            size: PageSize::Size4K,
            kind: MemoryKind::Device,
        };
        tables.map(&memory, mapping).unwrap();
        assert_translates(&memory, &tables, gva + 0x12, 0x3012, 0x1000);
    }

    #[test]
    fn non_canonical_address_is_refused() {
        let memory = memory();
        let tables = mapped(&memory);
        let err = tables
            .view(&memory)
            .translate(0x0000_8000_0000_0000)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::NonCanonical {
                gva: 0x0000_8000_0000_0000,
                bits: 48
            }
        ));
    }

    #[test]
    fn entry_with_address_beyond_physical_width_is_malformed() {
        let memory = memory();
        let tables = mapped(&memory);
        let pde = entry(&memory, &tables, 0x20_0000, 2);
        set_entry(&memory, &tables, 0x20_0000, 2, pde | 1 << 47);
        let err = tables.view(&memory).translate(0x20_0000).unwrap_err();
        assert!(matches!(err, Error::BadEntry { level: 2, .. }), "{err}");
    }

    #[test]
    fn page_size_bit_in_pml4_entry_is_malformed() {
        let memory = memory();
        let tables = mapped(&memory);
        let pml4e = entry(&memory, &tables, 0x1000, 4);
        set_entry(&memory, &tables, 0x1000, 4, pml4e | Flags::HUGE_PAGE.bits());
        let err = tables.view(&memory).translate(0x1000).unwrap_err();
        assert!(
            matches!(err, Error::BadEntry { level: 4, reason, .. } if reason == BadEntryReason::BlockAtRoot),
            "{err}"
        );
    }

    #[test]
    fn reserved_bits_of_a_2m_page_entry_are_malformed() {
        let memory = memory();
        let tables = mapped(&memory);
        let pde = entry(&memory, &tables, 0x20_0000, 2);
        set_entry(&memory, &tables, 0x20_0000, 2, pde | 0x4000);
        let err = tables.view(&memory).translate(0x20_0000).unwrap_err();
        assert!(matches!(err, Error::BadEntry { level: 2, .. }), "{err}");
    }

    /// Maps the top page of the address space to a page of `fill` bytes and returns that page.
    fn map_top_page(memory: &HeapMemory, root: u64, fill: u8) -> u64 {
        let (pdpt, pd, pt, page) = (0x3_0000u64, 0x3_1000, 0x3_2000, 0x3_3000);
        for (table, next) in [(root, pdpt), (pdpt, pd), (pd, pt), (pt, page)] {
            memory
                .write_obj(next | 3, GuestAddress(table + 511 * 8))
                .unwrap();
        }
        memory
            .write_slice(&[fill; 0x1000], GuestAddress(page))
            .unwrap();
        page
    }

    #[test]
    fn read_that_would_wrap_past_the_top_of_the_address_space_is_refused() {
        let memory = memory();
        let tables = mapped(&memory);
        map_top_page(&memory, tables.root().0, 0);
        let mut buf = [0; 16];
        let gva = 0xffff_ffff_ffff_fff8;
        let err = tables.view(&memory).read(gva, &mut buf).unwrap_err();
        assert!(
            matches!(
                err,
                Error::WrapsAround {
                    gva: 0xffff_ffff_ffff_fff8,
                    len: 16
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn read_that_ends_at_the_top_of_the_address_space_succeeds() {
        let memory = memory();
        let tables = mapped(&memory);
        map_top_page(&memory, tables.root().0, 0xab);
        let mut buf = [0; 8];
        let gva = 0xffff_ffff_ffff_fff8;
        tables.view(&memory).read(gva, &mut buf).unwrap();
        assert_eq!(buf, [0xab; 8]);
    }

    #[test]
    fn string_that_reaches_the_top_of_the_address_space_without_nul_wraps() {
        let memory = memory();
        let tables = mapped(&memory);
        map_top_page(&memory, tables.root().0, b'x');
        let gva = 0xffff_ffff_ffff_fffa;
        let err = tables.view(&memory).read_c_string(gva, 64).unwrap_err();
        assert!(
            matches!(
                err,
                Error::WrapsAround {
                    gva: 0xffff_ffff_ffff_fffa,
                    len: 64
                }
            ),
            "{err}"
        );
    }

    /// Clears R/W in the level-`level` entry that maps `gva`.
    fn make_read_only(memory: &HeapMemory, tables: &PageTables<X86_64>, gva: u64, level: u8) {
        let read_write = entry(memory, tables, gva, level);
        set_entry(
            memory,
            tables,
            gva,
            level,
            read_write & !Flags::WRITABLE.bits(),
        );
    }

    #[test]
    fn write_through_a_read_only_2m_page_is_not_writable_and_writes_nothing() {
        let memory = memory();
        let tables = mapped(&memory);
        make_read_only(&memory, &tables, 0x20_0000, 2);
        let pde = entry_gpa(&memory, &tables, 0x20_0000, 2);
        let err = tables
            .view(&memory)
            .write(0x20_0010, &[0xff; 8])
            .unwrap_err();
        assert!(
            matches!(err, Error::NotWritable { gva: 0x20_0010, level: 2, entry_gpa, .. } if entry_gpa == pde),
            "{err}"
        );
        assert_eq!(memory.read_obj::<u64>(GuestAddress(0x20_0010)).unwrap(), 0);
    }

    #[test]
    fn a_read_only_root_entry_makes_everything_below_it_not_writable() {
        let memory = memory();
        let tables = mapped(&memory);
        make_read_only(&memory, &tables, 0x1_0000, 4);
        let view = tables.view(&memory);
        assert!(matches!(
            view.write(0x1_0000, &[1]),
            Err(Error::NotWritable {
                gva: 0x1_0000,
                level: 4,
                ..
            })
        ));
        // Reads do not care.
        assert_eq!(view.translate(0x1_0000).unwrap().gpa, 0x1_0000);
    }

    #[test]
    fn write_that_crosses_onto_a_read_only_page_writes_neither_page() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let gva = 0x5000_0000_0000;
        for (offset, gpa) in [(0, 0x3000), (0x1000, 0x4000)] {
            let mapping = Mapping {
                gva: gva + offset,
                gpa,
                size: PageSize::Size4K,
                kind: MemoryKind::Normal,
            };
            tables.map(&memory, mapping).unwrap();
        }
        make_read_only(&memory, &tables, gva + 0x1000, 1);
        let err = tables
            .view(&memory)
            .write(gva + 0xffc, &[0xff; 8])
            .unwrap_err();
        assert!(
            matches!(err, Error::NotWritable { gva: g, level: 1, .. } if g == gva + 0x1000),
            "{err}"
        );
        assert_eq!(memory.read_obj::<u32>(GuestAddress(0x3ffc)).unwrap(), 0);
    }

    #[test]
    fn write_to_a_mapped_page_outside_memory_is_outside_memory() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let mapping = Mapping {
            gva: 0x5000_0000_0000,
            gpa: 0x2000_0000,
            size: PageSize::Size4K,
            kind: MemoryKind::Device,
        };
        tables.map(&memory, mapping).unwrap();
        let err = tables
            .view(&memory)
            .write(0x5000_0000_0008, &[1; 8])
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::OutsideMemory {
                    gva: 0x5000_0000_0008,
                    gpa: 0x2000_0008
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn write_that_would_wrap_past_the_top_is_refused() {
        let memory = memory();
        let tables = mapped(&memory);
        map_top_page(&memory, tables.root().0, 0);
        let err = tables
            .view(&memory)
            .write(u64::MAX - 3, &[0; 8])
            .unwrap_err();
        assert!(
            matches!(err, Error::WrapsAround { gva, len: 8 } if gva == u64::MAX - 3),
            "{err}"
        );
    }
}
