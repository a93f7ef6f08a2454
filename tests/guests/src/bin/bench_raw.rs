//! The benchmarks' baseline: bare exits forever, with no ucall record. An 8-byte store to the
//! published MMIO address when the host published one, else `in al, dx` on the ucall port.
#![no_std]
#![no_main]

use core::arch::asm;

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    match ucall_guest::mmio_address() {
        Some(address) => loop {
            // SAFETY: the host backs `address` with no memory, so the store only exits.
            unsafe {
                asm!(
                    "mov qword ptr [{address}], {address}",
                    address = in(reg) address,
                    options(nostack, preserves_flags),
                );
            }
        },
        None => loop {
            // SAFETY: reading the ucall port only exits to the host.
            unsafe {
                asm!(
                    "in al, dx",
                    in("dx") ucall_abi::PIO_PORT,
                    out("al") _,
                    options(nomem, nostack, preserves_flags),
                );
            }
        },
    }
}
