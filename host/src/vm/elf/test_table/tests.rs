//! The test table reader on hand-made ELFs: a good table read exactly, and each rule of the ABI
//! refused with its error.

use super::*;
use crate::vm::LoadError;
use crate::vm::elf::test_elf::TestElf;
use goblin::elf::header::EM_X86_64;
use ucall_abi::test_table::{EXPECTED, IGNORE, SHOULD_PANIC};
use zerocopy::IntoBytes;

/// Where the code segment's file bytes (the payload) start in the file, and its address.
const FILE_AT: u64 = 0x1000;
const BASE: u64 = 0x20_0000;
/// The payload's bytes are followed by this much zero-filled memory (its `.bss`).
const MEMSZ: u64 = 0x4000;

/// A section header to add: name offset in `.shstrtab`, type, file offset, size.
struct Section {
    sh_type: u32,
    offset: u64,
    size: u64,
}

impl Section {
    fn table(offset: u64, size: u64) -> Self {
        Section {
            sh_type: 1, // SHT_PROGBITS
            offset,
            size,
        }
    }
}

/// Texts at the payload's start, the entries after them.
#[derive(Default)]
struct Table {
    text: Vec<u8>,
    entries: Vec<TestEntry>,
}

impl Table {
    /// Adds `text` to the payload; returns its address.
    fn text(&mut self, text: &[u8]) -> u64 {
        let at = BASE + self.text.len() as u64;
        self.text.extend_from_slice(text);
        at
    }

    /// Adds an entry named `name` with `flags`; returns it for changes.
    fn test(&mut self, name: &str, flags: u64) -> &mut TestEntry {
        let address = self.text(name.as_bytes());
        self.entries.push(TestEntry {
            name: address,
            name_len: name.len() as u64,
            flags,
            ..TestEntry::default()
        });
        self.entries.last_mut().unwrap()
    }

    /// The ELF with the table's bytes cut or padded to `size` in one `ucall_tests` section.
    fn elf_sized(&self, size: u64) -> Vec<u8> {
        let (payload, table_at) = self.payload();
        elf(&payload, &[Section::table(FILE_AT + table_at, size)])
    }

    fn elf(&self) -> Vec<u8> {
        self.elf_sized(self.entries.as_bytes().len() as u64)
    }

    /// The payload, and where the entries start in it.
    fn payload(&self) -> (Vec<u8>, u64) {
        let mut payload = self.text.clone();
        payload.resize(payload.len().next_multiple_of(8), 0);
        let table_at = payload.len() as u64;
        payload.extend_from_slice(self.entries.as_bytes());
        (payload, table_at)
    }
}

/// An x86_64 executable whose one segment, at `BASE`, has `payload` as its file bytes, with
/// `sections` named `ucall_tests` and a `.shstrtab`.
fn elf(payload: &[u8], sections: &[Section]) -> Vec<u8> {
    let memsz = MEMSZ.max((payload.len() as u64).next_multiple_of(0x1000));
    let mut test_elf = TestElf::new(BASE, memsz);
    test_elf.segments[0].offset = Some(FILE_AT);
    test_elf.segments[0].filesz = payload.len() as u64;
    let mut elf = test_elf.build();
    elf.resize(FILE_AT as usize, 0);
    elf.extend_from_slice(payload);
    let names = b"\0ucall_tests\0.shstrtab\0";
    let names_at = elf.len() as u64;
    elf.extend_from_slice(names);
    elf.resize(elf.len().next_multiple_of(8), 0);
    let shoff = elf.len();
    let mut header = |name: u32, sh_type: u32, offset: u64, size: u64| {
        let mut bytes = [0u8; 64];
        bytes[..4].copy_from_slice(&name.to_le_bytes());
        bytes[4..8].copy_from_slice(&sh_type.to_le_bytes());
        bytes[24..32].copy_from_slice(&offset.to_le_bytes());
        bytes[32..40].copy_from_slice(&size.to_le_bytes());
        elf.extend_from_slice(&bytes);
    };
    header(0, 0, 0, 0);
    for section in sections {
        header(1, section.sh_type, section.offset, section.size);
    }
    header(13, 3, names_at, names.len() as u64);
    let count = sections.len() as u16 + 2;
    elf[40..48].copy_from_slice(&(shoff as u64).to_le_bytes());
    elf[58..60].copy_from_slice(&64u16.to_le_bytes());
    elf[60..62].copy_from_slice(&count.to_le_bytes());
    elf[62..64].copy_from_slice(&(count - 1).to_le_bytes());
    elf
}

fn read(elf: &[u8]) -> Result<Option<Vec<TestCase>>, TestTableError> {
    GuestImage::parse(elf, EM_X86_64)
        .map_err(|e: LoadError| panic!("the test ELF does not parse: {e}"))
        .and_then(|image| image.test_table())
}

fn refusal(table: &Table) -> TestTableError {
    read(&table.elf()).unwrap_err()
}

#[test]
fn elf_without_the_section_has_no_table() {
    assert_eq!(read(&TestElf::new(BASE, 0x1000).build()), Ok(None));
}

#[test]
fn every_attribute_of_a_table_is_read() {
    let mut table = Table::default();
    table.test("tests::adds", 0);
    table.test("tests::slow", 0).timeout_ms = 2500;
    table.test("tests::panics", SHOULD_PANIC);
    let expected = table.text(b"overflow");
    let entry = table.test("tests::overflows", SHOULD_PANIC | EXPECTED);
    (entry.expected, entry.expected_len) = (expected, 8);
    table.test("tests::later", IGNORE);
    let reason = table.text(b"needs a device");
    let entry = table.test("tests::device", IGNORE);
    (entry.ignore_reason, entry.ignore_reason_len) = (reason, 14);
    let case = |index, name: &str| TestCase {
        index,
        name: name.into(),
        ignore: None,
        should_panic: None,
        timeout: None,
    };
    assert_eq!(
        read(&table.elf()),
        Ok(Some(vec![
            case(0, "tests::adds"),
            TestCase {
                timeout: Some(Duration::from_millis(2500)),
                ..case(1, "tests::slow")
            },
            TestCase {
                should_panic: Some(None),
                ..case(2, "tests::panics")
            },
            TestCase {
                should_panic: Some(Some("overflow".into())),
                ..case(3, "tests::overflows")
            },
            TestCase {
                ignore: Some(None),
                ..case(4, "tests::later")
            },
            TestCase {
                ignore: Some(Some("needs a device".into())),
                ..case(5, "tests::device")
            },
        ]))
    );
}

#[test]
fn empty_section_is_an_empty_table() {
    assert_eq!(read(&Table::default().elf()), Ok(Some(Vec::new())));
}

#[test]
fn section_size_not_a_multiple_of_64_is_refused() {
    let mut table = Table::default();
    table.test("tests::adds", 0);
    assert_eq!(
        read(&table.elf_sized(63)),
        Err(TestTableError::SizeNotMultiple { size: 63 })
    );
}

#[test]
fn more_than_4096_entries_are_refused() {
    let table = Table {
        entries: vec![TestEntry::default(); MAX_ENTRIES + 1],
        ..Table::default()
    };
    assert_eq!(
        refusal(&table),
        TestTableError::TooManyEntries { count: 4097 }
    );
}

#[test]
fn section_beyond_the_end_of_the_file_is_refused() {
    let elf = elf(b"tests::adds", &[Section::table(u64::MAX - 8, 64)]);
    assert_eq!(
        read(&elf),
        Err(TestTableError::SectionOutsideFile {
            offset: u64::MAX - 8,
            size: 64
        })
    );
}

#[test]
fn section_without_file_bytes_is_refused() {
    let nobits = Section {
        sh_type: SHT_NOBITS,
        ..Section::table(FILE_AT, 64)
    };
    assert_eq!(
        read(&elf(&[0; 64], &[nobits])),
        Err(TestTableError::SectionOutsideFile {
            offset: FILE_AT,
            size: 64
        })
    );
}

#[test]
fn two_sections_of_that_name_are_refused() {
    let sections = [Section::table(FILE_AT, 0), Section::table(FILE_AT, 0)];
    assert_eq!(
        read(&elf(&[0; 64], &sections)),
        Err(TestTableError::SectionRepeated)
    );
}

#[test]
fn unknown_flag_bits_are_refused() {
    let mut table = Table::default();
    table.test("tests::adds", 0);
    table.test("tests::odd", IGNORE | 1 << 5);
    assert_eq!(
        refusal(&table),
        TestTableError::UnknownFlags {
            test: 1,
            flags: 1 << 5
        }
    );
}

#[test]
fn expected_without_should_panic_is_refused() {
    let mut table = Table::default();
    table.test("tests::adds", EXPECTED);
    assert_eq!(
        refusal(&table),
        TestTableError::ExpectedWithoutShouldPanic { test: 0 }
    );
}

#[test]
fn empty_name_is_refused() {
    let mut table = Table::default();
    table.test("", 0);
    assert_eq!(
        refusal(&table),
        TestTableError::Length {
            test: 0,
            field: TextField::Name,
            len: 0,
            min: 1,
            max: 256
        }
    );
}

#[test]
fn name_longer_than_256_bytes_is_refused() {
    let mut table = Table::default();
    table.test(&"x".repeat(257), 0);
    assert!(matches!(
        refusal(&table),
        TestTableError::Length { len: 257, .. }
    ));
}

#[test]
fn expected_text_longer_than_a_string_is_refused() {
    let mut table = Table::default();
    let entry = table.test("tests::panics", SHOULD_PANIC | EXPECTED);
    (entry.expected, entry.expected_len) = (BASE, MAX_TEXT_LEN as u64 + 1);
    assert!(matches!(
        refusal(&table),
        TestTableError::Length {
            field: TextField::Expected,
            ..
        }
    ));
}

#[test]
fn name_in_the_zero_filled_part_of_a_segment_is_refused() {
    let mut table = Table::default();
    let entry = table.test("tests::adds", 0);
    entry.name = BASE + MEMSZ - 16;
    assert_eq!(
        refusal(&table),
        TestTableError::OutsideSegments {
            test: 0,
            field: TextField::Name,
            address: BASE + MEMSZ - 16,
            len: 11
        }
    );
}

#[test]
fn name_outside_every_segment_is_refused() {
    let mut table = Table::default();
    table.test("tests::adds", 0).name = 0x1000;
    assert!(matches!(
        refusal(&table),
        TestTableError::OutsideSegments {
            address: 0x1000,
            ..
        }
    ));
}

#[test]
fn name_whose_end_wraps_around_is_refused() {
    let mut table = Table::default();
    table.test("tests::adds", 0).name = u64::MAX - 4;
    assert!(matches!(
        refusal(&table),
        TestTableError::OutsideSegments { .. }
    ));
}

#[test]
fn ignore_reason_outside_the_segments_is_refused() {
    let mut table = Table::default();
    let entry = table.test("tests::later", IGNORE);
    (entry.ignore_reason, entry.ignore_reason_len) = (0xdead_0000, 4);
    assert!(matches!(
        refusal(&table),
        TestTableError::OutsideSegments {
            field: TextField::IgnoreReason,
            ..
        }
    ));
}

#[test]
fn name_that_is_not_utf8_is_refused() {
    let mut table = Table::default();
    let address = table.text(b"tests::\xff");
    table.test("x", 0).name = address;
    table.entries[0].name_len = 8;
    assert_eq!(
        refusal(&table),
        TestTableError::NotUtf8 {
            test: 0,
            field: TextField::Name
        }
    );
}

#[test]
fn name_with_a_newline_is_refused() {
    let mut table = Table::default();
    table.test("x\ntest result: ok", 0);
    assert!(matches!(
        refusal(&table),
        TestTableError::ControlInName { test: 0, .. }
    ));
}

#[test]
fn repeated_name_is_refused() {
    let mut table = Table::default();
    table.test("tests::adds", 0);
    table.test("tests::subs", 0);
    table.test("tests::adds", IGNORE);
    assert_eq!(
        refusal(&table),
        TestTableError::DuplicateName {
            name: "tests::adds".into(),
            first: 0,
            second: 2
        }
    );
}
