//! The benchmarks' ucall loop with the transport fixed at build time: SYNC over port I/O with a
//! sequence number, forever, without reading the published MMIO address.
#![no_std]
#![no_main]

use ucall_guest::{Command, Record, transport};

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    let mut sequence = 0u64;
    loop {
        transport::pio(&Record::new(Command::Sync, &[sequence]));
        sequence = sequence.wrapping_add(1);
    }
}
