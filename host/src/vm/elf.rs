//! Loading a statically linked guest ELF into guest memory.

use crate::Error;
use goblin::elf::{Elf, program_header::PT_LOAD};
use vm_memory::{Bytes, GuestAddress, GuestMemory};

/// A guest program: its loadable segments, entry point and symbols.
///
/// The loader a VMM can borrow for ucall guests: statically linked, loaded by copying each
/// `PT_LOAD` segment to its physical address (no relocation), entered at the ELF entry, with the
/// ucall MMIO address published through the symbol [`ucall_abi::MMIO_ADDR_SYMBOL`]. It checks
/// every segment against the file and `memory` and reports a bad one as [`Error::Elf`].
///
/// ```no_run
/// use ucall_host::vm::{GuestImage, ELF_MACHINE};
/// use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
///
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 32 << 20)])?;
/// let elf = std::fs::read("target/guests/x86_64/demo")?;
/// let image = GuestImage::parse(&elf, ELF_MACHINE)?;
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
    /// host's is [`ELF_MACHINE`](super::ELF_MACHINE)).
    pub fn parse(bytes: &'a [u8], machine: u16) -> Result<Self, Error> {
        let elf = Elf::parse(bytes).map_err(|e| Error::Elf(e.to_string()))?;
        if !elf.is_64 || !elf.little_endian {
            return Err(Error::Elf("not a 64-bit little-endian ELF".into()));
        }
        if elf.header.e_machine != machine {
            return Err(Error::Elf(format!(
                "built for machine {} ({}), not {} ({})",
                elf.header.e_machine,
                goblin::elf::header::machine_to_str(elf.header.e_machine),
                machine,
                goblin::elf::header::machine_to_str(machine),
            )));
        }
        Ok(GuestImage { elf, bytes })
    }

    /// The entry point's address.
    pub fn entry(&self) -> u64 {
        self.elf.entry
    }

    /// Copies each `PT_LOAD` segment to its physical address and zeroes the rest of its memory
    /// size (the `.bss`). Returns the highest guest-physical address loaded, exclusive.
    pub fn load<M: GuestMemory + ?Sized>(&self, memory: &M) -> Result<u64, Error> {
        let mut end = 0;
        for (i, ph) in self.elf.program_headers.iter().enumerate() {
            if ph.p_type != PT_LOAD || ph.p_memsz == 0 {
                continue;
            }
            let bad = |why: &str| Error::Elf(format!("segment {i}: {why}"));
            if ph.p_filesz > ph.p_memsz {
                return Err(bad("its file size exceeds its memory size"));
            }
            let file = usize::try_from(ph.p_offset)
                .ok()
                .zip(usize::try_from(ph.p_filesz).ok())
                .and_then(|(start, len)| self.bytes.get(start..start.checked_add(len)?))
                .ok_or_else(|| bad("its bytes lie beyond the end of the file"))?;
            let segment_end = ph
                .p_paddr
                .checked_add(ph.p_memsz)
                .ok_or_else(|| bad("it wraps around the address space"))?;
            let outside = |_| {
                bad(&format!(
                    "{:#x}..{segment_end:#x} is not inside guest memory",
                    ph.p_paddr
                ))
            };
            memory
                .write_slice(file, GuestAddress(ph.p_paddr))
                .map_err(outside)?;
            let zeros =
                vec![0; usize::try_from(ph.p_memsz - ph.p_filesz).map_err(|_| bad("too large"))?];
            memory
                .write_slice(&zeros, GuestAddress(ph.p_paddr + ph.p_filesz))
                .map_err(outside)?;
            end = end.max(segment_end);
        }
        if end == 0 {
            return Err(Error::Elf("no loadable segment".into()));
        }
        Ok(end)
    }

    /// The guest-physical address of the symbol `name`, found through the segment that holds it.
    pub fn symbol_gpa(&self, name: &str) -> Result<u64, Error> {
        let vaddr = self
            .elf
            .syms
            .iter()
            .find(|sym| self.elf.strtab.get_at(sym.st_name) == Some(name))
            .map(|sym| sym.st_value)
            .ok_or_else(|| Error::SymbolNotFound(name.into()))?;
        self.elf
            .program_headers
            .iter()
            .filter(|ph| ph.p_type == PT_LOAD)
            .find(|ph| vaddr >= ph.p_vaddr && vaddr - ph.p_vaddr < ph.p_memsz)
            .map(|ph| ph.p_paddr + (vaddr - ph.p_vaddr))
            .ok_or_else(|| {
                Error::Elf(format!(
                    "symbol {name} at {vaddr:#x} is in no loadable segment"
                ))
            })
    }
}
