//! Real guests under real KVM: what a guest sends is what the host gets.
//!
//! Every scenario here runs on each architecture the suite is built for.

use ucall_host::Ucall;
use ucall_host::decode::Abort;
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
use ucall_host::vm::ShutdownReason;
use ucall_host::vm::{RunError, TransportKind};
use ucall_tests::{run, run_test, transports, ucalls_until_end, vm};

fn sync(args: [u64; 6]) -> Ucall {
    Ucall::Sync { args }
}

fn expected_stages() -> Vec<Ucall> {
    let mut expected: Vec<Ucall> = (1..=5)
        .map(|stage| sync([stage, stage * 100, 0, 0, 0, 0]))
        .collect();
    expected.push(Ucall::Done);
    expected
}

#[test]
fn sync_stages_arrive_in_order_with_their_arguments_over_mmio() {
    assert_eq!(run("sync_stages", TransportKind::Mmio), expected_stages());
}

#[cfg(target_arch = "x86_64")]
#[test]
fn sync_stages_arrive_in_order_with_their_arguments_over_pio() {
    assert_eq!(run("sync_stages", TransportKind::Pio), expected_stages());
}

#[cfg(target_arch = "riscv64")]
#[test]
fn sync_stages_arrive_in_order_with_their_arguments_over_sbi_calls() {
    assert_eq!(run("sync_stages", TransportKind::Sbi), expected_stages());
}

#[test]
fn a_vcpu_that_sent_done_does_not_run_again() {
    let mut vcpu = vm("sync_stages", TransportKind::Mmio, 1)
        .take_vcpus()
        .remove(0);
    ucalls_until_end(&mut vcpu);
    assert!(matches!(
        vcpu.next_ucall(),
        Err(RunError::Finished { vcpu: 0 })
    ));
}

#[test]
fn printf_text_arrives_exactly() {
    for &transport in transports() {
        let ucalls = run("printf", transport);
        assert_eq!(
            ucalls,
            [
                Ucall::Printf("hello host from 0xc0ffee".into()),
                Ucall::Done
            ]
        );
    }
}

#[test]
fn printf_longer_than_the_string_bound_is_cut_to_1023_bytes() {
    let ucalls = run("printf_long", TransportKind::Mmio);
    assert_eq!(ucalls, [Ucall::Printf("x".repeat(1023)), Ucall::Done]);
}

#[test]
fn failed_guest_assert_eq_aborts_with_both_values_file_and_line() {
    let ucalls = run_test(
        "aborting_tests",
        "tests::assert_eq_fails",
        TransportKind::Mmio,
    );
    let abort = Abort {
        message: "assertion `left == right` failed: two + 1 == 4\n  left: 3\n right: 4".into(),
        file: Some("src/bin/aborting_tests.rs".into()),
        line: 16,
        column: Some(9),
    };
    assert_eq!(ucalls, [sync([1, 0, 0, 0, 0, 0]), Ucall::Abort(abort)]);
}

#[test]
fn failed_guest_assert_aborts_with_the_condition() {
    let ucalls = run("assert_fails", TransportKind::Mmio);
    let abort = Abort {
        message: "Failed guest assert: vcpu > 7".into(),
        file: Some("src/bin/assert_fails.rs".into()),
        line: 8,
        column: Some(5),
    };
    assert_eq!(ucalls, [Ucall::Abort(abort)]);
}

#[test]
fn panic_aborts_with_its_message_and_location() {
    let ucalls = run_test("aborting_tests", "tests::panics", TransportKind::Mmio);
    let abort = Abort {
        message: "stage 3 went wrong".into(),
        file: Some("src/bin/aborting_tests.rs".into()),
        line: 25,
        column: Some(9),
    };
    assert_eq!(ucalls, [Ucall::Abort(abort)]);
}

#[test]
fn four_vcpus_make_1000_ucalls_each_none_lost_and_in_order() {
    for &transport in transports() {
        let mut vm = vm("many_ucalls", transport, 4);
        let threads: Vec<_> = vm
            .take_vcpus()
            .into_iter()
            .map(|mut vcpu| std::thread::spawn(move || (vcpu.index(), ucalls_until_end(&mut vcpu))))
            .collect();
        for thread in threads {
            let (index, (ucalls, error)) = thread.join().expect("vCPU thread");
            assert!(error.is_none(), "vCPU {index}: {error:?}");
            let mut expected: Vec<Ucall> = (0..1000)
                .map(|seq| sync([index as u64, seq, 0, 0, 0, 0]))
                .collect();
            expected.push(Ucall::Done);
            assert_eq!(ucalls, expected, "vCPU {index} over {transport:?}");
        }
    }
}

#[test]
fn probed_mmio_address_is_in_no_memslot_within_the_usable_width_and_identity_mapped() {
    let vm = vm("sync_stages", TransportKind::Mmio, 1);
    let gpa = vm
        .transport()
        .mmio_gpa
        .expect("MMIO transport has an address");
    assert!(!ucall_host::probe::is_backed(vm.memory(), gpa));
    assert!(gpa < 1 << vm.address_widths().usable_bits());
    assert_eq!(
        vm.page_tables()
            .view(vm.memory())
            .translate(gpa)
            .expect("mapped")
            .gpa,
        gpa
    );
}

#[test]
fn mmio_address_is_published_in_the_guest_global() {
    use ucall_host::arch::{Arch, Native};
    use vm_memory::{Bytes, GuestAddress};
    let elf = ucall_tests::guest("sync_stages");
    let symbol = ucall_host::vm::GuestImage::parse(&elf, <Native as Arch>::ELF_MACHINE)
        .and_then(|image| image.symbol_gpa(ucall_abi::MMIO_ADDR_SYMBOL))
        .expect("the guest has the symbol");
    let vm = vm("sync_stages", TransportKind::Mmio, 1);
    let published: u64 = vm
        .memory()
        .read_obj(GuestAddress(symbol))
        .expect("symbol in memory");
    assert_eq!(Some(published), vm.transport().mmio_gpa);
}

/// What `seed_guest.c` sends: two SYNCs with the address of "hello" and the stage, then the
/// ABORT of its failing CHECK.
fn assert_seed_guest_ucalls(ucalls: &[Ucall]) {
    let [
        Ucall::Sync { args: first },
        Ucall::Sync { args: second },
        Ucall::Abort(abort),
    ] = ucalls
    else {
        panic!("unexpected ucalls {ucalls:?}");
    };
    assert_eq!((first[1], second[1]), (1, 2));
    assert_eq!(first[0], second[0]);
    let expected = Abort {
        message: "Failed guest assert: answer == 42".into(),
        file: None,
        line: 52,
        column: None,
    };
    assert_eq!(abort, &expected);
}

#[test]
fn guest_written_in_c_to_the_seeds_conventions_decodes() {
    assert_seed_guest_ucalls(&run("seed_guest", TransportKind::Mmio));
}

#[test]
fn c_guest_in_the_seeds_conventions_linked_where_gcc_links_runs_with_default_settings() {
    assert_seed_guest_ucalls(&run("seed_guest_default_link", TransportKind::Auto));
}

/// What `header_guest.c` sends: a PRINTF, two calls whose arguments come back unchanged, and
/// the ABORT of its failing CHECK.
fn header_guest_ucalls() -> Vec<Ucall> {
    vec![
        Ucall::Printf("hello from C, through ucall.h".into()),
        sync([1, 2, 3, 4, 5, 6]),
        sync([1, 2, 3, 4, 5, 6]),
        Ucall::Abort(Abort {
            message: "Failed guest assert: answer == 42".into(),
            file: Some("header_guest.c".into()),
            line: 19,
            column: None,
        }),
    ]
}

#[test]
fn c_guest_built_against_ucall_h_runs_over_every_transport() {
    for &transport in transports().iter().chain(&[TransportKind::Auto]) {
        assert_eq!(
            run("header_guest", transport),
            header_guest_ucalls(),
            "{transport:?}"
        );
    }
}

#[test]
fn c_guest_built_against_ucall_h_linked_where_gcc_links_runs_with_default_settings() {
    assert_eq!(
        run("header_guest_default_link", TransportKind::Auto),
        header_guest_ucalls()
    );
}

#[test]
fn ram_starts_at_the_gib_below_the_image_and_the_host_keeps_off_its_segments() {
    use ucall_host::arch::{Arch, Native};
    // gcc links at 0x400000; the guest crate's linker script at 2 MiB (x86_64) or
    // 1 GiB + 2 MiB (aarch64) or 2 GiB + 2 MiB (riscv64).
    let ours = match std::env::consts::ARCH {
        "aarch64" => 0x4000_0000,
        "riscv64" => 0x8000_0000,
        _ => 0,
    };
    for (name, ram_start) in [("seed_guest_default_link", 0), ("seed_guest", ours)] {
        let elf = ucall_tests::guest(name);
        let image = ucall_host::vm::GuestImage::parse(&elf, <Native as Arch>::ELF_MACHINE)
            .expect("the guest parses");
        let vm = vm(name, TransportKind::Auto, 1);
        let layout = vm.layout();
        assert_eq!(layout.ram.start, ram_start, "{name}");
        assert_eq!(layout.check(image.segments()).ok(), Some(()), "{name}");
        assert_eq!(layout.host_area.start, ram_start + 0x1000, "{name}");
    }
}

#[test]
fn auto_serves_port_io_or_sbi_calls_where_they_exist_and_mmio_when_the_guest_has_the_symbol() {
    let vm = vm("sync_stages", TransportKind::Auto, 1);
    let transport = vm.transport();
    assert!(transport.mmio_gpa.is_some());
    let pio = cfg!(target_arch = "x86_64").then_some(ucall_abi::PIO_PORT);
    assert_eq!(transport.pio_port, pio);
    let sbi = cfg!(target_arch = "riscv64").then_some(ucall_abi::SBI_EXTENSION);
    assert_eq!(transport.sbi_extension, sbi);
}

#[test]
fn a_guest_that_spins_is_stopped_by_the_watchdog() {
    let elf = ucall_tests::guest("spins");
    let timeout = std::time::Duration::from_millis(300);
    let mut vm = ucall_host::vm::VmBuilder::new(&elf)
        .timeout(timeout)
        .build()
        .expect("VM");
    let mut vcpu = vm.take_vcpus().remove(0);
    assert!(
        matches!(vcpu.next_ucall(), Err(RunError::Timeout { vcpu: 0, after }) if after == timeout)
    );
}

#[test]
fn the_documented_guest_program_runs_as_documented() {
    let ucalls = run("readme", TransportKind::Mmio);
    let expected = [
        Ucall::Printf("hello from vCPU 0".into()),
        sync([1, 2, 3, 0, 0, 0]),
        Ucall::Done,
    ];
    assert_eq!(ucalls, expected);
}

#[cfg(target_arch = "x86_64")]
#[test]
fn completing_pending_io_leaves_rip_after_the_ucall_instruction() {
    let mut vcpu = vm("sync_stages", TransportKind::Pio, 1)
        .take_vcpus()
        .remove(0);
    assert_eq!(
        vcpu.next_ucall().expect("first SYNC"),
        sync([1, 100, 0, 0, 0, 0])
    );
    let before = vcpu.fd().get_regs().expect("registers").rip;
    ucall_host::vm::complete_pending_io(vcpu.fd()).expect("complete I/O");
    let after = vcpu.fd().get_regs().expect("registers").rip;
    // `in al, dx` is one byte long; KVM advances RIP past it when the I/O completes.
    assert_eq!(after, before + 1);
    assert_eq!(
        vcpu.next_ucall().expect("second SYNC"),
        sync([2, 200, 0, 0, 0, 0])
    );
}

#[test]
fn a_guest_that_faults_is_reported_as_unhandled_not_a_hang() {
    let (ucalls, error) =
        ucalls_until_end(&mut vm("faults", TransportKind::Mmio, 1).take_vcpus().remove(0));
    assert!(error.is_none(), "{error:?}");
    // x86_64: #PF (14); aarch64: a synchronous exception at the current EL (entry 4); riscv64:
    // scause 13, a load page fault.
    let vector = match std::env::consts::ARCH {
        "x86_64" => 14,
        "riscv64" => 13,
        _ => 4,
    };
    assert!(
        matches!(&ucalls[..], [Ucall::Unhandled(u)] if u.vector == vector && u.fault_address == 0x7000_0000_0000),
        "{ucalls:?}"
    );
}

#[test]
fn a_call_to_a_host_that_does_not_answer_returns_the_arguments_sent() {
    for &transport in transports() {
        let ucalls = run("replies", transport);
        let expected = [
            sync([40, 2, 0, 0, 0, 0]),
            sync([40, 2, 0, 0, 0, 0]),
            Ucall::Done,
        ];
        assert_eq!(ucalls, expected, "over {transport:?}");
    }
}

/// PSCI SYSTEM_OFF on aarch64, SBI system reset of type shutdown on riscv64.
#[cfg(any(target_arch = "aarch64", target_arch = "riscv64"))]
#[test]
fn system_off_ends_the_run_as_a_shutdown() {
    let mut vcpu = vm("system_off", TransportKind::Mmio, 1)
        .take_vcpus()
        .remove(0);
    let error = vcpu.next_ucall().expect_err("the guest powers off");
    assert!(
        matches!(
            error,
            RunError::Shutdown {
                vcpu: 0,
                reason: ShutdownReason::PowerOff
            }
        ),
        "{error}"
    );
}

/// The transports this architecture does not offer.
fn missing_transports() -> Vec<TransportKind> {
    [TransportKind::Pio, TransportKind::Sbi, TransportKind::Mmio]
        .into_iter()
        .filter(|t| !transports().contains(t))
        .collect()
}

#[test]
fn a_transport_the_architecture_lacks_is_a_typed_error() {
    let elf = ucall_tests::guest("sync_stages");
    for transport in missing_transports() {
        let result = ucall_host::vm::VmBuilder::new(&elf)
            .transport(transport)
            .build();
        assert!(
            matches!(
                result,
                Err(ucall_host::vm::SetupError::UnsupportedTransport { transport: t, arch })
                    if t == transport && arch == std::env::consts::ARCH
            ),
            "{transport:?}"
        );
    }
}

#[test]
fn records_decode_through_the_built_tables_when_asked() {
    let elf = ucall_tests::guest("sync_stages");
    let mut vm = ucall_host::vm::VmBuilder::new(&elf)
        .table_root(ucall_host::vm::TableRoot::Built)
        .build()
        .expect("VM");
    let (ucalls, error) = ucalls_until_end(&mut vm.take_vcpus().remove(0));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(ucalls, expected_stages());
}
