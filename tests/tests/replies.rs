//! Replies: a host that answers a user call, with values the guest checks; the record is the
//! reply on every transport, and over x86_64 port I/O `rsi` carries its first word too.

use ucall_host::Ucall;
use ucall_host::vm::{RunError, TransportKind};
use ucall_tests::{transports, vm};

const ADD: u64 = ucall_abi::FIRST_USER_COMMAND;

/// Runs the `calls` guest, answering `ADD` with `[a + b, a * b, 0xfeed, 0, 0, 0]` and nothing
/// else; returns its ucalls up to the end.
fn run_calls(transport: TransportKind) -> Vec<Ucall> {
    let mut vcpu = vm("calls", transport, 1).take_vcpus().remove(0);
    let mut ucalls = Vec::new();
    loop {
        let ucall = vcpu.next_ucall().expect("a ucall");
        if let Ucall::Call { number: ADD, args } = ucall {
            let [a, b, ..] = args;
            vcpu.reply([a + b, a * b, 0xfeed, 0, 0, 0]).expect("reply");
        }
        let end = ucall.is_final();
        ucalls.push(ucall);
        if end {
            return ucalls;
        }
    }
}

#[test]
fn a_call_answered_by_the_host_returns_the_answer_to_the_guest() {
    for &transport in transports() {
        let ucalls = run_calls(transport);
        let call = |number, a, b| Ucall::Call {
            number,
            args: [a, b, 0, 0, 0, 0],
        };
        let mut expected = vec![call(ADD, 40, 2)];
        if transport == TransportKind::Pio {
            // The guest checks the first word in `rsi`.
            expected.push(call(ADD, 1, 2));
        }
        expected.extend([
            call(ucall_abi::LAST_USER_COMMAND, 7, 8),
            Ucall::Sync {
                args: [42, 80, 0xfeed, 0, 0, 0],
            },
            Ucall::Done,
        ]);
        assert_eq!(ucalls, expected, "over {transport:?}");
    }
}

#[test]
fn a_reply_without_a_ucall_to_answer_is_refused() {
    let mut vcpu = vm("calls", TransportKind::Mmio, 1).take_vcpus().remove(0);
    assert!(matches!(
        vcpu.reply([0; 6]),
        Err(RunError::NothingToAnswer { vcpu: 0 })
    ));
}
