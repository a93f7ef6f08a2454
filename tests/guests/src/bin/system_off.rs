//! Powers the machine off without DONE: PSCI SYSTEM_OFF on aarch64, SBI system reset (shutdown)
//! on riscv64 (no such call on x86_64, where it just halts).
#![no_std]
#![no_main]

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: PSCI SYSTEM_OFF (function 0x8400_0008) through `hvc #0` does not return.
    unsafe {
        core::arch::asm!("hvc #0", in("x0") 0x8400_0008u64, options(noreturn));
    }
    #[cfg(target_arch = "riscv64")]
    // SAFETY: SBI system reset (extension "SRST" 0x5352_5354, function 0) with type 0
    // (shutdown) and reason 0 does not return.
    unsafe {
        core::arch::asm!(
            "ecall",
            in("a7") 0x5352_5354u64,
            in("a6") 0u64,
            in("a0") 0u64,
            in("a1") 0u64,
            options(noreturn)
        );
    }
    #[cfg(target_arch = "x86_64")]
    ucall_guest::halt();
}
