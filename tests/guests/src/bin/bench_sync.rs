//! The benchmarks' ucall loop: SYNC with a sequence number, forever.
#![no_std]
#![no_main]

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    let mut sequence = 0u64;
    loop {
        ucall_guest::sync(&[sequence]);
        sequence = sequence.wrapping_add(1);
    }
}
