//! x86_64 guests: 64-bit long mode with 4-level paging, SSE enabled, entered at the ELF entry.

use super::Layout;
use crate::Error;
use crate::paging::x86_64::X86_64;
use crate::paging::{PageTableFormat, read_virtual};
use crate::probe::AddressWidths;
use kvm_bindings::{KVM_MAX_CPUID_ENTRIES, kvm_regs, kvm_segment};
use kvm_ioctls::{Cap, Kvm, SyncReg, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress, GuestMemory};
use x86_64::registers::control::{Cr0Flags, Cr4Flags};
use x86_64::registers::model_specific::EferFlags;

/// The ELF machine of x86_64 guests.
pub const ELF_MACHINE: u16 = goblin::elf::header::EM_X86_64;

/// The page-table format of x86_64 guests.
pub type Format = X86_64;

/// Where things live in guest-physical memory. Guests link at 2 MiB (see the guest crate's
/// linker script); the first 2 MiB hold the descriptor tables and page tables.
pub const LAYOUT: Layout = Layout {
    ram_base: 0,
    tables: 0x1_0000..0x10_0000,
    image_floor: 0x20_0000,
};

/// The GDT: null, 64-bit code, data, and a 16-byte TSS descriptor.
const GDT: u64 = 0x1000;
/// A zeroed 64-bit TSS, which VMX requires TR to point at.
const TSS: u64 = 0x2000;
const TSS_LIMIT: u32 = 0x67;
const CODE_SELECTOR: u16 = 0x8;
const DATA_SELECTOR: u16 = 0x10;
const TSS_SELECTOR: u16 = 0x18;
/// Segment types (SDM Vol. 3A, 3.4.5.1 and 3.5): execute/read accessed, read/write accessed,
/// busy 64-bit TSS.
const CODE_TYPE: u8 = 0xb;
const DATA_TYPE: u8 = 0x3;
const TSS_BUSY_TYPE: u8 = 0xb;

/// Opens the VM: x86_64 needs nothing special.
pub fn create_vm(kvm: &Kvm) -> Result<VmFd, Error> {
    kvm.create_vm().map_err(Error::kvm("KVM_CREATE_VM"))
}

/// The guest's address widths from KVM's CPUID leaf 0x80000008, and the page-table format.
pub fn address_widths(kvm: &Kvm) -> Result<(AddressWidths, Format), Error> {
    let cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(Error::kvm("KVM_GET_SUPPORTED_CPUID"))?;
    let leaf = cpuid
        .as_slice()
        .iter()
        .find(|entry| entry.function == 0x8000_0008)
        .ok_or(Error::MissingCapability(
            "CPUID leaf 0x80000008 (address sizes)",
        ))?;
    let physical = leaf.eax & 0xff;
    let format = X86_64::new(physical as u8);
    let widths = AddressWidths {
        physical,
        virtual_: ((leaf.eax >> 8) & 0xff).min(format.virtual_address_bits()),
    };
    Ok((widths, format))
}

/// Writes the GDT and TSS that every vCPU's segment registers describe.
pub fn setup_memory<M: GuestMemory + ?Sized>(memory: &M) -> Result<(), Error> {
    let code = segment(CODE_SELECTOR, CODE_TYPE, true);
    let data = segment(DATA_SELECTOR, DATA_TYPE, false);
    let tss = tss_segment();
    let tss_low = descriptor(&tss);
    let gdt = [0, descriptor(&code), descriptor(&data), tss_low, TSS >> 32];
    for (i, entry) in gdt.iter().enumerate() {
        memory
            .write_obj(*entry, GuestAddress(GDT + 8 * i as u64))
            .map_err(|e| Error::Memory(format!("cannot write the GDT: {e}")))?;
    }
    memory
        .write_slice(&[0; TSS_LIMIT as usize + 1], GuestAddress(TSS))
        .map_err(|e| Error::Memory(format!("cannot write the TSS: {e}")))
}

fn segment(selector: u16, type_: u8, code: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db: u8::from(!code),
        s: 1,
        l: u8::from(code),
        g: 1,
        ..Default::default()
    }
}

fn tss_segment() -> kvm_segment {
    kvm_segment {
        base: TSS,
        limit: TSS_LIMIT,
        selector: TSS_SELECTOR,
        type_: TSS_BUSY_TYPE,
        present: 1,
        s: 0,
        ..Default::default()
    }
}

/// The low 8 bytes of the GDT descriptor for `s` (SDM Vol. 3A, 3.4.5).
fn descriptor(s: &kvm_segment) -> u64 {
    let limit = if s.g == 1 {
        u64::from(s.limit) >> 12
    } else {
        u64::from(s.limit)
    };
    (limit & 0xffff)
        | (s.base & 0xff_ffff) << 16
        | u64::from(s.type_) << 40
        | u64::from(s.s) << 44
        | u64::from(s.dpl) << 45
        | u64::from(s.present) << 47
        | (limit >> 16 & 0xf) << 48
        | u64::from(s.avl) << 52
        | u64::from(s.l) << 53
        | u64::from(s.db) << 54
        | u64::from(s.g) << 55
        | (s.base >> 24 & 0xff) << 56
}

/// Puts a vCPU in 64-bit mode at `entry` with paging on (tables at `root`), SSE enabled, the
/// stack at `stack_top`, and its index in `rdi` (the first argument of `_start`).
pub fn setup_vcpu(
    kvm: &Kvm,
    _vm: &VmFd,
    vcpu: &mut VcpuFd,
    index: usize,
    entry: u64,
    stack_top: u64,
    root: GuestAddress,
) -> Result<(), Error> {
    let mut cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(Error::kvm("KVM_GET_SUPPORTED_CPUID"))?;
    for leaf in cpuid.as_mut_slice() {
        if leaf.function == 1 {
            // The initial APIC ID, so that guests can tell vCPUs apart as on hardware.
            leaf.ebx = (leaf.ebx & 0x00ff_ffff) | ((index as u32 & 0xff) << 24);
        }
    }
    // KVM refuses long mode in KVM_SET_SREGS unless the guest's CPUID offers it.
    vcpu.set_cpuid2(&cpuid)
        .map_err(Error::kvm("KVM_SET_CPUID2"))?;

    let mut sregs = vcpu.get_sregs().map_err(Error::kvm("KVM_GET_SREGS"))?;
    sregs.cs = segment(CODE_SELECTOR, CODE_TYPE, true);
    let data = segment(DATA_SELECTOR, DATA_TYPE, false);
    (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
    sregs.tr = tss_segment();
    sregs.ldt = kvm_segment {
        unusable: 1,
        ..Default::default()
    };
    sregs.gdt.base = GDT;
    sregs.gdt.limit = 5 * 8 - 1;
    sregs.cr0 = (Cr0Flags::PROTECTED_MODE_ENABLE
        | Cr0Flags::MONITOR_COPROCESSOR
        | Cr0Flags::EXTENSION_TYPE
        | Cr0Flags::NUMERIC_ERROR
        | Cr0Flags::WRITE_PROTECT
        | Cr0Flags::PAGING)
        .bits();
    sregs.cr3 = root.0;
    sregs.cr4 =
        (Cr4Flags::PHYSICAL_ADDRESS_EXTENSION | Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE)
            .bits();
    sregs.efer = (EferFlags::LONG_MODE_ENABLE | EferFlags::LONG_MODE_ACTIVE).bits();
    vcpu.set_sregs(&sregs)
        .map_err(Error::kvm("KVM_SET_SREGS"))?;

    let regs = kvm_regs {
        rip: entry,
        // `_start` is an ordinary function: it expects the stack as a call leaves it.
        rsp: stack_top - 8,
        rflags: 0x2,
        rdi: index as u64,
        ..Default::default()
    };
    vcpu.set_regs(&regs).map_err(Error::kvm("KVM_SET_REGS"))?;

    // Port I/O ucalls need rdi, and the walk needs CR3: have KVM copy both into the shared
    // kvm_run page on every exit, so a ucall costs no ioctl besides KVM_RUN.
    let synced = kvm.check_extension_int(Cap::SyncRegs) as u64;
    let wanted = u64::from(kvm_bindings::KVM_SYNC_X86_REGS | kvm_bindings::KVM_SYNC_X86_SREGS);
    if synced & wanted != wanted {
        return Err(Error::MissingCapability(
            "KVM_CAP_SYNC_REGS with registers and system registers",
        ));
    }
    vcpu.set_sync_valid_reg(SyncReg::Register);
    vcpu.set_sync_valid_reg(SyncReg::SystemRegister);
    Ok(())
}

/// The register that carries a port I/O ucall's record address: `rdi`, as synced by KVM.
pub fn record_register(vcpu: &mut VcpuFd) -> u64 {
    vcpu.sync_regs_mut().regs.rdi
}

/// The page-table root the guest runs with now: CR3, as synced by KVM. An error if the guest
/// left 64-bit mode with 4-level paging (cleared CR0.PG, or runs with EFER.LMA clear or
/// CR4.LA57 set), where the walker's format would decode its addresses wrongly.
///
/// `index` names the vCPU in the error.
pub fn page_table_root(vcpu: &mut VcpuFd, index: usize) -> Result<GuestAddress, Error> {
    let sregs = &vcpu.sync_regs_mut().sregs;
    let cr0 = Cr0Flags::from_bits_truncate(sregs.cr0);
    let cr4 = Cr4Flags::from_bits_truncate(sregs.cr4);
    let efer = EferFlags::from_bits_truncate(sregs.efer);
    if !cr0.contains(Cr0Flags::PAGING)
        || !efer.contains(EferFlags::LONG_MODE_ACTIVE)
        || cr4.contains(Cr4Flags::L5_PAGING)
    {
        return Err(Error::UnsupportedPagingMode {
            vcpu: index,
            mode: format!(
                "CR0 {:#x}, CR4 {:#x}, EFER {:#x} (ucalls need 64-bit mode with 4-level paging)",
                sregs.cr0, sregs.cr4, sregs.efer
            ),
        });
    }
    Ok(GuestAddress(sregs.cr3))
}

/// Where the guest stopped, and the instruction bytes there, for an internal-error report.
pub fn describe_position<M: GuestMemory + ?Sized>(
    vcpu: &mut VcpuFd,
    memory: &M,
    format: &Format,
    built: GuestAddress,
) -> String {
    let rip = match vcpu.get_regs() {
        Ok(regs) => regs.rip,
        Err(e) => return format!("(rip unreadable: {e})"),
    };
    // The live root when the mode allows a walk, else the built one: this is a report, best effort.
    let root = page_table_root(vcpu, 0).unwrap_or(built);
    let mut bytes = [0u8; 15];
    match read_virtual(memory, format, root, rip, &mut bytes) {
        Ok(()) => {
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("at rip {rip:#x}, instruction bytes {}", hex.join(" "))
        }
        Err(e) => format!("at rip {rip:#x} ({e})"),
    }
}

/// The error for a system event (x86_64 guests have no PSCI; KVM reports resets and crashes).
pub fn system_event_error(_vcpu: &mut VcpuFd, index: usize, kind: u32, data: &[u64]) -> Error {
    Error::Shutdown {
        vcpu: index,
        why: format!("system event {kind} {data:x?}"),
    }
}

/// Port I/O ucalls (`in al, dx`) are available.
pub const HAS_PORT_IO: bool = true;
