//! x86_64 4-level paging (48-bit virtual addresses), as set up by the host and walked to find
//! ucall records.

#[cfg(test)]
use super::radix::read_entry;
use super::radix::{self, Encoding, LEVELS, VIRTUAL_BITS, level_shift};
use super::{Mapping, MemoryKind, PageTableFormat, TableAllocator, Translation};
use crate::Error;
use vm_memory::{GuestAddress, GuestMemory};
use x86_64::structures::paging::PageTableFlags as Flags;

#[cfg(test)]
use super::radix::index;

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
        ((1u64 << MAX_PHYSICAL_BITS) - 1) & !((1u64 << self.physical_bits) - 1)
    }
}

impl Encoding for X86_64 {
    fn check_range(&self, gva: u64) -> Result<(), Error> {
        // Canonical for 4-level paging: bits 63..47 all equal.
        let top = (gva as i64) >> (VIRTUAL_BITS - 1);
        if top == 0 || top == -1 {
            Ok(())
        } else {
            Err(Error::NonCanonical {
                gva,
                bits: VIRTUAL_BITS,
            })
        }
    }

    /// Bits 12 up to the physical width.
    fn address_mask(&self) -> u64 {
        ((1u64 << self.physical_bits) - 1) & !0xfff
    }

    fn is_valid(&self, entry: u64) -> bool {
        Flags::from_bits_truncate(entry).contains(Flags::PRESENT)
    }

    fn is_block(&self, entry: u64, level: u8) -> bool {
        // Bit 7 is PS in levels 4 to 2 (reserved in level 4) and PAT in level 1.
        level > 1 && Flags::from_bits_truncate(entry).contains(Flags::HUGE_PAGE)
    }

    fn malformed(&self, entry: u64, level: u8) -> Option<&'static str> {
        if entry & self.reserved_mask() != 0 {
            return Some("address bits above the physical address width are set");
        }
        if !self.is_block(entry, level) {
            return None;
        }
        if level == LEVELS {
            return Some("the page-size bit is reserved in a PML4 entry");
        }
        // In a huge-page entry, bit 12 is PAT and the bits up to the page size are reserved.
        let page_size = 1u64 << level_shift(level);
        (entry & (page_size - 1) & !0x1fff & self.address_mask() != 0)
            .then_some("reserved bits of a large-page entry are set")
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

impl PageTableFormat for X86_64 {
    fn virtual_address_bits(&self) -> u32 {
        VIRTUAL_BITS
    }

    fn map<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        tables: &mut TableAllocator,
        root: GuestAddress,
        mapping: Mapping,
    ) -> Result<(), Error> {
        radix::map(self, memory, tables, root, mapping)
    }

    fn translate<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        root: GuestAddress,
        gva: u64,
    ) -> Result<Translation, Error> {
        radix::translate(self, memory, root, gva)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paging::{PageSize, PageTables, read_c_string, read_virtual};
    use vm_memory::{Bytes, GuestMemoryMmap};

    const MEMORY: u64 = 0x40_0000;
    const TABLES: u64 = 0x1000;

    fn memory() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEMORY as usize)]).unwrap()
    }

    fn mapped(memory: &GuestMemoryMmap) -> PageTables<X86_64> {
        let mut tables =
            PageTables::new(memory, X86_64::new(46), GuestAddress(TABLES), 0x10_000).unwrap();
        tables
            .identity_map(memory, 0..MEMORY, MemoryKind::Normal)
            .unwrap();
        tables
    }

    /// The entry that maps `gva` at `level`, after an identity map with 2 MiB pages.
    fn entry_gpa(
        memory: &GuestMemoryMmap,
        tables: &PageTables<X86_64>,
        gva: u64,
        level: u8,
    ) -> u64 {
        let mut table = tables.root().0;
        for l in (level + 1..=LEVELS).rev() {
            let (_, entry) = read_entry(memory, gva, l, table).unwrap();
            table = entry & 0x000f_ffff_ffff_f000;
        }
        table + index(gva, level) * 8
    }

    #[test]
    fn identity_map_translates_every_address_to_itself() {
        let memory = memory();
        let tables = mapped(&memory);
        for gva in [0, 0xfff, 0x1000, 0x1f_ffff, 0x20_0000, MEMORY - 1] {
            assert_eq!(tables.translate(&memory, gva).unwrap().gpa, gva);
        }
    }

    #[test]
    fn identity_map_uses_2m_pages_where_aligned() {
        let memory = memory();
        let tables = mapped(&memory);
        assert_eq!(
            tables.translate(&memory, 0x20_0000).unwrap().page_size,
            0x20_0000
        );
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
        assert_eq!(
            tables.translate(&memory, gva + 0x12).unwrap(),
            Translation {
                gpa: 0x3012,
                page_size: 0x1000
            }
        );
    }

    #[test]
    fn mapping_a_mapped_page_again_is_refused() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let mapping = Mapping {
            gva: 0x1000,
            gpa: 0x1000,
            size: PageSize::Size4K,
            kind: MemoryKind::Normal,
        };
        assert!(matches!(
            tables.map(&memory, mapping),
            Err(Error::AlreadyMapped { gva: 0x1000 })
        ));
    }

    #[test]
    fn misaligned_mapping_is_refused() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let mapping = Mapping {
            gva: 0x100_1000,
            gpa: 0x1000,
            size: PageSize::Size2M,
            kind: MemoryKind::Normal,
        };
        assert!(matches!(
            tables.map(&memory, mapping),
            Err(Error::Misaligned { .. })
        ));
    }

    #[test]
    fn unmapped_address_names_the_level_that_is_not_present() {
        let memory = memory();
        let tables = mapped(&memory);
        let err = tables.translate(&memory, 0x8000_0000).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotMapped {
                    gva: 0x8000_0000,
                    level: 3,
                    entry: 0,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn non_canonical_address_is_refused() {
        let memory = memory();
        let tables = mapped(&memory);
        let err = tables
            .translate(&memory, 0x0000_8000_0000_0000)
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
        let pde = entry_gpa(&memory, &tables, 0x20_0000, 2);
        let entry: u64 = memory.read_obj(GuestAddress(pde)).unwrap();
        memory
            .write_obj(entry | 1 << 47, GuestAddress(pde))
            .unwrap();
        let err = tables.translate(&memory, 0x20_0000).unwrap_err();
        assert!(matches!(err, Error::BadEntry { level: 2, .. }), "{err}");
    }

    #[test]
    fn page_size_bit_in_pml4_entry_is_malformed() {
        let memory = memory();
        let tables = mapped(&memory);
        let pml4e = tables.root().0;
        let entry: u64 = memory.read_obj(GuestAddress(pml4e)).unwrap();
        memory
            .write_obj(entry | Flags::HUGE_PAGE.bits(), GuestAddress(pml4e))
            .unwrap();
        let err = tables.translate(&memory, 0x1000).unwrap_err();
        assert!(
            matches!(err, Error::BadEntry { level: 4, why, .. } if why.contains("PML4")),
            "{err}"
        );
    }

    #[test]
    fn reserved_bits_of_a_2m_page_entry_are_malformed() {
        let memory = memory();
        let tables = mapped(&memory);
        let pde = entry_gpa(&memory, &tables, 0x20_0000, 2);
        let entry: u64 = memory.read_obj(GuestAddress(pde)).unwrap();
        memory.write_obj(entry | 0x4000, GuestAddress(pde)).unwrap();
        let err = tables.translate(&memory, 0x20_0000).unwrap_err();
        assert!(matches!(err, Error::BadEntry { level: 2, .. }), "{err}");
    }

    #[test]
    fn table_outside_memory_is_reported_with_its_address() {
        let memory = memory();
        let tables = mapped(&memory);
        let pml4e = tables.root().0;
        memory
            .write_obj(0x1000_0000u64 | 3, GuestAddress(pml4e))
            .unwrap();
        let err = tables.translate(&memory, 0x1000).unwrap_err();
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
        memory.write_obj(root | 3, GuestAddress(root)).unwrap();
        // Four levels through the same table end on a "page" that is the table itself.
        assert_eq!(tables.translate(&memory, 0).unwrap().gpa, root);
    }

    #[test]
    fn read_across_a_page_boundary_onto_an_unmapped_page_names_that_page() {
        let memory = memory();
        let mut tables =
            PageTables::new(&memory, X86_64::new(46), GuestAddress(TABLES), 0x10_000).unwrap();
        let mapping = Mapping {
            gva: 0x10_0000,
            gpa: 0x10_0000,
            size: PageSize::Size4K,
            kind: MemoryKind::Normal,
        };
        tables.map(&memory, mapping).unwrap();
        let mut buf = [0; 16];
        let err =
            read_virtual(&memory, tables.format(), tables.root(), 0x10_0ff8, &mut buf).unwrap_err();
        assert!(
            matches!(err, Error::NotMapped { gva: 0x10_1000, .. }),
            "{err}"
        );
    }

    #[test]
    fn page_mapped_beyond_memory_is_outside_memory() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let mapping = Mapping {
            gva: 0x4000_0000,
            gpa: 0x4000_0000,
            size: PageSize::Size4K,
            kind: MemoryKind::Normal,
        };
        tables.map(&memory, mapping).unwrap();
        let mut buf = [0; 8];
        let err = read_virtual(
            &memory,
            tables.format(),
            tables.root(),
            0x4000_0000,
            &mut buf,
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::OutsideMemory {
                    gva: 0x4000_0000,
                    gpa: 0x4000_0000
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn string_stops_at_its_nul() {
        let memory = memory();
        let tables = mapped(&memory);
        memory
            .write_slice(b"abc\0def", GuestAddress(0x1_0ffe))
            .unwrap();
        let text = read_c_string(&memory, tables.format(), tables.root(), 0x1_0ffe, 1024).unwrap();
        assert_eq!(text, "abc");
    }

    #[test]
    fn string_without_nul_within_bound_is_unterminated() {
        let memory = memory();
        let tables = mapped(&memory);
        memory
            .write_slice(&[b'x'; 64], GuestAddress(0x1_0000))
            .unwrap();
        let err = read_c_string(&memory, tables.format(), tables.root(), 0x1_0000, 64).unwrap_err();
        assert!(
            matches!(
                err,
                Error::StringUnterminated {
                    gva: 0x1_0000,
                    max_len: 64
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn string_of_invalid_utf8_says_where_it_goes_wrong() {
        let memory = memory();
        let tables = mapped(&memory);
        memory
            .write_slice(b"ab\xff\0", GuestAddress(0x1_0000))
            .unwrap();
        let err = read_c_string(&memory, tables.format(), tables.root(), 0x1_0000, 64).unwrap_err();
        assert!(
            matches!(
                err,
                Error::StringNotUtf8 {
                    gva: 0x1_0000,
                    valid_up_to: 2
                }
            ),
            "{err}"
        );
    }

    /// Maps the top page of the address space to a page of `fill` bytes and returns that page.
    fn map_top_page(memory: &GuestMemoryMmap, root: u64, fill: u8) -> u64 {
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
        let err = read_virtual(&memory, tables.format(), tables.root(), gva, &mut buf).unwrap_err();
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
        read_virtual(&memory, tables.format(), tables.root(), gva, &mut buf).unwrap();
        assert_eq!(buf, [0xab; 8]);
    }

    #[test]
    fn string_that_reaches_the_top_of_the_address_space_without_nul_wraps() {
        let memory = memory();
        let tables = mapped(&memory);
        map_top_page(&memory, tables.root().0, b'x');
        let gva = 0xffff_ffff_ffff_fffa;
        let err = read_c_string(&memory, tables.format(), tables.root(), gva, 64).unwrap_err();
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
}
