//! 1000 SYNCs per vCPU, each with the vCPU index and a sequence number, then DONE.
#![no_std]
#![no_main]

ucall_guest::entry!(main);

fn main(vcpu: usize) {
    for sequence in 0..1000u64 {
        ucall_guest::sync(&[vcpu as u64, sequence]);
    }
}
