//! Powers the machine off without DONE: PSCI SYSTEM_OFF on aarch64 (no such call on x86_64,
//! where it just halts).
#![no_std]
#![no_main]

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    #[cfg(target_arch = "aarch64")]
    // SAFETY: PSCI SYSTEM_OFF (function 0x8400_0008) through `hvc #0` does not return.
    unsafe {
        core::arch::asm!("hvc #0", in("x0") 0x8400_0008u64, options(noreturn));
    }
    #[cfg(not(target_arch = "aarch64"))]
    ucall_guest::halt();
}
