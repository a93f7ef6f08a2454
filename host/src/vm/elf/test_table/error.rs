//! Why a guest's test table is refused: one variant per rule of `ucall_abi::test_table`,
//! naming the entry and the field at fault.

use std::fmt;
use ucall_abi::test_table::{MAX_ENTRIES, TEST_TABLE_SECTION};

/// Which text of an entry an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum TextField {
    /// The test's name.
    Name,
    /// The text a should-panic test's ABORT message must contain.
    Expected,
    /// Why the test is ignored.
    IgnoreReason,
}

impl fmt::Display for TextField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TextField::Name => "name",
            TextField::Expected => "expected text",
            TextField::IgnoreReason => "ignore reason",
        })
    }
}

/// Why the test table of a guest ELF is refused (`ucall_abi::test_table` states the rules).
///
/// ```
/// use ucall_host::vm::{TestTableError, TextField};
///
/// let err = TestTableError::NotUtf8 { test: 3, field: TextField::Name };
/// assert_eq!(err.to_string(), "test table: entry 3: its name is not UTF-8");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum TestTableError {
    /// The ELF has more than one section of that name: which one is the table is unclear.
    #[error("test table: the ELF has more than one section named {TEST_TABLE_SECTION}")]
    SectionRepeated,
    /// The section's bytes are not wholly in the file (or it has none there, `SHT_NOBITS`).
    #[error(
        "test table: section {TEST_TABLE_SECTION} ({size:#x} bytes at file offset {offset:#x}) is not wholly in the file"
    )]
    SectionOutsideFile {
        /// `sh_offset`.
        offset: u64,
        /// `sh_size`.
        size: u64,
    },
    /// The section's size is not a whole number of entries.
    #[error("test table: section {TEST_TABLE_SECTION} has {size} bytes, not a multiple of 64")]
    SizeNotMultiple {
        /// `sh_size`.
        size: u64,
    },
    /// The section holds more entries than a table may.
    #[error("test table: {count} entries, more than the {MAX_ENTRIES} a table may have")]
    TooManyEntries {
        /// How many it holds.
        count: u64,
    },
    /// An entry has flag bits this version does not define.
    #[error("test table: entry {test}: unknown flag bits {flags:#x}")]
    UnknownFlags {
        /// The entry's index.
        test: usize,
        /// The unknown bits.
        flags: u64,
    },
    /// An entry has `EXPECTED` without `SHOULD_PANIC`.
    #[error("test table: entry {test}: EXPECTED is set without SHOULD_PANIC")]
    ExpectedWithoutShouldPanic {
        /// The entry's index.
        test: usize,
    },
    /// A text is empty where it may not be, or longer than its bound.
    #[error("test table: entry {test}: its {field} has {len} bytes, not {min} to {max}")]
    Length {
        /// The entry's index.
        test: usize,
        /// Which text.
        field: TextField,
        /// Its length as the entry claims it.
        len: u64,
        /// The shortest allowed.
        min: usize,
        /// The longest allowed.
        max: usize,
    },
    /// A text's bytes are not inside the file bytes of one loadable segment.
    #[error(
        "test table: entry {test}: its {field} ({len} bytes at {address:#x}) is not inside one loadable segment's file bytes"
    )]
    OutsideSegments {
        /// The entry's index.
        test: usize,
        /// Which text.
        field: TextField,
        /// Its guest-virtual address.
        address: u64,
        /// Its length.
        len: u64,
    },
    /// A text is not UTF-8.
    #[error("test table: entry {test}: its {field} is not UTF-8")]
    NotUtf8 {
        /// The entry's index.
        test: usize,
        /// Which text.
        field: TextField,
    },
    /// A name holds a control character, which could start a line of the runner's own.
    #[error("test table: entry {test}: its name {name:?} holds a control character")]
    ControlInName {
        /// The entry's index.
        test: usize,
        /// The name.
        name: String,
    },
    /// Two entries have the same name.
    #[error("test table: entries {first} and {second} are both named {name:?}")]
    DuplicateName {
        /// The name.
        name: String,
        /// The first entry with it.
        first: usize,
        /// The second.
        second: usize,
    },
}
