//! The log-ring benchmark's loop: the line `line <sequence>`, forever, through `guest_log!`.
//!
//! Against a host that drains log rings, lines go into a 64 KiB ring and the guest exits only
//! when it is full (LOG_FLUSH); against one that does not, each line is a PRINTF ucall. The same
//! binary so measures both: lines per second that the host receives.
#![no_std]
#![no_main]

use ucall_guest::guest_log;
use ucall_guest::log_ring::LogRing;

static LOG: LogRing<65536> = LogRing::new();

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    LOG.install();
    let mut sequence = 0u64;
    loop {
        guest_log!("line {sequence}");
        sequence = sequence.wrapping_add(1);
    }
}
