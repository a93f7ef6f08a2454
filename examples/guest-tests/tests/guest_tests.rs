//! Tests of a bare-metal guest, each run in a fresh VM: every feature of `#[ucall_guest::tests]`,
//! with some tests failing on purpose to show how a failure reads.
#![no_std]
#![no_main]

#[ucall_guest::tests]
mod tests {
    use core::sync::atomic::{AtomicU64, Ordering};
    use ucall_guest::{guest_assert, guest_assert_eq, guest_printf};

    /// What the `#[init]` function hands to the tests that take it.
    pub struct Device {
        registers: [u32; 4],
    }

    /// Runs before each test, in that test's VM.
    #[init]
    fn init() -> Device {
        Device {
            registers: [0x10, 0x20, 0x30, 0x40],
        }
    }

    #[test]
    fn adds() {
        guest_assert_eq!(core::hint::black_box(2u64) + 2, 4);
    }

    #[test]
    fn reads_the_init_value(device: Device) {
        guest_assert_eq!(device.registers.iter().sum::<u32>(), 0xa0);
    }

    /// Fails on purpose: its PRINTF line is shown with the failure.
    #[test]
    fn fails_and_shows_its_output() {
        let sum = core::hint::black_box(2u64) + 2;
        guest_printf!("the sum is {sum}");
        guest_assert_eq!(sum, 5);
    }

    #[test]
    #[should_panic]
    fn panics() {
        panic!("stage {} went wrong", core::hint::black_box(3));
    }

    #[test]
    #[should_panic(expected = "index out of bounds")]
    fn indexes_past_the_end() {
        let values = [1, 2, 3];
        let _ = values[core::hint::black_box(3)];
    }

    #[test]
    #[ignore = "shows the reason in the list"]
    fn ignored() {}

    /// Fails on purpose, after one second.
    #[test]
    #[timeout(1)]
    fn spins_forever() {
        loop {
            core::hint::spin_loop();
        }
    }

    /// Fails on purpose: an unhandled page fault (x86_64), data abort (aarch64) or load page
    /// fault (riscv64), reported with the faulting instruction's address.
    #[test]
    fn reads_unmapped_memory() {
        // Unmapped on every architecture: the host maps RAM and the ucall page only.
        const UNMAPPED: usize = 0x7000_0000_0000;
        // SAFETY: it is not safe, and that is the point: the read faults and fails the test.
        let value = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
        guest_assert_eq!(value, 0);
    }

    /// Each test gets a fresh VM: whichever of the next two runs second still finds the
    /// static as the program was loaded.
    static WRITTEN: AtomicU64 = AtomicU64::new(0);

    #[test]
    fn isolation_first_writer() {
        guest_assert_eq!(WRITTEN.load(Ordering::Relaxed), 0);
        WRITTEN.store(1, Ordering::Relaxed);
    }

    #[test]
    fn isolation_second_writer() {
        guest_assert_eq!(WRITTEN.load(Ordering::Relaxed), 0);
        WRITTEN.store(2, Ordering::Relaxed);
        guest_assert!(WRITTEN.load(Ordering::Relaxed) == 2);
    }
}
