//! aarch64 stage-1 translation with a 4 KiB granule and 48-bit virtual addresses: four levels
//! from TTBR0_EL1, page and block descriptors, as set up by the host and walked to find ucall
//! records (Arm ARM D8.3, "Translation table descriptor formats").
//!
//! Levels are counted as on x86_64 so that errors read the same on both: level 4 is the root
//! (the Arm level 0 table), level 1 holds 4 KiB pages (Arm level 3).

use super::radix::{Encoding, LEVELS, VIRTUAL_BITS, bits, level_shift};
use super::{BadEntryReason, Mapping, MemoryKind};

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
/// AP\[2\], bit 7 of a page or block descriptor: read-only at every exception level.
const READ_ONLY: u64 = 1 << 7;
/// APTable\[1\], bit 62 of a table descriptor: no write access at any level below.
const TABLE_READ_ONLY: u64 = 1 << 62;
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

    /// Output-address bits beyond the IPA size: set, they make an address size fault.
    fn beyond_physical_mask(&self) -> u64 {
        bits(self.physical_bits, MAX_PHYSICAL_BITS)
    }
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

impl Encoding for Aarch64 {
    /// TTBR0_EL1 translates addresses with bits 63..48 clear (the upper range is TTBR1's,
    /// which the host disables).
    fn in_range(&self, gva: u64) -> bool {
        gva >> VIRTUAL_BITS == 0
    }

    /// Bits 12 up to the IPA size: where a descriptor keeps its output address.
    fn address_mask(&self) -> u64 {
        bits(12, self.physical_bits)
    }

    fn is_valid(&self, entry: u64) -> bool {
        entry & VALID != 0
    }

    fn is_block(&self, entry: u64, level: u8) -> bool {
        // Bit 1 clear: a block above level 1; at level 1 that encoding is reserved.
        level > 1 && entry & TABLE_OR_PAGE == 0
    }

    fn malformed(&self, entry: u64, level: u8) -> Option<BadEntryReason> {
        if entry & self.beyond_physical_mask() != 0 {
            return Some(BadEntryReason::AddressBeyondPhysicalWidth);
        }
        if level == 1 && entry & TABLE_OR_PAGE == 0 {
            return Some(BadEntryReason::ReservedAtPageLevel);
        }
        if !self.is_block(entry, level) {
            return None;
        }
        if level == LEVELS {
            return Some(BadEntryReason::BlockAtRoot);
        }
        // In a block descriptor, the bits from 17 (above nT, bit 16) up to the block size are
        // RES0.
        let page_size = 1u64 << level_shift(level);
        (entry & (page_size - 1) & !0x1_ffff != 0).then_some(BadEntryReason::ReservedBlockBits)
    }

    /// AP\[2\] in a page or block, APTable\[1\] in a table descriptor (which, when set, takes
    /// write access away from everything the table maps).
    fn writable(&self, entry: u64, level: u8) -> bool {
        if level > 1 && !self.is_block(entry, level) {
            entry & TABLE_READ_ONLY == 0
        } else {
            entry & READ_ONLY == 0
        }
    }

    fn table_entry(&self, table: u64) -> u64 {
        table | TABLE_OR_PAGE | VALID
    }

    fn leaf_entry(&self, mapping: &Mapping, level: u8) -> u64 {
        // At level 1 a valid leaf is a page (0b11); above it, a block (0b01).
        let kind_bits = if level == 1 {
            TABLE_OR_PAGE | VALID
        } else {
            VALID
        };
        mapping.gpa | leaf_attributes(mapping.kind) | kind_bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::HeapMemory;
    use crate::paging::tests::{
        assert_a_1g_leaf_at_level_3_translates, assert_translates, entry, set_entry,
    };
    use crate::paging::{Error, PageSize, PageTableFormat, PageTables};
    use vm_memory::{Bytes, GuestAddress};

    /// RAM as on aarch64 guests: 4 MiB at 1 GiB, tables at its start.
    const RAM: u64 = 0x4000_0000;
    const MEMORY: u64 = 0x40_0000;
    const TABLES: u64 = RAM + 0x1000;

    fn memory() -> HeapMemory {
        HeapMemory::from_ranges(&[(GuestAddress(RAM), MEMORY as usize)]).unwrap()
    }

    fn mapped(memory: &HeapMemory) -> PageTables<Aarch64> {
        let mut tables =
            PageTables::new(memory, Aarch64::new(40), GuestAddress(TABLES), 0x10_000).unwrap();
        tables
            .identity_map(memory, RAM..RAM + MEMORY, MemoryKind::Normal)
            .unwrap();
        tables
    }

    #[test]
    fn identity_map_uses_2m_blocks_where_aligned() {
        let memory = memory();
        let tables = mapped(&memory);
        // The 2 MiB translation itself: `paging::tests::aarch64::identity_map_uses_2m_pages_where_aligned`.
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
        assert_translates(&memory, &tables, gva + 0x12, RAM + 0x3012, 0x1000);
    }

    #[test]
    fn address_above_48_bits_is_refused() {
        let memory = memory();
        let tables = mapped(&memory);
        let err = tables
            .view(&memory)
            .translate(0xffff_0000_4000_0000)
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
        let err = tables.view(&memory).translate(RAM).unwrap_err();
        assert!(
            matches!(err, Error::BadEntry { level: 2, reason, .. } if reason == BadEntryReason::AddressBeyondPhysicalWidth),
            "{err}"
        );
    }

    #[test]
    fn block_descriptor_at_the_root_is_malformed() {
        let memory = memory();
        let tables = mapped(&memory);
        let root_entry = entry(&memory, &tables, RAM, 4);
        set_entry(&memory, &tables, RAM, 4, root_entry & !TABLE_OR_PAGE);
        let err = tables.view(&memory).translate(RAM).unwrap_err();
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
        let err = tables.view(&memory).translate(gva).unwrap_err();
        assert!(
            matches!(err, Error::BadEntry { level: 1, reason, .. } if reason == BadEntryReason::ReservedAtPageLevel),
            "{err}"
        );
    }

    #[test]
    fn reserved_bits_of_a_2m_block_entry_are_malformed() {
        let memory = memory();
        let tables = mapped(&memory);
        let block = entry(&memory, &tables, RAM, 2);
        set_entry(&memory, &tables, RAM, 2, block | 1 << 18);
        let err = tables.view(&memory).translate(RAM).unwrap_err();
        assert!(matches!(err, Error::BadEntry { level: 2, .. }), "{err}");
    }

    #[test]
    fn a_1g_block_at_level_3_translates() {
        let memory = memory();
        let tables = mapped(&memory);
        assert_a_1g_leaf_at_level_3_translates(&memory, &tables, RAM, RAM | ACCESS_FLAG | VALID);
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
    fn write_through_a_block_with_ap2_set_is_not_writable() {
        let memory = memory();
        let tables = mapped(&memory);
        let block = entry(&memory, &tables, RAM, 2);
        set_entry(&memory, &tables, RAM, 2, block | READ_ONLY);
        let view = tables.view(&memory);
        assert!(matches!(
            view.write(RAM + 8, &[1]),
            Err(Error::NotWritable { level: 2, entry, .. }) if entry == block | READ_ONLY
        ));
        assert_eq!(view.translate(RAM + 8).unwrap().gpa, RAM + 8);
    }

    #[test]
    fn write_below_a_table_with_aptable1_set_is_not_writable() {
        let memory = memory();
        let tables = mapped(&memory);
        let table = entry(&memory, &tables, RAM, 3);
        set_entry(&memory, &tables, RAM, 3, table | TABLE_READ_ONLY);
        assert!(matches!(
            tables.view(&memory).write(RAM + 8, &[1]),
            Err(Error::NotWritable { level: 3, .. })
        ));
    }

    #[test]
    fn the_host_maps_ram_writable() {
        let memory = memory();
        let tables = mapped(&memory);
        tables.view(&memory).write(RAM + 0x20_0000, &[7]).unwrap();
        assert_eq!(
            memory
                .read_obj::<u8>(GuestAddress(RAM + 0x20_0000))
                .unwrap(),
            7
        );
    }
}
