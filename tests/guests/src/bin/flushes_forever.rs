//! Sends LOG_FLUSH in a loop with nothing in its log ring: a guest that exits all the time but
//! makes no ucall. The host serves each flush inside its run loop, and must still stop the guest
//! when it has made no ucall within the timeout.
#![no_std]
#![no_main]

use ucall_guest::log_ring::LogRing;
use ucall_guest::{Record, send};

static LOG: LogRing<256> = LogRing::new();

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    // Publishes the ring (empty) where the host drains rings; the flushes come either way.
    LOG.install();
    let flush = Record {
        cmd: ucall_abi::log_ring::FLUSH_COMMAND,
        args: [0; 6],
    };
    loop {
        send(&flush);
    }
}
