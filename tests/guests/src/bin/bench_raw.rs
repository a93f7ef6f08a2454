//! The benchmarks' baseline: bare exits forever, with no ucall record. An 8-byte store to the
//! published MMIO address when the host published one, else (x86_64) `in al, dx` on the ucall
//! port.
#![no_std]
#![no_main]

use core::arch::asm;

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    match ucall_guest::mmio_address() {
        Some(address) => loop {
            store(address);
        },
        None => port_io(),
    }
}

/// One 8-byte store to `address`, the same instruction a ucall exits with.
#[inline(always)]
fn store(address: u64) {
    // SAFETY: the host backs `address` with no memory, so the store only exits.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        asm!(
            "mov qword ptr [{address}], {address}",
            address = in(reg) address,
            options(nostack, preserves_flags),
        );
        #[cfg(target_arch = "aarch64")]
        asm!(
            "str {address}, [{address}]",
            address = in(reg) address,
            options(nostack, preserves_flags),
        );
        #[cfg(target_arch = "riscv64")]
        asm!(
            ".option push",
            ".option norvc",
            "sd {address}, 0({address})",
            ".option pop",
            address = in(reg) address,
            options(nostack, preserves_flags),
        );
    }
}

#[cfg(target_arch = "x86_64")]
fn port_io() {
    loop {
        // SAFETY: reading the ucall port only exits to the host.
        unsafe {
            asm!(
                "in al, dx",
                in("dx") ucall_abi::PIO_PORT,
                out("al") _,
                options(nomem, nostack, preserves_flags),
            );
        }
    }
}

/// Without a published address there is no exit to measure.
#[cfg(not(target_arch = "x86_64"))]
fn port_io() {
    ucall_guest::halt()
}
