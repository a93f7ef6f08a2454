//! A VMM that owns its VM, memory and run loop, borrowing only ucall-host's public pieces: the
//! loader, the architecture's guest setup, the MMIO page set-up, the exit mapping and decode.
//! What it gets is what the built-in run loop gets, on each architecture.

use kvm_ioctls::{Kvm, VcpuExit};
use ucall_host::arch::{Arch, Native as NativeArch};
use ucall_host::decode::{Exit, Transport, decode};
use ucall_host::paging::{GuestView, MemoryKind, PageTables};
use ucall_host::probe::install_mmio_page;
use ucall_host::vm::arch::{KvmArch, Native, VcpuStart};
use ucall_host::vm::{
    GuestImage, Layout, LayoutRequest, SetupError, TransportKind, register_memory,
};
use ucall_host::{Error, Ucall};
use vm_memory::{GuestAddress, GuestMemoryMmap};

const RAM_SIZE: u64 = 32 << 20;
const STACK_SIZE: u64 = 64 << 10;

/// Runs guest `name` in a VM set up with the public helpers, to DONE or ABORT.
fn run_in_own_vm(name: &str, transport: TransportKind) -> Result<Vec<Ucall>, Error> {
    let elf = ucall_tests::guest(name);
    let image = GuestImage::parse(&elf, NativeArch::ELF_MACHINE)?;
    // Declared before `vm`, so dropped after it: KVM maps it into the VM.
    let memory: GuestMemoryMmap;
    let kvm = Kvm::new().unwrap();
    let (arch, vm) = Native::create_vm(&kvm)?;
    let segments: Vec<_> = image.segments().iter().map(|s| s.gpa.clone()).collect();
    let layout = Layout::plan(
        &segments,
        &LayoutRequest::new::<NativeArch>(arch.address_widths(), RAM_SIZE, STACK_SIZE),
    )
    .map_err(SetupError::from)?;
    let ram = layout.ram.clone();
    memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(ram.start), RAM_SIZE as usize)])
        .unwrap();
    // SAFETY: `memory` is declared before `vm`, so it is dropped after it.
    unsafe { register_memory(&vm, &memory)? };
    image.load(&memory)?;
    let format = arch.page_table_format();
    let space = layout.tables.clone();
    let mut tables = PageTables::new(
        &memory,
        format,
        GuestAddress(space.start),
        space.end - space.start,
    )?;
    tables.identity_map(&memory, ram.clone(), MemoryKind::Normal)?;
    let transport = match transport {
        TransportKind::Mmio => {
            let global = image.writable_symbol_gpa(ucall_abi::MMIO_ADDR_SYMBOL, 8)?;
            let global = GuestAddress(global);
            install_mmio_page(
                &memory,
                &mut tables,
                arch.address_widths(),
                |_| false,
                global,
            )?
        }
        TransportKind::Pio => Transport::pio(),
        TransportKind::Sbi => Transport::sbi(),
        _ => unreachable!("the test names its transport"),
    };
    // `ucall-guest`'s rooted ucalls on riscv64 are SBI calls whatever the transport, as the
    // builder serves them.
    let transport = Transport {
        sbi_extension: NativeArch::SBI_CALLS.then_some(ucall_abi::SBI_EXTENSION),
        ..transport
    };
    let host_area = GuestAddress(layout.host_area.start);
    arch.setup_memory(&memory, host_area)?;
    let mut vcpu = vm.create_vcpu(0).unwrap();
    let start = VcpuStart {
        index: 0,
        entry: image.entry(),
        stack_top: ram.end,
        root: tables.root(),
        host_area,
    };
    arch.setup_vcpu(&mut vcpu, &start)?;

    let mut ucalls = Vec::new();
    loop {
        let exit = match vcpu.run().unwrap() {
            // An exit kvm-ioctls does not decode (riscv64's SBI calls): the architecture's.
            VcpuExit::Unsupported(reason) => Native::other_exit(&mut vcpu, reason),
            kvm_exit => Exit::from_kvm(&kvm_exit),
        };
        let exit = exit.unwrap_or_else(|| panic!("guest {name} made an exit that is no ucall"));
        let located = transport
            .locate(&exit, &memory, || {
                Native::record_register(&mut vcpu).expect("a register-carried ucall")
            })?
            .expect("a ucall exit");
        // A rooted ucall names its tables; a plain one runs on the vCPU's.
        let (format, root) = match located.root {
            Some(root) => Native::carried_tables(root, format).expect("a walkable root"),
            None => Native::live_tables(&mut vcpu, format).expect("the live tables"),
        };
        let ucall = decode(&GuestView::new(&memory, &format, root), located.record)?;
        let end = ucall.is_final();
        ucalls.push(ucall);
        if end {
            return Ok(ucalls);
        }
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
