//! The benchmarks' ucall loop, shared by the guests that differ only in how a SYNC leaves them
//! (the transport chosen at run time, port I/O or the MMIO address fixed at build time).

/// Sends SYNC with a sequence number through `send`, forever.
pub fn sync_forever(send: impl Fn(&[u64])) -> ! {
    let mut sequence = 0u64;
    loop {
        send(&[sequence]);
        sequence = sequence.wrapping_add(1);
    }
}
