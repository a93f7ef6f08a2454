//! Hostile guests: whatever a guest does, the host reports it as a typed error (or serves it
//! correctly), and the process and the guest's other vCPUs carry on.
//!
//! Every case runs the `hostile` guest: vCPU 0 misbehaves as the case says (see
//! `tests/guests/src/hostile_cases.rs`) while vCPU 1 makes 20 ordinary SYNCs and DONE on another
//! thread; each test asserts the exact error with its fields, and [`Hostile::error`] asserts that
//! the neighbour finished untouched. The page-table cases edit the live tables on both
//! architectures; the parts of their expected errors that the formats decide come from the
//! `format` module (where entries keep addresses), the guest's `cases::descriptor` and
//! `paging::BadEntryReason`. Port I/O, `hlt` and triple faults are
//! x86_64-only; WFI and system power-off are aarch64 and riscv64 cases; the reserved
//! page-level encoding is aarch64's, a table pointer at the page level riscv64's.

#[allow(dead_code)]
mod cases {
    include!("../../guests/src/hostile_cases.rs");
}

use cases::*;
use std::thread::JoinHandle;
use std::time::Duration;
use ucall_host::Ucall;
use ucall_host::arch::{Arch, Native};
use ucall_host::decode::{self, Exit};
use ucall_host::paging::{self, BadEntryReason};
use ucall_host::vm::{
    ExitKind, GuestImage, RunError, ShutdownReason, TransportKind, Vcpu, Vm, VmBuilder,
    write_global,
};
use ucall_tests::{guest, transports, ucalls_until_end};

const TIMEOUT: Duration = Duration::from_secs(30);

/// What a vCPU did: its index, its ucalls up to its end, and the error it ended with.
type Outcome = (usize, Vec<Ucall>, Option<RunError>);

/// A running `hostile` guest: vCPU 0 here, the well-behaved ones on their own threads.
struct Hostile {
    vm: Vm,
    elf: Vec<u8>,
    vcpu: Vcpu,
    neighbours: Vec<JoinHandle<Outcome>>,
}

fn elf_machine() -> u16 {
    Native::ELF_MACHINE
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
    fn run(&mut self) -> (Vec<Ucall>, Option<RunError>) {
        ucalls_until_end(&mut self.vcpu)
    }

    /// The error vCPU 0 ends with before any ucall, once its neighbours completed normally.
    fn error(case: Case, transport: TransportKind) -> (RunError, Self) {
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
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))]
    fn alone(case: Case) -> (RunError, Self) {
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
/// expected errors that differ between x86_64 4-level paging, aarch64's 4 KiB granule and
/// riscv64's Sv48.
#[cfg(target_arch = "x86_64")]
mod format {
    /// The next table's address in an entry.
    pub const fn address(entry: u64) -> u64 {
        entry & 0x000f_ffff_ffff_f000
    }
}

/// What the architecture's page-table format makes of the guest's edits: the parts of the
/// expected errors that differ between x86_64 4-level paging, aarch64's 4 KiB granule and
/// riscv64's Sv48.
#[cfg(target_arch = "aarch64")]
mod format {
    /// The next table's address in a table descriptor.
    pub const fn address(entry: u64) -> u64 {
        entry & 0x0000_ffff_ffff_f000
    }
}

/// What the architecture's page-table format makes of the guest's edits: the parts of the
/// expected errors that differ between x86_64 4-level paging, aarch64's 4 KiB granule and
/// riscv64's Sv48.
#[cfg(target_arch = "riscv64")]
mod format {
    /// The next table's address in an entry: its page number, bits 53..10.
    pub const fn address(entry: u64) -> u64 {
        (entry & 0x003f_ffff_ffff_fc00) >> 10 << 12
    }
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
        table = format::address(entry);
    }
    table + index(level) * 8
}

fn each_transport(mut test: impl FnMut(TransportKind)) {
    for &transport in transports() {
        test(transport);
    }
}

/// Asserts that `case` (a record or string at `UNMAPPED`) ends with "not mapped" at the missing
/// level-3 entry, over every transport.
fn not_mapped_at_the_missing_level_3_entry(case: Case) {
    each_transport(|t| {
        let (err, guest) = Hostile::error(case, t);
        let expected_entry = entry_gpa(&guest.vm, UNMAPPED, 3);
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::NotMapped { gva: UNMAPPED, level: 3, entry_gpa, entry: 0 })) if entry_gpa == expected_entry),
            "{err:?}"
        );
    });
}

/// Asserts that `case` (a record or string at the non-canonical `gva`) is refused before any
/// walk, over every transport.
fn refused_as_non_canonical(case: Case, gva: u64) {
    each_transport(|t| {
        let (err, _) = Hostile::error(case, t);
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::NonCanonical { gva: g, bits: 48 })) if g == gva),
            "{err:?}"
        );
    });
}

/// Asserts that `case` (a record or string that starts mapped at the end of `SLOT_BASE`'s page
/// and runs onto the unmapped page after it) is "not mapped" at that page's level-1 entry in the
/// guest's own last table, over every transport.
fn not_mapped_on_the_page_it_straddles_onto(case: Case) {
    each_transport(|t| {
        let (err, guest) = Hostile::error(case, t);
        let last_table = guest.symbol("HOSTILE_TABLES") + 2 * 0x1000;
        assert!(
            matches!(err, RunError::Decode(decode::Error::Paging(paging::Error::NotMapped { gva, level: 1, entry_gpa, entry: 0 })) if gva == SLOT_BASE + 0x1000 && entry_gpa == last_table + 8),
            "{err:?}"
        );
    });
}

mod carries_on;
mod commands;
mod core_file;
mod forged;
mod host_writes;
mod many_vcpus;
mod mmio;
mod output_faults;
#[cfg(target_arch = "x86_64")]
mod pio;
mod progress;
mod record;
mod replies;
mod rooted;
mod shared_record;
mod strings;
mod tables;
