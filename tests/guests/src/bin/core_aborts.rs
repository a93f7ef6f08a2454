//! ABORTs (a failing `guest_assert!`) inside a named function, for the post-mortem tests: the
//! backtrace of a core taken at the ABORT names `faulting_function` and its caller.
#![no_std]
#![no_main]

include!("../faulting_chain.rs");

#[inline(never)]
fn faulting_function(vcpu: usize) {
    ucall_guest::guest_assert!(vcpu > 7);
}
