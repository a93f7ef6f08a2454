//! Faults (a store to an unmapped address) inside a named function, for the post-mortem tests:
//! the host's handler reports UNHANDLED, and the backtrace of a core taken then names
//! `faulting_function` and its caller, not the handler.
#![no_std]
#![no_main]

/// An address no table maps: the store to it is a page fault.
const UNMAPPED: usize = 0x7000_0000_0000;

include!("../faulting_chain.rs");

#[inline(never)]
fn faulting_function(vcpu: usize) {
    // SAFETY: not safe on purpose: the store faults, which is what the test wants.
    unsafe { core::ptr::write_volatile(core::hint::black_box(UNMAPPED) as *mut usize, vcpu) };
}
