//! Why a guest ELF is refused: one variant per problem, naming the segment, symbol or address.

use crate::vm::host_region::HostRegion;
use vm_memory::GuestMemoryError;

/// Why a guest ELF cannot be loaded, naming the segment or symbol at fault.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum LoadError {
    /// The file does not start with the ELF magic (a text file, an empty one).
    #[error("guest ELF: not an ELF file ({len} bytes, not starting with \\x7fELF)")]
    NotElf {
        /// The file's size.
        len: usize,
    },
    /// The file starts like an ELF but goblin cannot read it (truncated, or malformed headers).
    #[error("guest ELF: not an ELF file (truncated or malformed: {0})")]
    Parse(
        #[from]
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::message"))]
        goblin::error::Error,
    ),
    /// The ELF is not 64-bit little-endian.
    #[error("guest ELF: not a 64-bit little-endian ELF")]
    NotElf64LittleEndian,
    /// The ELF is for another machine.
    #[error(
        "guest ELF: built for machine {found} ({}), not {expected} ({})",
        goblin::elf::header::machine_to_str(*found),
        goblin::elf::header::machine_to_str(*expected)
    )]
    WrongMachine {
        /// Its `e_machine`.
        found: u16,
        /// The host's.
        expected: u16,
    },
    /// The ELF is not an executable (`ET_EXEC`): a relocatable object, a shared object or a
    /// position-independent executable would need relocation, which the loader does not do.
    #[error(
        "guest ELF: type {found} ({}) is not an executable (ET_EXEC); link it static and non-PIE",
        goblin::elf::header::et_to_str(*found)
    )]
    NotExecutable {
        /// Its `e_type`.
        found: u16,
    },
    /// A segment's file size exceeds its memory size.
    #[error("guest ELF: segment {segment}: its file size exceeds its memory size")]
    FileSizeExceedsMemorySize {
        /// The program header's index.
        segment: usize,
    },
    /// A segment's bytes lie beyond the end of the file.
    #[error("guest ELF: segment {segment}: its bytes lie beyond the end of the file")]
    BeyondFile {
        /// The program header's index.
        segment: usize,
    },
    /// A segment wraps around the address space.
    #[error("guest ELF: segment {segment}: it wraps around the address space")]
    Wraps {
        /// The program header's index.
        segment: usize,
    },
    /// Two segments load to overlapping addresses (one would silently overwrite the other).
    #[error(
        "guest ELF: segments {first} and {second} overlap at {at:#x} (one would overwrite the other)"
    )]
    SegmentsOverlap {
        /// The program header's index of the segment that starts first.
        first: usize,
        /// The program header's index of the other.
        second: usize,
        /// Where the second starts, inside the first.
        at: u64,
    },
    /// The entry point is in no loadable segment.
    #[error("guest ELF: the entry point {entry:#x} is in no loadable segment")]
    EntryOutsideSegments {
        /// `e_entry`.
        entry: u64,
    },
    /// The segments together need more memory than the guest has, refused before any is
    /// loaded (so that loading costs at most the memory size).
    #[error(
        "guest ELF: its segments need {needed:#x} bytes, more than the guest's {memory_size:#x} bytes of memory"
    )]
    TooLarge {
        /// The sum of the segments' memory sizes.
        needed: u64,
        /// The guest's memory size.
        memory_size: u64,
    },
    /// A segment is not inside guest memory.
    #[error("guest ELF: segment {segment}: {start:#x}..{end:#x} is not inside guest memory")]
    OutsideMemory {
        /// The program header's index.
        segment: usize,
        /// Its physical address.
        start: u64,
        /// Its end, exclusive.
        end: u64,
    },
    /// A segment lies on a structure the host keeps in guest memory.
    #[error(
        "guest ELF: segment {segment}: {start:#x}..{end:#x} overlaps {region} at {region_start:#x}..{region_end:#x}"
    )]
    OverlapsHost {
        /// The program header's index.
        segment: usize,
        /// Its physical address.
        start: u64,
        /// Its end, exclusive.
        end: u64,
        /// The host's structure.
        region: HostRegion,
        /// Where the structure starts.
        region_start: u64,
        /// Where it ends, exclusive.
        region_end: u64,
    },
    /// The ELF loads nothing.
    #[error("guest ELF: no loadable segment")]
    NoLoadableSegment,
    /// A symbol the host needs does not exist.
    #[error("the guest ELF has no symbol {0}")]
    SymbolNotFound(String),
    /// A symbol is in no loadable segment.
    #[error("guest ELF: symbol {name} at {vaddr:#x} is in no loadable segment")]
    SymbolNotLoaded {
        /// The symbol.
        name: String,
        /// Its virtual address.
        vaddr: u64,
    },
    /// A symbol the host writes is not wholly inside one writable segment of the guest.
    #[error(
        "guest ELF: symbol {name} at {vaddr:#x} is not {len} bytes of the guest's writable data, so the host will not write it"
    )]
    SymbolNotWritable {
        /// The symbol.
        name: String,
        /// Its virtual address.
        vaddr: u64,
        /// How many bytes the host writes there.
        len: u64,
    },
    /// A symbol the host writes whole is not an object of the size the host writes.
    #[error(
        "guest ELF: symbol {name} is {size} bytes, not the {expected}-byte object the host writes there"
    )]
    SymbolWrongSize {
        /// The symbol.
        name: String,
        /// Its size in the ELF (`st_size`).
        size: u64,
        /// The size the host writes.
        expected: u64,
    },
    /// A guest global could not be written.
    #[error("cannot write guest global {name} at {gpa:#x}: {source}")]
    WriteGlobal {
        /// The symbol.
        name: String,
        /// Its guest-physical address.
        gpa: u64,
        /// What vm-memory said.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::message"))]
        source: GuestMemoryError,
    },
}
