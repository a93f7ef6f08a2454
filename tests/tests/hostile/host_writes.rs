//! Hostile ELFs: every guest global the host writes must be the guest's own writable data, all
//! of it in one segment. The `log_ring` guest is run with its `ucall_log_ring_enabled` moved
//! (its symbol's value patched in the ELF) onto its code, and across the end of its data.

use super::*;
use goblin::elf::Elf;
use goblin::elf::program_header::{PF_W, PF_X, PT_LOAD};
use ucall_abi::log_ring::ENABLED_SYMBOL;
use ucall_host::vm::{LoadError, SetupError};

/// The `log_ring` guest with the value of its symbol `name` set to `value`.
fn with_symbol_at(name: &str, value: u64) -> Vec<u8> {
    let mut bytes = guest("log_ring");
    let elf = Elf::parse(&bytes).expect("log_ring is an ELF");
    let symtab = elf
        .section_headers
        .iter()
        .find(|s| s.sh_type == goblin::elf::section_header::SHT_SYMTAB)
        .expect("a symbol table");
    let index = elf
        .syms
        .iter()
        .position(|sym| elf.strtab.get_at(sym.st_name) == Some(name))
        .expect("the symbol");
    // Elf64_Sym: st_value is 8 bytes into each 24-byte entry.
    let at = symtab.sh_offset as usize + index * 24 + 8;
    drop(elf);
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
    bytes
}

/// The guest's loadable segments with the flags `flags` (and without `without`).
fn segments(flags: u32, without: u32) -> Vec<std::ops::Range<u64>> {
    let bytes = guest("log_ring");
    let elf = Elf::parse(&bytes).expect("log_ring is an ELF");
    elf.program_headers
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_flags & flags == flags && p.p_flags & without == 0)
        .map(|p| p.p_vaddr..p.p_vaddr + p.p_memsz)
        .collect()
}

fn assert_refused(elf: &[u8], at: u64) {
    let err = VmBuilder::new(elf)
        .transport(TransportKind::Mmio)
        .build()
        .expect_err("the host does not write there");
    assert!(
        matches!(
            &err,
            SetupError::Load(LoadError::SymbolNotWritable { name, vaddr, len: 8 })
                if name == ENABLED_SYMBOL && *vaddr == at
        ),
        "{err}"
    );
}

#[test]
fn log_ring_flag_moved_onto_the_guests_code_is_refused() {
    let code = segments(PF_X, 0)[0].start;
    let elf = with_symbol_at(ENABLED_SYMBOL, code);
    assert_refused(&elf, code);
}

#[test]
fn log_ring_flag_moved_across_the_end_of_a_segment_is_refused() {
    let data = segments(PF_W, PF_X);
    // The first one: another segment follows it.
    let end = data.iter().map(|d| d.end).min().expect("a data segment");
    let elf = with_symbol_at(ENABLED_SYMBOL, end - 4);
    assert_refused(&elf, end - 4);
}
