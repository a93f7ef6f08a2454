//! A guest program from another project: it checks a little arithmetic and reports to its host.
#![no_std]
#![no_main]

use ucall_guest::{guest_assert_eq, guest_printf, sync};

ucall_guest::entry!(main);

fn main(vcpu: usize) {
    guest_printf!("external guest on vCPU {}", vcpu);
    let squares = [1u64, 4, 9];
    sync(&squares);
    guest_assert_eq!(squares.iter().sum::<u64>(), 14);
} // returning from `main` sends DONE
