//! A guest that breaks its log ring: it logs a line, then publishes a ring header with a bad
//! magic.
//!
//! With a host that drains log rings the host sees `SYNC [1, 0, 0, 0, 0, 0]` (the ring is
//! installed), the line `before the corruption`, `SYNC [2, 0, 0, 0, 0, 0]`, then (the guest
//! having published the bad header at `address`) a ring error before `SYNC [address, 0, ...]`,
//! and again before DONE.
#![no_std]
#![no_main]

use core::sync::atomic::{AtomicU64, Ordering};
use ucall_guest::log_ring::LogRing;
use ucall_guest::{guest_log, sync};

static LOG: LogRing<4096> = LogRing::new();

/// The magic the bad header has: "BAD!".
pub const BAD_MAGIC: u32 = u32::from_le_bytes(*b"BAD!");

/// A ring header, 8-byte aligned, right but for its magic.
#[repr(C, align(8))]
struct BadHeader([u32; 6]);

static BAD: BadHeader = BadHeader([BAD_MAGIC, 1, 4096, 0, 0, 0]);

unsafe extern "C" {
    /// `ucall_guest::log_ring`'s global, where the host looks for the ring.
    static ucall_log_ring: AtomicU64;
}

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    sync(&[LOG.install().into()]);
    guest_log!("before the corruption");
    sync(&[2]);
    let address = &raw const BAD as u64;
    // SAFETY: the global is an `AtomicU64` that `ucall_guest::log_ring` defines; atomics may be
    // shared.
    unsafe { ucall_log_ring.store(address, Ordering::Release) };
    sync(&[address]);
}
