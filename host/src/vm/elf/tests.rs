//! The loader's refusals and its work bound, one hand-made ELF each.

use super::test_elf::{TestElf, TestSegment};
use super::*;
use goblin::elf::header::{EM_AARCH64, EM_X86_64, ET_DYN, ET_REL};
use vm_memory::GuestMemoryMmap;

const MIB: u64 = 1 << 20;

fn memory() -> GuestMemoryMmap {
    GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x40_0000)]).unwrap()
}

fn parse(elf: &[u8]) -> Result<GuestImage<'_>, LoadError> {
    GuestImage::parse(elf, EM_X86_64)
}

#[test]
fn segment_is_copied_and_its_bss_zeroed() {
    let elf = TestElf::new(0x20_0000, 0x1000).build();
    let memory = memory();
    memory
        .write_slice(&[0xff; 0x1000], GuestAddress(0x20_0000))
        .unwrap();
    assert_eq!(parse(&elf).unwrap().load(&memory).unwrap(), 0x20_1000);
    let mut loaded = [0; 0x1000];
    memory
        .read_slice(&mut loaded, GuestAddress(0x20_0000))
        .unwrap();
    assert_eq!(loaded[..16], [0xa5; 16]);
    assert!(loaded[16..].iter().all(|&b| b == 0));
}

#[test]
fn segment_larger_than_memory_is_refused_before_anything_is_written() {
    // A terabyte of .bss: refused by its size, not by an allocation that aborts.
    let elf = TestElf::new(0x20_0000, 1 << 40).build();
    let err = parse(&elf).unwrap().load(&memory()).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::TooLarge {
                needed: 0x100_0000_0000,
                memory_size: 0x40_0000
            }
        ),
        "{err}"
    );
}

#[test]
fn segment_outside_memory_is_refused() {
    let elf = TestElf::new(0x3f_f000, 0x2000).build();
    let err = parse(&elf).unwrap().load(&memory()).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::OutsideMemory {
                segment: 0,
                start: 0x3f_f000,
                end: 0x40_1000
            }
        ),
        "{err}"
    );
}

#[test]
fn segment_that_wraps_the_address_space_is_refused() {
    let elf = TestElf::new(u64::MAX - 0xfff, 0x2000).build();
    let err = parse(&elf).unwrap_err();
    assert!(matches!(err, LoadError::Wraps { segment: 0 }), "{err}");
}

#[test]
fn elf_for_another_machine_is_refused() {
    let elf = TestElf::new(0x20_0000, 0x1000).build();
    let err = GuestImage::parse(&elf, EM_AARCH64).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::WrongMachine {
                found: EM_X86_64,
                expected: EM_AARCH64
            }
        ),
        "{err}"
    );
}

#[test]
fn shared_object_is_refused_as_not_an_executable() {
    let elf = TestElf {
        e_type: ET_DYN,
        ..TestElf::new(0x20_0000, 0x1000)
    }
    .build();
    let err = parse(&elf).unwrap_err();
    assert!(
        matches!(err, LoadError::NotExecutable { found: ET_DYN }),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "guest ELF: type 3 (DYN) is not an executable (ET_EXEC); link it static and non-PIE"
    );
}

#[test]
fn relocatable_object_is_refused_as_not_an_executable() {
    let elf = TestElf {
        e_type: ET_REL,
        ..TestElf::new(0x20_0000, 0x1000)
    }
    .build();
    assert!(matches!(
        parse(&elf),
        Err(LoadError::NotExecutable { found: ET_REL })
    ));
}

/// Asserts that `code` (the entry at its start) and `data`, in that order in the program headers,
/// are refused as overlapping: program header `first` before `second`, from `at`.
fn overlap_is_refused(code: (u64, u64), data: (u64, u64), first: usize, second: usize, at: u64) {
    let elf = TestElf::new(code.0, code.1)
        .segment(TestSegment::data(data.0, data.1))
        .build();
    let err = parse(&elf).map(drop).unwrap_err();
    assert!(
        matches!(err, LoadError::SegmentsOverlap { first: f, second: s, at: a } if (f, s, a) == (first, second, at)),
        "{err}"
    );
}

#[test]
fn overlapping_segments_are_refused_naming_both() {
    overlap_is_refused((0x20_0000, 0x2000), (0x20_1000, 0x1000), 0, 1, 0x20_1000);
}

#[test]
fn overlap_is_found_whatever_the_order_of_the_program_headers() {
    overlap_is_refused((0x20_1000, 0x1000), (0x20_0000, 0x1001), 1, 0, 0x20_1000);
}

#[test]
fn adjacent_segments_are_accepted() {
    let elf = TestElf::new(0x20_0000, 0x1000)
        .segment(TestSegment::data(0x20_1000, 0x1000))
        .build();
    assert_eq!(parse(&elf).unwrap().load(&memory()).unwrap(), 0x20_2000);
}

#[test]
fn entry_outside_every_segment_is_refused() {
    let elf = TestElf {
        entry: 0x30_0000,
        ..TestElf::new(0x20_0000, 0x1000)
    }
    .build();
    let err = parse(&elf).unwrap_err();
    assert!(
        matches!(err, LoadError::EntryOutsideSegments { entry: 0x30_0000 }),
        "{err}"
    );
}

/// Parses an ELF whose one segment is `memsz` bytes of code at its entry, 0x20_0000, as `edit`
/// changed them.
fn parse_with_code(memsz: u64, edit: impl FnOnce(&mut TestSegment)) -> Result<(), LoadError> {
    let mut elf = TestElf::new(0x20_0000, memsz);
    edit(&mut elf.segments[0]);
    parse(&elf.build()).map(drop)
}

#[test]
fn segment_bytes_beyond_the_file_are_refused() {
    let parsed = parse_with_code(0x1000, |code| code.offset = Some(1 << 30));
    assert!(matches!(parsed, Err(LoadError::BeyondFile { segment: 0 })));
}

#[test]
fn bss_only_segment_with_an_offset_past_the_file_is_accepted() {
    // As gcc's aarch64 linker leaves it: the .bss segment's offset is past the end of the file.
    let mut bss = TestSegment::data(0x21_0000, 8);
    bss.offset = Some(0xffe8);
    let elf = TestElf::new(0x20_0000, 0x1000).segment(bss).build();
    assert_eq!(parse(&elf).unwrap().load(&memory()).unwrap(), 0x21_0008);
}

#[test]
fn file_size_beyond_memory_size_is_refused() {
    let parsed = parse_with_code(8, |code| code.filesz = 16);
    assert!(matches!(
        parsed,
        Err(LoadError::FileSizeExceedsMemorySize { segment: 0 })
    ));
}

#[test]
fn many_headers_over_the_same_memory_are_refused_before_any_work() {
    // The case that kept a host busy for minutes: thousands of headers, each a whole
    // memory's worth of .bss at the same address. Now the second header is an overlap.
    let mut elf = TestElf::new(0x20_0000, 0x20_0000);
    for _ in 0..10_000 {
        elf = elf.segment(TestSegment::data(0x20_0000, 0x20_0000));
    }
    let err = parse(&elf.build()).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::SegmentsOverlap {
                first: 0,
                second: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn segments_needing_more_than_the_memory_size_are_refused_by_their_total() {
    let elf = TestElf::new(0, 3 * MIB)
        .segment(TestSegment::data(0x1_0000_0000, 2 * MIB))
        .build();
    let image = parse(&elf).unwrap();
    assert_eq!(image.load_size(), 5 * MIB);
    assert!(matches!(
        image.check_size(4 * MIB),
        Err(LoadError::TooLarge { needed, memory_size }) if needed == 5 * MIB && memory_size == 4 * MIB
    ));
}

#[test]
fn symbol_in_writable_data_is_found() {
    let elf = TestElf::new(0x20_0000, 0x1000)
        .segment(TestSegment::data(0x20_1000, 0x1000))
        .symbol("ucall_exit_mmio_addr", 0x20_1008)
        .build();
    let image = parse(&elf).unwrap();
    assert_eq!(
        image
            .writable_symbol_gpa("ucall_exit_mmio_addr", 8)
            .unwrap(),
        0x20_1008
    );
}

/// Asserts that the host will not write an 8-byte `ucall_exit_mmio_addr` at `vaddr` in a guest
/// with code at 0x20_0000..0x20_1000 and writable data at 0x20_1000..0x20_2000.
fn mmio_global_is_not_written_at(vaddr: u64) {
    let elf = TestElf::new(0x20_0000, 0x1000)
        .segment(TestSegment::data(0x20_1000, 0x1000))
        .symbol("ucall_exit_mmio_addr", vaddr)
        .build();
    let err = parse(&elf)
        .unwrap()
        .writable_symbol_gpa("ucall_exit_mmio_addr", 8)
        .unwrap_err();
    assert!(
        matches!(&err, LoadError::SymbolNotWritable { name, vaddr: v, len: 8 } if name == "ucall_exit_mmio_addr" && *v == vaddr),
        "{err}"
    );
}

#[test]
fn symbol_in_code_is_not_written() {
    mmio_global_is_not_written_at(0x20_0008);
}

#[test]
fn symbol_outside_every_segment_is_not_written() {
    // Where the host's page tables or GDT could be: no segment of the guest's covers it.
    mmio_global_is_not_written_at(0x1_0000);
}

#[test]
fn symbol_straddling_the_end_of_its_segment_is_not_written() {
    mmio_global_is_not_written_at(0x20_1ffc);
}

/// Where the host would write the 8-byte `ucall_pool` of a guest that declares it `size`
/// bytes, at 0x20_1008 in writable data (so only its own size can say the host would write
/// past it).
fn pool_gpa_when_declared(size: u64) -> Result<u64, LoadError> {
    let elf = TestElf::new(0x20_0000, 0x1000)
        .segment(TestSegment::data(0x20_1000, 0x1000))
        .sized_symbol("ucall_pool", 0x20_1008, size)
        .build();
    parse(&elf).unwrap().writable_object_gpa("ucall_pool", 8)
}

#[test]
fn object_of_the_size_written_in_writable_data_is_found() {
    assert_eq!(pool_gpa_when_declared(8).unwrap(), 0x20_1008);
}

#[test]
fn object_smaller_than_what_the_host_writes_is_refused_naming_its_size() {
    let err = pool_gpa_when_declared(4).unwrap_err();
    assert!(
        matches!(&err, LoadError::SymbolWrongSize { name, size: 4, expected: 8 } if name == "ucall_pool"),
        "{err}"
    );
}

#[test]
fn object_larger_than_what_the_host_writes_is_refused_too() {
    let err = pool_gpa_when_declared(16).unwrap_err();
    assert!(
        matches!(
            &err,
            LoadError::SymbolWrongSize {
                size: 16,
                expected: 8,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn missing_symbol_is_named() {
    let elf = TestElf::new(0x20_0000, 0x1000).build();
    let err = parse(&elf)
        .unwrap()
        .writable_symbol_gpa("ucall_exit_mmio_addr", 8)
        .unwrap_err();
    assert!(matches!(&err, LoadError::SymbolNotFound(name) if name == "ucall_exit_mmio_addr"));
}
