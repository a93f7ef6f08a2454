//! A VMM of its own that serves ucalls with ucall-host's pieces and nothing else of it.
//!
//! Everything a VMM normally owns is written here, directly on `kvm-ioctls` and `vm-memory`:
//! the guest memory and its memory slot, the VM, the x86_64 long-mode state of the vCPU (GDT,
//! TSS and segments, spelled with the `x86_64` crate's types and flags), and the vCPU loop with
//! its own exit match. From `ucall-host` it takes only:
//!
//! - [`GuestImage`] to check and load the guest ELF and find the `ucall_exit_mmio_addr` global,
//!   and [`Layout::check`] to refuse a guest whose segments lie on this VMM's own structures;
//! - [`PageTables`] to build the guest's identity-mapped page tables;
//! - [`install_mmio_page`] to choose, map and publish the ucall MMIO address;
//! - [`Exit::from_kvm`], [`Transport`] and [`decode`] to turn exits into typed ucalls;
//! - the long mode's control-register values (`ucall_host::arch::x86_64::LONG_MODE_CR0` and
//!   its neighbours), which are facts of the architecture rather than of a VMM.
//!
//! ```text
//! cargo run -p ucall-host --example foreign_vmm -- [--pio | --mmio] path/to/guest.elf
//! ```
//!
//! It prints one line per ucall and exits with 0 on DONE, 1 on ABORT and 2 on any error, like
//! `ucall-run`. `cargo xtask test` runs it on the demo guest with both transports.

#[cfg(target_arch = "x86_64")]
fn main() -> std::process::ExitCode {
    long_mode::main()
}

#[cfg(not(target_arch = "x86_64"))]
fn main() -> std::process::ExitCode {
    eprintln!("foreign_vmm: this example sets up an x86_64 vCPU; run it on an x86_64 host");
    std::process::ExitCode::from(2)
}

#[cfg(target_arch = "x86_64")]
mod long_mode {
    use kvm_bindings::{KVM_MAX_CPUID_ENTRIES, kvm_regs, kvm_segment, kvm_userspace_memory_region};
    use kvm_ioctls::{Kvm, VcpuExit, VcpuFd};
    use std::error::Error;
    use std::process::ExitCode;
    use ucall_host::Ucall;
    use ucall_host::arch::x86_64::{LONG_MODE_CR0, LONG_MODE_CR4, LONG_MODE_EFER};
    use ucall_host::decode::{Exit, Transport, decode};
    use ucall_host::paging::x86_64::X86_64;
    use ucall_host::paging::{MemoryKind, PageTables};
    use ucall_host::probe::{AddressWidths, install_mmio_page};
    use ucall_host::vm::{GuestImage, Layout};
    use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};
    use x86_64::registers::segmentation::SegmentSelector;
    use x86_64::structures::gdt::{Descriptor, DescriptorFlags, GlobalDescriptorTable};
    use x86_64::structures::tss::TaskStateSegment;

    /// The ELF machine of x86_64 guests (`EM_X86_64`).
    const ELF_MACHINE: u16 = 62;

    /// This VMM's own guest-physical layout: 32 MiB of RAM from 0, descriptor tables in the
    /// first pages, page tables below 1 MiB, the guest (linked at 2 MiB) above, the stack at the
    /// top.
    const RAM_SIZE: u64 = 32 << 20;
    const GDT: u64 = 0x1000;
    const TSS: u64 = 0x2000;
    const PAGE_TABLES: std::ops::Range<u64> = 0x1_0000..0x10_0000;
    const STACK: std::ops::Range<u64> = RAM_SIZE - 0x1_0000..RAM_SIZE;

    /// The system-segment type of a busy 64-bit TSS (SDM Vol. 3A 3.5): what TR must hold.
    const BUSY_TSS64: u8 = 0b1011;
    /// RFLAGS with nothing set but bit 1, which always reads as 1 (and has no name).
    const RFLAGS_RESERVED_1: u64 = 1 << 1;

    /// The GDT and the selectors of its segments.
    struct Gdt {
        table: GlobalDescriptorTable<5>,
        code: SegmentSelector,
        data: SegmentSelector,
        tss: SegmentSelector,
    }

    /// Flat 64-bit kernel code and data segments, and the TSS at `TSS`.
    fn gdt() -> Gdt {
        let mut table = GlobalDescriptorTable::empty();
        let code = table.append(Descriptor::kernel_code_segment());
        let data = table.append(Descriptor::kernel_data_segment());
        let tss = table.append(tss_descriptor(TSS));
        Gdt {
            table,
            code,
            data,
            tss,
        }
    }

    /// A busy 64-bit TSS descriptor for the TSS at guest-physical `base` (SDM Vol. 3A 8.2.3);
    /// the `x86_64` crate makes TSS descriptors from pointers into this process only.
    fn tss_descriptor(base: u64) -> Descriptor {
        let limit = size_of::<TaskStateSegment>() as u64 - 1;
        let low = DescriptorFlags::PRESENT.bits()
            | u64::from(BUSY_TSS64) << 40
            | limit & DescriptorFlags::LIMIT_0_15.bits()
            | base << 16 & DescriptorFlags::BASE_0_23.bits()
            | base << 32 & DescriptorFlags::BASE_24_31.bits();
        Descriptor::SystemSegment(low, base >> 32)
    }

    /// The segment register for the flat code or data descriptor `flags`, as KVM takes it: the
    /// descriptor's own bits, so that the registers and the GDT agree.
    fn flat_segment(selector: SegmentSelector, flags: DescriptorFlags) -> kvm_segment {
        let has = |flag| u8::from(flags.contains(flag));
        kvm_segment {
            base: 0,
            limit: 0xffff_ffff,
            selector: selector.0,
            // The type field: accessed, writable (readable for code), conforming, executable.
            type_: (flags.bits() >> 40 & 0xf) as u8,
            present: has(DescriptorFlags::PRESENT),
            s: has(DescriptorFlags::USER_SEGMENT),
            l: has(DescriptorFlags::LONG_MODE),
            db: has(DescriptorFlags::DEFAULT_SIZE),
            g: has(DescriptorFlags::GRANULARITY),
            ..Default::default()
        }
    }

    type Result<T> = std::result::Result<T, Box<dyn Error>>;

    pub fn main() -> ExitCode {
        match run() {
            Ok(Ucall::Done) => ExitCode::SUCCESS,
            Ok(_) => ExitCode::from(1),
            Err(e) => {
                eprintln!("foreign_vmm: {e}");
                ExitCode::from(2)
            }
        }
    }

    /// Runs the guest named on the command line to DONE or ABORT and returns that last ucall.
    fn run() -> Result<Ucall> {
        let mut mmio = false;
        let mut path = None;
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--mmio" => mmio = true,
                "--pio" => mmio = false,
                _ => path = Some(arg),
            }
        }
        let path = path.ok_or("usage: foreign_vmm [--pio | --mmio] GUEST.elf")?;
        let elf = std::fs::read(&path).map_err(|e| format!("cannot read {path}: {e}"))?;

        // The VMM's own VM and memory: one slot covering all of RAM.
        let kvm = Kvm::new()?;
        let vm = kvm.create_vm()?;
        let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), RAM_SIZE as usize)])?;
        let host_address = memory.get_host_address(GuestAddress(0))? as u64;
        let slot = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: RAM_SIZE,
            userspace_addr: host_address,
        };
        // SAFETY: `memory` maps RAM_SIZE bytes at `host_address` and outlives every KVM_RUN
        // below (the VM is dropped before it, in reverse declaration order).
        unsafe { vm.set_user_memory_region(slot)? };

        // ucall-host: load the ELF, build page tables, pick and publish the ucall address.
        let image = GuestImage::parse(&elf, ELF_MACHINE)?;
        let layout = Layout {
            ram: 0..RAM_SIZE,
            host_area: GDT..TSS + 0x1000,
            host_area_name: "GDT and TSS",
            tables: PAGE_TABLES,
            stacks: STACK,
        };
        layout.check(image.segments())?;
        image.load(&memory)?;
        let widths = address_widths(&kvm)?;
        let mut tables = PageTables::new(
            &memory,
            X86_64::new(widths.physical as u8),
            GuestAddress(PAGE_TABLES.start),
            PAGE_TABLES.end - PAGE_TABLES.start,
        )?;
        tables.identity_map(&memory, 0..RAM_SIZE, MemoryKind::Normal)?;
        let transport = if mmio {
            let global = image.writable_symbol_gpa(ucall_abi::MMIO_ADDR_SYMBOL, 8)?;
            let global = GuestAddress(global);
            // Our only memory slot is `memory`, so no other slot can be in the way.
            install_mmio_page(&memory, &mut tables, widths, |_| false, global)?
        } else {
            Transport::pio()
        };

        // The VMM's own vCPU setup: 64-bit mode at the ELF entry, vCPU index 0 in rdi.
        let mut vcpu = vm.create_vcpu(0)?;
        let gdt = gdt();
        for (i, entry) in gdt.table.entries().iter().enumerate() {
            memory.write_obj(entry.raw(), GuestAddress(GDT + 8 * i as u64))?;
        }
        memory.write_slice(&[0; size_of::<TaskStateSegment>()], GuestAddress(TSS))?;
        enter_long_mode(&kvm, &vcpu, &gdt, tables.root())?;
        vcpu.set_regs(&kvm_regs {
            rip: image.entry(),
            rsp: STACK.end - 8,
            rflags: RFLAGS_RESERVED_1,
            rdi: 0,
            ..Default::default()
        })?;

        serve(&mut vcpu, &memory, &tables, transport)
    }

    /// The VMM's own run loop and exit match; ucall-host only says which exits are ucalls and
    /// what they carry.
    fn serve(
        vcpu: &mut VcpuFd,
        memory: &GuestMemoryMmap,
        tables: &PageTables<X86_64>,
        transport: Transport,
    ) -> Result<Ucall> {
        loop {
            let mut kvm_exit = match vcpu.run() {
                Ok(exit) => exit,
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => continue,
                Err(e) => return Err(e.into()),
            };
            // This VMM has no devices: whatever the guest reads from one is zero.
            if let VcpuExit::MmioRead(_, data) | VcpuExit::IoIn(_, data) = &mut kvm_exit {
                data.fill(0);
            }
            let exit = match Exit::from_kvm(&kvm_exit) {
                Some(exit) => exit,
                None if matches!(kvm_exit, VcpuExit::Hlt) => {
                    return Err("the guest halted before DONE".into());
                }
                None => return Err(format!("unexpected exit {kvm_exit:?}").into()),
            };
            // Only a port I/O ucall needs rdi; it is read only then.
            let record =
                transport.record_address(&exit, || vcpu.get_regs().map_or(0, |r| r.rdi))?;
            // An exit that is not a ucall would be this VMM's own device; this one has none.
            let record = record.ok_or("an MMIO or port I/O exit that is not a ucall")?;
            let ucall = decode(&tables.view(memory), record)?;
            println!("{ucall}");
            if ucall.is_final() {
                return Ok(ucall);
            }
        }
    }

    /// The guest's address widths, from the CPUID leaf 0x80000008 that KVM offers.
    fn address_widths(kvm: &Kvm) -> Result<AddressWidths> {
        let cpuid = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)?;
        let leaf = cpuid
            .as_slice()
            .iter()
            .find(|entry| entry.function == 0x8000_0008)
            .ok_or("KVM offers no CPUID leaf 0x80000008")?;
        Ok(AddressWidths {
            physical: leaf.eax & 0xff,
            virtual_: (leaf.eax >> 8) & 0xff,
        })
    }

    /// The segments of `gdt`, paging with the tables at `root`, long mode, SSE on.
    fn enter_long_mode(kvm: &Kvm, vcpu: &VcpuFd, gdt: &Gdt, root: GuestAddress) -> Result<()> {
        // KVM refuses long mode in KVM_SET_SREGS unless the guest's CPUID offers it.
        vcpu.set_cpuid2(&kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)?)?;
        let mut sregs = vcpu.get_sregs()?;
        sregs.cs = flat_segment(gdt.code, DescriptorFlags::KERNEL_CODE64);
        let data = flat_segment(gdt.data, DescriptorFlags::KERNEL_DATA);
        (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
        sregs.tr = kvm_segment {
            base: TSS,
            limit: size_of::<TaskStateSegment>() as u32 - 1,
            selector: gdt.tss.0,
            type_: BUSY_TSS64,
            present: 1,
            ..Default::default()
        };
        sregs.gdt.base = GDT;
        sregs.gdt.limit = gdt.table.limit();
        sregs.cr0 = LONG_MODE_CR0;
        sregs.cr3 = root.0;
        sregs.cr4 = LONG_MODE_CR4;
        sregs.efer = LONG_MODE_EFER;
        vcpu.set_sregs(&sregs)?;
        Ok(())
    }
}
