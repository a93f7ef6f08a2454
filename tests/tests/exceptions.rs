//! Exceptions a guest has no handler for reach the host as UNHANDLED ucalls, with the exact
//! address of the faulting instruction; that vCPU stops and the others go on. A handler the
//! guest installs for one vector catches its fault.

use std::time::Duration;
use ucall_host::Ucall;
use ucall_host::arch::{Arch, Native};
use ucall_host::decode::Unhandled;
use ucall_host::vm::{GuestImage, RunError, TransportKind, VmBuilder, write_global};
use ucall_tests::{guest, ucalls_until_end};

/// Unmapped in every guest; the `exceptions` guest loads from it in case 1.
const UNMAPPED: u64 = 0x7000_0000_0000;

/// The ucalls of the `exceptions` guest in `case`, and where the guest's symbol `at` is.
fn run_case(case: u64, transport: TransportKind, at: &str) -> (Vec<Ucall>, u64) {
    let elf = guest("exceptions");
    let mut vm = VmBuilder::new(&elf)
        .transport(transport)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("VM");
    let image = GuestImage::parse(&elf, Native::ELF_MACHINE).expect("ELF");
    write_global(vm.memory(), &image, "EXCEPTION_CASE", case).expect("case");
    let address = image.symbol_gpa(at).expect("symbol");
    let mut vcpu = vm.take_vcpus().remove(0);
    let (ucalls, error) = ucalls_until_end(&mut vcpu);
    assert!(error.is_none(), "case {case} over {transport:?}: {error:?}");
    assert!(matches!(
        vcpu.next_ucall(),
        Err(RunError::Finished { vcpu: 0 })
    ));
    (ucalls, address)
}

fn unhandled(vector: u64, at: u64, error_code: u64, fault_address: u64) -> Ucall {
    Ucall::Unhandled(Unhandled {
        vector,
        instruction_address: at,
        error_code,
        fault_address,
    })
}

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use super::*;
    use ucall_tests::transports;

    #[test]
    fn an_undefined_instruction_is_reported_as_ud_at_its_address() {
        for &t in transports() {
            let (ucalls, at) = run_case(0, t, "exception_undefined");
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
            let (ucalls, at) = run_case(1, t, "exception_load");
            // Error code 0: a supervisor read of a page that is not present.
            assert_eq!(ucalls, [unhandled(14, at, 0, UNMAPPED)], "over {t:?}");
        }
    }

    #[test]
    fn a_division_by_zero_is_reported_as_de_at_the_div() {
        for &t in transports() {
            let (ucalls, at) = run_case(2, t, "exception_divide_at");
            assert!(
                matches!(&ucalls[..], [Ucall::Unhandled(u)] if u.vector == 0 && u.instruction_address == at && u.error_code == 0),
                "{ucalls:?}"
            );
        }
    }

    #[test]
    fn a_page_fault_from_a_broken_stack_still_reports_on_the_handlers_own_stack() {
        for &t in transports() {
            let (ucalls, at) = run_case(4, t, "exception_bad_stack_at");
            // Error code 2: a supervisor write to a page that is not present.
            assert_eq!(ucalls, [unhandled(14, at, 2, UNMAPPED - 8)], "over {t:?}");
        }
    }

    #[test]
    fn a_guest_installed_handler_catches_the_gp_of_a_bad_wrmsr_and_the_guest_goes_on() {
        for &t in transports() {
            let (ucalls, at) = run_case(3, t, "exception_wrmsr_at");
            let undefined = GuestImage::parse(&guest("exceptions"), Native::ELF_MACHINE)
                .and_then(|image| image.symbol_gpa("exception_undefined"))
                .expect("symbol");
            let expected = [
                Ucall::Sync {
                    args: [13, 0, at, 0, 0, 0],
                },
                Ucall::Sync {
                    args: [1, 0, 0, 0, 0, 0],
                },
                // The host's handler is back for the next fault.
                unhandled(6, undefined, 0, 0),
            ];
            assert_eq!(ucalls, expected, "over {t:?}");
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
        let (ucalls, at) = run_case(0, TransportKind::Mmio, "exception_undefined");
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
        let (ucalls, at) = run_case(1, TransportKind::Mmio, "exception_load");
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
        let (ucalls, at) = run_case(4, TransportKind::Mmio, "exception_bad_stack_at");
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
            let (ucalls, at) = run_case(0, t, "exception_undefined");
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
            let (ucalls, at) = run_case(1, t, "exception_load");
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
            let (ucalls, at) = run_case(4, t, "exception_bad_stack_at");
            assert_eq!(
                ucalls,
                [unhandled(STORE_PAGE_FAULT, at, 0, UNMAPPED - 16)],
                "over {t:?}"
            );
        }
    }
}
