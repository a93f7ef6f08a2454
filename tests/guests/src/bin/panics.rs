//! A panic: the default panic handler reports it as ABORT with its location.
#![no_std]
#![no_main]

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    let stage = core::hint::black_box(3);
    panic!("stage {stage} went wrong");
}
