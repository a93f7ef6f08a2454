//! The host's exception handling for x86_64 guests: an IDT whose 32 exception gates lead to
//! stubs that report the exception as an UNHANDLED ucall over port I/O, then halt the vCPU.
//!
//! The stubs are machine code written here as bytes, from the SDM's instruction encodings (Vol.
//! 2, with the listing of each below; `llvm-mc -show-encoding` agrees with every byte). A byte
//! table keeps the host free of an assembler and of `global_asm!` for a foreign target, and
//! the code is short enough to review as a listing.
//!
//! Each stub pushes a zero error code (for vectors whose exception pushes none) and its
//! vector, and jumps to the common code, which builds a [`ucall_abi::Record`] on the stack:
//! `cmd` = UNHANDLED, `args` = vector, RIP, error code, CR2, 0, 0 (see
//! [`ucall_abi::unhandled`]), and makes the port I/O ucall (`in al, dx` on
//! [`ucall_abi::PIO_PORT`], record in `rdi`). Port I/O needs no published address, so the
//! report works whichever transport the guest's own ucalls use; the host accepts the port on
//! x86_64 with either. The host does not resume the vCPU after UNHANDLED; should anyone
//! resume it, it halts for good (`cli; hlt` in a loop).
//!
//! The handlers run on a stack of their own per vCPU (IST1 of the vCPU's TSS, see
//! [`stack_top`]), so that a fault from a broken guest stack (a stack overflow, a wild `rsp`)
//! still reports. A guest that loads its own IDT keeps it.

use ucall_abi::{Command, PIO_PORT};

/// Where the IDT is in the host area: 32 gates of 16 bytes, above the TSSes.
pub(crate) const IDT_OFFSET: u64 = 0x3000;
/// The IDT's limit: the 32 exception vectors; interrupts stay disabled.
pub(crate) const IDT_LIMIT: u16 = VECTORS as u16 * GATE_SIZE as u16 - 1;
/// The stubs, one per vector, then the common code.
const STUBS_OFFSET: u64 = 0x4000;
/// The exception stacks, one per TSS, up to where the page tables start.
const STACKS_OFFSET: u64 = 0x5000;
/// Bytes of exception stack per TSS: the CPU's frame, the stub's two words and the record
/// take 120.
const STACK_SIZE: u64 = 0x280;
/// The exception vectors, 0 to 31.
const VECTORS: u64 = 32;
const GATE_SIZE: u64 = 16;
/// Bytes per stub; the rest of each is `int3`.
const STUB_SIZE: u64 = 16;
/// Where the common code starts.
const COMMON_OFFSET: u64 = STUBS_OFFSET + VECTORS * STUB_SIZE;
/// A present, DPL 0, 64-bit interrupt gate (type 0xE), which clears IF on entry.
const INTERRUPT_GATE: u8 = 0x8e;

/// The vectors whose exception pushes an error code (SDM Vol. 3A, 6.15): #DF, #TS, #NP, #SS,
/// #GP, #PF, #AC, #CP, #VC, #SX.
fn pushes_error_code(vector: u64) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// The stub of `vector`: `push 0` (`6a 00`) unless the CPU pushed an error code,
/// `push vector` (`6a ib`), `jmp COMMON` (`e9 cd`).
fn stub(vector: u64) -> [u8; STUB_SIZE as usize] {
    let mut code = Vec::with_capacity(STUB_SIZE as usize);
    if !pushes_error_code(vector) {
        code.extend([0x6a, 0x00]);
    }
    code.extend([0x6a, vector as u8]);
    let next = STUBS_OFFSET + vector * STUB_SIZE + code.len() as u64 + 5;
    let rel = (COMMON_OFFSET as i64 - next as i64) as i32;
    code.push(0xe9);
    code.extend(rel.to_le_bytes());
    let mut stub = [0xcc; STUB_SIZE as usize];
    stub[..code.len()].copy_from_slice(&code);
    stub
}

/// The common code. On entry `[rsp]` is the vector, `[rsp+8]` the error code, `[rsp+16]` the
/// faulting RIP (the frame the CPU pushed, SDM Vol. 3A, 6.14.1).
fn common() -> Vec<u8> {
    let [port_low, port_high] = PIO_PORT.to_le_bytes();
    let mut code = vec![
        0x48, 0x83, 0xec, 0x38, // sub rsp, 56: the record
        0x48, 0xc7, 0x04, 0x24, // mov qword [rsp], imm32: cmd
    ];
    code.extend((Command::Unhandled as u32).to_le_bytes());
    code.extend([
        0x48, 0x8b, 0x44, 0x24, 0x38, // mov rax, [rsp+0x38]: the vector
        0x48, 0x89, 0x44, 0x24, 0x08, // mov [rsp+0x08], rax: args[0]
        0x48, 0x8b, 0x44, 0x24, 0x48, // mov rax, [rsp+0x48]: RIP
        0x48, 0x89, 0x44, 0x24, 0x10, // mov [rsp+0x10], rax: args[1]
        0x48, 0x8b, 0x44, 0x24, 0x40, // mov rax, [rsp+0x40]: the error code
        0x48, 0x89, 0x44, 0x24, 0x18, // mov [rsp+0x18], rax: args[2]
        0x0f, 0x20, 0xd0, // mov rax, cr2
        0x48, 0x89, 0x44, 0x24, 0x20, // mov [rsp+0x20], rax: args[3]
        0x31, 0xc0, // xor eax, eax
        0x48, 0x89, 0x44, 0x24, 0x28, // mov [rsp+0x28], rax: args[4]
        0x48, 0x89, 0x44, 0x24, 0x30, // mov [rsp+0x30], rax: args[5]
        0x48, 0x89, 0xe7, // mov rdi, rsp: the record's address
        0x66, 0xba, port_low, port_high, // mov dx, PIO_PORT
        0xec,      // in al, dx: the ucall
        0xfa,      // cli
        0xf4,      // hlt
        0xeb, 0xfc, // jmp back to cli
    ]);
    code
}

/// The top of the exception stack of TSS `slot` in the host area at `base` (16-byte aligned, as
/// the CPU aligns it anyway).
pub(crate) fn stack_top(base: u64, slot: u64) -> u64 {
    base + STACKS_OFFSET + (slot + 1) * STACK_SIZE
}

/// Where the handlers' code is, for the IDT the host installed at `idt_base` (with limit
/// [`IDT_LIMIT`]): a vCPU stopped there is reporting an exception, and the frame the CPU pushed
/// (see [`INTERRUPTED_FRAME`]) says where the guest was.
pub(crate) fn handler_code(idt_base: u64) -> std::ops::Range<u64> {
    let start = idt_base.wrapping_sub(IDT_OFFSET).wrapping_add(STUBS_OFFSET);
    start..start.saturating_add(STACKS_OFFSET - STUBS_OFFSET)
}

/// Where the frame the CPU pushed is, from the stack pointer at the handler's ucall (`in al,
/// dx`: the record at `rsp`, then the vector and error code): rip, cs, rflags, rsp, ss.
pub(crate) const INTERRUPTED_FRAME: u64 = 0x48;

/// The bytes the TSSes, IDT, handlers and their stacks take from the start of the host area.
pub(crate) const END_OFFSET: u64 = STACKS_OFFSET + 64 * STACK_SIZE;

/// The 16-byte gate for the handler at `offset` (SDM Vol. 3A, 6.14.1): code selector
/// `selector`, the stack in IST1.
fn gate(offset: u64, selector: u16) -> [u8; GATE_SIZE as usize] {
    let mut gate = [0; GATE_SIZE as usize];
    gate[0..2].copy_from_slice(&(offset as u16).to_le_bytes());
    gate[2..4].copy_from_slice(&selector.to_le_bytes());
    gate[4] = 1; // IST1
    gate[5] = INTERRUPT_GATE;
    gate[6..8].copy_from_slice(&((offset >> 16) as u16).to_le_bytes());
    gate[8..12].copy_from_slice(&((offset >> 32) as u32).to_le_bytes());
    gate
}

/// The IDT and the code for the host area at `base`, each with where it goes in guest-physical
/// (= virtual) memory. The stubs jump relative, so only the gates name `base`.
pub(crate) fn images(base: u64, code_selector: u16) -> [(u64, Vec<u8>); 2] {
    let idt = (0..VECTORS)
        .flat_map(|vector| gate(base + STUBS_OFFSET + vector * STUB_SIZE, code_selector))
        .collect();
    let mut code: Vec<u8> = (0..VECTORS).flat_map(stub).collect();
    code.extend(common());
    [(base + IDT_OFFSET, idt), (base + STUBS_OFFSET, code)]
}

/// The SDM's mnemonic for exception `vector`; the error code does not change it.
pub(crate) fn name(vector: u64) -> &'static str {
    const NAMES: [&str; 32] = [
        "#DE",
        "#DB",
        "NMI",
        "#BP",
        "#OF",
        "#BR",
        "#UD",
        "#NM",
        "#DF",
        "coprocessor segment overrun",
        "#TS",
        "#NP",
        "#SS",
        "#GP",
        "#PF",
        "reserved vector 15",
        "#MF",
        "#AC",
        "#MC",
        "#XM",
        "#VE",
        "#CP",
        "reserved vector 22",
        "reserved vector 23",
        "reserved vector 24",
        "reserved vector 25",
        "reserved vector 26",
        "reserved vector 27",
        "#HV",
        "#VC",
        "#SX",
        "reserved vector 31",
    ];
    usize::try_from(vector)
        .ok()
        .and_then(|v| NAMES.get(v))
        .copied()
        .unwrap_or("interrupt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stub_jumps_to_the_common_code() {
        for vector in 0..VECTORS {
            let code = stub(vector);
            let jmp = code.iter().position(|&b| b == 0xe9).unwrap();
            let rel = i32::from_le_bytes(code[jmp + 1..jmp + 5].try_into().unwrap());
            let next = STUBS_OFFSET + vector * STUB_SIZE + jmp as u64 + 5;
            assert_eq!(
                next.wrapping_add_signed(rel.into()),
                COMMON_OFFSET,
                "vector {vector}"
            );
        }
    }

    #[test]
    fn stubs_push_a_zero_error_code_only_where_the_cpu_pushes_none() {
        assert_eq!(stub(6)[..4], [0x6a, 0x00, 0x6a, 6]);
        assert_eq!(stub(14)[..3], [0x6a, 14, 0xe9]);
    }

    #[test]
    fn a_gate_splits_its_offset_and_is_a_present_interrupt_gate() {
        let g = gate(0x1234_5678_9abc_def0, 0x8);
        assert_eq!(g[..8], [0xf0, 0xde, 0x08, 0x00, 0x01, 0x8e, 0xbc, 0x9a]);
        assert_eq!(g[8..], [0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0]);
    }

    #[test]
    fn the_idt_and_code_fit_below_the_stacks() {
        let [(idt_at, idt), (at, code)] = images(0, 0x8);
        assert_eq!(idt.len() as u64, u64::from(IDT_LIMIT) + 1);
        assert!(idt_at + idt.len() as u64 <= STUBS_OFFSET);
        assert!(at + code.len() as u64 <= STACKS_OFFSET);
    }

    #[test]
    fn sixty_four_exception_stacks_fit_below_the_page_tables() {
        assert_eq!(STACK_SIZE % 16, 0);
        assert_eq!(stack_top(0, 63), END_OFFSET);
    }

    #[test]
    fn names_follow_the_sdm() {
        assert_eq!(
            [name(0), name(6), name(13), name(14)],
            ["#DE", "#UD", "#GP", "#PF"]
        );
        assert_eq!(name(200), "interrupt");
    }
}
