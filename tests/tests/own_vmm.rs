//! A VMM that owns its VM, memory and run loop, borrowing only ucall-host's public pieces: the
//! loader, the architecture's guest setup, the probe, paging and decode. What it gets is what
//! the built-in run loop gets, on each architecture.

use kvm_ioctls::{Kvm, VcpuExit};
use ucall_host::decode::{Exit, Transport, decode};
use ucall_host::paging::{Mapping, MemoryKind, PageSize, PageTables};
use ucall_host::probe::find_mmio_address;
use ucall_host::vm::{ELF_MACHINE, GuestImage, TransportKind, register_memory, write_global};
use ucall_host::{Error, Ucall};
use vm_memory::{GuestAddress, GuestMemoryMmap};

#[cfg(target_arch = "aarch64")]
use ucall_host::vm::aarch64 as arch;
#[cfg(target_arch = "x86_64")]
use ucall_host::vm::x86_64 as arch;

const RAM_SIZE: u64 = 32 << 20;

/// Runs guest `name` in a VM set up with the public helpers, to DONE or ABORT.
fn run_in_own_vm(name: &str, transport: TransportKind) -> Result<Vec<Ucall>, Error> {
    let kvm = Kvm::new().unwrap();
    let vm = arch::create_vm(&kvm)?;
    let ram = arch::LAYOUT.ram_base..arch::LAYOUT.ram_base + RAM_SIZE;
    let memory =
        GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(ram.start), RAM_SIZE as usize)])
            .unwrap();
    register_memory(&vm, &memory)?;
    let elf = ucall_tests::guest(name);
    let image = GuestImage::parse(&elf, ELF_MACHINE)?;
    image.load(&memory)?;
    let (widths, format) = arch::address_widths(&kvm)?;
    let space = arch::LAYOUT.tables;
    let mut tables = PageTables::new(
        &memory,
        format,
        GuestAddress(space.start),
        space.end - space.start,
    )?;
    tables.identity_map(&memory, ram.clone(), MemoryKind::Normal)?;
    let transport = match transport {
        TransportKind::Mmio => {
            let gpa = find_mmio_address(&memory, &format, tables.root(), widths, |_| false)?;
            let page = Mapping {
                gva: gpa,
                gpa,
                size: PageSize::Size4K,
                kind: MemoryKind::Device,
            };
            tables.map(&memory, page)?;
            write_global(&memory, &image, ucall_abi::MMIO_ADDR_SYMBOL, gpa)?;
            Transport::mmio(gpa)
        }
        TransportKind::Pio => Transport::pio(),
    };
    arch::setup_memory(&memory)?;
    let mut vcpu = vm.create_vcpu(0).unwrap();
    arch::setup_vcpu(
        &kvm,
        &vm,
        &mut vcpu,
        0,
        image.entry(),
        ram.end,
        tables.root(),
    )?;

    let mut ucalls = Vec::new();
    loop {
        let mut stored = [0u8; 8];
        let exit = match vcpu.run().unwrap() {
            VcpuExit::IoIn(port, data) => Exit::PioIn {
                port,
                size: data.len(),
            },
            VcpuExit::MmioWrite(gpa, data) => {
                stored[..data.len().min(8)].copy_from_slice(&data[..data.len().min(8)]);
                Exit::MmioWrite {
                    gpa,
                    data: &stored[..data.len().min(8)],
                }
            }
            other => panic!("guest {name} made an exit that is no ucall: {other:?}"),
        };
        let record = transport
            .record_address(&exit, || record_register(&mut vcpu))?
            .expect("a ucall exit");
        let root = arch::page_table_root(&mut vcpu, 0)?;
        let ucall = decode(&memory, &format, root, record)?;
        let end = matches!(ucall, Ucall::Done | Ucall::Abort(_));
        ucalls.push(ucall);
        if end {
            return Ok(ucalls);
        }
    }
}

/// `rdi` for port I/O ucalls; aarch64 has none (its ucalls are MMIO).
fn record_register(vcpu: &mut kvm_ioctls::VcpuFd) -> u64 {
    #[cfg(target_arch = "x86_64")]
    return arch::record_register(vcpu);
    #[cfg(target_arch = "aarch64")]
    {
        let _ = vcpu;
        unreachable!("aarch64 ucalls carry the record address in the MMIO write")
    }
}

#[test]
fn own_vm_with_the_public_setup_gets_the_same_ucalls_as_the_built_in_loop() {
    for &transport in ucall_tests::transports() {
        let own = run_in_own_vm("demo", transport).unwrap();
        let built_in = ucall_tests::run("demo", transport);
        assert_eq!(own, built_in, "over {transport:?}");
    }
}
