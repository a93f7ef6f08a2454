//! One PRINTF with formatted text, then DONE.
#![no_std]
#![no_main]

use ucall_guest::guest_printf;

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    guest_printf!("hello {} from {:#x}", "host", 0xc0ffee);
}
