//! A VMM that owns its VM, memory and run loop, borrowing only ucall-host's public pieces: the
//! loader, the x86_64 long-mode setup, paging and decode. What it gets is what the built-in run
//! loop gets.
#![cfg(target_arch = "x86_64")]

use kvm_ioctls::{Kvm, VcpuExit};
use ucall_host::decode::{Exit, Transport, decode};
use ucall_host::paging::{MemoryKind, PageTables};
use ucall_host::vm::{ELF_MACHINE, GuestImage, register_memory, x86_64};
use ucall_host::{Error, Ucall};
use vm_memory::{GuestAddress, GuestMemoryMmap};

const RAM: u64 = 32 << 20;

/// Runs guest `name` over port I/O in a VM set up with the public helpers, to DONE or ABORT.
fn run_in_own_vm(name: &str) -> Result<Vec<Ucall>, Error> {
    let kvm = Kvm::new().unwrap();
    let vm = kvm.create_vm().unwrap();
    let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM as usize)]).unwrap();
    register_memory(&vm, &memory)?;
    let elf = ucall_tests::guest(name);
    let image = GuestImage::parse(&elf, ELF_MACHINE)?;
    image.load(&memory)?;
    let (_, format) = x86_64::address_widths(&kvm)?;
    let space = x86_64::LAYOUT.tables;
    let mut tables = PageTables::new(
        &memory,
        format,
        GuestAddress(space.start),
        space.end - space.start,
    )?;
    tables.identity_map(&memory, 0..RAM, MemoryKind::Normal)?;
    x86_64::setup_memory(&memory)?;
    let mut vcpu = vm.create_vcpu(0).unwrap();
    x86_64::setup_vcpu(&kvm, &vm, &mut vcpu, 0, image.entry(), RAM, tables.root())?;

    let transport = Transport::pio();
    let mut ucalls = Vec::new();
    loop {
        let exit = match vcpu.run().unwrap() {
            VcpuExit::IoIn(port, data) => Exit::PioIn {
                port,
                size: data.len(),
            },
            other => panic!("guest {name} made an exit that is no ucall: {other:?}"),
        };
        let record = transport
            .record_address(&exit, || x86_64::record_register(&mut vcpu))?
            .expect("an in on the ucall port");
        let root = x86_64::page_table_root(&mut vcpu, 0)?;
        let ucall = decode(&memory, &format, root, record)?;
        let end = matches!(ucall, Ucall::Done | Ucall::Abort(_));
        ucalls.push(ucall);
        if end {
            return Ok(ucalls);
        }
    }
}

#[test]
fn own_vm_with_the_public_long_mode_setup_gets_the_same_ucalls_as_the_built_in_loop() {
    let own = run_in_own_vm("demo").unwrap();
    let built_in = ucall_tests::run("demo", ucall_host::vm::TransportKind::Pio);
    assert_eq!(own, built_in);
}
