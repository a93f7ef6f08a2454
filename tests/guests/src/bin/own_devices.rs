//! Drives devices that only the test serves, from the same run loop as its ucalls: an `out` to
//! port 0x3f8 and an `in` from port 0x60 (x86_64), a 4-byte MMIO read at 16 bytes and a 4-byte
//! MMIO write at 24 bytes into the ucall page (beside the ucall address, so not ucalls). Sends
//! what the reads returned as a SYNC (`[in, MMIO read]`, the `in` 0 on aarch64), then DONE.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    let Some(mmio) = ucall_guest::mmio_address() else {
        ucall_guest::guest_printf!("own_devices needs the MMIO transport");
        return;
    };
    let port = port_io();
    // SAFETY: the ucall page is mapped as device memory and backed by nothing: each access
    // exits to the host, which serves it.
    let read = unsafe { read_volatile((mmio + 16) as *const u32) };
    // SAFETY: as above.
    unsafe { write_volatile((mmio + 24) as *mut u32, 0xabcd) };
    ucall_guest::sync(&[port.into(), read.into()]);
}

#[cfg(target_arch = "x86_64")]
fn port_io() -> u8 {
    use core::arch::asm;
    let value: u8;
    // SAFETY: ports 0x3f8 and 0x60 have no device in the guest: each access exits to the host.
    unsafe {
        asm!("out dx, al", in("dx") 0x3f8u16, in("al") b'h', options(nostack, nomem));
        asm!("in al, dx", in("dx") 0x60u16, out("al") value, options(nostack, nomem));
    }
    value
}

#[cfg(not(target_arch = "x86_64"))]
fn port_io() -> u8 {
    0
}
