//! A Rust guest in the pool convention of today's KVM selftests (`ucall-guest`'s `pool`
//! feature): the same calls as any guest, through records of the host's pool.
#![no_std]
#![no_main]

use ucall_guest::{guest_printf, sync};

ucall_guest::entry!(main);

fn main(vcpu: usize) {
    guest_printf!("hello from the pool on vCPU {}\nsecond line", vcpu);
    sync(&[1, 2, 3, 4, 5, 6]);
} // returning from `main` sends DONE
