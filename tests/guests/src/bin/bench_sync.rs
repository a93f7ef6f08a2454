//! The benchmarks' ucall loop: SYNC with a sequence number, forever.
#![no_std]
#![no_main]

#[path = "../sync_forever.rs"]
mod sync_forever;

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    sync_forever::sync_forever(ucall_guest::sync)
}
