//! The demo `cargo xtask run` shows: a few SYNCs, a PRINTF, an assertion that holds, DONE.
#![no_std]
#![no_main]

use ucall_guest::{guest_assert_eq, guest_printf, sync};

ucall_guest::entry!(main);

fn main(vcpu: usize) {
    guest_printf!("hello from vCPU {vcpu}");
    let mut fib = (0u64, 1u64);
    for stage in 1..=4 {
        fib = (fib.1, fib.0 + fib.1);
        sync(&[stage, fib.0]);
    }
    guest_assert_eq!(fib.0, 3);
    guest_printf!("fib(4) = {}, as expected", fib.0);
}
