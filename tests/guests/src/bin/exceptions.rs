//! A test program of exceptions: each test takes one at an instruction of its own symbol, so
//! that the host knows its address. A guest without a handler of its own fails the test as the
//! host's handlers report it (UNHANDLED), which the host's tests check test by test; one test
//! (x86_64) catches its fault with a handler it installs, and checks the fault itself.
#![no_std]
#![no_main]

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
    /// The WRMSR instruction of `exception_wrmsr` (a label, not to be called).
    #[cfg(target_arch = "x86_64")]
    fn exception_wrmsr_at();
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

#[ucall_guest::tests]
mod tests {
    use super::*;

    #[test]
    fn undefined_instruction() {
        // SAFETY: not safe, on purpose: the call faults, and the host reports it.
        unsafe { exception_undefined() }
    }

    #[test]
    fn load_from_unmapped() {
        // SAFETY: not safe, on purpose: the call faults, and the host reports it.
        unsafe { exception_load(UNMAPPED) };
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn divide_by_zero() {
        // SAFETY: not safe, on purpose: the call faults, and the host reports it.
        unsafe { exception_divide(0) };
    }

    #[test]
    fn push_onto_an_unmapped_stack() {
        // SAFETY: not safe, on purpose: the call faults, and the host reports it.
        unsafe { exception_bad_stack(UNMAPPED) }
    }

    /// A handler the guest installs for #GP catches the WRMSR of a missing MSR (#GP(0)), with
    /// its address; one installed for #UD catches nothing when nothing faults.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_guest_handler_catches_the_gp_of_a_bad_wrmsr() {
        use ucall_guest::exceptions::expect_fault;
        use ucall_guest::{guest_assert, guest_assert_eq};
        // SAFETY: WRMSR to a missing MSR raises #GP(0), which `expect_fault` catches.
        let fault = expect_fault(13, || unsafe { exception_wrmsr(0xdead_beef) });
        let fault = fault.map(|f| (f.vector, f.error_code, f.instruction_address));
        guest_assert_eq!(fault, Some((13, 0, exception_wrmsr_at as *const () as u64)));
        guest_assert!(expect_fault(6, || {}).is_none());
    }

    /// After a fault the guest caught, the host's handler is back for the next one.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn after_a_caught_fault_the_next_reaches_the_host() {
        // SAFETY: as above, caught.
        let fault =
            ucall_guest::exceptions::expect_fault(13, || unsafe { exception_wrmsr(0xdead_beef) });
        ucall_guest::guest_assert!(fault.is_some());
        // SAFETY: not safe, on purpose: the call faults, and the host reports it.
        unsafe { exception_undefined() };
    }
}
