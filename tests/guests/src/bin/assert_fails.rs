//! A failing `guest_assert!`: ABORT with the condition's text.
#![no_std]
#![no_main]

ucall_guest::entry!(main);

fn main(vcpu: usize) {
    ucall_guest::guest_assert!(vcpu > 7);
}
