//! Takes the exception the host chose in `EXCEPTION_CASE`, at an instruction of its own symbol
//! so that the test knows its address: the host's handlers report it as UNHANDLED. Case 3
//! expects its fault instead (x86_64) and reports it as SYNCs.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};

ucall_guest::entry!(main);

/// Which exception: 0 undefined instruction, 1 a load from `UNMAPPED`, 2 a division by zero
/// (x86_64), 3 `#GP` from WRMSR of an MSR that does not exist, caught (x86_64), 4 a push onto
/// a stack at `UNMAPPED`. Written by the host before the guest runs.
#[unsafe(no_mangle)]
static EXCEPTION_CASE: AtomicU64 = AtomicU64::new(0);

/// Unmapped on every architecture (the host maps RAM and the ucall page only).
const UNMAPPED: u64 = 0x7000_0000_0000;

unsafe extern "C" {
    /// An undefined instruction.
    fn exception_undefined();
    /// Loads 8 bytes from `address`.
    fn exception_load(address: u64) -> u64;
    /// Divides by `divisor` (x86_64).
    #[cfg(target_arch = "x86_64")]
    fn exception_divide(divisor: u64) -> u64;
    /// WRMSR to the MSR `msr` (x86_64).
    #[cfg(target_arch = "x86_64")]
    fn exception_wrmsr(msr: u32);
    /// Moves the stack to `top` and pushes.
    fn exception_bad_stack(top: u64);
}

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".global exception_undefined",
    "exception_undefined:",
    "ud2",
    "ret",
    ".global exception_load",
    "exception_load:",
    "mov rax, [rdi]",
    "ret",
    ".global exception_divide",
    "exception_divide:",
    "xor edx, edx",
    ".global exception_divide_at",
    "exception_divide_at:",
    "div rdi",
    "ret",
    ".global exception_wrmsr",
    "exception_wrmsr:",
    "mov ecx, edi",
    "xor eax, eax",
    "xor edx, edx",
    ".global exception_wrmsr_at",
    "exception_wrmsr_at:",
    "wrmsr",
    "ret",
    ".global exception_bad_stack",
    "exception_bad_stack:",
    "mov rsp, rdi",
    ".global exception_bad_stack_at",
    "exception_bad_stack_at:",
    "push rax",
    "ud2",
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".global exception_undefined",
    ".type exception_undefined, %function",
    "exception_undefined:",
    "udf #0",
    "ret",
    ".global exception_load",
    ".type exception_load, %function",
    "exception_load:",
    "ldr x0, [x0]",
    "ret",
    ".global exception_bad_stack",
    ".type exception_bad_stack, %function",
    "exception_bad_stack:",
    "mov sp, x0",
    ".global exception_bad_stack_at",
    "exception_bad_stack_at:",
    "str x1, [sp, #-16]!",
    "udf #0",
);

#[cfg(target_arch = "riscv64")]
core::arch::global_asm!(
    ".global exception_undefined",
    ".type exception_undefined, %function",
    "exception_undefined:",
    "unimp",
    "ret",
    ".global exception_load",
    ".type exception_load, %function",
    "exception_load:",
    "ld a0, 0(a0)",
    "ret",
    ".global exception_bad_stack",
    ".type exception_bad_stack, %function",
    "exception_bad_stack:",
    "mv sp, a0",
    ".global exception_bad_stack_at",
    "exception_bad_stack_at:",
    "sd ra, -16(sp)",
    "unimp",
);

fn main(_vcpu: usize) {
    // SAFETY (all below): not safe, on purpose: each call faults, and the host reports it.
    match EXCEPTION_CASE.load(Ordering::Relaxed) {
        0 => unsafe { exception_undefined() },
        1 => {
            unsafe { exception_load(UNMAPPED) };
        }
        #[cfg(target_arch = "x86_64")]
        2 => {
            unsafe { exception_divide(0) };
        }
        #[cfg(target_arch = "x86_64")]
        3 => expected_faults(),
        4 => unsafe { exception_bad_stack(UNMAPPED) },
        _ => {}
    }
}

/// A caught #GP, with its error code and address; a caught nothing; then an uncaught #UD still
/// reaches the host.
#[cfg(target_arch = "x86_64")]
fn expected_faults() {
    use ucall_guest::exceptions::expect_fault;
    // SAFETY: WRMSR to a missing MSR raises #GP(0), which `expect_fault` catches.
    let fault = expect_fault(13, || unsafe { exception_wrmsr(0xdead_beef) });
    match fault {
        Some(f) => ucall_guest::sync(&[f.vector.into(), f.error_code, f.instruction_address]),
        None => ucall_guest::guest_printf!("no fault"),
    }
    let none = expect_fault(6, || {});
    ucall_guest::sync(&[u64::from(none.is_none())]);
    // SAFETY: as in `main`: the host reports the #UD.
    unsafe { exception_undefined() };
}
