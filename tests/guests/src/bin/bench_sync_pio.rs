//! The benchmarks' ucall loop with the transport fixed at build time: SYNC over port I/O with a
//! sequence number, forever, without reading the published MMIO address.
#![no_std]
#![no_main]

#[path = "../sync_forever.rs"]
mod sync_forever;

use ucall_guest::{Command, Record, transport};

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    sync_forever::sync_forever(|args| transport::pio(&Record::new(Command::Sync, args)))
}
