//! Hand-made ELFs for the loader's tests: an executable header, program headers with the
//! fields each test sets, the segments' file bytes, and optionally a symbol table.

use goblin::elf::header::{EM_X86_64, ET_EXEC};
use goblin::elf::program_header::{PF_R, PF_W, PF_X, PT_LOAD};

const EHDR: usize = 64;
const PHDR: usize = 56;
const SHDR: usize = 64;
const SYM: usize = 24;

/// One program header.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TestSegment {
    pub p_type: u32,
    pub flags: u32,
    pub paddr: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    /// Where its bytes are in the file; `None` puts `filesz` bytes of 0xa5 after the headers.
    pub offset: Option<u64>,
}

impl TestSegment {
    /// A loadable, readable and executable segment at `address` (virtual = physical) of 16
    /// file bytes and `memsz` bytes of memory.
    pub fn code(address: u64, memsz: u64) -> Self {
        TestSegment {
            p_type: PT_LOAD,
            flags: PF_R | PF_X,
            paddr: address,
            vaddr: address,
            filesz: 16.min(memsz),
            memsz,
            offset: None,
        }
    }

    /// A loadable, readable and writable segment at `address` with no file bytes.
    pub fn data(address: u64, memsz: u64) -> Self {
        TestSegment {
            flags: PF_R | PF_W,
            filesz: 0,
            ..TestSegment::code(address, memsz)
        }
    }
}

/// An ELF to build.
#[derive(Clone, Debug)]
pub(crate) struct TestElf {
    pub e_type: u16,
    pub machine: u16,
    pub entry: u64,
    pub segments: Vec<TestSegment>,
    /// Each symbol's name, value and size.
    pub symbols: Vec<(&'static str, u64, u64)>,
}

impl TestElf {
    /// An x86_64 executable with one code segment at `address` of `memsz` bytes, entered at
    /// its start.
    pub fn new(address: u64, memsz: u64) -> Self {
        TestElf {
            e_type: ET_EXEC,
            machine: EM_X86_64,
            entry: address,
            segments: vec![TestSegment::code(address, memsz)],
            symbols: Vec::new(),
        }
    }

    pub fn segment(mut self, segment: TestSegment) -> Self {
        self.segments.push(segment);
        self
    }

    /// An 8-byte object `name` at `value`.
    pub fn symbol(self, name: &'static str, value: u64) -> Self {
        self.sized_symbol(name, value, 8)
    }

    /// An object `name` at `value` of `size` bytes.
    pub fn sized_symbol(mut self, name: &'static str, value: u64, size: u64) -> Self {
        self.symbols.push((name, value, size));
        self
    }

    pub fn build(&self) -> Vec<u8> {
        let phoff = EHDR;
        let data_start = phoff + PHDR * self.segments.len();
        let mut elf = vec![0u8; data_start];
        let mut headers = Vec::new();
        for segment in &self.segments {
            let offset = match segment.offset {
                Some(offset) => offset,
                None => {
                    let at = elf.len() as u64;
                    elf.resize(elf.len() + segment.filesz as usize, 0xa5);
                    at
                }
            };
            headers.push((segment, offset));
        }
        for (i, (segment, offset)) in headers.into_iter().enumerate() {
            let at = phoff + PHDR * i;
            put32(&mut elf, at, segment.p_type);
            put32(&mut elf, at + 4, segment.flags);
            put64(&mut elf, at + 8, offset);
            put64(&mut elf, at + 16, segment.vaddr);
            put64(&mut elf, at + 24, segment.paddr);
            put64(&mut elf, at + 32, segment.filesz);
            put64(&mut elf, at + 40, segment.memsz);
            put64(&mut elf, at + 48, 0x1000);
        }
        let (shoff, shnum) = if self.symbols.is_empty() {
            (0, 0)
        } else {
            self.symbol_table(&mut elf)
        };
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // 64-bit
        elf[5] = 1; // little-endian
        elf[6] = 1; // version
        put16(&mut elf, 16, self.e_type);
        put16(&mut elf, 18, self.machine);
        put32(&mut elf, 20, 1);
        put64(&mut elf, 24, self.entry);
        put64(&mut elf, 32, phoff as u64);
        put64(&mut elf, 40, shoff);
        put16(&mut elf, 52, EHDR as u16);
        put16(&mut elf, 54, PHDR as u16);
        put16(&mut elf, 56, self.segments.len() as u16);
        put16(&mut elf, 58, SHDR as u16);
        put16(&mut elf, 60, shnum);
        elf
    }

    /// Appends `.strtab`, `.symtab` and three section headers (null, strtab, symtab); returns
    /// the section headers' offset and count.
    fn symbol_table(&self, elf: &mut Vec<u8>) -> (u64, u16) {
        let strtab_at = elf.len();
        elf.push(0);
        let mut names = Vec::new();
        for (name, _, _) in &self.symbols {
            names.push(elf.len() - strtab_at);
            elf.extend_from_slice(name.as_bytes());
            elf.push(0);
        }
        let strtab_len = elf.len() - strtab_at;
        elf.resize(elf.len().next_multiple_of(8), 0);
        let symtab_at = elf.len();
        elf.resize(symtab_at + SYM * (self.symbols.len() + 1), 0);
        for (i, ((_, value, size), name)) in self.symbols.iter().zip(names).enumerate() {
            let at = symtab_at + SYM * (i + 1);
            put32(elf, at, name as u32);
            elf[at + 4] = 0x11; // STB_GLOBAL, STT_OBJECT
            put16(elf, at + 6, 1); // some section, not SHN_UNDEF
            put64(elf, at + 8, *value);
            put64(elf, at + 16, *size);
        }
        let symtab_len = elf.len() - symtab_at;
        let shoff = elf.len();
        elf.resize(shoff + 3 * SHDR, 0);
        let strtab = shoff + SHDR;
        put32(elf, strtab + 4, 3); // SHT_STRTAB
        put64(elf, strtab + 24, strtab_at as u64);
        put64(elf, strtab + 32, strtab_len as u64);
        put64(elf, strtab + 48, 1);
        let symtab = shoff + 2 * SHDR;
        put32(elf, symtab + 4, 2); // SHT_SYMTAB
        put64(elf, symtab + 24, symtab_at as u64);
        put64(elf, symtab + 32, symtab_len as u64);
        put32(elf, symtab + 40, 1); // sh_link: the string table
        put32(elf, symtab + 44, 1); // sh_info: one local symbol (the null one)
        put64(elf, symtab + 48, 8);
        put64(elf, symtab + 56, SYM as u64);
        (shoff as u64, 3)
    }
}

fn put16(elf: &mut [u8], at: usize, value: u16) {
    elf[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn put32(elf: &mut [u8], at: usize, value: u32) {
    elf[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

fn put64(elf: &mut [u8], at: usize, value: u64) {
    elf[at..at + 8].copy_from_slice(&value.to_le_bytes());
}
