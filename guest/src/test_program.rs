//! What the code of `#[ucall_guest::tests]` calls: the table's entries, the selection symbol and
//! the ABORTs of a program that was given none of its tests (see [`ucall_abi::test_table`]).

use core::sync::atomic::AtomicU64;
use ucall_abi::test_table::{
    EXPECTED, IGNORE, MAX_NAME_LEN, MAX_TEXT_LEN, NO_TEST_SELECTED, NO_TEST_SELECTED_MESSAGE,
    OUT_OF_RANGE_MESSAGE, SHOULD_PANIC, TestEntry,
};

/// A [`TestEntry`] as a static can hold it: addresses as pointers, which the linker fills in
/// (a constant cannot turn a pointer into an integer).
#[derive(Debug)]
#[repr(C)]
pub struct Entry {
    name: *const u8,
    name_len: usize,
    flags: u64,
    timeout_ms: u64,
    expected: *const u8,
    expected_len: usize,
    ignore_reason: *const u8,
    ignore_reason_len: usize,
}

// SAFETY: an entry is immutable and its pointers are to `'static` strings, never written.
unsafe impl Sync for Entry {}

impl Entry {
    /// The entry of a test named `name`; texts too long for the table fail the build.
    ///
    /// ```
    /// use ucall_guest::__private::Entry;
    ///
    /// static TABLE: [Entry; 1] = [Entry::new("tests::adds", false, None, true, Some("boom"), 2000)];
    /// assert_eq!(TABLE[0].flags(), ucall_abi::test_table::SHOULD_PANIC | ucall_abi::test_table::EXPECTED);
    /// ```
    pub const fn new(
        name: &'static str,
        ignore: bool,
        ignore_reason: Option<&'static str>,
        should_panic: bool,
        expected: Option<&'static str>,
        timeout_ms: u64,
    ) -> Entry {
        assert!(
            !name.is_empty() && name.len() <= MAX_NAME_LEN,
            "a test's name is 1 to 256 bytes long"
        );
        let mut flags = 0;
        if ignore {
            flags |= IGNORE;
        }
        if should_panic {
            flags |= SHOULD_PANIC;
        }
        let (expected, expected_len) = text(expected);
        if should_panic && expected_len > 0 {
            flags |= EXPECTED;
        }
        let (ignore_reason, ignore_reason_len) = text(ignore_reason);
        Entry {
            name: name.as_ptr(),
            name_len: name.len(),
            flags,
            timeout_ms,
            expected,
            expected_len,
            ignore_reason,
            ignore_reason_len,
        }
    }

    /// The entry's flags ([`ucall_abi::test_table`]'s `IGNORE`, `SHOULD_PANIC`, `EXPECTED`).
    ///
    /// ```
    /// use ucall_guest::__private::Entry;
    ///
    /// assert_eq!(Entry::new("tests::slow", true, None, false, None, 0).flags(), ucall_abi::test_table::IGNORE);
    /// ```
    pub const fn flags(&self) -> u64 {
        self.flags
    }
}

/// A text's address and length, a null address for none (or an empty one).
const fn text(text: Option<&'static str>) -> (*const u8, usize) {
    match text {
        Some(text) if !text.is_empty() => {
            assert!(
                text.len() <= MAX_TEXT_LEN,
                "an expected text or ignore reason is at most 1023 bytes long"
            );
            (text.as_ptr(), text.len())
        }
        _ => (core::ptr::null(), 0),
    }
}

// An entry is a TestEntry byte for byte on the 64-bit targets guests are built for.
#[cfg(target_pointer_width = "64")]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Entry>() == TestEntry::SIZE);
    assert!(align_of::<Entry>() == align_of::<TestEntry>());
    assert!(offset_of!(Entry, name) == offset_of!(TestEntry, name));
    assert!(offset_of!(Entry, name_len) == offset_of!(TestEntry, name_len));
    assert!(offset_of!(Entry, flags) == offset_of!(TestEntry, flags));
    assert!(offset_of!(Entry, timeout_ms) == offset_of!(TestEntry, timeout_ms));
    assert!(offset_of!(Entry, expected) == offset_of!(TestEntry, expected));
    assert!(offset_of!(Entry, expected_len) == offset_of!(TestEntry, expected_len));
    assert!(offset_of!(Entry, ignore_reason) == offset_of!(TestEntry, ignore_reason));
    assert!(offset_of!(Entry, ignore_reason_len) == offset_of!(TestEntry, ignore_reason_len));
};

/// A test's name as libtest prints it: `module_path::function` without the crate's name.
///
/// ```
/// assert_eq!(ucall_guest::__private::test_name("guest_tests::tests::adds"), "tests::adds");
/// ```
pub const fn test_name(path: &'static str) -> &'static str {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b':' && bytes[i + 1] == b':' {
            let (_, rest) = bytes.split_at(i + 2);
            // A split after ASCII "::" is at a character boundary.
            if let Ok(rest) = core::str::from_utf8(rest) {
                return rest;
            }
        }
        i += 1;
    }
    path
}

/// The index of the test the host selected in `table` by writing `selected`, the program's
/// global named [`ucall_abi::test_table::TEST_SELECTED_SYMBOL`]; ABORTs when it selected none,
/// or one the table does not have, at the caller's location (the test module's).
///
/// The test program defines the global, not this crate: a program without tests then has
/// none, and one with a table of its own may define it itself.
///
/// ```no_run
/// use core::sync::atomic::AtomicU64;
/// use ucall_guest::__private::{Entry, NO_TEST_SELECTED, selected_test};
///
/// static TABLE: [Entry; 1] = [Entry::new("tests::adds", false, None, false, None, 0)];
/// #[unsafe(export_name = "ucall_test_selected")]
/// static SELECTED: AtomicU64 = AtomicU64::new(NO_TEST_SELECTED);
/// let index = selected_test(&TABLE, &SELECTED);
/// ```
#[track_caller]
pub fn selected_test(table: &'static [Entry], selected: &'static AtomicU64) -> usize {
    // The table is referred to from code, so that it survives `--gc-sections` even where a
    // linker script does not KEEP it.
    core::hint::black_box(table.as_ptr());
    // SAFETY: the pointer is to a live, aligned static; a volatile read, because the host
    // wrote it before the vCPU ran and the compiler knows only its initial value.
    let selected = unsafe { core::ptr::read_volatile(selected.as_ptr()) };
    if selected == NO_TEST_SELECTED {
        abort_here(NO_TEST_SELECTED_MESSAGE);
    }
    match usize::try_from(selected) {
        Ok(index) if index < table.len() => index,
        _ => out_of_range(),
    }
}

/// ABORTs with the message of a selected index that is not in the table, at the caller's
/// location.
///
/// ```no_run
/// ucall_guest::__private::out_of_range();
/// ```
#[track_caller]
pub fn out_of_range() -> ! {
    abort_here(OUT_OF_RANGE_MESSAGE)
}

/// ABORTs with `message` at the caller's location.
#[track_caller]
fn abort_here(message: &str) -> ! {
    let location = core::panic::Location::caller();
    crate::abort(
        format_args!("{message}"),
        location.file(),
        location.line(),
        location.column(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_loses_its_crate() {
        assert_eq!(test_name("guest_tests::tests::adds"), "tests::adds");
        assert_eq!(test_name("c::m::n::f"), "m::n::f");
        assert_eq!(test_name("alone"), "alone");
    }

    #[test]
    fn expected_sets_its_flag_only_for_a_should_panic_test() {
        let entry = Entry::new("t", false, None, true, Some("boom"), 0);
        assert_eq!(entry.flags, SHOULD_PANIC | EXPECTED);
        assert_eq!(entry.expected_len, 4);
        assert_eq!(
            Entry::new("t", false, None, true, None, 0).flags,
            SHOULD_PANIC
        );
    }

    #[test]
    fn an_empty_text_is_none() {
        let entry = Entry::new("t", true, Some(""), false, None, 0);
        assert_eq!(entry.flags, IGNORE);
        assert!(entry.ignore_reason.is_null());
        assert_eq!(entry.ignore_reason_len, 0);
    }
}
