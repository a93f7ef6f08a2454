//! The benchmarks' plain ucall loop: SYNC with a sequence number, forever, as a guest in the
//! seed's conventions sends it (the record's address alone, to the published MMIO address), so
//! that a host without synced registers reads the table root for each.
#![no_std]
#![no_main]

#[path = "../sync_forever.rs"]
mod sync_forever;

use ucall_guest::{Command, Record, transport};

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    let Some(address) = ucall_guest::mmio_address() else {
        ucall_guest::halt()
    };
    sync_forever::sync_forever(|args| transport::mmio(&Record::new(Command::Sync, args), address))
}
