//! The host's trap handler for riscv64 guests (`stvec`, direct mode): it reports the exception
//! as an UNHANDLED ucall through the SBI transport, then waits for good.
//!
//! The code is instruction words built here from the RISC-V unprivileged ISA's base encodings
//! (chapter "RV32I Base Integer Instruction Set": I-, S- and U-type; `csrrw`/`csrrs` from the
//! Zicsr chapter; one function per format below; `llvm-mc -show-encoding` agrees with each),
//! which keeps the host free of an assembler for a foreign target and the code reviewable as a
//! listing. Uncompressed, so any riscv64 runs it.
//!
//! The handler swaps `sp` with `sscratch` (`csrrw sp, sscratch, sp`), which the host points at
//! an exception stack of the vCPU's own ([`stack_top`]), so that a fault from a broken guest
//! stack still reports (a guest that uses `sscratch` itself gets its reports built where it
//! points), and builds a [`ucall_abi::Record`] there: `cmd` = UNHANDLED, `args` = `scause`,
//! `sepc`, 0, `stval`, 0, 0 (see [`ucall_abi::unhandled`]). It makes the ucall SBI call
//! (extension [`ucall_abi::SBI_EXTENSION`], function 0, record address in `a0`), which the host
//! serves on every riscv64 VM, and waits (`wfi`) in a loop if it ever resumes. It overwrites
//! `sp`, `t0`, `a0`, `a6` and `a7`: the vCPU does not run the guest again. A guest that sets
//! `stvec` to a handler of its own keeps it.

use ucall_abi::Command;

/// Where `stvec` points: the start of the host area (a page, so 4-byte aligned as direct mode
/// needs).
pub(crate) const HANDLER_OFFSET: u64 = 0;
/// The exception stacks, one per vCPU up to `STACK_COUNT` (vCPUs that far apart share one), in
/// the page after the handler's.
const STACKS_OFFSET: u64 = 0x1000;
const STACK_COUNT: u64 = 64;
/// Bytes of exception stack per vCPU: the record's 56, rounded up to keep `sp` 16-byte aligned.
const STACK_SIZE: u64 = 0x40;
/// The bytes the handler and the stacks take from the start of the host area.
pub(crate) const END_OFFSET: u64 = STACKS_OFFSET + STACK_COUNT * STACK_SIZE;

/// The top of vCPU `index`'s exception stack in the host area at `base`, for `sscratch`.
pub(crate) fn stack_top(base: u64, index: usize) -> u64 {
    base + STACKS_OFFSET + (index as u64 % STACK_COUNT + 1) * STACK_SIZE
}

const ZERO: u32 = 0;
const SP: u32 = 2;
const T0: u32 = 5;
const A0: u32 = 10;
const A6: u32 = 16;
const A7: u32 = 17;

const CSR_SSCRATCH: u32 = 0x140;
const CSR_SEPC: u32 = 0x141;
const CSR_SCAUSE: u32 = 0x142;
const CSR_STVAL: u32 = 0x143;

/// An I-type instruction: `imm[11:0] | rs1 | funct3 | rd | opcode`.
const fn i_type(opcode: u32, funct3: u32, rd: u32, rs1: u32, imm: i32) -> u32 {
    (imm as u32 & 0xfff) << 20 | rs1 << 15 | funct3 << 12 | rd << 7 | opcode
}
/// `addi rd, rs1, imm`.
const fn addi(rd: u32, rs1: u32, imm: i32) -> u32 {
    i_type(0x13, 0, rd, rs1, imm)
}
/// `addiw rd, rs1, imm`.
const fn addiw(rd: u32, rs1: u32, imm: i32) -> u32 {
    i_type(0x1b, 0, rd, rs1, imm)
}
/// `lui rd, imm20` (the upper 20 bits of a 32-bit value, sign-extended).
const fn lui(rd: u32, imm20: u32) -> u32 {
    (imm20 & 0xf_ffff) << 12 | rd << 7 | 0x37
}
/// `sd rs2, offset(rs1)` (S-type).
const fn sd(rs2: u32, rs1: u32, offset: i32) -> u32 {
    let imm = offset as u32 & 0xfff;
    (imm >> 5) << 25 | rs2 << 20 | rs1 << 15 | 3 << 12 | (imm & 0x1f) << 7 | 0x23
}
/// `csrrw rd, csr, rs1`.
const fn csrrw(rd: u32, csr: u32, rs1: u32) -> u32 {
    csr << 20 | rs1 << 15 | 1 << 12 | rd << 7 | 0x73
}
/// `csrr rd, csr` (`csrrs rd, csr, zero`).
const fn csrr(rd: u32, csr: u32) -> u32 {
    csr << 20 | 2 << 12 | rd << 7 | 0x73
}
const ECALL: u32 = 0x0000_0073;
const WFI: u32 = 0x1050_0073;
/// `jal zero, -4`: back to the `wfi`.
const JUMP_BACK_ONE: u32 = 0xffdf_f06f;

/// The handler's code, at [`HANDLER_OFFSET`].
pub(crate) fn code() -> Vec<u32> {
    // a7 = SBI_EXTENSION (0x08FF_FFFF): lui takes the upper bits rounded up, addiw the -1.
    let extension = ucall_abi::SBI_EXTENSION as u32;
    let upper = extension.wrapping_add(0x800) >> 12;
    let lower = (extension & 0xfff) as i32 - if extension & 0x800 != 0 { 0x1000 } else { 0 };
    vec![
        csrrw(SP, CSR_SSCRATCH, SP),
        addi(SP, SP, -(STACK_SIZE as i32)),
        addi(T0, ZERO, Command::Unhandled as i32),
        sd(T0, SP, 0),
        csrr(T0, CSR_SCAUSE),
        sd(T0, SP, 8),
        csrr(T0, CSR_SEPC),
        sd(T0, SP, 16),
        sd(ZERO, SP, 24),
        csrr(T0, CSR_STVAL),
        sd(T0, SP, 32),
        sd(ZERO, SP, 40),
        sd(ZERO, SP, 48),
        addi(A0, SP, 0),
        lui(A7, upper),
        addiw(A7, A7, lower),
        addi(A6, ZERO, ucall_abi::SBI_UCALL_FUNCTION as i32),
        ECALL,
        WFI,
        JUMP_BACK_ONE,
    ]
}

/// The handler as bytes, for [`HANDLER_OFFSET`].
pub(crate) fn image() -> Vec<u8> {
    code().iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// The exception's name, from `scause` (RISC-V privileged ISA, "Supervisor Cause Register"
/// table): the interrupt bit (63) and the exception code.
pub(crate) fn name(scause: u64) -> &'static str {
    if scause >> 63 == 1 {
        return match scause & !(1 << 63) {
            1 => "supervisor software interrupt",
            5 => "supervisor timer interrupt",
            9 => "supervisor external interrupt",
            13 => "counter-overflow interrupt",
            _ => "interrupt",
        };
    }
    match scause {
        0 => "instruction address misaligned",
        1 => "instruction access fault",
        2 => "illegal instruction",
        3 => "breakpoint",
        4 => "load address misaligned",
        5 => "load access fault",
        6 => "store/AMO address misaligned",
        7 => "store/AMO access fault",
        8 => "environment call from U-mode",
        9 => "environment call from S-mode",
        12 => "instruction page fault",
        13 => "load page fault",
        15 => "store/AMO page fault",
        18 => "software check",
        19 => "hardware error",
        _ => "exception",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_words_are_the_assemblers() {
        // As `llvm-mc -triple=riscv64 -show-encoding` prints them.
        assert_eq!(csrrw(SP, CSR_SSCRATCH, SP), 0x1401_1173);
        assert_eq!(addi(SP, SP, -64), 0xfc01_0113);
        assert_eq!(addi(T0, ZERO, 5), 0x0050_0293);
        assert_eq!(sd(T0, SP, 0), 0x0051_3023);
        assert_eq!(sd(T0, SP, 8), 0x0051_3423);
        assert_eq!(sd(T0, SP, 32), 0x0251_3023);
        assert_eq!(csrr(T0, CSR_SCAUSE), 0x1420_22f3);
        assert_eq!(addi(A0, SP, 0), 0x0001_0513);
        assert_eq!(lui(A7, 0x9000), 0x0900_08b7);
        assert_eq!(addiw(A7, A7, -1), 0xfff8_889b);
    }

    #[test]
    fn the_handler_loads_the_ucall_extension_into_a7() {
        let code = code();
        let at = code.iter().position(|w| w & 0xfff == 0x8b7).unwrap();
        let upper = (code[at] & 0xffff_f000) as i32 as i64;
        let lower = (code[at + 1] as i32 >> 20) as i64;
        assert_eq!((upper + lower) as u64, ucall_abi::SBI_EXTENSION);
    }

    #[test]
    fn the_handler_ends_in_an_ecall_and_a_wait_loop() {
        let code = code();
        assert_eq!(code[code.len() - 3..], [ECALL, WFI, JUMP_BACK_ONE]);
        // jal's offset: imm[20|10:1|11|19:12]; -4 has every bit from 1 up set.
        assert_eq!(JUMP_BACK_ONE & 0xfff, 0x06f);
        assert_eq!(JUMP_BACK_ONE >> 21, 0x7fe);
    }

    #[test]
    fn the_stacks_are_aligned_and_end_in_the_host_area() {
        assert_eq!(STACK_SIZE % 16, 0);
        assert!(STACK_SIZE >= size_of::<ucall_abi::Record>() as u64);
        assert_eq!(stack_top(0, 63), END_OFFSET);
        assert!(HANDLER_OFFSET + 4 * code().len() as u64 <= STACKS_OFFSET);
    }

    #[test]
    fn names_come_from_the_cause() {
        assert_eq!(name(13), "load page fault");
        assert_eq!(name(2), "illegal instruction");
        assert_eq!(name(1 << 63 | 5), "supervisor timer interrupt");
    }
}
