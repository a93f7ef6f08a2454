//! Post-mortem, without gdb: what a core written at a guest's end holds, read back with goblin.
//! Runs on each architecture (in the QEMU VMs too), so the registers KVM gives are checked
//! where gdb is not at hand.

use goblin::elf::Elf;
use goblin::elf::note::NT_PRSTATUS;
use goblin::elf::program_header::{PF_X, PT_LOAD};
use std::ops::Range;
use std::time::Duration;
use ucall_host::vm::core_dump::Signal;
use ucall_tests::core_dump::{DumpedGuest, STACK_SIZE, dump_guest};
use zerocopy::IntoBytes;

/// `offsetof(struct elf_prstatus, pr_reg)` on 64-bit Linux.
const PR_REG: usize = 112;

fn read(path: &std::path::Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Each `NT_PRSTATUS` note's thread id, signal and registers, in the core's order.
fn threads(core: &[u8]) -> Vec<(i32, i32, Vec<u8>)> {
    let elf = Elf::parse(core).expect("the core is an ELF file");
    elf.iter_note_headers(core)
        .expect("the core has notes")
        .map(|note| note.expect("each note is well formed"))
        .filter(|note| note.n_type == NT_PRSTATUS)
        .map(|note| {
            let word = |at: usize| i32::from_le_bytes(note.desc[at..at + 4].try_into().unwrap());
            let registers = note.desc
                [PR_REG..PR_REG + size_of::<ucall_host::vm::core_dump::Registers>()]
                .to_vec();
            (word(32), word(0), registers)
        })
        .collect()
}

fn aborted_on_two_vcpus() -> DumpedGuest {
    dump_guest("core_aborts", 2, Duration::from_secs(30))
}

#[test]
fn a_core_has_a_thread_per_vcpu_with_the_registers_it_ended_with() {
    let dumped = aborted_on_two_vcpus();
    let expected: Vec<(i32, i32, Vec<u8>)> = dumped
        .core
        .threads()
        .iter()
        .map(|t| {
            (
                t.vcpu as i32 + 1,
                Signal::ABORT.0,
                t.registers.as_bytes().to_vec(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 2);
    assert_eq!(threads(&read(&dumped.file)), expected);
}

/// The address ranges of the guest's executable segments.
fn code_of(dumped: &DumpedGuest) -> Vec<Range<u64>> {
    let guest = read(&dumped.elf);
    let guest = Elf::parse(&guest).expect("the guest is an ELF file");
    guest
        .program_headers
        .iter()
        .filter(|p| p.p_type == PT_LOAD && p.p_flags & PF_X != 0)
        .map(|p| p.p_vaddr..p.p_vaddr + p.p_memsz)
        .collect()
}

#[test]
fn each_vcpus_registers_point_into_its_own_stack_and_the_guests_code() {
    let dumped = aborted_on_two_vcpus();
    let code = code_of(&dumped);
    // The layout placed RAM around the guest; the stacks are at its top.
    let ram_end = dumped
        .memory
        .iter()
        .map(|(start, bytes)| start + bytes.len() as u64)
        .max()
        .expect("guest memory");
    for thread in dumped.core.threads() {
        let stack_top = ram_end - STACK_SIZE * thread.vcpu as u64;
        let stack = stack_top - STACK_SIZE..stack_top;
        let (sp, pc) = (
            thread.registers.stack_pointer(),
            thread.registers.program_counter(),
        );
        assert!(
            stack.contains(&sp),
            "vCPU {}: sp {sp:#x} outside {stack:x?}",
            thread.vcpu
        );
        assert!(
            code.iter().any(|c| c.contains(&pc)),
            "vCPU {}: pc {pc:#x} outside {code:x?}",
            thread.vcpu
        );
    }
}

#[test]
fn a_core_holds_the_guest_memory_at_its_guest_physical_addresses() {
    let dumped = dump_guest("core_aborts", 1, Duration::from_secs(30));
    let core = read(&dumped.file);
    let elf = Elf::parse(&core).expect("the core is an ELF file");
    let segments: Vec<(u64, &[u8])> = elf
        .program_headers
        .iter()
        .filter(|p| p.p_type == PT_LOAD)
        .map(|p| (p.p_vaddr, &core[p.file_range()]))
        .collect();
    let memory: Vec<(u64, &[u8])> = dumped
        .memory
        .iter()
        .map(|(gpa, bytes)| (*gpa, &bytes[..]))
        .collect();
    assert!(
        segments == memory,
        "the core's segments differ from guest memory"
    );
}

/// The host's exception vectors (aarch64) or trap handler (riscv64) stop the vCPU, and the core
/// shows where the exception was taken (ELR_EL1, `sepc`), not the handler. (x86_64 has no such
/// test: a guest without an IDT triple-faults, and SVM resets the vCPU before the host sees the
/// exit, rip 0xfff0 on kvm_amd, so no core can show the fault there.)
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
#[test]
fn a_vcpu_that_faulted_is_shown_in_the_guests_code_with_sigsegv() {
    let dumped = dump_guest("faults", 1, Duration::from_secs(30));
    let code = code_of(&dumped);
    let [thread] = dumped.core.threads() else {
        panic!("one vCPU, one thread: {:?}", dumped.core.threads());
    };
    let pc = thread.registers.program_counter();
    assert_eq!(thread.signal, Signal::FAULT);
    assert!(
        code.iter().any(|c| c.contains(&pc)),
        "pc {pc:#x} outside {code:x?}"
    );
}
