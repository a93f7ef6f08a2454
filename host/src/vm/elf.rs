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
            let outside = || {
                bad(&format!(
                    "{:#x}..{segment_end:#x} is not inside guest memory",
                    ph.p_paddr
                ))
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
            let zeros =
                vec![0; usize::try_from(ph.p_memsz - ph.p_filesz).map_err(|_| bad("too large"))?];
            memory
                .write_slice(&zeros, GuestAddress(ph.p_paddr + ph.p_filesz))
                .map_err(|_| outside())?;
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
            .and_then(|ph| ph.p_paddr.checked_add(vaddr - ph.p_vaddr))
            .ok_or_else(|| {
                Error::Elf(format!(
                    "symbol {name} at {vaddr:#x} is in no loadable segment"
                ))
            })
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
            matches!(&err, Error::Elf(why) if why.contains("not inside guest memory")),
            "{err}"
        );
    }

    #[test]
    fn segment_that_wraps_the_address_space_is_refused() {
        let elf = elf_with_segment(u64::MAX - 0xfff, 0x2000);
        let image = GuestImage::parse(&elf, EM_X86_64).unwrap();
        let err = image.load(&memory()).unwrap_err();
        assert!(
            matches!(&err, Error::Elf(why) if why.contains("wraps")),
            "{err}"
        );
    }

    #[test]
    fn elf_for_another_machine_is_refused() {
        let elf = elf_with_segment(0x20_0000, 0x1000);
        let err = GuestImage::parse(&elf, goblin::elf::header::EM_AARCH64)
            .err()
            .unwrap();
        assert!(
            matches!(&err, Error::Elf(why) if why.contains("not 183")),
            "{err}"
        );
    }
}
