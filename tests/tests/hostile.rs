//! Hostile guests: whatever a guest does, the host reports it as a typed error (or serves it
//! correctly), and the process and the guest's other vCPUs carry on.
//!
//! Every case runs the `hostile` guest: vCPU 0 misbehaves as the case says (see
//! `tests/guests/src/hostile_cases.rs`) while vCPU 1 makes 20 ordinary SYNCs and DONE on another
//! thread; each test asserts the exact error with its fields, and [`Hostile::error`] asserts that
//! the neighbour finished untouched. The page-table cases edit the live tables on both
//! architectures; the parts of their expected errors that the formats decide come from the
//! `format` module and the guest's `cases::descriptor`. Port I/O, `hlt` and triple faults are
//! x86_64-only; WFI, exceptions, PSCI SYSTEM_OFF and the reserved page-level encoding are
//! aarch64-only.

#[allow(dead_code)]
mod cases {
    include!("../guests/src/hostile_cases.rs");
}

use cases::*;
use std::thread::JoinHandle;
use std::time::Duration;
use ucall_host::decode::Exit;
use ucall_host::vm::{GuestImage, TransportKind, Vcpu, Vm, VmBuilder, write_global};
use ucall_host::{Error, Ucall};
use ucall_tests::{guest, transports, ucalls_until_end};

const TIMEOUT: Duration = Duration::from_secs(30);

/// What a vCPU did: its index, its ucalls up to its end, and the error it ended with.
type Outcome = (usize, Vec<Ucall>, Option<Error>);

/// A running `hostile` guest: vCPU 0 here, the well-behaved ones on their own threads.
struct Hostile {
    vm: Vm,
    elf: Vec<u8>,
    vcpu: Vcpu,
    neighbours: Vec<JoinHandle<Outcome>>,
}

fn elf_machine() -> u16 {
    if cfg!(target_arch = "x86_64") {
        62
    } else {
        183
    }
}

impl Hostile {
    fn start(case: Case, transport: TransportKind) -> Self {
        Self::start_with(case, transport, 2, TIMEOUT)
    }

    fn start_with(case: Case, transport: TransportKind, vcpus: usize, timeout: Duration) -> Self {
        let elf = guest("hostile");
        let mut vm = VmBuilder::new(&elf)
            .transport(transport)
            .vcpus(vcpus)
            .timeout(timeout)
            .build()
            .expect("VM for the hostile guest");
        let image = GuestImage::parse(&elf, elf_machine()).expect("hostile ELF");
        let memory_end = vm.memory().iter().map(|r| r.start_addr().0 + r.len()).max();
        write_global(vm.memory(), &image, "HOSTILE_CASE", case as u64).expect("case");
        write_global(
            vm.memory(),
            &image,
            "HOSTILE_MEMORY_END",
            memory_end.unwrap_or(0),
        )
        .expect("memory end");
        let mut all = vm.take_vcpus().into_iter();
        let vcpu = all.next().expect("vCPU 0");
        let neighbours = all
            .map(|mut vcpu| {
                std::thread::spawn(move || {
                    let (ucalls, error) = ucalls_until_end(&mut vcpu);
                    (vcpu.index(), ucalls, error)
                })
            })
            .collect();
        Hostile {
            vm,
            elf,
            vcpu,
            neighbours,
        }
    }

    /// Runs vCPU 0 to its end or first error.
    fn run(&mut self) -> (Vec<Ucall>, Option<Error>) {
        ucalls_until_end(&mut self.vcpu)
    }

    /// The error vCPU 0 ends with before any ucall, once its neighbours completed normally.
    fn error(case: Case, transport: TransportKind) -> (Error, Self) {
        let mut hostile = Self::start(case, transport);
        let (ucalls, error) = hostile.run();
        assert_eq!(
            ucalls,
            [],
            "{case:?} over {transport:?}: no ucall gets through"
        );
        let error = error.unwrap_or_else(|| panic!("{case:?} over {transport:?}: no error"));
        hostile.neighbours_finish_normally();
        (error, hostile)
    }

    /// The error a single-vCPU `hostile` guest ends with before any ucall: for cases that stop
    /// the whole VM by design, so that no neighbour can finish.
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    fn alone(case: Case) -> (Error, Self) {
        let mut hostile = Self::start_with(case, TransportKind::Mmio, 1, TIMEOUT);
        let (ucalls, error) = hostile.run();
        assert_eq!(ucalls, [], "{case:?}: no ucall gets through");
        let error = error.unwrap_or_else(|| panic!("{case:?}: no error"));
        (error, hostile)
    }

    /// Joins the well-behaved vCPUs and asserts that they made all their SYNCs and DONE.
    fn neighbours_finish_normally(&mut self) {
        for thread in self.neighbours.drain(..) {
            let (index, ucalls, error) = thread.join().expect("neighbour thread");
            assert!(error.is_none(), "neighbour vCPU {index}: {error:?}");
            let mut expected: Vec<Ucall> = (0..SYNCS)
                .map(|i| Ucall::Sync {
                    args: [index as u64, i, 0, 0, 0, 0],
                })
                .collect();
            expected.push(Ucall::Done);
            assert_eq!(ucalls, expected, "neighbour vCPU {index}");
        }
    }

    /// The guest-physical (= virtual) address of a guest symbol.
    fn symbol(&self, name: &str) -> u64 {
        GuestImage::parse(&self.elf, elf_machine())
            .and_then(|image| image.symbol_gpa(name))
            .expect("symbol of the hostile guest")
    }

    fn mmio(&self) -> u64 {
        self.vm.transport().mmio_gpa.expect("MMIO transport")
    }

    fn memory_end(&self) -> u64 {
        self.vm
            .memory()
            .iter()
            .map(|r| r.start_addr().0 + r.len())
            .max()
            .unwrap_or(0)
    }

    fn root(&self) -> u64 {
        self.vm.page_tables().root().0
    }
}

use vm_memory::{GuestMemoryBackend, GuestMemoryRegion};

/// What the architecture's page-table format makes of the guest's edits: the parts of the
/// expected errors that differ between x86_64 4-level paging and aarch64's 4 KiB granule.
#[cfg(target_arch = "x86_64")]
mod format {
    /// Where an entry keeps the next table's address.
    pub const ADDRESS: u64 = 0x000f_ffff_ffff_f000;
    /// Why an entry with an address bit beyond the physical width is malformed.
    pub const WHY_BEYOND_PHYSICAL: &str = "address bits above the physical address width are set";
    /// Why a large page at the root is malformed.
    pub const WHY_BLOCK_AT_ROOT: &str = "the page-size bit is reserved in a PML4 entry";
    /// Why a 1 GiB page with a reserved bit is malformed.
    pub const WHY_RESERVED_BLOCK_BITS: &str = "reserved bits of a large-page entry are set";
}

/// What the architecture's page-table format makes of the guest's edits: the parts of the
/// expected errors that differ between x86_64 4-level paging and aarch64's 4 KiB granule.
#[cfg(target_arch = "aarch64")]
mod format {
    /// Where a table descriptor keeps the next table's address.
    pub const ADDRESS: u64 = 0x0000_ffff_ffff_f000;
    /// Why an entry with an output-address bit beyond the IPA size is malformed.
    pub const WHY_BEYOND_PHYSICAL: &str = "output address bits beyond the IPA size are set";
    /// Why a block at the root is malformed.
    pub const WHY_BLOCK_AT_ROOT: &str = "a 4 KiB granule has no blocks at the root level";
    /// Why a 1 GiB block with a RES0 bit set is malformed.
    pub const WHY_RESERVED_BLOCK_BITS: &str = "reserved bits of a block entry are set";
}

/// The guest-physical address of the level-`level` entry for `gva` in the host-built tables
/// (level 4 is the root), found by a plain walk of guest memory.
fn entry_gpa(vm: &Vm, gva: u64, level: u8) -> u64 {
    use vm_memory::{Bytes, GuestAddress};
    let index = |level: u8| (gva >> (12 + 9 * (u32::from(level) - 1))) & 0x1ff;
    let mut table = vm.page_tables().root().0;
    for upper in (level + 1..=4).rev() {
        let entry: u64 = vm
            .memory()
            .read_obj(GuestAddress(table + index(upper) * 8))
            .expect("entry in memory");
        table = entry & format::ADDRESS;
    }
    table + index(level) * 8
}

fn each_transport(mut test: impl FnMut(TransportKind)) {
    for &transport in transports() {
        test(transport);
    }
}

// ---- the record address -------------------------------------------------------------------

#[test]
fn record_at_an_unmapped_address_is_not_mapped_at_the_missing_level_3_entry() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::RecordUnmapped, t);
        let expected_entry = entry_gpa(&guest.vm, UNMAPPED, 3);
        assert!(
            matches!(err, Error::NotMapped { gva: UNMAPPED, level: 3, entry_gpa, entry: 0 } if entry_gpa == expected_entry),
            "{err:?}"
        );
    });
}

#[test]
fn record_at_a_non_canonical_address_is_refused_before_any_walk() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::RecordNonCanonical, t);
        assert!(
            matches!(
                err,
                Error::NonCanonical {
                    gva: NON_CANONICAL,
                    bits: 48
                }
            ),
            "{err:?}"
        );
    });
}

#[test]
fn record_at_a_non_canonical_upper_half_address_is_refused() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::RecordNonCanonicalHigh, t);
        assert!(
            matches!(
                err,
                Error::NonCanonical {
                    gva: NON_CANONICAL_HIGH,
                    bits: 48
                }
            ),
            "{err:?}"
        );
    });
}

#[test]
fn record_in_the_ucall_page_is_outside_guest_memory() {
    let (err, guest) = Hostile::error(Case::RecordInTheUcallPage, TransportKind::Mmio);
    let mmio = guest.mmio();
    assert!(
        matches!(err, Error::OutsideMemory { gva, gpa } if gva == mmio && gpa == mmio),
        "{err:?}"
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn record_at_address_zero_reads_zeros_and_is_an_unknown_command_0() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::RecordAtNull, t);
        assert!(
            matches!(
                err,
                Error::UnknownCommand {
                    cmd: 0,
                    record_gva: 0
                }
            ),
            "{err:?}"
        );
    });
}

#[cfg(target_arch = "aarch64")]
#[test]
fn record_at_address_zero_is_not_mapped_below_ram() {
    let (err, guest) = Hostile::error(Case::RecordAtNull, TransportKind::Mmio);
    let expected_entry = entry_gpa(&guest.vm, 0, 3);
    assert!(
        matches!(err, Error::NotMapped { gva: 0, level: 3, entry_gpa, entry: 0 } if entry_gpa == expected_entry),
        "{err:?}"
    );
}

#[test]
fn record_straddling_the_end_of_memory_is_not_mapped_past_the_end() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::RecordStraddlesEndOfMemory, t);
        let end = guest.memory_end();
        let expected_entry = entry_gpa(&guest.vm, end, 2);
        assert!(
            matches!(err, Error::NotMapped { gva, level: 2, entry_gpa, entry: 0 } if gva == end && entry_gpa == expected_entry),
            "{err:?}"
        );
    });
}

#[test]
fn record_that_would_wrap_around_the_top_of_the_address_space_is_refused() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::RecordWrapsAroundTheTop, t);
        assert!(
            matches!(err, Error::WrapsAround { gva, len: 56 } if gva == u64::MAX - 7),
            "{err:?}"
        );
    });
}

#[test]
fn record_straddling_a_page_boundary_onto_an_unmapped_page_names_that_page() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::RecordStraddlesOntoAnUnmappedPage, t);
        let last_table = guest.symbol("HOSTILE_TABLES") + 2 * 0x1000;
        assert!(
            matches!(err, Error::NotMapped { gva, level: 1, entry_gpa, entry: 0 } if gva == SLOT_BASE + 0x1000 && entry_gpa == last_table + 8),
            "{err:?}"
        );
    });
}

// ---- MMIO at the ucall address ------------------------------------------------------------

fn bad_mmio(case: Case, len: usize, is_write: bool) {
    let (err, guest) = Hostile::error(case, TransportKind::Mmio);
    let mmio = guest.mmio();
    assert!(
        matches!(err, Error::BadMmioAccess { gpa, len: l, is_write: w } if gpa == mmio && l == len && w == is_write),
        "{err:?}"
    );
}

#[test]
fn one_byte_write_to_the_ucall_address_is_a_bad_access() {
    bad_mmio(Case::MmioWrite1, 1, true);
}

#[test]
fn two_byte_write_to_the_ucall_address_is_a_bad_access() {
    bad_mmio(Case::MmioWrite2, 2, true);
}

#[test]
fn four_byte_write_to_the_ucall_address_is_a_bad_access() {
    bad_mmio(Case::MmioWrite4, 4, true);
}

#[test]
fn one_byte_read_of_the_ucall_address_is_a_bad_access() {
    bad_mmio(Case::MmioRead1, 1, false);
}

#[test]
fn eight_byte_read_of_the_ucall_address_is_a_bad_access() {
    bad_mmio(Case::MmioRead8, 8, false);
}

#[test]
fn write_beside_the_ucall_address_is_an_unexpected_exit() {
    let (err, guest) = Hostile::error(Case::MmioWriteBesideTheUcallAddress, TransportKind::Mmio);
    let exit = format!(
        "{:x?}",
        Exit::MmioWrite {
            gpa: guest.mmio() + 8,
            data: &0x1234_5678_9abc_def0u64.to_le_bytes(),
        }
    );
    assert!(
        matches!(&err, Error::UnexpectedExit { vcpu: 0, exit: e } if *e == exit),
        "{err:?}"
    );
}

// ---- port I/O on the ucall port (x86_64) --------------------------------------------------

#[cfg(target_arch = "x86_64")]
fn bad_pio(case: Case, size: usize, is_in: bool) {
    let (err, _) = Hostile::error(case, TransportKind::Pio);
    assert!(
        matches!(err, Error::BadPioAccess { port: 0x1000, size: s, is_in: i } if s == size && i == is_in),
        "{err:?}"
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn two_byte_in_on_the_ucall_port_is_a_bad_access() {
    bad_pio(Case::PioIn2, 2, true);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn four_byte_in_on_the_ucall_port_is_a_bad_access() {
    bad_pio(Case::PioIn4, 4, true);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn one_byte_out_on_the_ucall_port_is_a_bad_access() {
    bad_pio(Case::PioOut1, 1, false);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn four_byte_out_on_the_ucall_port_is_a_bad_access() {
    bad_pio(Case::PioOut4, 4, false);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn string_in_of_four_bytes_on_the_ucall_port_is_a_bad_access() {
    bad_pio(Case::PioRepIns4, 4, true);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn out_on_another_port_is_an_unexpected_exit() {
    let (err, _) = Hostile::error(Case::PioOtherPort, TransportKind::Pio);
    let exit = format!(
        "{:x?}",
        Exit::PioOut {
            port: 0x604,
            size: 1
        }
    );
    assert!(
        matches!(&err, Error::UnexpectedExit { vcpu: 0, exit: e } if *e == exit),
        "{err:?}"
    );
}

// ---- commands -----------------------------------------------------------------------------

fn unknown_command(case: Case, cmd: u64) {
    each_transport(|t| {
        let (err, guest) = Hostile::error(case, t);
        let record = guest.symbol("HOSTILE_RECORD");
        assert!(
            matches!(err, Error::UnknownCommand { cmd: c, record_gva } if c == cmd && record_gva == record),
            "{err:?}"
        );
    });
}

#[test]
fn unknown_command_names_its_number_and_record() {
    unknown_command(Case::UnknownCommand, 77);
}

#[test]
fn command_none_is_not_a_ucall() {
    unknown_command(Case::CommandNone, 0);
}

#[test]
fn command_2_to_the_64_minus_1_is_unknown() {
    unknown_command(Case::CommandMax, u64::MAX);
}

// ---- string arguments ---------------------------------------------------------------------

#[test]
fn printf_of_an_unmapped_string_is_not_mapped() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::PrintfUnmapped, t);
        let expected_entry = entry_gpa(&guest.vm, UNMAPPED, 3);
        assert!(
            matches!(err, Error::NotMapped { gva: UNMAPPED, level: 3, entry_gpa, entry: 0 } if entry_gpa == expected_entry),
            "{err:?}"
        );
    });
}

#[test]
fn printf_of_a_non_canonical_string_is_refused() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::PrintfNonCanonical, t);
        assert!(
            matches!(
                err,
                Error::NonCanonical {
                    gva: NON_CANONICAL,
                    bits: 48
                }
            ),
            "{err:?}"
        );
    });
}

fn unterminated(case: Case) {
    each_transport(|t| {
        let (err, guest) = Hostile::error(case, t);
        let text = guest.symbol("HOSTILE_TEXT");
        assert!(
            matches!(err, Error::StringUnterminated { gva, max_len: 1024 } if gva == text),
            "{err:?}"
        );
    });
}

#[test]
fn printf_without_nul_within_the_bound_is_unterminated() {
    unterminated(Case::PrintfUnterminated);
}

#[test]
fn printf_longer_than_the_bound_is_unterminated_and_not_read_past_it() {
    unterminated(Case::PrintfLongerThanTheBound);
}

#[test]
fn printf_of_exactly_the_bound_arrives_whole() {
    each_transport(|t| {
        let mut guest = Hostile::start(Case::PrintfExactlyTheBound, t);
        let (ucalls, error) = guest.run();
        assert!(error.is_none(), "{error:?}");
        assert_eq!(ucalls, [Ucall::Printf("x".repeat(1023)), Ucall::Done]);
        guest.neighbours_finish_normally();
    });
}

fn not_utf8(case: Case, offset: u64, valid: usize) {
    each_transport(|t| {
        let (err, guest) = Hostile::error(case, t);
        let text = guest.symbol("HOSTILE_TEXT") + offset;
        assert!(
            matches!(err, Error::StringNotUtf8 { gva, valid_up_to } if gva == text && valid_up_to == valid),
            "{err:?}"
        );
    });
}

#[test]
fn printf_of_invalid_utf8_says_where_it_goes_wrong() {
    not_utf8(Case::PrintfInvalidUtf8, 0, 2);
}

#[test]
fn printf_of_a_truncated_utf8_character_says_where_it_goes_wrong() {
    not_utf8(Case::PrintfTruncatedUtf8, 0, 2);
}

#[test]
fn abort_with_a_file_name_that_is_not_utf8_names_the_file_string() {
    not_utf8(Case::AbortFileInvalidUtf8, 0x100, 4);
}

#[test]
fn printf_running_off_the_end_of_memory_is_not_mapped_past_the_end() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::PrintfRunsOffTheEndOfMemory, t);
        let end = guest.memory_end();
        assert!(
            matches!(err, Error::NotMapped { gva, level: 2, entry: 0, .. } if gva == end),
            "{err:?}"
        );
    });
}

#[test]
fn printf_straddling_onto_an_unmapped_page_names_that_page() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::PrintfStraddlesOntoAnUnmappedPage, t);
        let last_table = guest.symbol("HOSTILE_TABLES") + 2 * 0x1000;
        assert!(
            matches!(err, Error::NotMapped { gva, level: 1, entry_gpa, entry: 0 } if gva == SLOT_BASE + 0x1000 && entry_gpa == last_table + 8),
            "{err:?}"
        );
    });
}

#[test]
fn abort_with_an_unmapped_message_is_not_mapped() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::AbortMessageUnmapped, t);
        assert!(
            matches!(
                err,
                Error::NotMapped {
                    gva: UNMAPPED,
                    level: 3,
                    entry: 0,
                    ..
                }
            ),
            "{err:?}"
        );
    });
}

// ---- page tables the guest rewrote (x86_64) -----------------------------------------------

#[test]
fn table_that_points_to_itself_terminates_and_reads_the_table_as_the_record() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::TableThatPointsToItself, t);
        let s = ROOT_SLOT;
        let gva = s << 39 | s << 30 | s << 21 | s << 12 | 0x400;
        // The record is the root table's own slot: its command is the self-pointing entry.
        let cmd = guest.root() | descriptor::TABLE;
        assert!(
            matches!(err, Error::UnknownCommand { cmd: c, record_gva } if c == cmd && record_gva == gva),
            "{err:?}"
        );
    });
}

#[test]
fn entry_pointing_to_a_table_outside_memory_names_the_table() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::TableOutsideMemory, t);
        assert!(
            matches!(
                err,
                Error::TableOutsideMemory {
                    gva: SLOT_BASE,
                    level: 3,
                    table_gpa: BEYOND_MEMORY
                }
            ),
            "{err:?}"
        );
    });
}

#[test]
fn huge_page_outside_memory_is_outside_memory() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::PageOutsideMemory, t);
        assert!(
            matches!(
                err,
                Error::OutsideMemory {
                    gva: SLOT_BASE,
                    gpa: BEYOND_MEMORY
                }
            ),
            "{err:?}"
        );
    });
}

fn bad_root_entry(case: Case, flags: u64, why: &str) {
    each_transport(|t| {
        let (err, guest) = Hostile::error(case, t);
        let slot = guest.root() + ROOT_SLOT * 8;
        let value = guest.symbol("HOSTILE_TABLES") | flags;
        assert!(
            matches!(&err, Error::BadEntry { gva: SLOT_BASE, level: 4, entry_gpa, entry, why: w } if *entry_gpa == slot && *entry == value && *w == why),
            "{err:?}"
        );
    });
}

#[test]
fn entry_with_an_address_bit_beyond_the_physical_width_is_malformed() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::ReservedBitInAnEntry, t);
        let bit = descriptor::RESERVED_ADDRESS_BIT;
        let slot = guest.root() + ROOT_SLOT * 8;
        let table = guest.symbol("HOSTILE_TABLES") | 1 << bit;
        if bit >= guest.vm.address_widths().physical {
            let value = table | descriptor::TABLE;
            assert!(
                matches!(&err, Error::BadEntry { gva: SLOT_BASE, level: 4, entry_gpa, entry, why } if *entry_gpa == slot && *entry == value && *why == format::WHY_BEYOND_PHYSICAL),
                "{err:?}"
            );
        } else {
            // KVM gave the VM a physical width that includes the bit (a 48-bit IPA on
            // aarch64): the entry is well-formed and names a table beyond guest memory.
            assert!(
                matches!(err, Error::TableOutsideMemory { gva: SLOT_BASE, level: 3, table_gpa } if table_gpa == table),
                "{err:?}"
            );
        }
    });
}

#[test]
fn page_size_bit_in_a_root_entry_is_malformed() {
    bad_root_entry(
        Case::HugePageBitInTheRoot,
        descriptor::BLOCK_AT_ROOT,
        format::WHY_BLOCK_AT_ROOT,
    );
}

#[test]
fn huge_page_entry_with_reserved_bits_is_malformed() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::ReservedBitInAHugePage, t);
        let table = guest.symbol("HOSTILE_TABLES");
        let value = 0x4000_0000 | 1 << descriptor::RESERVED_BLOCK_BIT | descriptor::BLOCK_1G;
        assert!(
            matches!(&err, Error::BadEntry { gva: SLOT_BASE, level: 3, entry_gpa, entry, why } if *entry_gpa == table && *entry == value && *why == format::WHY_RESERVED_BLOCK_BITS),
            "{err:?}"
        );
    });
}

#[test]
fn non_present_entry_with_other_bits_is_not_mapped_and_shows_the_bits() {
    each_transport(|t| {
        let (err, guest) = Hostile::error(Case::NonPresentEntryWithBits, t);
        let table = guest.symbol("HOSTILE_TABLES");
        assert!(
            matches!(err, Error::NotMapped { gva: SLOT_BASE, level: 3, entry_gpa, entry: 0xdead_b002 } if entry_gpa == table),
            "{err:?}"
        );
    });
}

#[cfg(target_arch = "aarch64")]
#[test]
fn block_descriptor_at_the_page_level_is_malformed() {
    let (err, guest) = Hostile::error(Case::BlockAtThePageLevel, TransportKind::Mmio);
    let last_table = guest.symbol("HOSTILE_TABLES") + 2 * 0x1000;
    let value = guest.symbol("HOSTILE_TEXT") | descriptor::BLOCK_1G;
    assert!(
        matches!(&err, Error::BadEntry { gva: SLOT_BASE, level: 1, entry_gpa, entry, why } if *entry_gpa == last_table && *entry == value && *why == "0b01 is reserved at the page level"),
        "{err:?}"
    );
}

#[test]
fn host_follows_page_tables_the_guest_switched_to() {
    each_transport(|t| {
        let mut guest = Hostile::start(Case::SwitchedPageTables, t);
        let (ucalls, error) = guest.run();
        assert!(error.is_none(), "{error:?}");
        let sync = Ucall::Sync {
            args: [0x5ca1ab1e, 1, 0, 0, 0, 0],
        };
        assert_eq!(ucalls, [sync, Ucall::Done]);
        guest.neighbours_finish_normally();
    });
}

// ---- the guest stops making progress ------------------------------------------------------

#[test]
fn guest_that_spins_forever_is_stopped_by_the_watchdog_and_its_neighbour_finishes() {
    let timeout = Duration::from_secs(2);
    let mut guest = Hostile::start_with(Case::Spin, TransportKind::Mmio, 2, timeout);
    let (ucalls, error) = guest.run();
    assert_eq!(ucalls, []);
    assert!(
        matches!(error, Some(Error::Timeout { vcpu: 0, after }) if after == timeout),
        "{error:?}"
    );
    guest.neighbours_finish_normally();
}

#[cfg(target_arch = "x86_64")]
#[test]
fn guest_that_halts_is_reported_halted() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::Halt, t);
        assert!(matches!(err, Error::Halted { vcpu: 0 }), "{err:?}");
    });
}

#[cfg(target_arch = "aarch64")]
#[test]
fn guest_that_waits_for_interrupts_forever_is_stopped_by_the_watchdog() {
    // KVM handles WFI in the kernel (the vCPU sleeps there), so only the watchdog ends it.
    let timeout = Duration::from_secs(2);
    let mut guest = Hostile::start_with(Case::Halt, TransportKind::Mmio, 2, timeout);
    let (ucalls, error) = guest.run();
    assert_eq!(ucalls, []);
    assert!(
        matches!(error, Some(Error::Timeout { vcpu: 0, after }) if after == timeout),
        "{error:?}"
    );
    guest.neighbours_finish_normally();
}

/// ESR_EL1 of a data abort taken from EL1 (EC 0x25), 32-bit instruction (IL), read, translation
/// fault at Arm level 1 (DFSC 0b000101): the level whose entry for `UNMAPPED` is invalid.
#[cfg(target_arch = "aarch64")]
const DATA_ABORT_TRANSLATION_LEVEL_1: u64 = 0x25 << 26 | 1 << 25 | 0b00_0101;

#[cfg(target_arch = "aarch64")]
#[test]
fn guest_that_takes_an_exception_is_stopped_with_its_syndrome_and_addresses() {
    // The host's vectors end the run with PSCI SYSTEM_RESET, which stops every vCPU of the VM
    // (KVM puts them to sleep): this case runs alone.
    let (err, guest) = Hostile::alone(Case::Exception);
    let at = guest.symbol("hostile_fault");
    assert!(
        matches!(err, Error::GuestException { vcpu: 0, syndrome: DATA_ABORT_TRANSLATION_LEVEL_1, at: a, fault_address: UNMAPPED } if a == at),
        "{err:?}"
    );
}

#[cfg(target_arch = "aarch64")]
#[test]
fn guest_that_calls_psci_system_off_is_reported_shut_down() {
    // SYSTEM_OFF stops every vCPU of the VM: this case runs alone.
    let (err, _) = Hostile::alone(Case::SystemOff);
    assert!(
        matches!(&err, Error::Shutdown { vcpu: 0, why } if why == "PSCI SYSTEM_OFF"),
        "{err:?}"
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn guest_that_triple_faults_is_reported_shut_down() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::TripleFault, t);
        assert!(
            matches!(&err, Error::Shutdown { vcpu: 0, why } if why == "triple fault or shutdown"),
            "{err:?}"
        );
    });
}

// ---- several vCPUs, one record ------------------------------------------------------------

#[test]
fn vcpus_racing_on_one_record_each_get_well_formed_syncs_and_finish() {
    each_transport(|t| {
        let mut guest = Hostile::start_with(Case::SharedRecord, t, 4, TIMEOUT);
        let mut results = vec![(0, guest.run())];
        results.extend(guest.neighbours.drain(..).map(|thread| {
            let (index, ucalls, error) = thread.join().expect("vCPU thread");
            (index, (ucalls, error))
        }));
        for (index, (ucalls, error)) in results {
            assert!(error.is_none(), "vCPU {index}: {error:?}");
            let (last, syncs) = ucalls.split_last().expect("ucalls");
            assert_eq!(last, &Ucall::Done, "vCPU {index}");
            assert_eq!(syncs.len() as u64, SYNCS, "vCPU {index}");
            // Which vCPU's values a SYNC carries depends on the race; their shape does not.
            for ucall in syncs {
                assert!(
                    matches!(ucall, Ucall::Sync { args: [v, i, 0, 0, 0, 0] } if *v < 4 && *i < SYNCS),
                    "vCPU {index}: {ucall:?}"
                );
            }
        }
    });
}

// ---- and the host carries on --------------------------------------------------------------

#[test]
fn every_case_number_round_trips_and_the_host_runs_a_clean_guest_after_them_all() {
    for (n, case) in Case::ALL.iter().enumerate() {
        assert_eq!(Case::from_number(n as u64), Some(*case));
    }
    let mut guest = Hostile::start(Case::Behave, TransportKind::Mmio);
    let (ucalls, error) = guest.run();
    assert!(error.is_none(), "{error:?}");
    assert_eq!(ucalls.len() as u64, SYNCS + 1);
    guest.neighbours_finish_normally();
}
