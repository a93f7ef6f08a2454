//! aarch64 stage-1 translation with a 4 KiB granule and 48-bit virtual addresses: four levels
//! from TTBR0_EL1, page and block descriptors, as set up by the host and walked to find ucall
//! records (Arm ARM D8.3, "Translation table descriptor formats").
//!
//! Levels are counted as on x86_64 so that errors read the same on both: level 4 is the root
//! (the Arm level 0 table), level 1 holds 4 KiB pages (Arm level 3).

use super::{Mapping, MemoryKind, PageSize, PageTableFormat, TableAllocator, Translation};
use crate::Error;
use vm_memory::{Bytes, GuestAddress, GuestMemory};

/// Levels of translation; level 4 is the root, level 1 holds 4 KiB pages.
const LEVELS: u8 = 4;
/// Bits of virtual address that TTBR0_EL1 translates (TCR_EL1.T0SZ = 16).
const VIRTUAL_BITS: u32 = 48;
/// Entries are 8 bytes, 512 to a table.
const INDEX_MASK: u64 = 0x1ff;
/// With a 4 KiB granule (and no FEAT_LPA2), output addresses have at most 48 bits.
const MAX_PHYSICAL_BITS: u8 = 48;

/// Descriptor bit 0: the entry is valid.
const VALID: u64 = 1 << 0;
/// Descriptor bit 1: a table (levels 4 to 2) or a page (level 1); clear, a block.
const TABLE_OR_PAGE: u64 = 1 << 1;
/// AttrIndx, bits 4:2: which MAIR_EL1 attribute the memory has.
const ATTR_INDEX_SHIFT: u32 = 2;
/// SH, bits 9:8 = 0b11: inner shareable.
const INNER_SHAREABLE: u64 = 0b11 << 8;
/// AF, bit 10: the access flag; without it the first access faults.
const ACCESS_FLAG: u64 = 1 << 10;
/// PXN, bit 53, and UXN, bit 54: never execute (for Device memory).
const EXECUTE_NEVER: u64 = (1 << 53) | (1 << 54);

/// The MAIR_EL1 attribute index of Normal, write-back cacheable memory (guest RAM).
pub const MAIR_INDEX_NORMAL: u64 = 0;
/// The MAIR_EL1 attribute index of Device-nGnRE memory (the ucall MMIO page).
pub const MAIR_INDEX_DEVICE: u64 = 1;

/// The aarch64 4 KiB-granule, 48-bit format, for a VM whose IPA size is `physical_bits`
/// (`KVM_CAP_ARM_VM_IPA_SIZE`).
///
/// ```
/// use ucall_host::paging::{aarch64::Aarch64, PageTableFormat};
///
/// assert_eq!(Aarch64::new(40).virtual_address_bits(), 48);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Aarch64 {
    physical_bits: u8,
}

impl Aarch64 {
    /// The format for a VM with `physical_bits` of IPA (clamped to 32..=48).
    pub fn new(physical_bits: u8) -> Self {
        Aarch64 {
            physical_bits: physical_bits.clamp(32, MAX_PHYSICAL_BITS),
        }
    }

    /// Bits 12 up to the physical width: where a descriptor keeps its output address.
    fn address_mask(&self) -> u64 {
        ((1u64 << self.physical_bits) - 1) & !0xfff
    }

    /// Output-address bits beyond the IPA size: set, they make an address size fault.
    fn beyond_physical_mask(&self) -> u64 {
        ((1u64 << MAX_PHYSICAL_BITS) - 1) & !((1u64 << self.physical_bits) - 1)
    }

    fn read_entry<M: GuestMemory + ?Sized>(
        memory: &M,
        gva: u64,
        level: u8,
        table: u64,
    ) -> Result<(u64, u64), Error> {
        let entry_gpa = table + index(gva, level) * 8;
        let entry = memory
            .read_obj::<u64>(GuestAddress(entry_gpa))
            .map_err(|_| Error::TableOutsideMemory {
                gva,
                level,
                table_gpa: table,
            })?;
        Ok((entry_gpa, entry))
    }
}

impl Aarch64 {
    /// The entry for `gva` in the table of `level` at `table`, checked to be valid and to keep
    /// its output address within the IPA size.
    fn valid_entry<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        gva: u64,
        level: u8,
        table: u64,
    ) -> Result<(u64, u64), Error> {
        let (entry_gpa, entry) = Self::read_entry(memory, gva, level, table)?;
        if entry & VALID == 0 {
            return Err(Error::NotMapped {
                gva,
                level,
                entry_gpa,
                entry,
            });
        }
        if entry & self.beyond_physical_mask() != 0 {
            return Err(Error::BadEntry {
                gva,
                level,
                entry_gpa,
                entry,
                why: "output address bits beyond the IPA size are set",
            });
        }
        Ok((entry_gpa, entry))
    }

    /// Where a page or block descriptor of `page_size` maps `gva`.
    fn leaf(&self, entry: u64, gva: u64, page_size: u64) -> Translation {
        let frame = entry & self.address_mask() & !(page_size - 1);
        Translation {
            gpa: frame | (gva & (page_size - 1)),
            page_size,
        }
    }
}

/// The index of `gva`'s entry in a table of `level`.
fn index(gva: u64, level: u8) -> u64 {
    (gva >> level_shift(level)) & INDEX_MASK
}

/// log2 of the bytes one entry of `level` covers.
fn level_shift(level: u8) -> u32 {
    12 + 9 * (u32::from(level) - 1)
}

/// Whether TTBR0_EL1 translates `gva`: bits 63..48 clear (the upper range is TTBR1's, which
/// the host disables).
fn in_range(gva: u64) -> bool {
    gva >> VIRTUAL_BITS == 0
}

/// The attribute bits of a leaf descriptor for memory of `kind`.
fn leaf_attributes(kind: MemoryKind) -> u64 {
    match kind {
        MemoryKind::Normal => {
            (MAIR_INDEX_NORMAL << ATTR_INDEX_SHIFT) | INNER_SHAREABLE | ACCESS_FLAG
        }
        MemoryKind::Device => (MAIR_INDEX_DEVICE << ATTR_INDEX_SHIFT) | ACCESS_FLAG | EXECUTE_NEVER,
    }
}

impl PageTableFormat for Aarch64 {
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
        mapping.check_aligned()?;
        let gva = mapping.gva;
        if !in_range(gva) {
            return Err(Error::NonCanonical {
                gva,
                bits: VIRTUAL_BITS,
            });
        }
        let leaf_level = match mapping.size {
            PageSize::Size4K => 1,
            PageSize::Size2M => 2,
        };
        let mut table = root.0;
        for level in (leaf_level + 1..=LEVELS).rev() {
            let (entry_gpa, entry) = Self::read_entry(memory, gva, level, table)?;
            table = if entry & VALID == 0 {
                let next = tables.allocate(memory)?;
                write_entry(memory, entry_gpa, next.0 | TABLE_OR_PAGE | VALID)?;
                next.0
            } else if entry & TABLE_OR_PAGE == 0 {
                // A block already covers this address.
                return Err(Error::AlreadyMapped { gva });
            } else {
                entry & self.address_mask()
            };
        }
        let (entry_gpa, entry) = Self::read_entry(memory, gva, leaf_level, table)?;
        if entry & VALID != 0 {
            return Err(Error::AlreadyMapped { gva });
        }
        // At level 1 a valid leaf is a page (0b11); above it, a block (0b01).
        let kind_bits = if leaf_level == 1 {
            TABLE_OR_PAGE | VALID
        } else {
            VALID
        };
        write_entry(
            memory,
            entry_gpa,
            mapping.gpa | leaf_attributes(mapping.kind) | kind_bits,
        )
    }

    fn translate<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        root: GuestAddress,
        gva: u64,
    ) -> Result<Translation, Error> {
        if !in_range(gva) {
            return Err(Error::NonCanonical {
                gva,
                bits: VIRTUAL_BITS,
            });
        }
        // TTBR0_EL1 keeps an ASID in bits 63:48 and CnP in bit 0.
        let mut table = root.0 & self.address_mask();
        // Levels 4 to 2 hold tables or blocks; level 1 only pages. Walking the table levels in a
        // bounded loop and the last level after it leaves no way to run off the end.
        for level in (2..=LEVELS).rev() {
            let (entry_gpa, entry) = self.valid_entry(memory, gva, level, table)?;
            if entry & TABLE_OR_PAGE == 0 {
                let bad = |why| Error::BadEntry {
                    gva,
                    level,
                    entry_gpa,
                    entry,
                    why,
                };
                if level == LEVELS {
                    return Err(bad("a 4 KiB granule has no blocks at the root level"));
                }
                let page_size = 1u64 << level_shift(level);
                // In a block descriptor, the bits from 17 (above nT, bit 16) up to the block
                // size are RES0.
                if entry & (page_size - 1) & !0x1_ffff != 0 {
                    return Err(bad("reserved bits of a block entry are set"));
                }
                return Ok(self.leaf(entry, gva, page_size));
            }
            table = entry & self.address_mask();
        }
        let (entry_gpa, entry) = self.valid_entry(memory, gva, 1, table)?;
        if entry & TABLE_OR_PAGE == 0 {
            return Err(Error::BadEntry {
                gva,
                level: 1,
                entry_gpa,
                entry,
                why: "0b01 is reserved at the page level",
            });
        }
        Ok(self.leaf(entry, gva, PageSize::Size4K.bytes()))
    }
}

fn write_entry<M: GuestMemory + ?Sized>(
    memory: &M,
    entry_gpa: u64,
    entry: u64,
) -> Result<(), Error> {
    memory
        .write_obj(entry, GuestAddress(entry_gpa))
        .map_err(|e| {
            Error::Memory(format!(
                "cannot write a page-table entry at {entry_gpa:#x}: {e}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paging::{PageTables, read_c_string, read_virtual};
    use vm_memory::GuestMemoryMmap;

    /// RAM as on aarch64 guests: 4 MiB at 1 GiB, tables at its start.
    const RAM: u64 = 0x4000_0000;
    const MEMORY: u64 = 0x40_0000;
    const TABLES: u64 = RAM + 0x1000;

    fn memory() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(RAM), MEMORY as usize)]).unwrap()
    }

    fn mapped(memory: &GuestMemoryMmap) -> PageTables<Aarch64> {
        let mut tables =
            PageTables::new(memory, Aarch64::new(40), GuestAddress(TABLES), 0x10_000).unwrap();
        tables
            .identity_map(memory, RAM..RAM + MEMORY, MemoryKind::Normal)
            .unwrap();
        tables
    }

    /// Where the entry that maps `gva` at `level` is.
    fn entry_gpa(
        memory: &GuestMemoryMmap,
        tables: &PageTables<Aarch64>,
        gva: u64,
        level: u8,
    ) -> u64 {
        let mut table = tables.root().0;
        for l in (level + 1..=LEVELS).rev() {
            let (_, entry) = Aarch64::read_entry(memory, gva, l, table).unwrap();
            table = entry & 0x0000_ffff_ffff_f000;
        }
        table + index(gva, level) * 8
    }

    fn entry(memory: &GuestMemoryMmap, tables: &PageTables<Aarch64>, gva: u64, level: u8) -> u64 {
        memory
            .read_obj(GuestAddress(entry_gpa(memory, tables, gva, level)))
            .unwrap()
    }

    fn set_entry(
        memory: &GuestMemoryMmap,
        tables: &PageTables<Aarch64>,
        gva: u64,
        level: u8,
        value: u64,
    ) {
        memory
            .write_obj(value, GuestAddress(entry_gpa(memory, tables, gva, level)))
            .unwrap();
    }

    #[test]
    fn identity_map_translates_every_address_to_itself() {
        let memory = memory();
        let tables = mapped(&memory);
        for gva in [
            RAM,
            RAM + 0xfff,
            RAM + 0x1000,
            RAM + 0x20_0000,
            RAM + MEMORY - 1,
        ] {
            assert_eq!(tables.translate(&memory, gva).unwrap().gpa, gva);
        }
    }

    #[test]
    fn identity_map_uses_2m_blocks_where_aligned() {
        let memory = memory();
        let tables = mapped(&memory);
        assert_eq!(
            tables
                .translate(&memory, RAM + 0x20_0000)
                .unwrap()
                .page_size,
            0x20_0000
        );
        let block = entry(&memory, &tables, RAM, 2);
        assert_eq!(block & 0b11, 0b01, "a block descriptor: {block:#x}");
    }

    #[test]
    fn ram_is_normal_inner_shareable_memory_with_the_access_flag() {
        let memory = memory();
        let tables = mapped(&memory);
        let block = entry(&memory, &tables, RAM, 2);
        assert_eq!((block >> 2) & 0b111, MAIR_INDEX_NORMAL);
        assert_eq!((block >> 8) & 0b11, 0b11);
        assert_ne!(block & ACCESS_FLAG, 0);
        assert_eq!(block & EXECUTE_NEVER, 0);
    }

    #[test]
    fn a_device_page_is_a_page_descriptor_with_the_device_attribute_and_never_executes() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let gva = 0x80_0000_0000;
        let mapping = Mapping {
            gva,
            gpa: gva,
            size: PageSize::Size4K,
            kind: MemoryKind::Device,
        };
        tables.map(&memory, mapping).unwrap();
        let page = entry(&memory, &tables, gva, 1);
        assert_eq!(page & 0b11, 0b11);
        assert_eq!((page >> 2) & 0b111, MAIR_INDEX_DEVICE);
        assert_ne!(page & ACCESS_FLAG, 0);
        assert_eq!(page & EXECUTE_NEVER, EXECUTE_NEVER);
        assert_eq!(page & 0x0000_ffff_ffff_f000, gva);
    }

    #[test]
    fn a_4k_page_maps_anywhere_in_the_48_bit_range() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let gva = 0xffff_0000_0000;
        let mapping = Mapping {
            gva,
            gpa: RAM + 0x3000,
            size: PageSize::Size4K,
            kind: MemoryKind::Normal,
        };
        tables.map(&memory, mapping).unwrap();
        assert_eq!(
            tables.translate(&memory, gva + 0x12).unwrap(),
            Translation {
                gpa: RAM + 0x3012,
                page_size: 0x1000
            }
        );
    }

    #[test]
    fn mapping_a_mapped_page_again_is_refused() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let mapping = Mapping {
            gva: RAM + 0x1000,
            gpa: RAM + 0x1000,
            size: PageSize::Size4K,
            kind: MemoryKind::Normal,
        };
        assert!(matches!(
            tables.map(&memory, mapping),
            Err(Error::AlreadyMapped { gva }) if gva == RAM + 0x1000
        ));
    }

    #[test]
    fn misaligned_mapping_is_refused() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let mapping = Mapping {
            gva: RAM + 0x100_1000,
            gpa: RAM,
            size: PageSize::Size2M,
            kind: MemoryKind::Normal,
        };
        assert!(matches!(
            tables.map(&memory, mapping),
            Err(Error::Misaligned { .. })
        ));
    }

    #[test]
    fn unmapped_address_names_the_level_that_is_not_valid() {
        let memory = memory();
        let tables = mapped(&memory);
        // 1 GiB further is another level-3 (Arm level 1) entry of the same level-4 table.
        let err = tables.translate(&memory, RAM + 0x4000_0000).unwrap_err();
        assert!(
            matches!(
                err,
                Error::NotMapped {
                    gva,
                    level: 3,
                    entry: 0,
                    ..
                } if gva == RAM + 0x4000_0000
            ),
            "{err}"
        );
    }

    #[test]
    fn address_above_48_bits_is_refused() {
        let memory = memory();
        let tables = mapped(&memory);
        let err = tables
            .translate(&memory, 0xffff_0000_4000_0000)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::NonCanonical {
                gva: 0xffff_0000_4000_0000,
                bits: 48
            }
        ));
    }

    #[test]
    fn mapping_above_48_bits_is_refused() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let mapping = Mapping {
            gva: 1 << 48,
            gpa: RAM,
            size: PageSize::Size4K,
            kind: MemoryKind::Normal,
        };
        assert!(matches!(
            tables.map(&memory, mapping),
            Err(Error::NonCanonical { bits: 48, .. })
        ));
    }

    #[test]
    fn entry_with_output_address_beyond_the_ipa_size_is_malformed() {
        let memory = memory();
        let tables = mapped(&memory);
        let block = entry(&memory, &tables, RAM, 2);
        set_entry(&memory, &tables, RAM, 2, block | 1 << 44);
        let err = tables.translate(&memory, RAM).unwrap_err();
        assert!(
            matches!(err, Error::BadEntry { level: 2, why, .. } if why.contains("IPA")),
            "{err}"
        );
    }

    #[test]
    fn block_descriptor_at_the_root_is_malformed() {
        let memory = memory();
        let tables = mapped(&memory);
        let root_entry = entry(&memory, &tables, RAM, 4);
        set_entry(&memory, &tables, RAM, 4, root_entry & !TABLE_OR_PAGE);
        let err = tables.translate(&memory, RAM).unwrap_err();
        assert!(matches!(err, Error::BadEntry { level: 4, .. }), "{err}");
    }

    #[test]
    fn block_descriptor_at_the_page_level_is_malformed() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let gva = 0x80_0000_0000;
        let mapping = Mapping {
            gva,
            gpa: RAM,
            size: PageSize::Size4K,
            kind: MemoryKind::Normal,
        };
        tables.map(&memory, mapping).unwrap();
        let page = entry(&memory, &tables, gva, 1);
        set_entry(&memory, &tables, gva, 1, page & !TABLE_OR_PAGE);
        let err = tables.translate(&memory, gva).unwrap_err();
        assert!(
            matches!(err, Error::BadEntry { level: 1, why, .. } if why.contains("reserved")),
            "{err}"
        );
    }

    #[test]
    fn reserved_bits_of_a_2m_block_entry_are_malformed() {
        let memory = memory();
        let tables = mapped(&memory);
        let block = entry(&memory, &tables, RAM, 2);
        set_entry(&memory, &tables, RAM, 2, block | 1 << 18);
        let err = tables.translate(&memory, RAM).unwrap_err();
        assert!(matches!(err, Error::BadEntry { level: 2, .. }), "{err}");
    }

    #[test]
    fn a_1g_block_at_level_3_translates() {
        let memory = memory();
        let tables = mapped(&memory);
        set_entry(&memory, &tables, RAM, 3, RAM | ACCESS_FLAG | VALID);
        assert_eq!(
            tables.translate(&memory, RAM + 0x1234_5678).unwrap(),
            Translation {
                gpa: RAM + 0x1234_5678,
                page_size: 0x4000_0000
            }
        );
    }

    #[test]
    fn table_outside_memory_is_reported_with_its_address() {
        let memory = memory();
        let tables = mapped(&memory);
        set_entry(
            &memory,
            &tables,
            RAM,
            4,
            0x1000_0000 | TABLE_OR_PAGE | VALID,
        );
        let err = tables.translate(&memory, RAM).unwrap_err();
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
        // Index 0 at every level: the address 0 walks the root four times.
        memory
            .write_obj(root | TABLE_OR_PAGE | VALID, GuestAddress(root))
            .unwrap();
        assert_eq!(tables.translate(&memory, 0).unwrap().gpa, root);
    }

    #[test]
    fn ttbr0_asid_bits_are_ignored_in_the_root() {
        let memory = memory();
        let tables = mapped(&memory);
        let ttbr0 = GuestAddress(tables.root().0 | 0x00a5 << 48);
        assert_eq!(
            tables
                .format()
                .translate(&memory, ttbr0, RAM + 8)
                .unwrap()
                .gpa,
            RAM + 8
        );
    }

    #[test]
    fn read_across_a_page_boundary_onto_an_unmapped_page_names_that_page() {
        let memory = memory();
        let mut tables =
            PageTables::new(&memory, Aarch64::new(40), GuestAddress(TABLES), 0x10_000).unwrap();
        let mapping = Mapping {
            gva: RAM + 0x10_0000,
            gpa: RAM + 0x10_0000,
            size: PageSize::Size4K,
            kind: MemoryKind::Normal,
        };
        tables.map(&memory, mapping).unwrap();
        let mut buf = [0; 16];
        let err = read_virtual(
            &memory,
            tables.format(),
            tables.root(),
            RAM + 0x10_0ff8,
            &mut buf,
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::NotMapped { gva, .. } if gva == RAM + 0x10_1000),
            "{err}"
        );
    }

    #[test]
    fn page_mapped_beyond_memory_is_outside_memory() {
        let memory = memory();
        let mut tables = mapped(&memory);
        let mapping = Mapping {
            gva: 0x8000_0000,
            gpa: 0x8000_0000,
            size: PageSize::Size4K,
            kind: MemoryKind::Normal,
        };
        tables.map(&memory, mapping).unwrap();
        let mut buf = [0; 8];
        let err = read_virtual(
            &memory,
            tables.format(),
            tables.root(),
            0x8000_0000,
            &mut buf,
        )
        .unwrap_err();
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

    #[test]
    fn string_crossing_pages_stops_at_its_nul() {
        let memory = memory();
        let tables = mapped(&memory);
        memory
            .write_slice(b"abc\0def", GuestAddress(RAM + 0x1_0ffe))
            .unwrap();
        let text = read_c_string(
            &memory,
            tables.format(),
            tables.root(),
            RAM + 0x1_0ffe,
            1024,
        )
        .unwrap();
        assert_eq!(text, "abc");
    }
}
