//! Loading a statically linked guest ELF into guest memory.
//!
//! [`GuestImage::parse`] checks everything it can without guest memory (`checks.rs`): the ELF's
//! type, machine and segments, the segments against each other and the entry point, so that
//! [`GuestImage::load`] only copies. [`LoadError`] (`error.rs`) names what was wrong.

mod checks;
mod error;
#[cfg(test)]
pub(crate) mod test_elf;
mod test_table;
#[cfg(test)]
mod tests;

pub use checks::Segment;
pub use error::LoadError;
pub use test_table::{TestCase, TestTableError, TextField};

use goblin::elf::Elf;
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryBackend, GuestMemoryRegion};

/// How many zero bytes the loader writes at a time for a segment's `.bss`.
const ZERO_CHUNK: usize = 64 << 10;

/// A guest program: its loadable segments, entry point and symbols.
///
/// The loader a VMM can borrow for ucall guests: statically linked executables, loaded by
/// copying each `PT_LOAD` segment to its physical address (no relocation), entered at the ELF
/// entry, with the ucall MMIO address published through the symbol
/// [`ucall_abi::MMIO_ADDR_SYMBOL`]. It refuses, with a [`LoadError`] that names the problem, any
/// ELF that is not an executable for the machine, whose segments lie outside the file, wrap or
/// overlap, whose entry is in no segment, or that needs more memory than the guest has; and it
/// writes a guest global only inside the guest's own writable segments.
///
/// ```no_run
/// use ucall_host::arch::{Arch, Native};
/// use ucall_host::vm::GuestImage;
/// use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
///
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 32 << 20)])?;
/// let elf = std::fs::read("target/guests/x86_64/demo")?;
/// let image = GuestImage::parse(&elf, Native::ELF_MACHINE)?;
/// let end = image.load(&memory)?;
/// println!("loaded up to {end:#x}, entry at {:#x}", image.entry());
/// // Publish the ucall MMIO address the host chose (here a made-up one).
/// let global = image.writable_symbol_gpa(ucall_abi::MMIO_ADDR_SYMBOL, 8)?;
/// memory.write_obj(0x2800_0000_0000u64, GuestAddress(global))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GuestImage<'a> {
    elf: Elf<'a>,
    bytes: &'a [u8],
    segments: Vec<Segment>,
}

impl std::fmt::Debug for GuestImage<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestImage")
            .field("entry", &self.elf.entry)
            .field("segments", &self.segments)
            .finish_non_exhaustive()
    }
}

impl<'a> GuestImage<'a> {
    /// Parses `bytes` as a 64-bit little-endian executable ELF for `machine` (an `EM_*`
    /// number; this host's is [`Arch::ELF_MACHINE`](crate::arch::Arch::ELF_MACHINE)) and checks
    /// its segments and entry point.
    pub fn parse(bytes: &'a [u8], machine: u16) -> Result<Self, LoadError> {
        if !bytes.starts_with(b"\x7fELF") {
            return Err(LoadError::NotElf { len: bytes.len() });
        }
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
        checks::check_type(&elf)?;
        let segments = checks::loadable_segments(&elf, bytes.len())?;
        checks::check_entry(elf.entry, &segments)?;
        Ok(GuestImage {
            elf,
            bytes,
            segments,
        })
    }

    /// The entry point's address.
    pub fn entry(&self) -> u64 {
        self.elf.entry
    }

    /// The loadable segments, by guest-physical address; they do not overlap.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The bytes of memory the segments take together (the loader's work, at most).
    pub fn load_size(&self) -> u64 {
        // The segments do not overlap and do not wrap, so the sum fits.
        self.segments.iter().map(Segment::len).sum()
    }

    /// Refuses an image whose segments need more than `memory_size` bytes.
    pub(crate) fn check_size(&self, memory_size: u64) -> Result<(), LoadError> {
        let needed = self.load_size();
        if needed > memory_size {
            return Err(LoadError::TooLarge {
                needed,
                memory_size,
            });
        }
        Ok(())
    }

    /// Copies each segment to its physical address and zeroes the rest of its memory size (the
    /// `.bss`), after checking that every segment fits `memory`, so that a refused image writes
    /// nothing and the work is at most the memory size. Returns the highest guest-physical
    /// address loaded, exclusive.
    pub fn load<M>(&self, memory: &M) -> Result<u64, LoadError>
    where
        M: GuestMemory + GuestMemoryBackend + ?Sized,
    {
        let memory_size = memory.iter().map(|region| region.len()).sum();
        self.check_size(memory_size)?;
        for segment in &self.segments {
            // Fits usize: the segment is smaller than the memory that is mapped in this process.
            let len = usize::try_from(segment.len()).unwrap_or(usize::MAX);
            if !GuestMemory::check_range(
                memory,
                GuestAddress(segment.gpa.start),
                len,
                vm_memory::Permissions::Write,
            ) {
                return Err(outside(segment));
            }
        }
        let zeros = [0; ZERO_CHUNK];
        for segment in &self.segments {
            let file = &self.bytes[segment.file.clone()];
            memory
                .write_slice(file, GuestAddress(segment.gpa.start))
                .map_err(|_| outside(segment))?;
            let mut at = segment.gpa.start + file.len() as u64;
            while at < segment.gpa.end {
                let len = (segment.gpa.end - at).min(ZERO_CHUNK as u64);
                memory
                    .write_slice(&zeros[..len as usize], GuestAddress(at))
                    .map_err(|_| outside(segment))?;
                at += len;
            }
        }
        Ok(self.segments.iter().map(|s| s.gpa.end).max().unwrap_or(0))
    }

    /// The symbol `name`.
    fn symbol_entry(&self, name: &str) -> Result<goblin::elf::Sym, LoadError> {
        self.elf
            .syms
            .iter()
            .find(|sym| self.elf.strtab.get_at(sym.st_name) == Some(name))
            .ok_or_else(|| LoadError::SymbolNotFound(name.into()))
    }

    /// The guest-virtual address of the symbol `name`.
    fn symbol(&self, name: &str) -> Result<u64, LoadError> {
        self.symbol_entry(name).map(|sym| sym.st_value)
    }

    /// The guest-physical address of the symbol `name`, found through the segment that holds it:
    /// for reading. Only its first byte is checked; a global the host writes goes through
    /// [`writable_symbol_gpa`](Self::writable_symbol_gpa) instead.
    pub fn symbol_gpa(&self, name: &str) -> Result<u64, LoadError> {
        let vaddr = self.symbol(name)?;
        self.segments
            .iter()
            .find(|segment| segment.gva.contains(&vaddr))
            .map(|segment| segment.gpa.start + (vaddr - segment.gva.start))
            .ok_or_else(|| LoadError::SymbolNotLoaded {
                name: name.into(),
                vaddr,
            })
    }

    /// The guest-physical address of the symbol `name`, which the host is about to write `len`
    /// bytes to: only if those bytes lie wholly in one writable segment, the guest's own data,
    /// never in its code, across a segment's end or in memory the host keeps for itself; else
    /// [`LoadError::SymbolNotWritable`] naming the symbol. The one rule for every guest global
    /// the host writes (`ucall_exit_mmio_addr`, `ucall_log_ring_enabled`, a test's own).
    pub fn writable_symbol_gpa(&self, name: &str, len: u64) -> Result<u64, LoadError> {
        let vaddr = self.symbol(name)?;
        self.segments
            .iter()
            .filter(|segment| segment.writable)
            .find(|segment| {
                vaddr >= segment.gva.start
                    && vaddr
                        .checked_add(len)
                        .is_some_and(|end| end <= segment.gva.end)
            })
            .map(|segment| segment.gpa.start + (vaddr - segment.gva.start))
            .ok_or_else(|| LoadError::SymbolNotWritable {
                name: name.into(),
                vaddr,
                len,
            })
    }

    /// The guest-physical address of the object `name`, which the host writes whole: exactly
    /// `len` bytes by its own size (`st_size`), so that a guest that declares it smaller does
    /// not get its next variable overwritten, else [`LoadError::SymbolWrongSize`]; and in the
    /// guest's writable data, as [`writable_symbol_gpa`](Self::writable_symbol_gpa) checks.
    /// For globals whose size a convention fixes (`ucall_pool`, a pointer).
    pub fn writable_object_gpa(&self, name: &str, len: u64) -> Result<u64, LoadError> {
        let size = self.symbol_entry(name)?.st_size;
        if size != len {
            return Err(LoadError::SymbolWrongSize {
                name: name.into(),
                size,
                expected: len,
            });
        }
        self.writable_symbol_gpa(name, len)
    }
}

fn outside(segment: &Segment) -> LoadError {
    LoadError::OutsideMemory {
        segment: segment.index,
        start: segment.gpa.start,
        end: segment.gpa.end,
    }
}

/// Writes `value` to the 8-byte guest global `name` of `image`, loaded in `memory`; the global
/// must be in a writable segment of the image.
///
/// ```no_run
/// use ucall_host::arch::{Arch, Native};
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
    let gpa = image.writable_symbol_gpa(name, size_of::<u64>() as u64)?;
    memory
        .write_obj(value, GuestAddress(gpa))
        .map_err(|source| LoadError::WriteGlobal {
            name: name.into(),
            gpa,
            source,
        })
}
