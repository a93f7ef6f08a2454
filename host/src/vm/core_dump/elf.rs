//! The few ELF64 structures of a core file, little-endian, as `zerocopy` writes them: the file
//! header, program headers, and note headers (System V gABI, "ELF Header", "Program Header"
//! and "Note Section"). The values are `goblin`'s constants.

use goblin::elf::header::{
    EI_ABIVERSION, EI_CLASS, EI_DATA, EI_OSABI, EI_VERSION, ELFCLASS64, ELFDATA2LSB, ELFMAG,
    ELFOSABI_NONE, ET_CORE, EV_CURRENT,
};
use zerocopy::{Immutable, IntoBytes};

/// `Elf64_Ehdr`.
#[derive(Clone, Copy, Debug, Default, IntoBytes, Immutable)]
#[repr(C)]
pub(super) struct FileHeader {
    ident: [u8; 16],
    kind: u16,
    machine: u16,
    version: u32,
    entry: u64,
    program_headers_at: u64,
    section_headers_at: u64,
    flags: u32,
    header_size: u16,
    program_header_size: u16,
    program_headers: u16,
    section_header_size: u16,
    section_headers: u16,
    section_names_index: u16,
}

/// `Elf64_Phdr`.
#[derive(Clone, Copy, Debug, Default, IntoBytes, Immutable)]
#[repr(C)]
pub(super) struct ProgramHeader {
    pub(super) kind: u32,
    pub(super) flags: u32,
    pub(super) offset: u64,
    pub(super) vaddr: u64,
    pub(super) paddr: u64,
    pub(super) file_size: u64,
    pub(super) memory_size: u64,
    pub(super) align: u64,
}

/// `Elf64_Nhdr`; the name and the descriptor follow, each padded to 4 bytes.
#[derive(Clone, Copy, Debug, Default, IntoBytes, Immutable)]
#[repr(C)]
struct NoteHeader {
    name_size: u32,
    desc_size: u32,
    kind: u32,
}

pub(super) const FILE_HEADER_SIZE: u64 = size_of::<FileHeader>() as u64;
pub(super) const PROGRAM_HEADER_SIZE: u64 = size_of::<ProgramHeader>() as u64;

impl FileHeader {
    /// The header of a core for `machine` with `program_headers` program headers right after it.
    pub(super) fn core(machine: u16, program_headers: u16) -> Self {
        let mut ident = [0; 16];
        ident[..ELFMAG.len()].copy_from_slice(ELFMAG);
        ident[EI_CLASS] = ELFCLASS64;
        ident[EI_DATA] = ELFDATA2LSB;
        ident[EI_VERSION] = EV_CURRENT;
        ident[EI_OSABI] = ELFOSABI_NONE;
        ident[EI_ABIVERSION] = 0;
        FileHeader {
            ident,
            kind: ET_CORE,
            machine,
            version: u32::from(EV_CURRENT),
            program_headers_at: FILE_HEADER_SIZE,
            header_size: FILE_HEADER_SIZE as u16,
            program_header_size: PROGRAM_HEADER_SIZE as u16,
            program_headers,
            ..FileHeader::default()
        }
    }
}

/// Appends one note named `name` (Linux cores use "CORE") of type `kind` to `notes`.
pub(super) fn push_note(notes: &mut Vec<u8>, name: &str, kind: u32, desc: &[u8]) {
    let header = NoteHeader {
        // The name's size counts its terminating NUL.
        name_size: name.len() as u32 + 1,
        desc_size: desc.len() as u32,
        kind,
    };
    notes.extend_from_slice(header.as_bytes());
    notes.extend_from_slice(name.as_bytes());
    notes.push(0);
    pad_to_4(notes);
    notes.extend_from_slice(desc);
    pad_to_4(notes);
}

fn pad_to_4(bytes: &mut Vec<u8>) {
    bytes.resize(bytes.len().next_multiple_of(4), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_have_the_elf64_sizes() {
        assert_eq!(FILE_HEADER_SIZE, 64);
        assert_eq!(PROGRAM_HEADER_SIZE, 56);
        assert_eq!(size_of::<NoteHeader>(), 12);
    }

    #[test]
    fn a_note_pads_its_name_and_descriptor_to_4_bytes() {
        let mut notes = Vec::new();
        push_note(&mut notes, "CORE", 1, &[0xaa; 5]);
        let mut expected = vec![5, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0];
        expected.extend_from_slice(b"CORE\0\0\0\0");
        expected.extend_from_slice(&[0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0, 0, 0]);
        assert_eq!(notes, expected);
    }
}
