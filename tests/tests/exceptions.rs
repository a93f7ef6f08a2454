//! Exceptions a guest has no handler for reach the host as UNHANDLED ucalls, with the exact
//! address of the faulting instruction; that vCPU stops. A handler the guest installs for one
//! vector catches its fault. The `exceptions` guest is a test program, a test per exception:
//! each runs alone here, in a VM of its own, as the harness runs it.

use std::time::Duration;
use ucall_host::Ucall;
use ucall_host::arch::{Arch, Native};
use ucall_host::decode::{Sender, Unhandled};
use ucall_host::harness::TestProgram;
use ucall_host::vm::{GuestImage, RunError, TransportKind, VmBuilder, write_global};
use ucall_tests::{guest, libtest_lines, run_test, ucalls_until_end};

/// Unmapped in every guest; the `exceptions` guest loads from it.
const UNMAPPED: u64 = 0x7000_0000_0000;

/// The ucalls of the `exceptions` guest's test `test` (`tests::` left out), and where the
/// guest's symbol `at` is.
fn run_case(test: &str, transport: TransportKind, at: &str) -> (Vec<Ucall>, u64) {
    let ucalls = run_test("exceptions", &format!("tests::{test}"), transport);
    (ucalls, symbol(at))
}

/// The address of the `exceptions` guest's symbol `name`.
fn symbol(name: &str) -> u64 {
    GuestImage::parse(&guest("exceptions"), Native::ELF_MACHINE)
        .and_then(|image| image.symbol_gpa(name))
        .expect("symbol")
}

#[test]
fn a_vcpu_stopped_by_an_unhandled_exception_does_not_run_again() {
    let elf = guest("exceptions");
    let program = TestProgram::parse(&elf).expect("a table").expect("tests");
    let test = program
        .tests()
        .iter()
        .find(|test| test.name == "tests::undefined_instruction")
        .expect("the test");
    let mut vm = VmBuilder::new(&elf)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("VM");
    let image = GuestImage::parse(&elf, Native::ELF_MACHINE).expect("ELF");
    let index = test.index as u64;
    write_global(vm.memory(), &image, ucall_abi::TEST_SELECTED_SYMBOL, index).expect("select");
    let mut vcpu = vm.take_vcpus().remove(0);
    let (ucalls, error) = ucalls_until_end(&mut vcpu);
    assert!(error.is_none(), "{error:?}");
    assert!(matches!(&ucalls[..], [Ucall::Unhandled(_)]), "{ucalls:?}");
    assert!(matches!(
        vcpu.next_ucall(),
        Err(RunError::Finished { vcpu: 0 })
    ));
}

/// The program's tests on this architecture: those under `#[cfg(target_arch = "x86_64")]`
/// are neither compiled nor in the table elsewhere.
fn listed() -> Vec<&'static str> {
    let mut tests = vec!["tests::undefined_instruction", "tests::load_from_unmapped"];
    if cfg!(target_arch = "x86_64") {
        tests.push("tests::divide_by_zero");
    }
    tests.push("tests::push_onto_an_unmapped_stack");
    if cfg!(target_arch = "x86_64") {
        tests.extend([
            "tests::a_guest_handler_catches_the_gp_of_a_bad_wrmsr",
            "tests::after_a_caught_fault_the_next_reaches_the_host",
        ]);
    }
    tests
}

#[test]
fn a_test_whose_cfg_does_not_hold_is_not_in_the_table() {
    let (code, lines) = libtest_lines("exceptions", &["--list", "--format", "terse"]);
    assert_eq!(code, Some(0), "{lines:#?}");
    let expected: Vec<String> = listed()
        .iter()
        .map(|name| format!("{name}: test"))
        .collect();
    assert_eq!(lines, expected);
}

#[test]
fn under_the_harness_the_unhandled_exceptions_fail_and_the_caught_one_passes() {
    let (code, lines) = libtest_lines("exceptions", &["-q"]);
    assert_eq!(code, Some(101), "{lines:#?}");
    let summary = if cfg!(target_arch = "x86_64") {
        "test result: FAILED. 1 passed; 5 failed; 0 ignored; 0 measured; 0 filtered out"
    } else {
        "test result: FAILED. 0 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out"
    };
    let result = lines.iter().find(|line| line.starts_with("test result:"));
    assert_eq!(result.map(String::as_str), Some(summary), "{lines:#?}");
    // `-q`: a letter per test, in table order.
    let progress = if cfg!(target_arch = "x86_64") {
        "FFFF.F"
    } else {
        "FFF"
    };
    let running = format!("running {} tests", listed().len());
    assert_eq!(lines[..3], ["", &running, progress], "{lines:#?}");
    let failures: Vec<&str> = lines
        .iter()
        .skip_while(|line| *line != "failures:")
        .skip(1)
        .skip_while(|line| *line != "failures:")
        .skip(1)
        .take_while(|line| !line.is_empty())
        .map(|line| line.trim())
        .collect();
    let mut expected = listed();
    expected.retain(|name| !name.ends_with("bad_wrmsr"));
    assert_eq!(failures, expected, "{lines:#?}");
}

fn unhandled(vector: u64, at: u64, error_code: u64, fault_address: u64) -> Ucall {
    Ucall::Unhandled(Unhandled {
        vector,
        instruction_address: at,
        error_code,
        fault_address,
        sent_by: Sender::HostHandler,
    })
}

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use super::*;
    use ucall_tests::transports;

    #[test]
    fn an_undefined_instruction_is_reported_as_ud_at_its_address() {
        for &t in transports() {
            let (ucalls, at) = run_case("undefined_instruction", t, "exception_undefined");
            assert_eq!(ucalls, [unhandled(6, at, 0, 0)], "over {t:?}");
            assert_eq!(
                ucalls[0].to_string(),
                format!("UNHANDLED #UD at {at:#x} (fault address 0x0, error code 0x0)")
            );
        }
    }

    #[test]
    fn a_page_fault_is_reported_with_the_fault_address_and_error_code() {
        for &t in transports() {
            let (ucalls, at) = run_case("load_from_unmapped", t, "exception_load");
            // Error code 0: a supervisor read of a page that is not present.
            assert_eq!(ucalls, [unhandled(14, at, 0, UNMAPPED)], "over {t:?}");
        }
    }

    #[test]
    fn a_division_by_zero_is_reported_as_de_at_the_div() {
        for &t in transports() {
            let (ucalls, at) = run_case("divide_by_zero", t, "exception_divide_at");
            assert!(
                matches!(&ucalls[..], [Ucall::Unhandled(u)] if u.vector == 0 && u.instruction_address == at && u.error_code == 0),
                "{ucalls:?}"
            );
        }
    }

    #[test]
    fn a_page_fault_from_a_broken_stack_still_reports_on_the_handlers_own_stack() {
        for &t in transports() {
            let (ucalls, at) = run_case("push_onto_an_unmapped_stack", t, "exception_bad_stack_at");
            // Error code 2: a supervisor write to a page that is not present.
            assert_eq!(ucalls, [unhandled(14, at, 2, UNMAPPED - 8)], "over {t:?}");
        }
    }

    #[test]
    fn a_guest_installed_handler_catches_the_gp_of_a_bad_wrmsr_with_its_address() {
        // The test checks the fault it caught itself, against its symbol's address.
        for &t in transports() {
            let ucalls = run_test(
                "exceptions",
                "tests::a_guest_handler_catches_the_gp_of_a_bad_wrmsr",
                t,
            );
            assert_eq!(ucalls, [Ucall::Done], "over {t:?}");
        }
    }

    #[test]
    fn after_a_fault_the_guest_caught_the_hosts_handler_reports_the_next() {
        for &t in transports() {
            let (ucalls, at) = run_case(
                "after_a_caught_fault_the_next_reaches_the_host",
                t,
                "exception_undefined",
            );
            assert_eq!(ucalls, [unhandled(6, at, 0, 0)], "over {t:?}");
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod aarch64 {
    use super::*;

    /// The vector-table entry of a synchronous exception from the current EL with SP_EL1.
    const SYNC_CURRENT_EL_SPX: u64 = 4;
    /// ESR_EL1 of an undefined instruction (EC 0), 32-bit instruction (IL).
    const UNDEFINED: u64 = 1 << 25;
    /// ESR_EL1 of a data abort from EL1 (EC 0x25), IL, read, translation fault at Arm level 0
    /// (DFSC 0b000100): the root table has no entry for `UNMAPPED`.
    const DATA_ABORT_TRANSLATION_LEVEL_0: u64 = 0x25 << 26 | 1 << 25 | 0b00_0100;
    /// The same for a write (WnR, bit 6).
    const DATA_ABORT_WRITE_TRANSLATION_LEVEL_0: u64 = DATA_ABORT_TRANSLATION_LEVEL_0 | 1 << 6;

    #[test]
    fn an_undefined_instruction_is_reported_at_its_address() {
        let (ucalls, at) = run_case(
            "undefined_instruction",
            TransportKind::Mmio,
            "exception_undefined",
        );
        assert!(
            matches!(&ucalls[..], [Ucall::Unhandled(u)] if u.vector == SYNC_CURRENT_EL_SPX && u.instruction_address == at && u.error_code == UNDEFINED),
            "{ucalls:?}"
        );
        assert!(
            ucalls[0]
                .to_string()
                .starts_with("UNHANDLED undefined instruction at")
        );
    }

    #[test]
    fn a_data_abort_is_reported_with_the_fault_address_and_syndrome() {
        let (ucalls, at) = run_case("load_from_unmapped", TransportKind::Mmio, "exception_load");
        let expected = unhandled(
            SYNC_CURRENT_EL_SPX,
            at,
            DATA_ABORT_TRANSLATION_LEVEL_0,
            UNMAPPED,
        );
        assert_eq!(ucalls, [expected]);
        assert!(ucalls[0].to_string().starts_with("UNHANDLED data abort at"));
    }

    #[test]
    fn a_data_abort_from_a_broken_stack_still_reports_on_the_handlers_own_stack() {
        let (ucalls, at) = run_case(
            "push_onto_an_unmapped_stack",
            TransportKind::Mmio,
            "exception_bad_stack_at",
        );
        let expected = unhandled(
            SYNC_CURRENT_EL_SPX,
            at,
            DATA_ABORT_WRITE_TRANSLATION_LEVEL_0,
            UNMAPPED - 16,
        );
        assert_eq!(ucalls, [expected]);
    }
}

#[cfg(target_arch = "riscv64")]
mod riscv64 {
    use super::*;
    use ucall_tests::transports;

    /// `scause` of an illegal instruction.
    const ILLEGAL_INSTRUCTION: u64 = 2;
    /// `scause` of a load page fault.
    const LOAD_PAGE_FAULT: u64 = 13;
    /// `scause` of a store/AMO page fault.
    const STORE_PAGE_FAULT: u64 = 15;

    #[test]
    fn an_illegal_instruction_is_reported_at_its_address() {
        for &t in transports() {
            let (ucalls, at) = run_case("undefined_instruction", t, "exception_undefined");
            // stval may hold the instruction's bits or 0: the CPU chooses.
            assert!(
                matches!(&ucalls[..], [Ucall::Unhandled(u)] if u.vector == ILLEGAL_INSTRUCTION && u.instruction_address == at && u.error_code == 0),
                "over {t:?}: {ucalls:?}"
            );
            assert!(
                ucalls[0]
                    .to_string()
                    .starts_with("UNHANDLED illegal instruction at")
            );
        }
    }

    #[test]
    fn a_load_page_fault_is_reported_with_the_fault_address() {
        for &t in transports() {
            let (ucalls, at) = run_case("load_from_unmapped", t, "exception_load");
            assert_eq!(
                ucalls,
                [unhandled(LOAD_PAGE_FAULT, at, 0, UNMAPPED)],
                "over {t:?}"
            );
            assert!(
                ucalls[0]
                    .to_string()
                    .starts_with("UNHANDLED load page fault at")
            );
        }
    }

    #[test]
    fn a_store_page_fault_from_a_broken_stack_still_reports_on_the_handlers_own_stack() {
        for &t in transports() {
            let (ucalls, at) = run_case("push_onto_an_unmapped_stack", t, "exception_bad_stack_at");
            assert_eq!(
                ucalls,
                [unhandled(STORE_PAGE_FAULT, at, 0, UNMAPPED - 16)],
                "over {t:?}"
            );
        }
    }
}
