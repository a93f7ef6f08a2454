//! Guests in the pool convention of today's Linux KVM selftests (`tests/guests/c/pool.h`),
//! under real KVM with the runner's default choices: the convention comes from the guest's
//! `ucall_pool` symbol, the transport from what the guest has.

use std::time::Duration;
use ucall_host::Ucall;
use ucall_host::convention::{ConventionKind, selftests};
use ucall_host::decode::Abort;
use ucall_host::vm::{LoadError, RunError, SetupError, TransportKind, Vm, VmBuilder};
use ucall_tests::{guest, ucalls_until_end};
use vm_memory::{Bytes, GuestAddress};

/// A VM for guest `name` with the builder's defaults but for these.
fn build(
    name: &str,
    convention: ConventionKind,
    transport: TransportKind,
    vcpus: usize,
) -> Result<Vm, SetupError> {
    VmBuilder::new(&guest(name))
        .convention(convention)
        .transport(transport)
        .vcpus(vcpus)
        .timeout(Duration::from_secs(30))
        .build()
}

fn vm(name: &str) -> Vm {
    build(name, ConventionKind::Auto, TransportKind::Auto, 1)
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Runs vCPU 0 of `vm` to its end: its ucalls, and its error if it ended in one.
fn run(vm: &mut Vm) -> (Vec<Ucall>, Option<RunError>) {
    ucalls_until_end(&mut vm.take_vcpus().remove(0))
}

/// The error that ends vCPU 0 of `vm` before its first ucall.
fn error_before_any_ucall(vm: &mut Vm) -> selftests::Error {
    match run(vm) {
        (ucalls, Some(RunError::Selftests(error))) if ucalls.is_empty() => error,
        other => panic!("a pool error before any ucall: {other:?}"),
    }
}

/// The NUL-terminated text at `gva` (the host's tables map RAM one to one).
fn text_at(vm: &Vm, gva: u64) -> String {
    let mut bytes = [0; 16];
    vm.memory()
        .read_slice(&mut bytes, GuestAddress(gva))
        .unwrap();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// What `selftests_guest.c` sends, given its VM: GUEST_SYNC(1) (the address of "hello" and
/// the stage), a GUEST_PRINTF with newlines, then its failed GUEST_ASSERT_EQ.
fn assert_selftests_guest(vm: &mut Vm) {
    assert_eq!(vm.convention(), ConventionKind::Selftests);
    let (ucalls, error) = run(vm);
    assert!(error.is_none(), "{error:?}");
    let [Ucall::Sync { args }, printf, abort] = &ucalls[..] else {
        panic!("three ucalls: {ucalls:?}");
    };
    assert_eq!(text_at(vm, args[0]), "hello");
    assert_eq!(args[1..], [1, 0, 0, 0, 0]);
    assert_eq!(
        printf,
        &Ucall::Printf("hello from the pool\nstage 2 of 3\n".into())
    );
    let expected = Abort {
        message: "0x29 != 0x2a (answer != 42)".into(),
        file: Some("selftests_guest.c".into()),
        line: 13,
        column: None,
    };
    assert_eq!(abort, &Ucall::Abort(expected));
}

#[test]
fn a_pool_guest_at_gccs_address_syncs_prints_and_aborts_on_its_eq_assert() {
    assert_selftests_guest(&mut vm("selftests_guest_default_link"));
}

#[test]
fn a_pool_guest_linked_by_our_script_does_the_same() {
    assert_selftests_guest(&mut vm("selftests_guest"));
}

#[cfg(target_arch = "x86_64")]
#[test]
fn a_pool_guest_on_x86_64_makes_its_ucalls_by_port_io_too() {
    let built = build(
        "selftests_guest_default_link",
        ConventionKind::Auto,
        TransportKind::Pio,
        1,
    );
    assert_selftests_guest(&mut built.unwrap());
}

#[test]
fn a_pool_guests_printf_is_not_read_as_done_nor_its_done_as_printf() {
    let (ucalls, error) = run(&mut vm("selftests_done_default_link"));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        ucalls,
        [Ucall::Printf("printf, then done".into()), Ucall::Done]
    );
}

#[test]
fn a_seed_guests_printf_4_and_done_3_keep_their_meaning() {
    let mut vm = vm("printf");
    assert_eq!(vm.convention(), ConventionKind::Seed);
    let (ucalls, error) = run(&mut vm);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        ucalls,
        [
            Ucall::Printf("hello host from 0xc0ffee".into()),
            Ucall::Done
        ]
    );
}

#[test]
fn a_seed_guest_in_c_still_gets_the_seed_convention() {
    let mut vm = vm("seed_guest_default_link");
    assert_eq!(vm.convention(), ConventionKind::Seed);
    let (ucalls, error) = run(&mut vm);
    assert!(error.is_none(), "{error:?}");
    assert!(matches!(ucalls.last(), Some(Ucall::Abort(_))), "{ucalls:?}");
}

#[test]
fn several_vcpus_make_pool_ucalls_at_once() {
    const VCPUS: u64 = 3;
    let mut vm = build(
        "selftests_vcpus_default_link",
        ConventionKind::Auto,
        TransportKind::Auto,
        VCPUS as usize,
    )
    .unwrap();
    let threads: Vec<_> = vm
        .take_vcpus()
        .into_iter()
        .map(|mut vcpu| std::thread::spawn(move || ucalls_until_end(&mut vcpu)))
        .collect();
    for (vcpu, thread) in (0..VCPUS).zip(threads) {
        let (ucalls, error) = thread.join().unwrap();
        assert!(error.is_none(), "vCPU {vcpu}: {error:?}");
        let mut seen = Vec::new();
        for ucall in &ucalls {
            match ucall {
                Ucall::Sync { args } => seen.push(args[1].to_string()),
                Ucall::Printf(text) => seen.push(text.clone()),
                other => seen.push(other.to_string()),
            }
        }
        let mut expected = Vec::new();
        for stage in 1..=3 {
            expected.push((vcpu * 100 + stage).to_string());
            expected.push(format!("vCPU {vcpu}, stage {stage}"));
        }
        expected.push("DONE".into());
        assert_eq!(seen, expected, "vCPU {vcpu}");
    }
}

/// The stage of the one SYNC that vCPU 0 of guest `name` makes, and the pool error that ends
/// it after.
fn one_sync_then_error(name: &str) -> (u64, selftests::Error) {
    match run(&mut vm(name)) {
        (ucalls, Some(RunError::Selftests(error))) => match &ucalls[..] {
            [Ucall::Sync { args }] => (args[1], error),
            _ => panic!("one SYNC: {ucalls:?}"),
        },
        other => panic!("a pool error: {other:?}"),
    }
}

#[test]
fn the_last_free_record_serves_and_then_a_full_pool_is_an_error() {
    let (stage, error) = one_sync_then_error("selftests_full_pool_default_link");
    assert_eq!(stage, 511);
    assert!(matches!(error, selftests::Error::NoPool), "{error}");
}

#[test]
fn a_pool_guest_without_the_pool_symbol_gets_the_no_pool_error() {
    let mut vm = vm("selftests_no_pool_default_link");
    assert_eq!(vm.convention(), ConventionKind::Seed);
    let error = error_before_any_ucall(&mut vm);
    assert!(matches!(error, selftests::Error::NoPool), "{error}");
}

#[test]
fn the_pool_convention_chosen_for_a_guest_without_the_symbol_gives_no_pool_either() {
    let mut built = build(
        "selftests_no_pool_default_link",
        ConventionKind::Selftests,
        TransportKind::Auto,
        1,
    )
    .unwrap();
    let error = error_before_any_ucall(&mut built);
    assert!(matches!(error, selftests::Error::NoPool), "{error}");
}

#[test]
fn the_seed_convention_chosen_for_a_pool_guest_leaves_it_without_a_pool() {
    let mut built = build(
        "selftests_done_default_link",
        ConventionKind::Seed,
        TransportKind::Auto,
        1,
    )
    .unwrap();
    let error = error_before_any_ucall(&mut built);
    assert!(matches!(error, selftests::Error::NoPool), "{error}");
}

/// At gcc's address, where `.rodata` is in a read-only segment (our linker script puts the
/// whole aarch64 and riscv64 image in one writable segment, so there it is writable data).
#[test]
fn a_pool_symbol_in_read_only_data_is_refused_before_the_guest_runs() {
    let name = "selftests_pool_rodata_default_link";
    let err = build(name, ConventionKind::Auto, TransportKind::Auto, 1).unwrap_err();
    assert!(
        matches!(&err, SetupError::Load(LoadError::SymbolNotWritable { name, len: 8, .. }) if name == "ucall_pool"),
        "{err}"
    );
}

#[test]
fn a_forged_token_is_refused() {
    let error = error_before_any_ucall(&mut vm("selftests_forged_token_default_link"));
    assert!(
        matches!(error, selftests::Error::ForgedToken { token, pool_start, .. } if token == pool_start + 64 + 8),
        "{error}"
    );
}

#[test]
fn a_token_outside_the_pool_is_refused() {
    let error = error_before_any_ucall(&mut vm("selftests_token_outside_default_link"));
    assert!(
        matches!(error, selftests::Error::TokenOutsidePool { token, pool_end, .. } if token == pool_end),
        "{error}"
    );
}

/// A guest that faults, on every architecture: vCPU 0 through vectors of its own, vCPU 1
/// through the host's handlers.
mod exceptions {
    use super::*;

    /// Where `selftests_unhandled.c` faults: its global label `pool_fault_here`.
    fn fault_address(name: &str) -> u64 {
        let elf = guest(name);
        let parsed = goblin::elf::Elf::parse(&elf).unwrap();
        parsed
            .syms
            .iter()
            .find(|sym| parsed.strtab.get_at(sym.st_name) == Some("pool_fault_here"))
            .map(|sym| sym.st_value)
            .expect("the guest has pool_fault_here")
    }

    /// What vCPU 0 of `selftests_unhandled.c` reports from its own vectors for the `ud2` at
    /// `fault`, as the x86_64 selftests library does: an ABORT naming the vector (#UD) and RIP.
    #[cfg(target_arch = "x86_64")]
    fn own_vectors_report(fault: u64) -> Ucall {
        Ucall::Abort(Abort {
            message: format!("Unhandled exception '0x6' at guest RIP '{fault:#x}'"),
            file: Some("selftests_unhandled.c".into()),
            line: 74,
            column: None,
        })
    }

    /// What the aarch64 selftests library reports for `udf`: the vector-table entry (4:
    /// current EL on SP_ELx, synchronous), with the exception class (0, unknown reason) in
    /// ESR_EL1's place.
    #[cfg(target_arch = "aarch64")]
    const OWN_VECTOR: u64 = 4;

    /// What the riscv64 selftests library reports for `ebreak`: an exception (not an
    /// interrupt) of cause 3 (breakpoint), which the host reports as `scause`.
    #[cfg(target_arch = "riscv64")]
    const OWN_VECTOR: u64 = 3;

    /// What vCPU 0 of `selftests_unhandled.c` reports from its own vectors on aarch64 and
    /// riscv64, as their selftests libraries do: UNHANDLED with [`OWN_VECTOR`] and no
    /// addresses (the libraries send none), sent by the guest.
    #[cfg(not(target_arch = "x86_64"))]
    fn own_vectors_report(_fault: u64) -> Ucall {
        Ucall::Unhandled(ucall_host::decode::Unhandled {
            vector: OWN_VECTOR,
            instruction_address: 0,
            error_code: 0,
            fault_address: 0,
            sent_by: ucall_host::decode::Sender::Guest,
        })
    }

    #[test]
    fn an_exception_is_reported_as_the_selftests_vectors_report_it_and_the_hosts_handlers_still_serve()
     {
        let name = "selftests_unhandled_default_link";
        let fault = fault_address(name);
        let mut vm = build(name, ConventionKind::Auto, TransportKind::Auto, 2).unwrap();
        let mut vcpus = vm.take_vcpus().into_iter();
        let (own, own_error) = ucalls_until_end(&mut vcpus.next().unwrap());
        assert!(own_error.is_none(), "{own_error:?}");
        assert_eq!(own[1..], [own_vectors_report(fault)]);
        // vCPU 1 installed no vectors: the host's handler reports, in the seed layout.
        let (host, host_error) = ucalls_until_end(&mut vcpus.next().unwrap());
        assert!(host_error.is_none(), "{host_error:?}");
        let [_, Ucall::Unhandled(unhandled)] = &host[..] else {
            panic!("SYNC, then UNHANDLED: {host:?}");
        };
        assert_eq!(unhandled.instruction_address, fault);
    }
}

/// riscv64's other exit of the convention: a trap vector's report of a trap it has no handler
/// for (the ucall SBI call with a6 = 1), which carries no record, ends the vCPU with an error
/// after the ucalls before it.
#[cfg(target_arch = "riscv64")]
#[test]
fn a_trap_reported_without_a_record_ends_the_vcpu_with_the_unexpected_trap_error() {
    let (stage, error) = one_sync_then_error("selftests_unexpected_trap_default_link");
    assert_eq!(stage, 1);
    assert!(
        matches!(error, selftests::Error::UnexpectedTrap { function: 1 }),
        "{error}"
    );
}

/// The convention has no replies: a reply to a pool ucall is refused, and the guest finds its
/// record and registers (x86_64's `rsi`, where a seed reply over port I/O goes) as they were.
#[test]
fn a_reply_to_a_pool_ucall_is_refused_and_changes_nothing_in_the_guest() {
    let mut vcpu = vm("selftests_reply_default_link").take_vcpus().remove(0);
    let sync = vcpu.next_ucall().unwrap();
    assert_eq!(
        sync,
        Ucall::Sync {
            args: [0, 1, 0, 0, 0, 0]
        }
    );
    let replied = vcpu.reply([0xbad; 6]);
    assert!(
        matches!(
            replied,
            Err(RunError::NoReplies {
                vcpu: 0,
                convention: ConventionKind::Selftests
            })
        ),
        "{replied:?}"
    );
    let (ucalls, error) = ucalls_until_end(&mut vcpu);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(ucalls, [Ucall::Done]);
}

#[test]
fn a_rust_guest_with_the_pool_feature_makes_its_ucalls_through_the_pool() {
    let mut vm = vm("pool_guest");
    assert_eq!(vm.convention(), ConventionKind::Selftests);
    let (ucalls, error) = run(&mut vm);
    assert!(error.is_none(), "{error:?}");
    assert_eq!(
        ucalls,
        [
            Ucall::Printf("hello from the pool on vCPU 0\nsecond line".into()),
            Ucall::Sync {
                args: [1, 2, 3, 4, 5, 6]
            },
            Ucall::Done,
        ]
    );
}
