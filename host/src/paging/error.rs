//! What can go wrong while building page tables or reading guest memory through them.

use vm_memory::GuestMemoryError;

/// A page-table or guest-virtual memory error: the address asked for, and which table, entry
/// or page on the way failed.
///
/// ```
/// use ucall_host::paging::{self, x86_64::X86_64, PageTables};
/// use vm_memory::GuestAddress;
/// use ucall_host::memory::HeapMemory;
///
/// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
/// let tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x4000)?;
/// let err = tables.view(&memory).translate(0x4000_0000).unwrap_err();
/// assert!(matches!(err, paging::Error::NotMapped { gva: 0x4000_0000, level: 4, .. }));
/// assert!(err.to_string().starts_with("guest-virtual address 0x40000000 is not mapped"));
/// # Ok::<(), paging::Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Error {
    /// A guest-virtual address is not canonical for the paging mode.
    #[error("guest-virtual address {gva:#x} is not canonical for {bits}-bit virtual addresses")]
    NonCanonical {
        /// The address.
        gva: u64,
        /// The virtual address width of the paging mode.
        bits: u32,
    },
    /// The page tables have no present entry for a guest-virtual address.
    #[error(
        "guest-virtual address {gva:#x} is not mapped: level-{level} entry at {entry_gpa:#x} is {entry:#x}"
    )]
    NotMapped {
        /// The address.
        gva: u64,
        /// The table level (4 is the root on 4-level paging).
        level: u8,
        /// Where the entry is in guest-physical memory.
        entry_gpa: u64,
        /// The entry's value.
        entry: u64,
    },
    /// A write would go through an entry that does not let the guest write: a read-only page,
    /// or a table entry that takes write permission away from everything below it.
    #[error(
        "guest-virtual address {gva:#x} is not writable: level-{level} entry at {entry_gpa:#x} is {entry:#x}"
    )]
    NotWritable {
        /// The address.
        gva: u64,
        /// The table level (4 is the root on 4-level paging).
        level: u8,
        /// Where the entry is in guest-physical memory.
        entry_gpa: u64,
        /// The entry's value.
        entry: u64,
    },
    /// A page-table entry on the way to a guest-virtual address is malformed.
    #[error(
        "guest-virtual address {gva:#x}: level-{level} entry at {entry_gpa:#x} is malformed ({entry:#x}): {reason}"
    )]
    BadEntry {
        /// The address being translated.
        gva: u64,
        /// The table level (4 is the root on 4-level paging).
        level: u8,
        /// Where the entry is in guest-physical memory.
        entry_gpa: u64,
        /// The entry's value.
        entry: u64,
        /// What is wrong with it.
        reason: BadEntryReason,
    },
    /// A page table is outside guest memory.
    #[error(
        "guest-virtual address {gva:#x}: level-{level} table at {table_gpa:#x} is outside guest memory"
    )]
    TableOutsideMemory {
        /// The address being translated.
        gva: u64,
        /// The table level (4 is the root on 4-level paging).
        level: u8,
        /// The table's guest-physical address.
        table_gpa: u64,
    },
    /// A guest-virtual address translates to guest-physical memory that does not exist.
    #[error("guest-virtual address {gva:#x} maps to {gpa:#x}, outside guest memory")]
    OutsideMemory {
        /// The address.
        gva: u64,
        /// What it translates to.
        gpa: u64,
    },
    /// A guest-virtual range runs past the top of the address space (it would wrap to 0).
    #[error(
        "the {len} bytes at guest-virtual address {gva:#x} run past the top of the address space"
    )]
    WrapsAround {
        /// Where the range starts.
        gva: u64,
        /// Its length (for a string, the bound).
        len: usize,
    },
    /// A string has no NUL within the bound.
    #[error("string at guest-virtual address {gva:#x} has no NUL within {max_len} bytes")]
    StringUnterminated {
        /// Where the string starts.
        gva: u64,
        /// The bound, including the NUL.
        max_len: usize,
    },
    /// A string is not UTF-8.
    #[error(
        "string at guest-virtual address {gva:#x} is not UTF-8: valid up to byte {valid_up_to}"
    )]
    StringNotUtf8 {
        /// Where the string starts.
        gva: u64,
        /// How many leading bytes are valid.
        valid_up_to: usize,
    },
    /// A page-table mapping asked for is not aligned to its page size.
    #[error("cannot map {gva:#x} to {gpa:#x} with {page_size:#x}-byte pages: not aligned")]
    Misaligned {
        /// The virtual address.
        gva: u64,
        /// The physical address.
        gpa: u64,
        /// The page size.
        page_size: u64,
    },
    /// A mapping asked for overlaps one that exists.
    #[error("cannot map {gva:#x}: it is already mapped")]
    AlreadyMapped {
        /// The virtual address.
        gva: u64,
    },
    /// The space set aside for page tables is used up.
    #[error("no room for another page table: the {size:#x} bytes at {start:#x} are used up")]
    TableSpaceExhausted {
        /// Start of the space for tables.
        start: u64,
        /// Its size.
        size: u64,
    },
    /// A table or entry the host writes is not in guest memory.
    #[error("cannot write a page table at {gpa:#x}: {source}")]
    TableWrite {
        /// Where the write went.
        gpa: u64,
        /// What guest memory said.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::message"))]
        source: GuestMemoryError,
    },
}

/// Why a valid page-table entry is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum BadEntryReason {
    /// The entry's address has bits set beyond the guest's physical address width (the IPA
    /// size on aarch64).
    #[error("address bits beyond the physical address width are set")]
    AddressBeyondPhysicalWidth,
    /// The root level cannot map memory itself: the page-size bit of a PML4 entry, or a block
    /// descriptor at the root of an aarch64 4 KiB granule.
    #[error("the root level cannot hold a huge page or block")]
    BlockAtRoot,
    /// Bits that must be zero in a huge-page or block entry are set.
    #[error("reserved bits of a huge-page or block entry are set")]
    ReservedBlockBits,
    /// An encoding that the page level reserves (aarch64: `0b01`, a block, at the page level).
    #[error("the entry's encoding is reserved at the page level")]
    ReservedAtPageLevel,
    /// Bits that every entry must keep zero are set (RISC-V: bits 63..54, since the host does
    /// not offer Svpbmt or Svnapot).
    #[error("reserved bits of the entry are set")]
    ReservedBits,
    /// Write permission without read permission, which RISC-V reserves.
    #[error("write without read is reserved")]
    WriteWithoutRead,
    /// An entry at the page level points to a further table.
    #[error("an entry at the page level points to a further table")]
    TableAtPageLevel,
    /// A pointer to a table has bits set that only leaves may carry (RISC-V: D, A, U).
    #[error("a pointer to a table has leaf-only bits set")]
    LeafBitsInTable,
    /// A huge page's or block's output address is not aligned to its size.
    #[error("the huge page's output address is not aligned to its size")]
    MisalignedHugePage,
}
