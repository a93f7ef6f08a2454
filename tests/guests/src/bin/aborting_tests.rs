//! A test program of tests that fail by ABORT, one per way: a failed `guest_assert_eq!` and a
//! panic. The host runs each in a VM of its own.
#![no_std]
#![no_main]

#[ucall_guest::tests]
mod tests {
    /// A failing `guest_assert_eq!`: ABORT with both values, on the line the test names.
    #[test]
    fn assert_eq_fails() {
        let two = core::hint::black_box(2u32);
        ucall_guest::sync(&[1]);
        // The test expects the failure at line 14, column 9.
        ucall_guest::guest_assert_eq!(two + 1, 4);
    }

    /// A panic: the default panic handler reports it as ABORT with its location.
    #[test]
    fn panics() {
        let stage = core::hint::black_box(3);
        panic!("stage {stage} went wrong");
    }
}
