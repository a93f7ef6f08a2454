//! Loading a statically linked guest ELF into guest memory.

use goblin::elf::{Elf, program_header::PT_LOAD};
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryError};

/// Why a guest ELF cannot be loaded, naming the segment or symbol at fault.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum LoadError {
    /// The file is not an ELF goblin can read.
    #[error("guest ELF: {0}")]
    Parse(
        #[from]
        #[cfg_attr(
            feature = "serde",
            serde(serialize_with = "crate::serde_display::message")
        )]
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
    /// A guest global could not be written.
    #[error("cannot write guest global {name} at {gpa:#x}: {source}")]
    WriteGlobal {
        /// The symbol.
        name: String,
        /// Its guest-physical address.
        gpa: u64,
        /// What vm-memory said.
        #[cfg_attr(
            feature = "serde",
            serde(serialize_with = "crate::serde_display::message")
        )]
        source: GuestMemoryError,
    },
}

/// A guest program: its loadable segments, entry point and symbols.
///
/// The loader a VMM can borrow for ucall guests: statically linked, loaded by copying each
/// `PT_LOAD` segment to its physical address (no relocation), entered at the ELF entry, with the
/// ucall MMIO address published through the symbol [`ucall_abi::MMIO_ADDR_SYMBOL`]. It checks
/// every segment against the file and `memory` and reports a bad one as a [`LoadError`].
///
/// ```no_run
/// use ucall_host::vm::arch::{Arch, Native};
/// use ucall_host::vm::GuestImage;
/// use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
///
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 32 << 20)])?;
/// let elf = std::fs::read("target/guests/x86_64/demo")?;
/// let image = GuestImage::parse(&elf, Native::ELF_MACHINE)?;
/// let end = image.load(&memory)?;
/// println!("loaded up to {end:#x}, entry at {:#x}", image.entry());
/// // Publish the ucall MMIO address the host chose (here a made-up one).
/// let global = image.symbol_gpa(ucall_abi::MMIO_ADDR_SYMBOL)?;
/// memory.write_obj(0x2800_0000_0000u64, GuestAddress(global))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GuestImage<'a> {
    elf: Elf<'a>,
    bytes: &'a [u8],
}

impl<'a> GuestImage<'a> {
    /// Parses `bytes` as a 64-bit little-endian ELF for `machine` (an `EM_*` number; this
    /// host's is [`Arch::ELF_MACHINE`](super::arch::Arch::ELF_MACHINE)).
    pub fn parse(bytes: &'a [u8], machine: u16) -> Result<Self, LoadError> {
        let elf = Elf::parse(bytes)?;
        if !elf.is_64 || !elf.little_endian {
            return Err(LoadError::NotElf64LittleEndian);
        }
        if elf.header.e_machine != machine {
            return Err(LoadError::WrongMachine {
                found: elf.header.e_machine,
                expected: machine,
            });
        }
        Ok(GuestImage { elf, bytes })
    }

    /// The entry point's address.
    pub fn entry(&self) -> u64 {
        self.elf.entry
    }

    /// Copies each `PT_LOAD` segment to its physical address and zeroes the rest of its memory
    /// size (the `.bss`). Returns the highest guest-physical address loaded, exclusive.
    pub fn load<M: GuestMemory + ?Sized>(&self, memory: &M) -> Result<u64, LoadError> {
        let mut end = 0;
        for (i, ph) in self.elf.program_headers.iter().enumerate() {
            if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
                continue;
            }
            if ph.p_filesz > ph.p_memsz {
                return Err(LoadError::FileSizeExceedsMemorySize { segment: i });
            }
            let file = usize::try_from(ph.p_offset)
                .ok()
                .zip(usize::try_from(ph.p_filesz).ok())
                .and_then(|(start, len)| self.bytes.get(start..start.checked_add(len)?))
                .ok_or(LoadError::BeyondFile { segment: i })?;
            let segment_end = ph
                .p_paddr
                .checked_add(ph.p_memsz)
                .ok_or(LoadError::Wraps { segment: i })?;
            let outside = || LoadError::OutsideMemory {
                segment: i,
                start: ph.p_paddr,
                end: segment_end,
            };
            // Before anything is allocated for it: a segment's size is the ELF's word.
            if !memory.check_range(
                GuestAddress(ph.p_paddr),
                usize::try_from(ph.p_memsz).unwrap_or(usize::MAX),
                vm_memory::Permissions::Write,
            ) {
                return Err(outside());
            }
            memory
                .write_slice(file, GuestAddress(ph.p_paddr))
                .map_err(|_| outside())?;
            // Fits: check_range above proved the whole segment is in memory.
            let zeros = vec![0; usize::try_from(ph.p_memsz - ph.p_filesz).map_err(|_| outside())?];
            memory
                .write_slice(&zeros, GuestAddress(ph.p_paddr + ph.p_filesz))
                .map_err(|_| outside())?;
            end = end.max(segment_end);
        }
        if end == 0 {
            return Err(LoadError::NoLoadableSegment);
        }
        Ok(end)
    }

    /// The guest-physical address of the symbol `name`, found through the segment that holds it.
    pub fn symbol_gpa(&self, name: &str) -> Result<u64, LoadError> {
        let vaddr = self
            .elf
            .syms
            .iter()
            .find(|sym| self.elf.strtab.get_at(sym.st_name) == Some(name))
            .map(|sym| sym.st_value)
            .ok_or_else(|| LoadError::SymbolNotFound(name.into()))?;
        self.elf
            .program_headers
            .iter()
            .filter(|ph| ph.p_type == PT_LOAD)
            .find(|ph| vaddr >= ph.p_vaddr && vaddr - ph.p_vaddr < ph.p_memsz)
            .and_then(|ph| ph.p_paddr.checked_add(vaddr - ph.p_vaddr))
            .ok_or_else(|| LoadError::SymbolNotLoaded {
                name: name.into(),
                vaddr,
            })
    }
}

/// Writes `value` to the 8-byte guest global `name` of `image`, loaded in `memory`.
///
/// ```no_run
/// use ucall_host::vm::arch::{Arch, Native};
/// use ucall_host::vm::{write_global, GuestImage};
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
///
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 32 << 20)])?;
/// let elf = std::fs::read("target/guests/x86_64/hostile")?;
/// let image = GuestImage::parse(&elf, Native::ELF_MACHINE)?;
/// image.load(&memory)?;
/// write_global(&memory, &image, "HOSTILE_CASE", 3)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_global<M: GuestMemory + ?Sized>(
    memory: &M,
    image: &GuestImage<'_>,
    name: &str,
    value: u64,
) -> Result<(), LoadError> {
    let gpa = image.symbol_gpa(name)?;
    memory
        .write_obj(value, GuestAddress(gpa))
        .map_err(|source| LoadError::WriteGlobal {
            name: name.into(),
            gpa,
            source,
        })
}

/// The machine, the entry and the segment count: the parsed ELF itself (symbol and string
/// tables included) would fill a log.
impl std::fmt::Debug for GuestImage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestImage")
            .field("machine", &self.elf.header.e_machine)
            .field("entry", &format_args!("{:#x}", self.elf.entry))
            .field("segments", &self.elf.program_headers.len())
            .field("bytes", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use goblin::elf::header::EM_X86_64;
    use vm_memory::GuestMemoryMmap;

    /// A minimal ELF64 (x86_64, executable) with one `PT_LOAD` segment of 16 file bytes.
    fn elf_with_segment(paddr: u64, memsz: u64) -> Vec<u8> {
        let mut elf = vec![0u8; 64 + 56 + 16];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // 64-bit
        elf[5] = 1; // little-endian
        elf[6] = 1; // version
        let put16 =
            |e: &mut Vec<u8>, at: usize, v: u16| e[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |e: &mut Vec<u8>, at: usize, v: u32| e[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let put64 =
            |e: &mut Vec<u8>, at: usize, v: u64| e[at..at + 8].copy_from_slice(&v.to_le_bytes());
        put16(&mut elf, 16, 2); // ET_EXEC
        put16(&mut elf, 18, EM_X86_64);
        put32(&mut elf, 20, 1);
        put64(&mut elf, 24, paddr); // entry
        put64(&mut elf, 32, 64); // phoff
        put16(&mut elf, 52, 64); // ehsize
        put16(&mut elf, 54, 56); // phentsize
        put16(&mut elf, 56, 1); // phnum
        put16(&mut elf, 58, 64); // shentsize
        let ph = 64;
        put32(&mut elf, ph, PT_LOAD);
        put64(&mut elf, ph + 8, 120); // offset of the 16 bytes
        put64(&mut elf, ph + 16, paddr); // vaddr
        put64(&mut elf, ph + 24, paddr); // paddr
        put64(&mut elf, ph + 32, 16); // filesz
        put64(&mut elf, ph + 40, memsz);
        elf
    }

    fn memory() -> GuestMemoryMmap {
        GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x40_0000)]).unwrap()
    }

    #[test]
    fn segment_is_copied_and_its_bss_zeroed() {
        let elf = elf_with_segment(0x20_0000, 0x1000);
        let image = GuestImage::parse(&elf, EM_X86_64).unwrap();
        assert_eq!(image.load(&memory()).unwrap(), 0x20_1000);
    }

    #[test]
    fn segment_larger_than_memory_is_refused_before_anything_is_allocated() {
        // A terabyte of .bss: refused by its range, not by an allocation that aborts.
        let elf = elf_with_segment(0x20_0000, 1 << 40);
        let image = GuestImage::parse(&elf, EM_X86_64).unwrap();
        let err = image.load(&memory()).unwrap_err();
        assert!(
            matches!(
                err,
                LoadError::OutsideMemory {
                    segment: 0,
                    start: 0x20_0000,
                    end: 0x100_0020_0000
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn segment_that_wraps_the_address_space_is_refused() {
        let elf = elf_with_segment(u64::MAX - 0xfff, 0x2000);
        let image = GuestImage::parse(&elf, EM_X86_64).unwrap();
        let err = image.load(&memory()).unwrap_err();
        assert!(matches!(err, LoadError::Wraps { segment: 0 }), "{err}");
    }

    #[test]
    fn elf_for_another_machine_is_refused() {
        let elf = elf_with_segment(0x20_0000, 0x1000);
        let err = GuestImage::parse(&elf, goblin::elf::header::EM_AARCH64)
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                LoadError::WrongMachine {
                    found: EM_X86_64,
                    expected: 183
                }
            ),
            "{err}"
        );
    }
}
