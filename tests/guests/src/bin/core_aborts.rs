//! ABORTs (a failing `guest_assert!`) inside a named function, for the post-mortem tests: the
//! backtrace of a core taken at the ABORT names `faulting_function` and its caller.
#![no_std]
#![no_main]

ucall_guest::entry!(main);

fn main(vcpu: usize) {
    calls_the_faulting_function(vcpu);
}

#[inline(never)]
fn calls_the_faulting_function(vcpu: usize) {
    faulting_function(core::hint::black_box(vcpu));
    ucall_guest::sync(&[vcpu as u64]);
}

#[inline(never)]
fn faulting_function(vcpu: usize) {
    ucall_guest::guest_assert!(vcpu > 7);
}
