//! The host's exception vectors for aarch64 guests: each of the 16 entries reports the exception
//! as an UNHANDLED ucall through the MMIO doorbell, then waits for good.
//!
//! The code is instruction words built here from the Arm ARM's encodings (C6.2, one function
//! per instruction below; `llvm-mc -show-encoding` agrees with each), which keeps the host free
//! of an assembler for a foreign target and the code reviewable as a listing.
//!
//! Each entry switches to SP_EL0 (`msr spsel, #0`), which the host points at an exception stack
//! of the vCPU's own ([`stack_top`]), so that a fault from a broken guest stack still reports
//! (a guest that uses SP_EL0 itself gets its reports built there), and builds a
//! [`ucall_abi::Record`] on it: `cmd` = UNHANDLED, `args` = the entry's index, ELR_EL1, ESR_EL1, FAR_EL1, 0, 0 (see
//! [`ucall_abi::unhandled`]), loads the doorbell (the 8-byte word at [`DOORBELL_OFFSET`], where the
//! host writes the ucall MMIO address once it has installed the page) and stores the record's
//! address there, which is a ucall. With no doorbell (a VMM that installed no MMIO page) it
//! falls back to a PSCI SYSTEM_RESET, which the run loop reports with ESR, ELR and FAR read
//! from the vCPU. A guest that sets VBAR_EL1 to vectors of its own keeps them.

use ucall_abi::Command;

/// Where VBAR_EL1 points, in the host area (which starts on a page, so 2 KiB-aligned as VBAR_EL1
/// needs): 16 entries of 128 bytes.
pub(crate) const VECTORS_OFFSET: u64 = 0;
/// The doorbell word, right after the vectors: the ucall MMIO address, or 0 for none.
pub(crate) const DOORBELL_OFFSET: u64 = VECTORS_OFFSET + 16 * ENTRY_SIZE;
const ENTRY_SIZE: u64 = 0x80;
/// The bytes of the vector table: 16 entries.
pub(crate) const TABLE_SIZE: u64 = 16 * ENTRY_SIZE;
/// The exception stacks, one per vCPU up to `STACK_COUNT` (vCPUs that far apart share one), up
/// to where the page tables start.
const STACKS_OFFSET: u64 = 0x1000;
const STACK_COUNT: u64 = 64;
/// Bytes of exception stack per vCPU: the record takes 64.
const STACK_SIZE: u64 = 0x380;
// The stacks start above the doorbell.
const _: () = assert!(STACKS_OFFSET >= DOORBELL_OFFSET + 8);
/// The bytes the vectors, the doorbell and the stacks take from the start of the host area.
pub(crate) const END_OFFSET: u64 = STACKS_OFFSET + STACK_COUNT * STACK_SIZE;

/// The top of vCPU `index`'s exception stack in the host area at `base`, for SP_EL0.
pub(crate) fn stack_top(base: u64, index: usize) -> u64 {
    base + STACKS_OFFSET + (index as u64 % STACK_COUNT + 1) * STACK_SIZE
}

const SP: u32 = 31;
const XZR: u32 = 31;

/// `sub Xd|SP, Xn|SP, #imm12`.
const fn sub_imm(rd: u32, rn: u32, imm: u32) -> u32 {
    0xd100_0000 | imm << 10 | rn << 5 | rd
}
/// `movz Xd, #imm16`.
const fn movz(rd: u32, imm: u32) -> u32 {
    0xd280_0000 | imm << 5 | rd
}
/// `str Xt, [Xn|SP, #offset]` (unsigned offset, a multiple of 8).
const fn str_imm(rt: u32, rn: u32, offset: u32) -> u32 {
    0xf900_0000 | (offset / 8) << 10 | rn << 5 | rt
}
/// `mrs Xt, <op0=3, op1, CRn, CRm, op2>`.
const fn mrs(rt: u32, op1: u32, crn: u32, crm: u32, op2: u32) -> u32 {
    0xd538_0000 | op1 << 16 | crn << 12 | crm << 8 | op2 << 5 | rt
}
/// `ldr Xt, <pc + words * 4>` (literal).
const fn ldr_literal(rt: u32, words: i32) -> u32 {
    0x5800_0000 | (words as u32 & 0x7_ffff) << 5 | rt
}
/// `cbz Xt, <pc + words * 4>`.
const fn cbz(rt: u32, words: i32) -> u32 {
    0xb400_0000 | (words as u32 & 0x7_ffff) << 5 | rt
}
/// `b <pc + words * 4>`.
const fn branch(words: i32) -> u32 {
    0x1400_0000 | (words as u32 & 0x3ff_ffff)
}
/// `msr spsel, #0`: the stack pointer is SP_EL0 from here on.
const MSR_SPSEL_0: u32 = 0xd500_40bf;
/// `mov Xd, SP` (`add Xd, SP, #0`).
const MOV_X0_SP: u32 = 0x9100_03e0;
/// `dmb sy`: the record's stores before the doorbell's.
const DMB_SY: u32 = 0xd503_3fbf;
/// `str x0, [x1]`.
const STR_X0_X1: u32 = 0xf900_0020;
const WFI: u32 = 0xd503_207f;
/// `movz w0, #0x0009; movk w0, #0x8400, lsl #16; hvc #0`: PSCI SYSTEM_RESET (0x8400_0009).
const PSCI_RESET: [u32; 3] = [0x5280_0120, 0x72b0_8000, 0xd400_0002];

/// The code of vector-table entry `index`, at `VECTORS_OFFSET + index * 0x80` (it finds the
/// doorbell PC-relative, so it runs wherever the host area is).
fn entry(index: u64) -> Vec<u32> {
    let mut code = vec![
        MSR_SPSEL_0,
        sub_imm(SP, SP, 64),
        movz(0, Command::Unhandled as u32),
        str_imm(0, SP, 0),
        movz(0, index as u32),
        str_imm(0, SP, 8),
        mrs(0, 0, 4, 0, 1), // ELR_EL1
        str_imm(0, SP, 16),
        mrs(0, 0, 5, 2, 0), // ESR_EL1
        str_imm(0, SP, 24),
        mrs(0, 0, 6, 0, 0), // FAR_EL1
        str_imm(0, SP, 32),
        str_imm(XZR, SP, 40),
        str_imm(XZR, SP, 48),
    ];
    let here = VECTORS_OFFSET + index * ENTRY_SIZE + 4 * code.len() as u64;
    code.push(ldr_literal(1, ((DOORBELL_OFFSET - here) / 4) as i32));
    // Past the doorbell store and the wait below, to the PSCI fallback.
    code.push(cbz(1, 6));
    code.extend([MOV_X0_SP, DMB_SY, STR_X0_X1, WFI, branch(-1)]);
    code.extend(PSCI_RESET);
    code.push(branch(0));
    code
}

/// The vectors as bytes, for `VECTORS_OFFSET`.
pub(crate) fn image() -> Vec<u8> {
    let mut image = vec![0; (16 * ENTRY_SIZE) as usize];
    for index in 0..16 {
        let at = (index * ENTRY_SIZE) as usize;
        let bytes: Vec<u8> = entry(index).iter().flat_map(|w| w.to_le_bytes()).collect();
        image[at..at + bytes.len()].copy_from_slice(&bytes);
    }
    image
}

/// The exception's name: the entry's kind (IRQ, FIQ, SError), or for a synchronous exception
/// the class in ESR_EL1.EC (Arm ARM D23.2.41).
pub(crate) fn name(index: u64, syndrome: u64) -> &'static str {
    match index % 4 {
        1 => return "IRQ",
        2 => return "FIQ",
        3 => return "SError",
        _ => {}
    }
    match syndrome >> 26 & 0x3f {
        0x00 => "undefined instruction",
        0x01 => "trapped WFI/WFE",
        0x07 => "trapped SIMD/FP access",
        0x0e => "illegal execution state",
        0x15 => "SVC",
        0x16 => "HVC",
        0x17 => "SMC",
        0x18 => "trapped MSR/MRS",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2c => "floating-point exception",
        0x30 | 0x31 => "breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3c => "BRK",
        _ => "synchronous exception",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_words_are_the_assemblers() {
        // As `llvm-mc -triple=aarch64 -show-encoding` prints them.
        assert_eq!(sub_imm(SP, SP, 64), 0xd101_03ff);
        assert_eq!(movz(0, 5), 0xd280_00a0);
        assert_eq!(str_imm(0, SP, 8), 0xf900_07e0);
        assert_eq!(str_imm(XZR, SP, 48), 0xf900_1bff);
        assert_eq!(mrs(0, 0, 4, 0, 1), 0xd538_4020);
        assert_eq!(mrs(0, 0, 5, 2, 0), 0xd538_5200);
        assert_eq!(mrs(0, 0, 6, 0, 0), 0xd538_6000);
        assert_eq!(branch(-1), 0x17ff_ffff);
        assert_eq!(MSR_SPSEL_0, 0xd500_40bf);
    }

    #[test]
    fn the_stacks_are_aligned_and_end_below_the_page_tables() {
        assert_eq!(STACK_SIZE % 16, 0);
        assert_eq!(stack_top(0, 63), END_OFFSET);
    }

    #[test]
    fn every_entry_fits_and_finds_the_doorbell() {
        for index in 0..16 {
            let code = entry(index);
            assert!(code.len() as u64 * 4 <= ENTRY_SIZE);
            let at = code
                .iter()
                .position(|w| w & 0xff00_001f == 0x5800_0001)
                .unwrap();
            let words = u64::from((code[at] >> 5) & 0x7_ffff);
            let pc = VECTORS_OFFSET + index * ENTRY_SIZE + 4 * at as u64;
            assert_eq!(pc + 4 * words, DOORBELL_OFFSET, "entry {index}");
            // cbz jumps to the PSCI fallback.
            let cbz_words = ((code[at + 1] >> 5) & 0x7_ffff) as usize;
            assert_eq!(code[at + 1 + cbz_words], PSCI_RESET[0]);
        }
    }

    #[test]
    fn names_come_from_the_entry_and_the_exception_class() {
        assert_eq!(name(4, 0x25 << 26), "data abort");
        assert_eq!(name(4, 0), "undefined instruction");
        assert_eq!(name(5, 0), "IRQ");
    }
}
