//! 200 trivial passing tests in a hand-written test table (`t000` to `t199`): the harness's
//! throughput, measured by `cargo xtask bench` as tests per second.
#![no_std]
#![no_main]

use ucall_abi::test_table::{NO_TEST_SELECTED_MESSAGE, OUT_OF_RANGE_MESSAGE};

ucall_guest::entry!(main);

const COUNT: usize = 200;

/// `ucall_abi::test_table::TestEntry` with the name's address as a pointer.
#[repr(C)]
#[derive(Clone, Copy)]
struct Entry {
    name: *const u8,
    name_len: usize,
    rest: [u64; 6],
}

// SAFETY: the entries are never written; the host only reads them from the ELF.
unsafe impl Sync for Entry {}

const _: () = assert!(size_of::<Entry>() == ucall_abi::test_table::TestEntry::SIZE);

/// The names, four bytes each: `t000t001...`.
static NAMES: [u8; 4 * COUNT] = {
    let mut names = [0; 4 * COUNT];
    let mut i = 0;
    while i < COUNT {
        names[4 * i] = b't';
        names[4 * i + 1] = b'0' + (i / 100) as u8;
        names[4 * i + 2] = b'0' + (i / 10 % 10) as u8;
        names[4 * i + 3] = b'0' + (i % 10) as u8;
        i += 1;
    }
    names
};

#[used]
#[unsafe(link_section = "ucall_tests")]
static TESTS: [Entry; COUNT] = {
    let mut tests = [Entry {
        name: core::ptr::null(),
        name_len: 4,
        rest: [0; 6],
    }; COUNT];
    let mut i = 0;
    while i < COUNT {
        tests[i].name = NAMES.as_ptr().wrapping_add(4 * i);
        i += 1;
    }
    tests
};

/// The host writes the selected test's index here before the vCPU runs.
#[unsafe(no_mangle)]
#[allow(non_upper_case_globals)]
static mut ucall_test_selected: u64 = u64::MAX;

fn main(_vcpu: usize) {
    // SAFETY: an aligned u64 global that only the host writes, before the vCPU runs.
    let selected = unsafe { core::ptr::read_volatile(&raw const ucall_test_selected) };
    match selected {
        0..200 => {}
        u64::MAX => panic!("{NO_TEST_SELECTED_MESSAGE}"),
        _ => panic!("{OUT_OF_RANGE_MESSAGE}"),
    }
}
