//! Reading a guest's test table (`ucall_abi::test_table`) from its ELF, without running it.
//!
//! The table is the section [`TEST_TABLE_SECTION`]; each entry's texts are read from the file
//! bytes of the `PT_LOAD` segment that holds them (the bytes the guest itself sees at those
//! addresses once loaded). Every rule of the ABI is checked, and a table that breaks one is
//! refused whole with a [`TestTableError`]: the table is guest input.

mod error;
#[cfg(test)]
mod tests;

pub use error::{TestTableError, TextField};

use super::GuestImage;
use std::collections::HashMap;
use std::time::Duration;
use ucall_abi::test_table::{
    MAX_ENTRIES, MAX_NAME_LEN, MAX_TEXT_LEN, TEST_TABLE_SECTION, TestEntry,
};
use zerocopy::FromBytes;

/// `SHT_NOBITS`: a section with no bytes in the file.
const SHT_NOBITS: u32 = 8;

/// One test of a guest's table, checked.
///
/// ```no_run
/// use ucall_host::arch::{Arch, Native};
/// use ucall_host::vm::GuestImage;
///
/// let elf = std::fs::read("target/guests/x86_64/test_table")?;
/// let image = GuestImage::parse(&elf, Native::ELF_MACHINE)?;
/// for test in image.test_table()?.unwrap_or_default() {
///     println!("{}: ignored {}", test.name, test.ignore.is_some());
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// Its index in the table: what the host writes to `ucall_test_selected` to run it.
    pub index: usize,
    /// Its name (`tests::adds`): UTF-8, no control character, unique in the table.
    pub name: String,
    /// `Some` if it is ignored unless asked for, with the reason if the guest gave one.
    pub ignore: Option<Option<String>>,
    /// `Some` if it passes by ABORT, with the text the ABORT message must contain if any.
    pub should_panic: Option<Option<String>>,
    /// Its own timeout; `None`: the runner's default.
    pub timeout: Option<Duration>,
}

impl GuestImage<'_> {
    /// The guest's test table: `None` if the ELF has no section [`TEST_TABLE_SECTION`] (a plain
    /// guest program), else every entry in order, checked against the rules of
    /// `ucall_abi::test_table`.
    pub fn test_table(&self) -> Result<Option<Vec<TestCase>>, TestTableError> {
        let mut sections = self.elf.section_headers.iter().filter(|header| {
            self.elf.shdr_strtab.get_at(header.sh_name) == Some(TEST_TABLE_SECTION)
        });
        let Some(section) = sections.next() else {
            return Ok(None);
        };
        if sections.next().is_some() {
            return Err(TestTableError::SectionRepeated);
        }
        let (offset, size) = (section.sh_offset, section.sh_size);
        let bytes = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(size).ok())
            .filter(|_| section.sh_type != SHT_NOBITS)
            .and_then(|(offset, size)| self.bytes.get(offset..offset.checked_add(size)?))
            .ok_or(TestTableError::SectionOutsideFile { offset, size })?;
        if size % TestEntry::SIZE as u64 != 0 {
            return Err(TestTableError::SizeNotMultiple { size });
        }
        let count = size / TestEntry::SIZE as u64;
        if count > MAX_ENTRIES as u64 {
            return Err(TestTableError::TooManyEntries { count });
        }
        let mut tests = Vec::with_capacity(count as usize);
        let mut names = HashMap::with_capacity(count as usize);
        for (index, chunk) in bytes.chunks_exact(TestEntry::SIZE).enumerate() {
            // A copy, so alignment does not matter; a chunk is exactly one entry long.
            let entry = TestEntry::read_from_bytes(chunk)
                .map_err(|_| TestTableError::SizeNotMultiple { size })?;
            let test = self.test_case(index, &entry)?;
            if let Some(first) = names.insert(test.name.clone(), index) {
                return Err(TestTableError::DuplicateName {
                    name: test.name,
                    first,
                    second: index,
                });
            }
            tests.push(test);
        }
        Ok(Some(tests))
    }

    /// Entry `index`, checked.
    fn test_case(&self, index: usize, entry: &TestEntry) -> Result<TestCase, TestTableError> {
        let unknown = entry.unknown_flags();
        if unknown != 0 {
            return Err(TestTableError::UnknownFlags {
                test: index,
                flags: unknown,
            });
        }
        if entry.has_expected() && !entry.should_panic() {
            return Err(TestTableError::ExpectedWithoutShouldPanic { test: index });
        }
        let name = self.text(index, TextField::Name, entry.name, entry.name_len)?;
        if name.chars().any(is_line_breaking) {
            return Err(TestTableError::ControlInName { test: index, name });
        }
        let expected = entry
            .has_expected()
            .then(|| {
                self.text(
                    index,
                    TextField::Expected,
                    entry.expected,
                    entry.expected_len,
                )
            })
            .transpose()?;
        let reason = (entry.ignore_reason_len != 0)
            .then(|| {
                let (address, len) = (entry.ignore_reason, entry.ignore_reason_len);
                self.text(index, TextField::IgnoreReason, address, len)
            })
            .transpose()?;
        Ok(TestCase {
            index,
            name,
            ignore: entry.is_ignored().then_some(reason),
            should_panic: entry.should_panic().then_some(expected),
            timeout: (entry.timeout_ms != 0).then(|| Duration::from_millis(entry.timeout_ms)),
        })
    }

    /// The text of `len` bytes at guest-virtual `address`, from the file bytes of the one
    /// loadable segment that holds them all.
    fn text(
        &self,
        test: usize,
        field: TextField,
        address: u64,
        len: u64,
    ) -> Result<String, TestTableError> {
        let (min, max) = match field {
            TextField::Name => (1, MAX_NAME_LEN),
            TextField::Expected | TextField::IgnoreReason => (0, MAX_TEXT_LEN),
        };
        if len < min as u64 || len > max as u64 {
            return Err(TestTableError::Length {
                test,
                field,
                len,
                min,
                max,
            });
        }
        if len == 0 {
            return Ok(String::new());
        }
        let outside = TestTableError::OutsideSegments {
            test,
            field,
            address,
            len,
        };
        let end = address.checked_add(len).ok_or(outside.clone())?;
        let bytes = self
            .segments
            .iter()
            .find_map(|segment| {
                let file_end = segment.gva.start + segment.file.len() as u64;
                if address < segment.gva.start || end > file_end {
                    return None;
                }
                // Inside the segment's file bytes, so both fit usize and the range the file.
                let start = segment.file.start + (address - segment.gva.start) as usize;
                self.bytes.get(start..start + len as usize)
            })
            .ok_or(outside)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| TestTableError::NotUtf8 { test, field })
    }
}

/// Whether `c` could break or rewrite a line of the runner's output.
fn is_line_breaking(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}
