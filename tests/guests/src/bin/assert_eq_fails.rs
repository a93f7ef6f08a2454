//! A failing `guest_assert_eq!`: ABORT with both values, on the line the test names.
#![no_std]
#![no_main]

ucall_guest::entry!(main);

fn main(_vcpu: usize) {
    let two = core::hint::black_box(2u32);
    ucall_guest::sync(&[1]);
    // The test expects the failure at line 11, column 5.
    ucall_guest::guest_assert_eq!(two + 1, 4);
}
