//! The test's own exits: `next_event` returns MMIO and port I/O that are not ucalls, and the
//! test supplies what the reads return; `next_ucall` keeps calling them unexpected.

use ucall_host::Ucall;
use ucall_host::decode::Exit;
use ucall_host::vm::{Event, ExitKind, RunError, TransportKind};
use ucall_tests::vm;

const PORT_VALUE: u8 = 0x2a;
const MMIO_VALUE: u32 = 0xfeed_f00d;

#[test]
fn a_test_drives_its_own_port_and_mmio_device_through_next_event() {
    let mut vm = vm("own_devices", TransportKind::Mmio, 1);
    let mmio = vm.transport().mmio_gpa.expect("MMIO transport");
    let mut vcpu = vm.take_vcpus().remove(0);
    let mut events = Vec::new();
    loop {
        let event = vcpu.next_event().expect("an event");
        match event {
            Event::Exit(Exit::PioIn { port: 0x60, .. }) => {
                vcpu.answer_read(&[PORT_VALUE]).expect("answer the in")
            }
            Event::Exit(Exit::MmioRead { .. }) => vcpu
                .answer_read(&MMIO_VALUE.to_le_bytes())
                .expect("answer the read"),
            _ => {}
        }
        let end = matches!(event, Event::Ucall(Ucall::Done));
        events.push(event);
        if end {
            break;
        }
    }
    let mut expected = Vec::new();
    if cfg!(target_arch = "x86_64") {
        expected.extend([
            Event::Exit(Exit::PioOut {
                port: 0x3f8,
                size: 1,
            }),
            Event::Exit(Exit::PioIn {
                port: 0x60,
                size: 1,
            }),
        ]);
    }
    let port = if cfg!(target_arch = "x86_64") {
        PORT_VALUE.into()
    } else {
        0
    };
    expected.extend([
        Event::Exit(Exit::MmioRead {
            gpa: mmio + 16,
            len: 4,
        }),
        Event::Exit(Exit::mmio_write(mmio + 24, &0xabcdu32.to_le_bytes())),
        Event::Ucall(Ucall::Sync {
            args: [port, MMIO_VALUE.into(), 0, 0, 0, 0],
        }),
        Event::Ucall(Ucall::Done),
    ]);
    assert_eq!(events, expected);
}

#[test]
fn data_of_the_wrong_length_for_a_read_is_refused() {
    let mut vm = vm("own_devices", TransportKind::Mmio, 1);
    let mmio = vm.transport().mmio_gpa.expect("MMIO transport");
    let mut vcpu = vm.take_vcpus().remove(0);
    let read = Exit::MmioRead {
        gpa: mmio + 16,
        len: 4,
    };
    while vcpu.next_event().expect("an event") != Event::Exit(read) {}
    let err = vcpu.answer_read(&[0; 8]).unwrap_err();
    assert!(
        matches!(err, RunError::ReadLength { vcpu: 0, exit, given: 8 } if exit == read),
        "{err}"
    );
}

#[test]
fn next_ucall_still_reports_a_device_access_as_an_unexpected_exit() {
    let mut vm = vm("own_devices", TransportKind::Mmio, 1);
    let mmio = vm.transport().mmio_gpa.expect("MMIO transport");
    let mut vcpu = vm.take_vcpus().remove(0);
    let first = if cfg!(target_arch = "x86_64") {
        Exit::PioOut {
            port: 0x3f8,
            size: 1,
        }
    } else {
        Exit::MmioRead {
            gpa: mmio + 16,
            len: 4,
        }
    };
    let err = vcpu.next_ucall().unwrap_err();
    assert!(
        matches!(err, RunError::UnexpectedExit { vcpu: 0, exit: ExitKind::Access(e) } if e == first),
        "{err}"
    );
}
