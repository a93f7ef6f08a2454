//! riscv64 guests: S-mode (VS-mode under KVM) with Sv48 paging on through `satp`, interrupts
//! off, the FPU on (`sstatus.FS` Initial), entered at the ELF entry with the vCPU index in `a0`.
//!
//! Registers are written with `KVM_SET_ONE_REG`; kvm-bindings has the register classes, the
//! ids are built here as `arch/riscv/include/uapi/asm/kvm.h` builds them.
//!
//! The contract: RAM goes wherever the guest is linked (2 MiB above 2 GiB with the guest
//! crate's linker script, as on QEMU's `virt` machine; 0x10000 with gcc's default), planned by
//! [`Layout`](crate::vm::Layout); [`setup_memory`](super::KvmArch::setup_memory) writes, in the
//! host area that the layout found room for, a trap handler that reports a guest exception as an
//! UNHANDLED ucall over the SBI transport (see [`crate::arch::riscv64`]), with an exception stack per vCPU
//! (`sscratch`). The table root and its format come from `satp` (one `KVM_GET_ONE_REG`): Sv48
//! as the host builds it, or Sv39 if the guest switched.
//!
//! Ucalls are MMIO stores, or SBI calls to [`ucall_abi::SBI_EXTENSION`]: KVM passes those to
//! userspace as `KVM_EXIT_RISCV_SBI` (35), which kvm-ioctls 0.25 reports as
//! `VcpuExit::Unsupported(35)`; [`Riscv64::other_exit`](super::KvmArch::other_exit) reads the call
//! from `kvm_run` and answers it with SBI success.
//!
//! The physical width: KVM on riscv has no IPA-size setting; it runs every VM with the widest
//! G-stage mode the CPU offers (Sv57x4: 59 bits, Sv48x4: 50, Sv39x4: 41) and says which through
//! `KVM_CAP_VM_GPA_BITS` on the VM.

use super::{KvmArch, RootError, SystemStop, VcpuStart};
use super::{get_one_reg as get, reset_is_an_exception, set_one_reg as set};
use crate::arch::riscv64::RiscvUserRegs;
use crate::arch::riscv64::exceptions;
use crate::arch::{Arch, Riscv64};
use crate::decode::Exit;
use crate::paging::PageTableFormat;
use crate::paging::riscv64::{Mode, Riscv64 as Format};
use crate::probe::AddressWidths;
use crate::vm::error::{KvmError, PagingMode, SetupError};
use kvm_bindings::{
    KVM_CAP_VM_GPA_BITS, KVM_EXIT_RISCV_SBI, KVM_MP_STATE_RUNNABLE, KVM_REG_RISCV,
    KVM_REG_RISCV_CORE, KVM_REG_RISCV_CSR, KVM_REG_SIZE_U64, kvm_mp_state,
};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryMmap};

/// riscv64 guests on this VM: its guest-physical width.
#[derive(Debug)]
pub struct KvmRiscv64 {
    physical_bits: u32,
}

/// The physical width when KVM does not say (no `KVM_CAP_VM_GPA_BITS`): Sv39x4, the narrowest
/// G-stage mode KVM runs.
const DEFAULT_GPA_BITS: u32 = 41;

/// The widest physical address Sv48 entries hold.
const MAX_PHYSICAL_BITS: u32 = 56;

/// `sstatus.FS` = Initial (bits 14:13 = 01): floating-point instructions run. Under KVM the
/// guest's `sstatus` is `vsstatus`, which starts with FS Off, so code that touches an FP register
/// would take an illegal-instruction exception.
const SSTATUS_FS_INITIAL: u64 = 1 << 13;
/// `sstatus.FS`, both bits.
const SSTATUS_FS: u64 = 0b11 << 13;
/// `sstatus.SIE`: interrupts stay off.
const SSTATUS_SIE: u64 = 1 << 1;

/// The ID of core register `index` (`struct kvm_riscv_core`: pc 0, x1..x31 1..31, mode 32).
const fn core_reg(index: u64) -> u64 {
    KVM_REG_RISCV as u64 | KVM_REG_SIZE_U64 | KVM_REG_RISCV_CORE as u64 | index
}

/// The ID of CSR `index` (`struct kvm_riscv_csr`).
const fn csr(index: u64) -> u64 {
    KVM_REG_RISCV as u64 | KVM_REG_SIZE_U64 | KVM_REG_RISCV_CSR as u64 | index
}

const REG_PC: u64 = core_reg(0);
const REG_SP: u64 = core_reg(2);
const REG_A0: u64 = core_reg(10);
const CSR_SSTATUS: u64 = csr(0);
const CSR_STVEC: u64 = csr(2);
const CSR_SSCRATCH: u64 = csr(3);
const CSR_SEPC: u64 = csr(4);
const CSR_SCAUSE: u64 = csr(5);
const CSR_STVAL: u64 = csr(6);
const CSR_SATP: u64 = csr(8);

/// `satp`, read with one `KVM_GET_ONE_REG`.
fn satp(vcpu: &VcpuFd) -> Result<u64, KvmError> {
    get(vcpu, CSR_SATP, "KVM_GET_ONE_REG (satp)")
}

/// The SBI call of a `KVM_EXIT_RISCV_SBI` exit, answered with SBI success (`a0` = `a1` = 0 when
/// the guest resumes); `None` for any other exit.
///
/// The one place that reads the `riscv_sbi` member of `kvm_run`, which kvm-ioctls 0.25 does
/// not decode.
fn sbi_call(vcpu: &mut VcpuFd) -> Option<Exit> {
    let run = vcpu.get_kvm_run();
    if run.exit_reason != KVM_EXIT_RISCV_SBI {
        return None;
    }
    // SAFETY: for KVM_EXIT_RISCV_SBI, KVM fills the `riscv_sbi` member of the exit union (and
    // it is plain integers, valid for any bits); `run` is the vCPU's own mapped kvm_run,
    // borrowed exclusively through `vcpu`.
    let call = unsafe { &mut run.__bindgen_anon_1.riscv_sbi };
    // KVM copies `ret` into the guest's a0 and a1 on the next KVM_RUN: SBI_SUCCESS, value 0.
    call.ret = [0, 0];
    Some(Exit::Sbi {
        extension: call.extension_id,
        function: call.function_id,
        args: call.args,
    })
}

impl KvmArch for KvmRiscv64 {
    type Arch = Riscv64;

    /// Opens a plain VM (riscv KVM has no machine types or IPA sizes) and reads its
    /// guest-physical width.
    fn create_vm(kvm: &Kvm) -> Result<(Self, VmFd), SetupError> {
        let vm = kvm.create_vm().map_err(KvmError::with("KVM_CREATE_VM"))?;
        let physical_bits = match vm.check_extension_raw(KVM_CAP_VM_GPA_BITS.into()) {
            bits if bits > 0 => bits as u32,
            _ => DEFAULT_GPA_BITS,
        };
        Ok((KvmRiscv64 { physical_bits }, vm))
    }

    /// The physical width is the VM's G-stage width (capped at what Sv48 entries hold); the
    /// virtual width is Sv48's.
    fn address_widths(&self) -> AddressWidths {
        AddressWidths {
            physical: self.physical_bits.min(MAX_PHYSICAL_BITS),
            virtual_: self.page_table_format().virtual_address_bits(),
        }
    }

    fn page_table_format(&self) -> Format {
        Format::new(Mode::Sv48, self.physical_bits.min(MAX_PHYSICAL_BITS) as u8)
    }

    /// Writes the trap handler at the start of the host area.
    fn setup_memory<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        host_area: GuestAddress,
    ) -> Result<(), SetupError> {
        let gpa = host_area.0 + exceptions::HANDLER_OFFSET;
        memory
            .write_slice(&exceptions::image(), GuestAddress(gpa))
            .map_err(SetupError::write_memory("trap handler", gpa))
    }

    /// Makes the vCPU runnable (KVM powers off every vCPU but the first, for SBI HSM to start),
    /// and puts it at the entry in S-mode with Sv48 on, the FPU on, interrupts off, the host's
    /// trap handler and its exception stack (`sscratch`), its stack and its index in `a0`.
    fn setup_vcpu(&self, vcpu: &mut VcpuFd, start: &VcpuStart) -> Result<(), SetupError> {
        let runnable = kvm_mp_state {
            mp_state: KVM_MP_STATE_RUNNABLE,
        };
        vcpu.set_mp_state(runnable)
            .map_err(KvmError::with("KVM_SET_MP_STATE"))?;
        let satp = self.page_table_format().satp(start.root);
        set(vcpu, CSR_SATP, satp, "KVM_SET_ONE_REG (satp)")?;
        let handler = start.host_area.0 + exceptions::HANDLER_OFFSET;
        set(vcpu, CSR_STVEC, handler, "KVM_SET_ONE_REG (stvec)")?;
        // The vCPU's own exception stack, above the guest's.
        set(
            vcpu,
            CSR_SSCRATCH,
            start.stack_top,
            "KVM_SET_ONE_REG (sscratch)",
        )?;
        let sstatus = get(vcpu, CSR_SSTATUS, "KVM_GET_ONE_REG (sstatus)")?;
        let sstatus = (sstatus & !(SSTATUS_FS | SSTATUS_SIE)) | SSTATUS_FS_INITIAL;
        set(vcpu, CSR_SSTATUS, sstatus, "KVM_SET_ONE_REG (sstatus)")?;
        let guest_stack = start.stack_top - Riscv64::VCPU_AREA;
        set(vcpu, REG_SP, guest_stack, "KVM_SET_ONE_REG (sp)")?;
        set(vcpu, REG_A0, start.index as u64, "KVM_SET_ONE_REG (a0)")?;
        Ok(set(vcpu, REG_PC, start.entry, "KVM_SET_ONE_REG (pc)")?)
    }

    /// The root in `satp`, whatever its mode.
    fn page_table_root(vcpu: &mut VcpuFd) -> Result<GuestAddress, RootError> {
        let satp = satp(vcpu)?;
        Format::from_satp(satp, MAX_PHYSICAL_BITS as u8)
            .map(|(_, root)| root)
            .map_err(|e| RootError::Unsupported(PagingMode::Satp(e)))
    }

    /// The format and root that `satp` selects: Sv48 or Sv39, with the VM's physical width; any
    /// other mode (Bare included) is an unsupported paging mode.
    fn live_tables(vcpu: &mut VcpuFd, built: Format) -> Result<(Format, GuestAddress), RootError> {
        let satp = satp(vcpu)?;
        Format::from_satp(satp, built.physical_bits())
            .map_err(|e| RootError::Unsupported(PagingMode::Satp(e)))
    }

    /// The `satp` a rooted ucall sent: the mode and root the guest runs with (untrusted, like
    /// everything it sends: an unsupported mode is an error, the walk checks every address).
    fn carried_tables(root: u64, built: Format) -> Result<(Format, GuestAddress), RootError> {
        Format::from_satp(root, built.physical_bits())
            .map_err(|e| RootError::Unsupported(PagingMode::Satp(e)))
    }

    fn other_exit(vcpu: &mut VcpuFd, reason: u32) -> Option<Exit> {
        (reason == KVM_EXIT_RISCV_SBI)
            .then(|| sbi_call(vcpu))
            .flatten()
    }

    fn handler_table(host_area: GuestAddress) -> u64 {
        host_area.0 + exceptions::HANDLER_OFFSET
    }

    fn program_counter(vcpu: &mut VcpuFd) -> Result<u64, KvmError> {
        get(vcpu, REG_PC, "KVM_GET_ONE_REG (pc)")
    }

    /// 32 `KVM_GET_ONE_REG`s: pc and x1..x31. A vCPU stopped in the host's trap handler
    /// (past its swap of `sp` and `sscratch`) shows where the exception was taken instead: pc
    /// from `sepc`, sp from `sscratch`, where the swap left the guest's.
    fn core_registers(
        vcpu: &mut VcpuFd,
        _memory: &GuestMemoryMmap,
    ) -> Result<RiscvUserRegs, KvmError> {
        let mut regs = [0; 31];
        for (n, x) in (1..).zip(regs.iter_mut()) {
            *x = get(vcpu, core_reg(n), "KVM_GET_ONE_REG (x1..x31)")?;
        }
        let mut pc = get(vcpu, REG_PC, "KVM_GET_ONE_REG (pc)")?;
        let handler = get(vcpu, CSR_STVEC, "KVM_GET_ONE_REG (stvec)")?;
        if Riscv64::handler_code(handler).contains(&pc) {
            pc = get(vcpu, CSR_SEPC, "KVM_GET_ONE_REG (sepc)")?;
            regs[1] = get(vcpu, CSR_SSCRATCH, "KVM_GET_ONE_REG (sscratch)")?;
        }
        Ok(RiscvUserRegs { pc, regs })
    }

    /// An SBI system reset of type shutdown is a power-off; a reboot is a guest that asked for
    /// it, reported with `scause`, `sepc` and `stval` as the exception that may have led there.
    fn system_event(vcpu: &mut VcpuFd, kind: u32, data: &[u64]) -> SystemStop {
        let registers = [
            (CSR_SCAUSE, "KVM_GET_ONE_REG (scause)"),
            (CSR_SEPC, "KVM_GET_ONE_REG (sepc)"),
            (CSR_STVAL, "KVM_GET_ONE_REG (stval)"),
        ];
        reset_is_an_exception(vcpu, kind, data, registers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_ids_are_the_kernels_encoding() {
        // KVM_REG_RISCV | KVM_REG_SIZE_U64 | KVM_REG_RISCV_CORE | KVM_REG_RISCV_CORE_REG(regs.pc).
        assert_eq!(REG_PC, 0x8030_0000_0200_0000);
        assert_eq!(REG_A0, 0x8030_0000_0200_000a);
        // KVM_REG_RISCV_CSR_REG(satp): the ninth unsigned long of struct kvm_riscv_csr.
        assert_eq!(CSR_SATP, 0x8030_0000_0300_0008);
    }
}
