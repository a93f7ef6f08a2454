//! Hostile guests: the guest stops making progress.

use super::*;

#[test]
fn guest_that_spins_forever_is_stopped_by_the_watchdog_and_its_neighbour_finishes() {
    let timeout = Duration::from_secs(2);
    let mut guest = Hostile::start_with(Case::Spin, TransportKind::Mmio, 2, timeout);
    let (ucalls, error) = guest.run();
    assert_eq!(ucalls, []);
    assert!(
        matches!(error, Some(RunError::Timeout { vcpu: 0, after }) if after == timeout),
        "{error:?}"
    );
    guest.neighbours_finish_normally();
}

#[cfg(target_arch = "x86_64")]
#[test]
fn guest_that_halts_is_reported_halted() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::Halt, t);
        assert!(matches!(err, RunError::Halted { vcpu: 0 }), "{err:?}");
    });
}

#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
#[test]
fn guest_that_waits_for_interrupts_forever_is_stopped_by_the_watchdog() {
    // KVM handles WFI in the kernel (the vCPU sleeps there), so only the watchdog ends it.
    let timeout = Duration::from_secs(2);
    let mut guest = Hostile::start_with(Case::Halt, TransportKind::Mmio, 2, timeout);
    let (ucalls, error) = guest.run();
    assert_eq!(ucalls, []);
    assert!(
        matches!(error, Some(RunError::Timeout { vcpu: 0, after }) if after == timeout),
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
        matches!(err, RunError::GuestException { vcpu: 0, syndrome: DATA_ABORT_TRANSLATION_LEVEL_1, at: a, fault_address: UNMAPPED } if a == at),
        "{err:?}"
    );
}

/// `scause` of a load page fault (exception code 13).
#[cfg(target_arch = "riscv64")]
const LOAD_PAGE_FAULT: u64 = 13;

#[cfg(target_arch = "riscv64")]
#[test]
fn guest_that_takes_an_exception_is_stopped_with_its_cause_and_addresses() {
    // The host's trap handler ends the run with an SBI system reset, which stops every vCPU of
    // the VM: this case runs alone.
    let (err, guest) = Hostile::alone(Case::Exception);
    let at = guest.symbol("hostile_fault");
    assert!(
        matches!(err, RunError::GuestException { vcpu: 0, syndrome: LOAD_PAGE_FAULT, at: a, fault_address: UNMAPPED } if a == at),
        "{err:?}"
    );
}

/// PSCI SYSTEM_OFF on aarch64, SBI system reset of type shutdown on riscv64.
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
#[test]
fn guest_that_powers_the_system_off_is_reported_shut_down() {
    // SYSTEM_OFF stops every vCPU of the VM: this case runs alone.
    let (err, _) = Hostile::alone(Case::SystemOff);
    assert!(
        matches!(
            err,
            RunError::Shutdown {
                vcpu: 0,
                reason: ShutdownReason::PowerOff
            }
        ),
        "{err:?}"
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn guest_that_triple_faults_is_reported_shut_down() {
    each_transport(|t| {
        let (err, _) = Hostile::error(Case::TripleFault, t);
        assert!(
            matches!(
                err,
                RunError::Shutdown {
                    vcpu: 0,
                    reason: ShutdownReason::TripleFault
                }
            ),
            "{err:?}"
        );
    });
}
