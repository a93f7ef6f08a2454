//! Three lines through a log ring, then a failed `guest_assert!`: no exit between them.
//!
//! With a host that drains log rings the host sees `SYNC [1, 0, 0, 0, 0, 0]` (the ring is
//! installed), the lines `first`, `second`, `third` (drained at the ABORT's exit), then
//! ABORT for the condition `lines == 0`.
#![no_std]
#![no_main]

use ucall_guest::log_ring::LogRing;
use ucall_guest::{guest_assert, guest_log, sync};

static LOG: LogRing<4096> = LogRing::new();

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    sync(&[LOG.install().into()]);
    let mut lines = 0;
    for name in ["first", "second", "third"] {
        guest_log!("{name}");
        lines += 1;
    }
    guest_assert!(lines == 0);
}
