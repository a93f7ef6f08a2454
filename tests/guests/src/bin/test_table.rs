//! A test program with its test table written out by hand, as `ucall_abi::test_table` states
//! it (no macro): one test per outcome the host must tell apart. `ucall-run` runs each test in
//! a fresh VM; the runner's tests assert its libtest lines.
#![no_std]
#![no_main]

use ucall_abi::test_table::SHOULD_PANIC;
use ucall_abi::test_table::{EXPECTED, IGNORE, NO_TEST_SELECTED_MESSAGE, OUT_OF_RANGE_MESSAGE};
use ucall_guest::{guest_assert_eq, guest_printf};

ucall_guest::entry!(main);

/// `ucall_abi::test_table::TestEntry` with addresses as pointers, which a static may hold
/// (a pointer cast to an integer is not a constant). Same layout on a 64-bit target.
#[repr(C)]
struct Entry {
    name: *const u8,
    name_len: usize,
    flags: u64,
    timeout_ms: u64,
    expected: *const u8,
    expected_len: usize,
    ignore_reason: *const u8,
    ignore_reason_len: usize,
}

// SAFETY: the entries are never written; the host only reads them from the ELF.
unsafe impl Sync for Entry {}

const _: () = assert!(size_of::<Entry>() == ucall_abi::test_table::TestEntry::SIZE);

const fn test(name: &'static str, flags: u64) -> Entry {
    Entry {
        name: name.as_ptr(),
        name_len: name.len(),
        flags,
        timeout_ms: 0,
        expected: core::ptr::null(),
        expected_len: 0,
        ignore_reason: core::ptr::null(),
        ignore_reason_len: 0,
    }
}

const fn expecting(name: &'static str, expected: &'static str) -> Entry {
    Entry {
        expected: expected.as_ptr(),
        expected_len: expected.len(),
        ..test(name, SHOULD_PANIC | EXPECTED)
    }
}

#[used]
#[unsafe(link_section = "ucall_tests")]
static TESTS: [Entry; 11] = [
    test("tests::passes", 0),
    test("tests::fails_with_output", 0),
    test("tests::panics", SHOULD_PANIC),
    expecting("tests::panics_with_expected", "overflow"),
    expecting("tests::panics_with_other_text", "overflow"),
    test("tests::does_not_panic", SHOULD_PANIC),
    Entry {
        ignore_reason: "slow".as_ptr(),
        ignore_reason_len: 4,
        ..test("tests::ignored", IGNORE)
    },
    Entry {
        timeout_ms: 300,
        ..test("tests::times_out", 0)
    },
    test("tests::faults", 0),
    test("tests::writes_a_static", 0),
    test("tests::reads_the_static", 0),
];

/// The host writes the selected test's index here before the vCPU runs.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
static mut ucall_test_selected: u64 = u64::MAX;

/// Written by one test, read by the next: each test has a fresh VM, so each sees 7.
static mut STATE: u64 = 7;

/// Unmapped on every architecture (the host maps RAM and the ucall page only).
const UNMAPPED: usize = 0x7000_0000_0000;

fn main(_vcpu: usize) {
    // SAFETY: an aligned u64 global that only the host writes, before the vCPU runs.
    let selected = unsafe { core::ptr::read_volatile(&raw const ucall_test_selected) };
    match selected {
        0 => {}
        1 => {
            guest_printf!("hello from the test");
            let two = core::hint::black_box(1) + 1;
            guest_assert_eq!(two, 3);
        }
        2 => panic!("boom"),
        3 => panic!("attempt to add with overflow"),
        4 => panic!("boom"),
        5 => {}
        6 => {}
        7 => loop {
            core::hint::spin_loop();
        },
        8 => {
            // SAFETY: it is not safe, and that is the point: the read faults.
            let value = unsafe { core::ptr::read_volatile(UNMAPPED as *const u64) };
            ucall_guest::sync(&[value]);
        }
        9 | 10 => {
            // SAFETY: one vCPU; the static is aligned and only this code touches it.
            let state = unsafe { core::ptr::read_volatile(&raw const STATE) };
            guest_assert_eq!(state, 7);
            // SAFETY: as above.
            unsafe { core::ptr::write_volatile(&raw mut STATE, 8) };
        }
        u64::MAX => panic!("{NO_TEST_SELECTED_MESSAGE}"),
        _ => panic!("{OUT_OF_RANGE_MESSAGE}"),
    }
}
