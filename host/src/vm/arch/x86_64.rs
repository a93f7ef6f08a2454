//! x86_64 guests: 64-bit long mode with 4-level paging, SSE enabled, entered at the ELF entry.
//!
//! The contract: [`setup_memory`](super::KvmArch::setup_memory) writes into the host area that the
//! [`Layout`](crate::vm::Layout) found room for (at `0x1000` for guests linked at 2 MiB or at
//! gcc's 0x400000, whose RAM starts at 0): the IDT and exception handlers (`exceptions.rs`:
//! every exception becomes an UNHANDLED ucall). Each vCPU has its own GDT, TSS and exception
//! stack (IST1) at the top of its stack ([`crate::arch::Arch::VCPU_AREA`]), however many vCPUs
//! there are.
//! `KVM_CAP_SYNC_REGS` syncs `rdi` and CR3 on every exit, so the record register and the table
//! root cost no ioctl.

use super::{KvmArch, RootError, VcpuStart};
use crate::arch::x86_64::exceptions::{self, IDT_LIMIT, INTERRUPTED_FRAME};
use crate::arch::x86_64::{LONG_MODE_CR0, LONG_MODE_CR4, LONG_MODE_EFER, UserRegs};
use crate::arch::{Arch, X86_64};
use crate::paging::PageTableFormat;
use crate::paging::x86_64::X86_64 as Format;
use crate::probe::AddressWidths;
use crate::vm::error::{KvmError, PagingMode, SetupError};
use crate::vm::ioctl_count::counted;
use kvm_bindings::{CpuId, KVM_MAX_CPUID_ENTRIES, kvm_regs, kvm_segment};
use kvm_ioctls::{Cap, Kvm, SyncReg, VcpuFd, VmFd};
use std::sync::OnceLock;
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryMmap};
use x86_64::registers::control::{Cr0Flags, Cr4Flags};
use x86_64::registers::model_specific::EferFlags;
use zerocopy::IntoBytes;

/// x86_64 guests on this VM: the CPUID KVM offers, and the address widths it reports.
#[derive(Debug)]
pub struct KvmX86_64 {
    cpuid: CpuId,
    widths: AddressWidths,
}

/// Each vCPU's own structures, at the top of its stack: its GDT (null, 64-bit code, data, and
/// a 16-byte TSS descriptor), its 64-bit TSS (VMX requires TR to point at one, and it gives the
/// vCPU's exception handlers their own stack, IST1), and above them the exception stack itself,
/// up to the top.
const VCPU_AREA: u64 = <X86_64 as crate::arch::Arch>::VCPU_AREA;
/// Where the GDT is in a vCPU's area.
const GDT_OFFSET: u64 = 0;
/// The GDT's limit: three descriptors, then the TSS descriptor.
const GDT_LIMIT: u16 = 3 * 8 + 16 - 1;
/// Where the TSS is in a vCPU's area.
const TSS_OFFSET: u64 = 0x40;
const TSS_LIMIT: u32 = 0x67;
/// Where IST1 is in a 64-bit TSS (SDM Vol. 3A, 8.7).
const TSS_IST1: u64 = 0x24;
/// Where the I/O map base is: at the limit, so there is no I/O permission bitmap.
const TSS_IO_MAP_BASE: u64 = 0x66;
// The GDT ends below the TSS, and the exception stack above the TSS has room for a report.
const _: () = assert!(GDT_OFFSET + (GDT_LIMIT as u64) < TSS_OFFSET);
const _: () = assert!(VCPU_AREA - (TSS_OFFSET + TSS_LIMIT as u64 + 1) >= exceptions::STACK_NEEDED);
const CODE_SELECTOR: u16 = 0x8;
const DATA_SELECTOR: u16 = 0x10;
/// The selector of the TSS, the same in every vCPU's GDT.
const TSS_SELECTOR: u16 = 0x18;
/// Segment types (SDM Vol. 3A, 3.4.5.1 and 3.5): execute/read accessed, read/write accessed,
/// busy 64-bit TSS.
const CODE_TYPE: u8 = 0xb;
const DATA_TYPE: u8 = 0x3;
const TSS_BUSY_TYPE: u8 = 0xb;

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

/// The TSS of the vCPU whose area starts at `area`, and where it is.
fn tss_segment(area: u64) -> kvm_segment {
    kvm_segment {
        base: area + TSS_OFFSET,
        limit: TSS_LIMIT,
        selector: TSS_SELECTOR,
        type_: TSS_BUSY_TYPE,
        present: 1,
        s: 0,
        ..Default::default()
    }
}

/// Where the area of the vCPU starting as `start` says begins.
fn vcpu_area(start: &VcpuStart) -> u64 {
    start.stack_top - VCPU_AREA
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

impl KvmArch for KvmX86_64 {
    type Arch = X86_64;

    /// Opens a plain VM; reads the CPUID that KVM offers (with the address widths of leaf
    /// 0x80000008) and checks that KVM syncs the registers ucalls need.
    fn create_vm(kvm: &Kvm) -> Result<(Self, VmFd), SetupError> {
        let vm = kvm.create_vm().map_err(KvmError::with("KVM_CREATE_VM"))?;
        let cpuid = supported_cpuid(kvm)?;
        let leaf = cpuid
            .as_slice()
            .iter()
            .find(|entry| entry.function == 0x8000_0008)
            .ok_or(SetupError::MissingCapability(
                "CPUID leaf 0x80000008 (address sizes)",
            ))?;
        let physical = leaf.eax & 0xff;
        let widths = AddressWidths {
            physical,
            virtual_: ((leaf.eax >> 8) & 0xff)
                .min(Format::new(physical as u8).virtual_address_bits()),
        };
        // Port I/O ucalls need rdi, and the walk needs CR3: KVM copies both into the shared
        // kvm_run page on every exit, so a ucall costs no ioctl besides KVM_RUN.
        let synced = kvm.check_extension_int(Cap::SyncRegs) as u64;
        let wanted = u64::from(kvm_bindings::KVM_SYNC_X86_REGS | kvm_bindings::KVM_SYNC_X86_SREGS);
        if synced & wanted != wanted {
            return Err(SetupError::MissingCapability(
                "KVM_CAP_SYNC_REGS with registers and system registers",
            ));
        }
        Ok((KvmX86_64 { cpuid, widths }, vm))
    }

    fn address_widths(&self) -> AddressWidths {
        self.widths
    }

    fn page_table_format(&self) -> Format {
        Format::new(self.widths.physical as u8)
    }

    /// Writes the IDT and handlers that every vCPU shares.
    fn setup_memory<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        host_area: GuestAddress,
    ) -> Result<(), SetupError> {
        let [(idt_at, idt), (code_at, code)] = exceptions::images(host_area.0, CODE_SELECTOR);
        memory
            .write_slice(&idt, GuestAddress(idt_at))
            .map_err(SetupError::write_memory("IDT", idt_at))?;
        memory
            .write_slice(&code, GuestAddress(code_at))
            .map_err(SetupError::write_memory("exception handlers", code_at))
    }

    /// Writes the vCPU's GDT and its TSS, whose IST1 is the top of the vCPU's area.
    fn setup_vcpu_memory<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        start: &VcpuStart,
    ) -> Result<(), SetupError> {
        let area = vcpu_area(start);
        let code = segment(CODE_SELECTOR, CODE_TYPE, true);
        let data = segment(DATA_SELECTOR, DATA_TYPE, false);
        let tss = tss_segment(area);
        let gdt = [
            0,
            descriptor(&code),
            descriptor(&data),
            descriptor(&tss),
            tss.base >> 32,
        ];
        let gdt_at = area + GDT_OFFSET;
        memory
            .write_slice(gdt.as_bytes(), GuestAddress(gdt_at))
            .map_err(SetupError::write_memory("GDT", gdt_at))?;
        let mut bytes = [0; TSS_LIMIT as usize + 1];
        bytes[TSS_IST1 as usize..][..8].copy_from_slice(&start.stack_top.to_le_bytes());
        let io_map_base = (TSS_LIMIT as u16 + 1).to_le_bytes();
        bytes[TSS_IO_MAP_BASE as usize..][..2].copy_from_slice(&io_map_base);
        memory
            .write_slice(&bytes, GuestAddress(tss.base))
            .map_err(SetupError::write_memory("TSS", tss.base))
    }

    /// 64-bit mode with paging on, SSE enabled, the initial APIC ID in CPUID set to the index,
    /// and `rdi` and the system registers synced on every exit.
    fn setup_vcpu(&self, vcpu: &mut VcpuFd, start: &VcpuStart) -> Result<(), SetupError> {
        let mut cpuid = self.cpuid.clone();
        for leaf in cpuid.as_mut_slice() {
            if leaf.function == 1 {
                // The initial APIC ID, so that guests can tell vCPUs apart as on hardware.
                leaf.ebx = (leaf.ebx & 0x00ff_ffff) | ((start.index as u32 & 0xff) << 24);
            }
        }
        // KVM refuses long mode in KVM_SET_SREGS unless the guest's CPUID offers it.
        vcpu.set_cpuid2(&cpuid)
            .map_err(KvmError::with("KVM_SET_CPUID2"))?;

        let mut sregs = vcpu.get_sregs().map_err(KvmError::with("KVM_GET_SREGS"))?;
        sregs.cs = segment(CODE_SELECTOR, CODE_TYPE, true);
        let data = segment(DATA_SELECTOR, DATA_TYPE, false);
        (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
        let area = vcpu_area(start);
        sregs.tr = tss_segment(area);
        sregs.ldt = kvm_segment {
            unusable: 1,
            ..Default::default()
        };
        sregs.gdt.base = area + GDT_OFFSET;
        sregs.gdt.limit = GDT_LIMIT;
        sregs.idt.base = start.host_area.0 + exceptions::IDT_OFFSET;
        sregs.idt.limit = IDT_LIMIT;
        sregs.cr0 = LONG_MODE_CR0;
        sregs.cr3 = start.root.0;
        sregs.cr4 = LONG_MODE_CR4;
        sregs.efer = LONG_MODE_EFER;
        vcpu.set_sregs(&sregs)
            .map_err(KvmError::with("KVM_SET_SREGS"))?;

        let regs = kvm_regs {
            rip: start.entry,
            // `_start` is an ordinary function: it expects the stack as a call leaves it.
            rsp: area - 8,
            rflags: 0x2,
            rdi: start.index as u64,
            ..Default::default()
        };
        vcpu.set_regs(&regs)
            .map_err(KvmError::with("KVM_SET_REGS"))?;
        vcpu.set_sync_valid_reg(SyncReg::Register);
        vcpu.set_sync_valid_reg(SyncReg::SystemRegister);
        Ok(())
    }

    /// CR3, as synced by KVM. An error if the guest left 64-bit mode with 4-level paging
    /// (cleared CR0.PG, or runs with EFER.LMA clear or CR4.LA57 set), where the walker's format
    /// would decode its addresses wrongly.
    fn page_table_root(vcpu: &mut VcpuFd) -> Result<GuestAddress, RootError> {
        let sregs = &vcpu.sync_regs_mut().sregs;
        let cr0 = Cr0Flags::from_bits_truncate(sregs.cr0);
        let cr4 = Cr4Flags::from_bits_truncate(sregs.cr4);
        let efer = EferFlags::from_bits_truncate(sregs.efer);
        if !cr0.contains(Cr0Flags::PAGING) {
            return Err(RootError::Unsupported(PagingMode::Off));
        }
        if !efer.contains(EferFlags::LONG_MODE_ACTIVE) {
            return Err(RootError::Unsupported(PagingMode::Legacy));
        }
        if cr4.contains(Cr4Flags::L5_PAGING) {
            return Err(RootError::Unsupported(PagingMode::FiveLevel));
        }
        Ok(GuestAddress(sregs.cr3))
    }

    /// `rdi`, as synced by KVM: where port I/O ucalls carry the record address.
    fn record_register(vcpu: &mut VcpuFd) -> Option<u64> {
        Some(vcpu.sync_regs_mut().regs.rdi)
    }

    /// `rsi`, marked dirty in the synced registers: KVM applies them on the next `KVM_RUN`,
    /// before it completes the `in` (which writes only `al`), and since the synced copy holds
    /// every other register as the exit left it, nothing else changes.
    fn set_reply_register(vcpu: &mut VcpuFd, value: u64) {
        vcpu.sync_regs_mut().regs.rsi = value;
        vcpu.set_sync_dirty_reg(SyncReg::Register);
    }

    fn handler_table(host_area: GuestAddress) -> u64 {
        host_area.0 + exceptions::IDT_OFFSET
    }

    fn program_counter(vcpu: &mut VcpuFd) -> Result<u64, KvmError> {
        Ok(counted(|| vcpu.get_regs())
            .map_err(KvmError::with("KVM_GET_REGS"))?
            .rip)
    }

    /// Two ioctls: the general registers and the segment registers (selectors, FS and GS
    /// bases). A vCPU stopped in the host's exception handlers (an UNHANDLED ucall) shows
    /// where the exception was taken instead: rip, cs, rflags, rsp and ss from the frame the
    /// CPU pushed on the handler's stack, as a process's core shows the faulting
    /// instruction, so that gdb unwinds the guest's own frames.
    fn core_registers(vcpu: &mut VcpuFd, memory: &GuestMemoryMmap) -> Result<UserRegs, KvmError> {
        let mut r = vcpu.get_regs().map_err(KvmError::with("KVM_GET_REGS"))?;
        let mut s = vcpu.get_sregs().map_err(KvmError::with("KVM_GET_SREGS"))?;
        let in_handlers =
            s.idt.limit == IDT_LIMIT && X86_64::handler_code(s.idt.base).contains(&r.rip);
        if in_handlers {
            // Guest memory, so untrusted: a frame that cannot be read leaves the registers.
            let frame = r.rsp.checked_add(INTERRUPTED_FRAME).map(|at| {
                let mut words = [0u64; 5];
                memory
                    .read_slice(words.as_mut_bytes(), GuestAddress(at))
                    .map(|()| words)
            });
            if let Some(Ok([rip, cs, rflags, rsp, ss])) = frame {
                (r.rip, r.rflags, r.rsp) = (rip, rflags, rsp);
                s.cs.selector = cs as u16;
                s.ss.selector = ss as u16;
            }
        }
        Ok(UserRegs {
            r15: r.r15,
            r14: r.r14,
            r13: r.r13,
            r12: r.r12,
            rbp: r.rbp,
            rbx: r.rbx,
            r11: r.r11,
            r10: r.r10,
            r9: r.r9,
            r8: r.r8,
            rax: r.rax,
            rcx: r.rcx,
            rdx: r.rdx,
            rsi: r.rsi,
            rdi: r.rdi,
            orig_rax: u64::MAX,
            rip: r.rip,
            cs: s.cs.selector.into(),
            eflags: r.rflags,
            rsp: r.rsp,
            ss: s.ss.selector.into(),
            fs_base: s.fs.base,
            gs_base: s.gs.base,
            ds: s.ds.selector.into(),
            es: s.es.selector.into(),
            fs: s.fs.selector.into(),
            gs: s.gs.selector.into(),
        })
    }
}

/// KVM's supported CPUID, asked once per process: the same for every VM, and the costliest
/// ioctl of a VM's creation on kvm_pvm (0.3 to 0.6 ms of the 1.3 ms), which a test harness
/// that makes a VM per test pays at every test.
fn supported_cpuid(kvm: &Kvm) -> Result<CpuId, SetupError> {
    static SUPPORTED: OnceLock<CpuId> = OnceLock::new();
    if let Some(cpuid) = SUPPORTED.get() {
        return Ok(cpuid.clone());
    }
    let cpuid = kvm
        .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
        .map_err(KvmError::with("KVM_GET_SUPPORTED_CPUID"))?;
    Ok(SUPPORTED.get_or_init(|| cpuid).clone())
}
