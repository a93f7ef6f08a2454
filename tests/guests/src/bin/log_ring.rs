//! Lines through a 256-byte log ring, interleaved with SYNCs, then DONE: the ring fills (LOG_FLUSH
//! exits), wraps around, and truncates a line longer than it holds.
//!
//! With a host that drains log rings (and handles LOG_FLUSH by draining and resuming, without
//! reporting it) the host sees, in order:
//! 1. `SYNC [1, 0, 0, 0, 0, 0]` (the ring is installed);
//! 2. for each round r in 0..4: the 25 lines `round r line l` (l in 0..25), then
//!    `SYNC [r, 25, 0, 0, 0, 0]`;
//! 3. the line `é€` followed by 249 `x` (a 300-byte line cut to the ring's 254 bytes of text);
//! 4. the line `last line before DONE`;
//! 5. `DONE`.
//!
//! The guest exits 11 times: those 6 ucalls and 5 LOG_FLUSHes (one in each round, where the 256
//! bytes run out, and one before the last line, the long line having filled the ring exactly).
//! With any other host: `SYNC [0, 0, 0, 0, 0, 0]`, then the same lines as PRINTF ucalls (the long
//! one whole: `é€` and 295 `x`), the SYNCs where they were, then DONE.
#![no_std]
#![no_main]

use ucall_guest::log_ring::LogRing;
use ucall_guest::{TextBuffer, guest_log, sync};

/// Small, so that 25 lines of about 16 bytes fill it more than once per round.
static LOG: LogRing<256> = LogRing::new();

const ROUNDS: u64 = 4;
const LINES: u64 = 25;

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    let in_ring = LOG.install();
    sync(&[in_ring.into()]);
    for round in 0..ROUNDS {
        for line in 0..LINES {
            guest_log!("round {round} line {line}");
        }
        sync(&[round, LINES]);
    }
    let mut long = TextBuffer::<301>::new();
    long.push_str("é€");
    for _ in 0..295 {
        long.push_str("x");
    }
    guest_log!("{}", long.as_str());
    guest_log!("last line before DONE");
}
