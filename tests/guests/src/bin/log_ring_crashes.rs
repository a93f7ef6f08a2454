//! Two lines through a log ring, then a read that faults (as `faults.rs`'s): no exit between them.
//!
//! With a host that drains log rings the host sees `SYNC [1, 0, 0, 0, 0, 0]` (the ring is
//! installed), the lines `about to fault` and `at 0x700000000000` (drained when the vCPU stops),
//! then the fault's UNHANDLED.
#![no_std]
#![no_main]

use ucall_guest::log_ring::LogRing;
use ucall_guest::{guest_log, sync};

static LOG: LogRing<4096> = LogRing::new();

/// Unmapped on every architecture, as in `faults.rs`. The test expects this address.
const UNMAPPED: usize = 0x7000_0000_0000;

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    sync(&[LOG.install().into()]);
    guest_log!("about to fault");
    guest_log!("at {UNMAPPED:#x}");
    // SAFETY: it is not safe, and that is the point: the read faults after the lines.
    let value = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
    sync(&[value]);
}
