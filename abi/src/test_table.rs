//! The guest test table: the tests a guest program holds, readable from its ELF without running
//! it, and how the host picks the one a VM runs.
//!
//! A guest *test program* (a `#[ucall_guest::tests]` module in Rust, or `UCALL_TEST` functions
//! in C with `ucall.h`) holds any number of tests. The host reads their names and attributes
//! from the ELF file, then runs each selected test in a fresh VM and decides its outcome from the
//! ucalls that VM makes. The guest never reports a test's verdict itself, so Rust and C guests
//! are judged alike.
//!
//! # The table
//!
//! The ELF section named [`TEST_TABLE_SECTION`] (`ucall_tests`) holds `N` [`TestEntry`]s back to
//! back, `N` = section size / [`TestEntry::SIZE`], at most [`MAX_ENTRIES`]. The name is a C
//! identifier on purpose: GNU ld and lld then define `__start_ucall_tests` and
//! `__stop_ucall_tests`, so a C guest can put one entry per test into the section and find them
//! all. A linker script keeps the section (`KEEP`) inside a loaded, read-only segment.
//!
//! | offset | field | meaning |
//! |--------|-------|---------|
//! | 0  | `name` | guest-virtual address of the test's UTF-8 name, no NUL needed (`tests::adds`) |
//! | 8  | `name_len` | its length in bytes, 1 to [`MAX_NAME_LEN`] |
//! | 16 | `flags` | [`IGNORE`], [`SHOULD_PANIC`], [`EXPECTED`]; every other bit is 0 |
//! | 24 | `timeout_ms` | the test's own timeout in milliseconds; 0: the runner's default |
//! | 32 | `expected` | address of the text a should-panic test's ABORT message must contain, 0 if none |
//! | 40 | `expected_len` | its length in bytes, at most [`MAX_TEXT_LEN`] |
//! | 48 | `ignore_reason` | address of the `#[ignore = "reason"]` text, 0 if none |
//! | 56 | `ignore_reason_len` | its length in bytes, at most [`MAX_TEXT_LEN`] |
//!
//! All fields are little-endian `u64`. The entry holds no function pointer: the guest runs test
//! `i` by its own means (the Rust macro with a `match`, `ucall.h` through a second section,
//! `ucall_test_fns`, that pairs each entry with its function); the host never reads code
//! addresses.
//!
//! The host reads the strings from the ELF file, mapping each address to a file offset through
//! the `PT_LOAD` segments (file-backed bytes only). The table is guest input like any other: a
//! host refuses, with an error and without running anything, a section whose size is not a
//! multiple of [`TestEntry::SIZE`], more than [`MAX_ENTRIES`] entries, a string outside one
//! file-backed `PT_LOAD` segment or longer than its bound, text that is not UTF-8, unknown
//! flag bits ([`TestEntry::unknown_flags`]), and empty or repeated names.
//!
//! # Selecting a test
//!
//! The guest has an 8-byte little-endian global named [`TEST_SELECTED_SYMBOL`]
//! (`ucall_test_selected`) in writable data, initially [`NO_TEST_SELECTED`]. Before the vCPU
//! runs, the host writes the index of the selected entry into it (checking that its 8 bytes lie
//! in one writable `PT_LOAD` segment). The guest's entry point reads it (a volatile read) and:
//!
//! | value | the guest |
//! |-------|-----------|
//! | `i < N` | runs test `i` (after its init function, if it has one) and sends DONE if it returns |
//! | [`NO_TEST_SELECTED`] | sends ABORT with [`NO_TEST_SELECTED_MESSAGE`]: an old runner ran it as a plain program |
//! | anything else | sends ABORT with [`OUT_OF_RANGE_MESSAGE`] |
//!
//! # Outcome
//!
//! The host decides, from how the test's VM ended:
//!
//! | the VM ended with | a test | a [`SHOULD_PANIC`] test |
//! |-------------------|--------|-------------------------|
//! | DONE (the test returned) | passed | failed: "test did not panic as expected" |
//! | ABORT (a failed `guest_assert*`, a panic) | failed, with the message | passed; with [`EXPECTED`] only if the message contains the expected text |
//! | UNHANDLED, or its timeout | failed | failed |
//!
//! [`IGNORE`] tests run only when asked for (libtest's `--ignored`, `--include-ignored`). A
//! test's PRINTF output is captured and shown with its failure.
//!
//! # Example
//!
//! A host reading the table of an ELF whose `ucall_tests` section holds one entry:
//!
//! ```
//! use ucall_abi::test_table::{self, TestEntry};
//! use zerocopy::FromBytes;
//!
//! # let section = zerocopy::IntoBytes::as_bytes(&TestEntry {
//! #     name: 0x20_1000, name_len: 11, flags: test_table::SHOULD_PANIC, ..TestEntry::default()
//! # }).to_vec();
//! let entries = <[TestEntry]>::ref_from_bytes(&section).expect("a whole number of entries");
//! assert!(entries.len() <= test_table::MAX_ENTRIES);
//! let test = &entries[0];
//! assert_eq!((test.name, test.name_len), (0x20_1000, 11)); // read "tests::adds" from there
//! assert!(test.should_panic() && !test.is_ignored());
//! assert_eq!(test.unknown_flags(), 0);
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The name of the ELF section that holds the test table, a C identifier so that linkers define
/// `__start_ucall_tests` and `__stop_ucall_tests`.
pub const TEST_TABLE_SECTION: &str = "ucall_tests";

/// The name of the guest's 8-byte global through which the host selects the test to run.
pub const TEST_SELECTED_SYMBOL: &str = "ucall_test_selected";

/// The initial value of [`TEST_SELECTED_SYMBOL`]: no host selected a test.
pub const NO_TEST_SELECTED: u64 = u64::MAX;

/// The most entries a table may have.
pub const MAX_ENTRIES: usize = 4096;

/// The longest test name, in bytes.
pub const MAX_NAME_LEN: usize = 256;

/// The longest `expected` or `ignore_reason` text, in bytes: a PRINTF string's text.
pub const MAX_TEXT_LEN: usize = crate::STRING_MAX_LEN - 1;

/// Flag: the test is ignored unless the runner is asked for ignored tests.
pub const IGNORE: u64 = 1 << 0;

/// Flag: the test passes when it ends with ABORT and fails when it returns.
pub const SHOULD_PANIC: u64 = 1 << 1;

/// Flag: `expected` is set; the ABORT message of a [`SHOULD_PANIC`] test must contain it.
pub const EXPECTED: u64 = 1 << 2;

/// Every flag this version defines; a table with any other bit set is refused.
pub const KNOWN_FLAGS: u64 = IGNORE | SHOULD_PANIC | EXPECTED;

/// The ABORT message of a test program that no host selected a test in.
pub const NO_TEST_SELECTED_MESSAGE: &str =
    "no test selected: run this guest with a runner that reads its test table";

/// The ABORT message of a test program whose selected index is not one of its entries.
pub const OUT_OF_RANGE_MESSAGE: &str = "selected test index out of range";

/// One test of the table: where its name is, its flags, its timeout and its texts.
///
/// Addresses are guest-virtual addresses of bytes in the ELF's loaded image; a length of 0 goes
/// with an address of 0.
///
/// ```
/// use ucall_abi::test_table::{self, TestEntry};
///
/// let entry = TestEntry { flags: test_table::IGNORE | 1 << 9, ..TestEntry::default() };
/// assert!(entry.is_ignored());
/// assert_eq!(entry.unknown_flags(), 1 << 9); // a host refuses this table
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct TestEntry {
    /// Address of the UTF-8 name (`tests::adds`), no NUL needed.
    pub name: u64,
    /// Length of the name in bytes, 1 to [`MAX_NAME_LEN`].
    pub name_len: u64,
    /// [`IGNORE`], [`SHOULD_PANIC`], [`EXPECTED`].
    pub flags: u64,
    /// The test's timeout in milliseconds; 0 means the runner's default.
    pub timeout_ms: u64,
    /// Address of the text a should-panic test's ABORT message must contain, or 0.
    pub expected: u64,
    /// Length of `expected` in bytes, at most [`MAX_TEXT_LEN`].
    pub expected_len: u64,
    /// Address of the reason the test is ignored, or 0.
    pub ignore_reason: u64,
    /// Length of `ignore_reason` in bytes, at most [`MAX_TEXT_LEN`].
    pub ignore_reason_len: u64,
}

impl TestEntry {
    /// The entry's size in bytes: the table's stride.
    pub const SIZE: usize = core::mem::size_of::<TestEntry>();

    /// Where `name` is in an entry.
    pub const NAME_OFFSET: usize = core::mem::offset_of!(TestEntry, name);
    /// Where `flags` are in an entry.
    pub const FLAGS_OFFSET: usize = core::mem::offset_of!(TestEntry, flags);
    /// Where `timeout_ms` is in an entry.
    pub const TIMEOUT_OFFSET: usize = core::mem::offset_of!(TestEntry, timeout_ms);
    /// Where `expected` is in an entry.
    pub const EXPECTED_OFFSET: usize = core::mem::offset_of!(TestEntry, expected);
    /// Where `ignore_reason` is in an entry.
    pub const IGNORE_REASON_OFFSET: usize = core::mem::offset_of!(TestEntry, ignore_reason);

    /// Whether [`IGNORE`] is set.
    ///
    /// ```
    /// use ucall_abi::test_table::{IGNORE, TestEntry};
    ///
    /// assert!(TestEntry { flags: IGNORE, ..TestEntry::default() }.is_ignored());
    /// ```
    pub const fn is_ignored(&self) -> bool {
        self.flags & IGNORE != 0
    }

    /// Whether [`SHOULD_PANIC`] is set.
    ///
    /// ```
    /// use ucall_abi::test_table::{SHOULD_PANIC, TestEntry};
    ///
    /// assert!(TestEntry { flags: SHOULD_PANIC, ..TestEntry::default() }.should_panic());
    /// ```
    pub const fn should_panic(&self) -> bool {
        self.flags & SHOULD_PANIC != 0
    }

    /// Whether [`EXPECTED`] is set: `expected` names the text the ABORT message must contain.
    ///
    /// ```
    /// use ucall_abi::test_table::{EXPECTED, SHOULD_PANIC, TestEntry};
    ///
    /// let entry = TestEntry { flags: SHOULD_PANIC | EXPECTED, ..TestEntry::default() };
    /// assert!(entry.has_expected());
    /// ```
    pub const fn has_expected(&self) -> bool {
        self.flags & EXPECTED != 0
    }

    /// The flag bits this version does not define; a host refuses an entry where they are
    /// not 0.
    ///
    /// ```
    /// use ucall_abi::test_table::{KNOWN_FLAGS, TestEntry};
    ///
    /// assert_eq!(TestEntry { flags: KNOWN_FLAGS, ..TestEntry::default() }.unknown_flags(), 0);
    /// ```
    pub const fn unknown_flags(&self) -> u64 {
        self.flags & !KNOWN_FLAGS
    }
}

// The layout is the ABI: pin it.
const _: () = assert!(TestEntry::SIZE == 64);
const _: () = assert!(core::mem::align_of::<TestEntry>() == 8);
const _: () = assert!(TestEntry::NAME_OFFSET == 0);
const _: () = assert!(core::mem::offset_of!(TestEntry, name_len) == 8);
const _: () = assert!(TestEntry::FLAGS_OFFSET == 16);
const _: () = assert!(TestEntry::TIMEOUT_OFFSET == 24);
const _: () = assert!(TestEntry::EXPECTED_OFFSET == 32);
const _: () = assert!(core::mem::offset_of!(TestEntry, expected_len) == 40);
const _: () = assert!(TestEntry::IGNORE_REASON_OFFSET == 48);
const _: () = assert!(core::mem::offset_of!(TestEntry, ignore_reason_len) == 56);
const _: () = assert!(NO_TEST_SELECTED as usize >= MAX_ENTRIES);
const _: () = assert!(OUT_OF_RANGE_MESSAGE.len() < crate::STRING_MAX_LEN);
const _: () = assert!(NO_TEST_SELECTED_MESSAGE.len() < crate::STRING_MAX_LEN);
