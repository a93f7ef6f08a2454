//! The guest program shown in the README and the guest crate's documentation.
#![no_std]
#![no_main]

use ucall_guest::{guest_assert_eq, guest_printf, sync};

ucall_guest::entry!(main);

fn main(vcpu: usize) {
    guest_printf!("hello from vCPU {}", vcpu);
    sync(&[1, 2, 3]);
    guest_assert_eq!(2 + 2, 4);
} // returning from `main` sends DONE
