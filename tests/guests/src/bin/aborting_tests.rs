//! A test program of tests that end by ABORT, one per way: a failed `guest_assert_eq!` and a
//! panic. Each should panic with its message, so the program passes; the host's tests run each
//! alone to check the ABORT's message and location exactly.
#![no_std]
#![no_main]

#[ucall_guest::tests]
mod tests {
    /// A failing `guest_assert_eq!`: ABORT with both values, after a SYNC.
    #[test]
    #[should_panic(expected = "two + 1 == 4")]
    fn assert_eq_fails() {
        let two = core::hint::black_box(2u32);
        ucall_guest::sync(&[1]);
        // The test expects the failure at line 16, column 9.
        ucall_guest::guest_assert_eq!(two + 1, 4);
    }

    /// A panic: the default panic handler reports it as ABORT with its location.
    #[test]
    #[should_panic(expected = "stage 3 went wrong")]
    fn panics() {
        let stage = core::hint::black_box(3);
        // The test expects the panic at line 25, column 9.
        panic!("stage {stage} went wrong");
    }
}
