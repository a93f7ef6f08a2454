//! The log ring in the run loop: `guest_log!` lines arrive as `Ucall::Log` in order with the
//! guest's ucalls, without an exit each, none lost when the guest aborts or faults, and a ring
//! the host cannot drain is a typed error in its place. The guests' docs state the sequences.

use std::time::Duration;
use ucall_host::Ucall;
use ucall_host::decode::Abort;
use ucall_host::log_ring;
use ucall_host::vm::{RunError, TransportKind, Vcpu, Vm, VmBuilder};
use ucall_tests::{guest, transports, ucalls_until_end};
use vm_memory::GuestAddress;

fn vm(name: &str, transport: TransportKind, drain: bool) -> Vm {
    VmBuilder::new(&guest(name))
        .transport(transport)
        .log_ring(drain)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|e| panic!("cannot build a VM for {name}: {e}"))
}

fn vcpu(name: &str, transport: TransportKind, drain: bool) -> (Vm, Vcpu) {
    let mut vm = vm(name, transport, drain);
    let vcpu = vm.take_vcpus().remove(0);
    (vm, vcpu)
}

fn sync(args: [u64; 2]) -> Ucall {
    Ucall::Sync {
        args: [args[0], args[1], 0, 0, 0, 0],
    }
}

/// The `log_ring` guest's sequence, each line made by `line`.
fn log_ring_sequence(installed: u64, long_x: usize, line: fn(String) -> Ucall) -> Vec<Ucall> {
    let mut expected = vec![sync([installed, 0])];
    for round in 0..4 {
        for l in 0..25 {
            expected.push(line(format!("round {round} line {l}")));
        }
        expected.push(sync([round, 25]));
    }
    expected.push(line(format!("é€{}", "x".repeat(long_x))));
    expected.push(line("last line before DONE".into()));
    expected.push(Ucall::Done);
    expected
}

#[test]
fn logged_lines_arrive_in_order_with_the_ucalls_and_cut_to_the_ring() {
    for &transport in transports() {
        let (_vm, mut vcpu) = vcpu("log_ring", transport, true);
        let (ucalls, error) = ucalls_until_end(&mut vcpu);
        assert!(error.is_none(), "{transport:?}: {error:?}");
        // A 300-byte line in a 256-byte ring: 254 bytes of text, "é€" being 5 of them.
        assert_eq!(
            ucalls,
            log_ring_sequence(1, 249, Ucall::Log),
            "{transport:?}"
        );
    }
}

#[test]
fn the_guest_exits_for_its_ring_only_when_it_is_full() {
    for &transport in transports() {
        let (_vm, mut vcpu) = vcpu("log_ring", transport, true);
        let (_, error) = ucalls_until_end(&mut vcpu);
        assert!(error.is_none(), "{transport:?}: {error:?}");
        assert_eq!(vcpu.log_flushes(), 5, "{transport:?}");
    }
}

#[test]
fn without_draining_logged_lines_arrive_as_printf_whole() {
    for &transport in transports() {
        let (_vm, mut vcpu) = vcpu("log_ring", transport, false);
        let (ucalls, error) = ucalls_until_end(&mut vcpu);
        assert!(error.is_none(), "{transport:?}: {error:?}");
        assert_eq!(
            ucalls,
            log_ring_sequence(0, 295, Ucall::Printf),
            "{transport:?}"
        );
        assert_eq!(vcpu.log_flushes(), 0, "{transport:?}");
    }
}

#[test]
fn a_guest_that_aborts_right_after_logging_loses_no_line() {
    for &transport in transports() {
        let (_vm, mut vcpu) = vcpu("log_ring_aborts", transport, true);
        let (ucalls, error) = ucalls_until_end(&mut vcpu);
        assert!(error.is_none(), "{transport:?}: {error:?}");
        let [installed, first, second, third, Ucall::Abort(abort)] = &ucalls[..] else {
            panic!("{transport:?}: {ucalls:?}");
        };
        assert_eq!(installed, &sync([1, 0]));
        assert_eq!(
            [first, second, third],
            [
                &Ucall::Log("first".into()),
                &Ucall::Log("second".into()),
                &Ucall::Log("third".into())
            ]
        );
        let expected = Abort {
            message: "Failed guest assert: lines == 0".into(),
            file: Some("src/bin/log_ring_aborts.rs".into()),
            line: 23,
            column: Some(5),
        };
        assert_eq!(abort, &expected);
    }
}

#[test]
fn a_ring_with_a_bad_magic_is_a_typed_error_before_the_ucall_of_its_exit() {
    for &transport in transports() {
        let (_vm, mut vcpu) = vcpu("log_ring_corrupt", transport, true);
        let (ucalls, error) = ucalls_until_end(&mut vcpu);
        assert_eq!(
            ucalls,
            [
                sync([1, 0]),
                Ucall::Log("before the corruption".into()),
                sync([2, 0])
            ],
            "{transport:?}"
        );
        // The ucall of the exit whose drain failed comes next: it says where the bad header is.
        let Ok(Ucall::Sync { args }) = vcpu.next_ucall() else {
            panic!("{transport:?}: no SYNC after the ring error");
        };
        let bad_magic = u32::from_le_bytes(*b"BAD!");
        assert!(
            matches!(
                error,
                Some(RunError::LogRing(log_ring::Error::BadMagic { ring, magic }))
                    if ring == GuestAddress(args[0]) && magic == bad_magic
            ),
            "{transport:?}: {error:?}"
        );
    }
}

#[test]
fn a_guest_that_faults_right_after_logging_loses_no_line() {
    let (_vm, mut vcpu) = vcpu("log_ring_crashes", TransportKind::Mmio, true);
    let (ucalls, error) = ucalls_until_end(&mut vcpu);
    assert!(error.is_none(), "{error:?}");
    // x86_64: #PF (14); aarch64: a synchronous exception at the current EL (entry 4);
    // riscv64: a load page fault (scause 13).
    let vector = if cfg!(target_arch = "x86_64") {
        14
    } else if cfg!(target_arch = "riscv64") {
        13
    } else {
        4
    };
    let [installed, first, second, Ucall::Unhandled(fault)] = &ucalls[..] else {
        panic!("{ucalls:?}");
    };
    assert_eq!(
        [installed, first, second],
        [
            &sync([1, 0]),
            &Ucall::Log("about to fault".into()),
            &Ucall::Log("at 0x700000000000".into())
        ]
    );
    assert_eq!(
        (fault.vector, fault.fault_address),
        (vector, 0x7000_0000_0000)
    );
}
