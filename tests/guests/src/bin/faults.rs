//! Reads an address that no page table maps: the guest faults before any ucall.
#![no_std]
#![no_main]

ucall_guest::entry!(main);

/// Unmapped on every architecture (the host maps RAM and the ucall page only), canonical on
/// x86_64 and riscv64 (Sv48) and in TTBR0_EL1's range on aarch64. The test expects this address.
const UNMAPPED: usize = 0x7000_0000_0000;

fn main(_vcpu: usize) {
    // SAFETY: it is not safe, and that is the point: the read faults, and the host must report
    // it instead of hanging.
    let value = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    ucall_guest::sync(&[value]);
}
