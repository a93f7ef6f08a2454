//! Five SYNC stages, each with its stage number and a derived value, then DONE.
#![no_std]
#![no_main]

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    for stage in 1..=5u64 {
        ucall_guest::sync(&[stage, stage * 100]);
    }
}
