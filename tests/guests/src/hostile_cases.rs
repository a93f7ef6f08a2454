// The misbehaviours of the `hostile` guest, shared by the guest (which acts them out on vCPU 0)
// and the host tests (which choose one by writing its number to the guest global `HOSTILE_CASE`
// before the guest runs). Included with `include!` on both sides so the numbers cannot drift.

/// What vCPU 0 of the `hostile` guest does; the other vCPUs make 20 well-behaved SYNCs.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Case {
    /// Nothing hostile: 20 SYNCs like the others.
    Behave,
    /// A ucall whose record address (`UNMAPPED`) is in no mapping.
    RecordUnmapped,
    /// A record address outside the 48-bit lower half (`NON_CANONICAL`).
    RecordNonCanonical,
    /// A record address in the upper half whose bit 47 is clear.
    RecordNonCanonicalHigh,
    /// A record address that is the ucall MMIO page itself: mapped, but no memory.
    RecordInTheUcallPage,
    /// A record at address 0: RAM of zeros on x86_64, below RAM and unmapped on aarch64.
    RecordAtNull,
    /// A record whose 56 bytes start 8 bytes before the end of guest memory.
    RecordStraddlesEndOfMemory,
    /// A record 8 bytes before the top of the address space: it would wrap to 0.
    RecordWrapsAroundTheTop,
    /// A 1-byte write to the ucall MMIO address.
    MmioWrite1,
    /// A 2-byte write to the ucall MMIO address.
    MmioWrite2,
    /// A 4-byte write to the ucall MMIO address.
    MmioWrite4,
    /// A 1-byte read of the ucall MMIO address.
    MmioRead1,
    /// An 8-byte read of the ucall MMIO address.
    MmioRead8,
    /// An 8-byte write 16 bytes past the ucall MMIO address, in the same page (8 past it is the
    /// rooted-ucall doorbell).
    MmioWriteBesideTheUcallAddress,
    /// `in ax, dx` on the ucall port.
    PioIn2,
    /// `in eax, dx` on the ucall port.
    PioIn4,
    /// `out dx, al` on the ucall port.
    PioOut1,
    /// `out dx, eax` on the ucall port.
    PioOut4,
    /// `rep insb` of 4 bytes from the ucall port.
    PioRepIns4,
    /// `out dx, al` on port 0x604 (QEMU's ACPI shutdown port), which nothing serves here.
    PioOtherPort,
    /// A record with command 77.
    UnknownCommand,
    /// A record with command 0 (NONE).
    CommandNone,
    /// A record with command 2^64 - 1.
    CommandMax,
    /// PRINTF of a string at an unmapped address.
    PrintfUnmapped,
    /// PRINTF of a string at a non-canonical address.
    PrintfNonCanonical,
    /// PRINTF of 2048 bytes without a NUL.
    PrintfUnterminated,
    /// PRINTF of 2000 bytes and a NUL: longer than the bound.
    PrintfLongerThanTheBound,
    /// PRINTF of 1023 bytes and a NUL: exactly the bound, which is fine.
    PrintfExactlyTheBound,
    /// PRINTF of "ab\xffcd".
    PrintfInvalidUtf8,
    /// PRINTF of "ab" and the first two bytes of a three-byte character.
    PrintfTruncatedUtf8,
    /// PRINTF of 8 non-NUL bytes that end where guest memory ends.
    PrintfRunsOffTheEndOfMemory,
    /// ABORT whose message pointer is unmapped.
    AbortMessageUnmapped,
    /// ABORT with a good message and a file name that is not UTF-8.
    AbortFileInvalidUtf8,
    /// A record that starts 8 bytes before a mapped page ends; the next page is not present
    /// (tables the guest built).
    RecordStraddlesOntoAnUnmappedPage,
    /// PRINTF of a string that runs from a mapped page onto an unmapped one.
    PrintfStraddlesOntoAnUnmappedPage,
    /// A root-table entry that points to the root table itself; the record is read through it.
    TableThatPointsToItself,
    /// A root-table entry that points to a table beyond guest memory.
    TableOutsideMemory,
    /// A 1 GiB page that maps to physical memory beyond guest memory.
    PageOutsideMemory,
    /// A root-table entry with an address bit beyond the physical width
    /// (`descriptor::RESERVED_ADDRESS_BIT`).
    ReservedBitInAnEntry,
    /// A root-table entry that maps a large page (block), which the root level must not (on
    /// riscv64, where Sv48 allows 512 GiB leaves at the root, one that is not 512 GiB-aligned).
    HugePageBitInTheRoot,
    /// A 1 GiB page (block) entry with a reserved bit (`descriptor::RESERVED_BLOCK_BIT`) set (on
    /// riscv64, whose page numbers have no reserved bits, a misaligned one).
    ReservedBitInAHugePage,
    /// A non-present entry with other bits set.
    NonPresentEntryWithBits,
    /// The guest switches to tables of its own (CR3, TTBR0_EL1) and ucalls through a mapping
    /// only they have.
    SwitchedPageTables,
    /// Spins forever without a ucall.
    Spin,
    /// Halts: `hlt` on x86_64, `wfi` forever on aarch64.
    Halt,
    /// Triple-faults: an empty IDT, then a page fault (x86_64).
    TripleFault,
    /// Every vCPU sends SYNCs from one shared record at the same time.
    SharedRecord,
    /// A level-1 (Arm level 3) entry with bit 1 clear, which is reserved there (aarch64); on
    /// riscv64, a pointer to a further table at level 1.
    BlockAtThePageLevel,
    /// A load from an unmapped address, with only the host's exception handlers to report it.
    Exception,
    /// PSCI SYSTEM_OFF (aarch64), SBI system reset, shutdown (riscv64).
    SystemOff,
    /// A user call whose record the guest's own tables map read-only (a 4 KiB page at
    /// `SLOT_BASE`, the record's page): the host can read it but may not reply into it.
    CallWithAReadOnlyRecord,
    /// A user call whose record is below a root entry that takes write permission away
    /// (`descriptor::TABLE_READ_ONLY`).
    CallUnderAReadOnlyTable,
    /// A user call whose record starts 16 bytes before a writable page ends and runs onto a
    /// read-only one: the reply's words straddle both.
    CallStraddlingOntoAReadOnlyPage,
    /// A rooted ucall whose call block is 8 bytes past `HOSTILE_TEXT`: not 16-byte aligned.
    RootedCallMisaligned,
    /// A rooted ucall whose call block is at 0x1234_5678_9abc_def0, outside guest memory.
    RootedCallOutsideMemory,
    /// A rooted ucall (call block at `HOSTILE_TEXT`) for a SYNC in `HOSTILE_RECORD` whose root
    /// is `BEYOND_MEMORY`.
    RootedCallWithARootOutsideMemory,
    /// An UNHANDLED record of the guest's own making (a #PF-like report with vector 14 at
    /// `FORGED_AT`), sent from the guest's code, not the host's handlers.
    ForgedUnhandled,
}

/// What `Case::ForgedUnhandled` claims: vector, instruction address, error code, fault address.
pub const FORGED: [u64; 4] = [14, 0x1234_5000, 2, 0xdead_0000];

impl Case {
    /// Every case, in order of their numbers.
    pub const ALL: [Case; 57] = [
        Case::Behave,
        Case::RecordUnmapped,
        Case::RecordNonCanonical,
        Case::RecordNonCanonicalHigh,
        Case::RecordInTheUcallPage,
        Case::RecordAtNull,
        Case::RecordStraddlesEndOfMemory,
        Case::RecordWrapsAroundTheTop,
        Case::MmioWrite1,
        Case::MmioWrite2,
        Case::MmioWrite4,
        Case::MmioRead1,
        Case::MmioRead8,
        Case::MmioWriteBesideTheUcallAddress,
        Case::PioIn2,
        Case::PioIn4,
        Case::PioOut1,
        Case::PioOut4,
        Case::PioRepIns4,
        Case::PioOtherPort,
        Case::UnknownCommand,
        Case::CommandNone,
        Case::CommandMax,
        Case::PrintfUnmapped,
        Case::PrintfNonCanonical,
        Case::PrintfUnterminated,
        Case::PrintfLongerThanTheBound,
        Case::PrintfExactlyTheBound,
        Case::PrintfInvalidUtf8,
        Case::PrintfTruncatedUtf8,
        Case::PrintfRunsOffTheEndOfMemory,
        Case::AbortMessageUnmapped,
        Case::AbortFileInvalidUtf8,
        Case::RecordStraddlesOntoAnUnmappedPage,
        Case::PrintfStraddlesOntoAnUnmappedPage,
        Case::TableThatPointsToItself,
        Case::TableOutsideMemory,
        Case::PageOutsideMemory,
        Case::ReservedBitInAnEntry,
        Case::HugePageBitInTheRoot,
        Case::ReservedBitInAHugePage,
        Case::NonPresentEntryWithBits,
        Case::SwitchedPageTables,
        Case::Spin,
        Case::Halt,
        Case::TripleFault,
        Case::SharedRecord,
        Case::BlockAtThePageLevel,
        Case::Exception,
        Case::SystemOff,
        Case::CallWithAReadOnlyRecord,
        Case::CallUnderAReadOnlyTable,
        Case::CallStraddlingOntoAReadOnlyPage,
        Case::RootedCallMisaligned,
        Case::RootedCallOutsideMemory,
        Case::RootedCallWithARootOutsideMemory,
        Case::ForgedUnhandled,
    ];

    /// The case numbered `n`, if any.
    pub fn from_number(n: u64) -> Option<Case> {
        Case::ALL.get(usize::try_from(n).ok()?).copied()
    }
}

/// An address that no mapping covers (1 GiB; guest memory is far smaller, at 0).
#[cfg(target_arch = "x86_64")]
pub const UNMAPPED: u64 = 0x4000_0000;
/// An address that no mapping covers (2 GiB; guest memory is 32 MiB at 1 GiB).
#[cfg(target_arch = "aarch64")]
pub const UNMAPPED: u64 = 0x8000_0000;
/// An address that no mapping covers (1 GiB; guest memory starts at 2 GiB).
#[cfg(target_arch = "riscv64")]
pub const UNMAPPED: u64 = 0x4000_0000;
/// Non-canonical for 48-bit virtual addresses: bit 47 set, bits 63..48 clear.
#[cfg(any(target_arch = "x86_64", target_arch = "riscv64"))]
pub const NON_CANONICAL: u64 = 0x0000_8000_0000_0000;
/// Beyond TTBR0_EL1's 48 bits: bit 48 set (bit 47 alone is a valid TTBR0 address).
#[cfg(target_arch = "aarch64")]
pub const NON_CANONICAL: u64 = 0x0001_0000_0000_0000;
/// Non-canonical in the upper half: bits 63..48 set, bit 47 clear (on aarch64: TTBR1's range,
/// which the host disables).
pub const NON_CANONICAL_HIGH: u64 = 0xffff_0000_0000_0000;
/// Where guest RAM starts (1 GiB aligned, so that one 1 GiB block can alias it).
#[cfg(target_arch = "x86_64")]
pub const RAM_BASE: u64 = 0;
/// Where guest RAM starts (1 GiB aligned, so that one 1 GiB block can alias it).
#[cfg(target_arch = "aarch64")]
pub const RAM_BASE: u64 = 0x4000_0000;
/// Where guest RAM starts (1 GiB aligned, so that one 1 GiB block can alias it).
#[cfg(target_arch = "riscv64")]
pub const RAM_BASE: u64 = 0x8000_0000;
/// Physical memory far beyond the guest's (4 GiB).
pub const BEYOND_MEMORY: u64 = 0x1_0000_0000;
/// The root-table slot the page-table cases edit: no one else maps anything there.
pub const ROOT_SLOT: u64 = 128;
/// The virtual address that root-table slot covers.
pub const SLOT_BASE: u64 = ROOT_SLOT << 39;
/// The user command of the reply cases.
pub const CALL: u64 = 0x100;
/// How many SYNCs each well-behaved vCPU (and each vCPU of `SharedRecord`) sends.
pub const SYNCS: u64 = 20;

/// Descriptor bits of the entries the guest writes into page tables, per architecture; the
/// tests expect the entries built from them.
#[cfg(target_arch = "x86_64")]
pub mod descriptor {
    /// An entry that points to a next-level table: present, writable.
    pub const TABLE: u64 = 0x3;
    /// A 4 KiB page: present, writable.
    pub const PAGE: u64 = 0x3;
    /// A 4 KiB page: present, read-only (R/W clear).
    pub const PAGE_READ_ONLY: u64 = 0x1;
    /// An entry that points to a next-level table and makes everything below it read-only.
    pub const TABLE_READ_ONLY: u64 = 0x1;
    /// A 1 GiB page: present, writable, page size.
    pub const BLOCK_1G: u64 = 0x83;
    /// A large page at the root level, which the format does not allow.
    pub const BLOCK_AT_ROOT: u64 = 0x83;
    /// An address bit beyond the physical address width.
    pub const RESERVED_ADDRESS_BIT: u32 = 51;
    /// A bit that must be zero in a 1 GiB page entry (13 to 29).
    pub const RESERVED_BLOCK_BIT: u32 = 13;

    /// The entry for the table or page at `address` (with any address bits added) and `bits`.
    pub const fn entry(address: u64, bits: u64) -> u64 {
        address | bits
    }
}

/// Descriptor bits of the entries the guest writes into page tables, per architecture; the
/// tests expect the entries built from them.
#[cfg(target_arch = "aarch64")]
pub mod descriptor {
    /// A table descriptor (0b11).
    pub const TABLE: u64 = 0b11;
    /// A page descriptor (0b11) with the access flag, MAIR index 0 (Normal).
    pub const PAGE: u64 = 1 << 10 | 0b11;
    /// A page descriptor as `PAGE`, read-only (AP\[2\], bit 7).
    pub const PAGE_READ_ONLY: u64 = 1 << 7 | PAGE;
    /// A table descriptor whose APTable\[1\] (bit 62) takes write access away below it.
    pub const TABLE_READ_ONLY: u64 = 1 << 62 | TABLE;
    /// A 1 GiB block descriptor (0b01) with the access flag, MAIR index 0 (Normal).
    pub const BLOCK_1G: u64 = 1 << 10 | 0b01;
    /// A block descriptor at the root (Arm level 0), which a 4 KiB granule does not allow.
    pub const BLOCK_AT_ROOT: u64 = 0b01;
    /// The top output-address bit of a 48-bit IPA; beyond the IPA size when KVM gives less.
    pub const RESERVED_ADDRESS_BIT: u32 = 47;
    /// A RES0 bit of a 1 GiB block descriptor (17 to 29).
    pub const RESERVED_BLOCK_BIT: u32 = 20;

    /// The entry for the table or page at `address` (with any address bits added) and `bits`.
    pub const fn entry(address: u64, bits: u64) -> u64 {
        address | bits
    }
}

/// Descriptor bits of the entries the guest writes into page tables, per architecture; the
/// tests expect the entries built from them.
#[cfg(target_arch = "riscv64")]
pub mod descriptor {
    /// A pointer to a next-level table: V alone (R = W = X = 0).
    pub const TABLE: u64 = 0x1;
    /// A 4 KiB page: V, R, W, A, D.
    pub const PAGE: u64 = 0xc7;
    /// A 4 KiB page: V, R, A, D, without W.
    pub const PAGE_READ_ONLY: u64 = 0xc3;
    /// RISC-V table pointers carry no permissions: the same as `TABLE`.
    pub const TABLE_READ_ONLY: u64 = 0x1;
    /// A 1 GiB gigapage: the same bits as a page, one level up.
    pub const BLOCK_1G: u64 = 0xc7;
    /// A leaf at the root: Sv48 allows 512 GiB pages there, so the case makes it malformed by
    /// its address (the guest's table, not 512 GiB-aligned).
    pub const BLOCK_AT_ROOT: u64 = 0xc7;
    /// The top physical-address bit (55): beyond the physical width the host gives.
    pub const RESERVED_ADDRESS_BIT: u32 = 55;
    /// A physical-address bit below 1 GiB (13 to 29): set in a gigapage, it misaligns it, the
    /// nearest RISC-V has to a reserved bit of a large-page entry.
    pub const RESERVED_BLOCK_BIT: u32 = 20;

    /// The entry for the table or page at `address` (with any address bits added) and `bits`:
    /// the physical page number sits at bit 10.
    pub const fn entry(address: u64, bits: u64) -> u64 {
        (address >> 12) << 10 | bits
    }
}
