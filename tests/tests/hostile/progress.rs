//! Hostile guests: the guest stops making progress.

use super::*;

/// Asserts that vCPU 0, running `case`, makes no ucall and is stopped by a 1 s watchdog while
/// its neighbour makes all its ucalls.
fn stopped_by_the_watchdog_while_its_neighbour_finishes(case: Case) {
    let timeout = Duration::from_secs(1);
    let mut guest = Hostile::start_with(case, TransportKind::Mmio, 2, timeout);
    let (ucalls, error) = guest.run();
    assert_eq!(ucalls, []);
    assert!(
        matches!(error, Some(RunError::Timeout { vcpu: 0, after }) if after == timeout),
        "{error:?}"
    );
    guest.neighbours_finish_normally();
}

#[test]
fn guest_that_spins_forever_is_stopped_by_the_watchdog_and_its_neighbour_finishes() {
    stopped_by_the_watchdog_while_its_neighbour_finishes(Case::Spin);
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
    stopped_by_the_watchdog_while_its_neighbour_finishes(Case::Halt);
}

/// The exception `Case::Exception` takes: x86_64 #PF (14), error code 0 (a supervisor read of a
/// page that is not present).
#[cfg(target_arch = "x86_64")]
const LOAD_FAULT: (u64, u64) = (14, 0);
/// The exception `Case::Exception` takes: aarch64 vector-table entry 4 (synchronous, current EL
/// with SP_EL1), ESR_EL1 of a data abort from EL1 (EC 0x25), 32-bit instruction (IL), read,
/// translation fault at Arm level 1 (DFSC 0b000101): the level whose entry for `UNMAPPED` is
/// invalid.
#[cfg(target_arch = "aarch64")]
const LOAD_FAULT: (u64, u64) = (4, 0x25 << 26 | 1 << 25 | 0b00_0101);
/// The exception `Case::Exception` takes: riscv64 `scause` 13, a load page fault (riscv64 has
/// no error code).
#[cfg(target_arch = "riscv64")]
const LOAD_FAULT: (u64, u64) = (13, 0);

#[test]
fn guest_that_takes_an_exception_is_reported_unhandled_and_its_neighbour_finishes() {
    each_transport(|t| {
        let mut guest = Hostile::start(Case::Exception, t);
        let (ucalls, error) = guest.run();
        assert!(error.is_none(), "{error:?}");
        let (vector, error_code) = LOAD_FAULT;
        let expected = ucall_host::decode::Unhandled {
            vector,
            instruction_address: guest.symbol("hostile_fault"),
            error_code,
            fault_address: UNMAPPED,
            sent_by: ucall_host::decode::Sender::HostHandler,
        };
        assert_eq!(ucalls, [Ucall::Unhandled(expected)], "over {t:?}");
        guest.neighbours_finish_normally();
    });
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

#[test]
fn guest_that_only_flushes_its_log_ring_is_stopped_by_the_watchdog() {
    let timeout = Duration::from_secs(1);
    let elf = guest("flushes_forever");
    let mut vm = VmBuilder::new(&elf)
        .timeout(timeout)
        .build()
        .expect("VM for flushes_forever");
    let mut vcpu = vm.take_vcpus().remove(0);
    let (ucalls, error) = ucalls_until_end(&mut vcpu);
    assert_eq!(ucalls, []);
    assert!(
        matches!(error, Some(RunError::Timeout { vcpu: 0, after }) if after == timeout),
        "{error:?}"
    );
    assert!(vcpu.log_flushes() > 1, "{} flushes", vcpu.log_flushes());
}

#[test]
fn runner_stops_a_guest_that_only_flushes_with_exit_2_saying_it_made_no_ucall() {
    let elf = ucall_tests::guest_dir().join("flushes_forever");
    let output = ucall_tests::ucall_run()
        .args(["--timeout", "1"])
        .arg(&elf)
        .output()
        .expect("ucall-run starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    // The runner's own account of the time: the timeout it was given, not a measured one.
    assert!(
        stderr.contains("ucall-run: vCPU 0 made no ucall within 1s"),
        "{stderr}"
    );
}
