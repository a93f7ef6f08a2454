//! aarch64 guests: EL1h with interrupts masked, the MMU and caches on (4 KiB granule, 48-bit
//! VA through TTBR0_EL1), FP/NEON enabled, entered at the ELF entry with the vCPU index in `x0`.
//!
//! Register field values come from `aarch64-cpu`; registers are written with `KVM_SET_ONE_REG`.
//!
//! The contract: [`create_vm`](super::KvmArch::create_vm) asks for KVM's largest IPA size (the
//! physical width it reports), so that RAM can go wherever the guest is linked (1 GiB + 2 MiB
//! with the guest crate's linker script, 0x400000 with gcc's default);
//! [`setup_memory`](super::KvmArch::setup_memory) writes, in the host area that the
//! [`Layout`](crate::vm::Layout) found room for, exception vectors that report a guest fault as
//! an UNHANDLED ucall (see [`crate::arch::aarch64`]; without an MMIO page, a PSCI reset that the run loop
//! reports as `RunError::GuestException`), with a doorbell word and an exception stack per vCPU.
//! The table root is TTBR0_EL1, one
//! `KVM_GET_ONE_REG` away.

use super::get_one_reg as get;
use super::{KvmArch, RootError, SystemStop, VcpuStart};
use super::{reset_is_an_exception, set_one_reg as set};
use crate::arch::aarch64::UserPtRegs;
use crate::arch::aarch64::exceptions::{self, DOORBELL_OFFSET, VECTORS_OFFSET};
use crate::arch::{Aarch64, Arch};
use crate::paging::PageTableFormat;
use crate::paging::aarch64::{Aarch64 as Format, MAIR_INDEX_DEVICE, MAIR_INDEX_NORMAL};
use crate::probe::AddressWidths;
use crate::vm::error::{KvmError, SetupError};
use aarch64_cpu::registers::{CPACR_EL1, MAIR_EL1, SCTLR_EL1, SPSR_EL1, TCR_EL1};
use kvm_bindings::{
    KVM_ARM_VCPU_PSCI_0_2, KVM_REG_ARM_CORE, KVM_REG_ARM64, KVM_REG_ARM64_SYSREG, KVM_REG_SIZE_U64,
    kvm_regs, kvm_vcpu_init,
};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use std::mem::offset_of;
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryMmap};

/// aarch64 guests on this VM: its IPA size and the vCPU target KVM prefers.
#[derive(Debug)]
pub struct KvmAarch64 {
    ipa_bits: u32,
    target: kvm_vcpu_init,
}

/// The PSCI version the vCPUs get: 0.2, so that SYSTEM_OFF and SYSTEM_RESET are system events.
const VCPU_FEATURES: u32 = 1 << KVM_ARM_VCPU_PSCI_0_2;

/// The ID of core register at `offset` bytes into `struct kvm_regs`.
const fn core_reg(offset: usize) -> u64 {
    KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE as u64 | (offset / 4) as u64
}

/// The ID of system register `op0, op1, CRn, CRm, op2`.
const fn sys_reg(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64) -> u64 {
    KVM_REG_ARM64
        | KVM_REG_SIZE_U64
        | KVM_REG_ARM64_SYSREG as u64
        | op0 << 14
        | op1 << 11
        | crn << 7
        | crm << 3
        | op2
}

const REG_X0: u64 = core_reg(offset_of!(kvm_regs, regs.regs));
const REG_PC: u64 = core_reg(offset_of!(kvm_regs, regs.pc));
const REG_PSTATE: u64 = core_reg(offset_of!(kvm_regs, regs.pstate));
const REG_SP_EL1: u64 = core_reg(offset_of!(kvm_regs, sp_el1));
/// SP_EL0 (`regs.sp`): the exception handlers' stack.
const REG_SP_EL0: u64 = core_reg(offset_of!(kvm_regs, regs.sp));
/// SPSR_EL1, `spsr[KVM_SPSR_EL1]` of `struct kvm_regs`.
const REG_SPSR_EL1: u64 = core_reg(offset_of!(kvm_regs, spsr));
/// PSTATE.M\[0\]: the vCPU runs on its own exception level's stack pointer (EL1h), not
/// SP_EL0.
const PSTATE_SP_SELECT: u64 = 1;
const REG_ELR_EL1: u64 = core_reg(offset_of!(kvm_regs, elr_el1));
const SCTLR_EL1_ID: u64 = sys_reg(3, 0, 1, 0, 0);
const CPACR_EL1_ID: u64 = sys_reg(3, 0, 1, 0, 2);
const TTBR0_EL1_ID: u64 = sys_reg(3, 0, 2, 0, 0);
const TCR_EL1_ID: u64 = sys_reg(3, 0, 2, 0, 2);
const ESR_EL1_ID: u64 = sys_reg(3, 0, 5, 2, 0);
const FAR_EL1_ID: u64 = sys_reg(3, 0, 6, 0, 0);
const MAIR_EL1_ID: u64 = sys_reg(3, 0, 10, 2, 0);
const VBAR_EL1_ID: u64 = sys_reg(3, 0, 12, 0, 0);

/// KVM's IPA size when it cannot be chosen (no `KVM_CAP_ARM_VM_IPA_SIZE`).
const DEFAULT_IPA_BITS: u32 = 40;

/// The IPA size this host's KVM allows, the largest the guest can get.
fn ipa_bits(kvm: &Kvm) -> u32 {
    match kvm.get_host_ipa_limit() {
        bits if bits > 0 => bits as u32,
        _ => DEFAULT_IPA_BITS,
    }
}

/// TCR_EL1.IPS for an output address of `bits`: the smallest size that holds it.
fn ips(bits: u32) -> u64 {
    use TCR_EL1::IPS;
    let field = match bits {
        0..=32 => IPS::Bits_32,
        33..=36 => IPS::Bits_36,
        37..=40 => IPS::Bits_40,
        41..=42 => IPS::Bits_42,
        43..=44 => IPS::Bits_44,
        _ => IPS::Bits_48,
    };
    field.value
}

impl KvmArch for KvmAarch64 {
    type Arch = Aarch64;

    /// Opens the VM with the largest IPA size KVM offers, so that the probe has room above
    /// RAM, and asks for the vCPU target KVM prefers.
    fn create_vm(kvm: &Kvm) -> Result<(Self, VmFd), SetupError> {
        let ipa_bits = ipa_bits(kvm);
        let vm = if kvm.get_host_ipa_limit() > 0 {
            kvm.create_vm_with_ipa_size(ipa_bits)
                .map_err(KvmError::with("KVM_CREATE_VM (with IPA size)"))?
        } else {
            kvm.create_vm().map_err(KvmError::with("KVM_CREATE_VM"))?
        };
        let mut target = kvm_vcpu_init::default();
        vm.get_preferred_target(&mut target)
            .map_err(KvmError::with("KVM_ARM_PREFERRED_TARGET"))?;
        target.features[0] |= VCPU_FEATURES;
        Ok((KvmAarch64 { ipa_bits, target }, vm))
    }

    /// The physical width is the VM's IPA size; the virtual width is that of the tables (48).
    fn address_widths(&self) -> AddressWidths {
        AddressWidths {
            physical: self.ipa_bits,
            virtual_: self.page_table_format().virtual_address_bits(),
        }
    }

    fn page_table_format(&self) -> Format {
        Format::new(self.ipa_bits.min(u32::from(u8::MAX)) as u8)
    }

    /// Writes the exception vectors (`exceptions.rs`), with no doorbell yet.
    fn setup_memory<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        host_area: GuestAddress,
    ) -> Result<(), SetupError> {
        let (vectors, doorbell) = (host_area.0 + VECTORS_OFFSET, host_area.0 + DOORBELL_OFFSET);
        memory
            .write_slice(&exceptions::image(), GuestAddress(vectors))
            .map_err(SetupError::write_memory("exception vectors", vectors))?;
        memory
            .write_obj(0u64, GuestAddress(doorbell))
            .map_err(SetupError::write_memory("exception doorbell", doorbell))
    }

    /// The exception vectors read the ucall MMIO address here, to report exceptions as
    /// UNHANDLED ucalls.
    fn exception_doorbell(&self, host_area: GuestAddress) -> Option<GuestAddress> {
        Some(GuestAddress(host_area.0 + DOORBELL_OFFSET))
    }

    /// Initialises the vCPU (the preferred target, PSCI 0.2) and puts it at EL1h with the MMU
    /// on, caches and FP/NEON on, and its index in `x0`.
    fn setup_vcpu(&self, vcpu: &mut VcpuFd, start: &VcpuStart) -> Result<(), SetupError> {
        vcpu.vcpu_init(&self.target)
            .map_err(KvmError::with("KVM_ARM_VCPU_INIT"))?;

        let mair = MAIR_EL1::Attr0_Normal_Outer::WriteBack_NonTransient_ReadWriteAlloc
            + MAIR_EL1::Attr0_Normal_Inner::WriteBack_NonTransient_ReadWriteAlloc
            + MAIR_EL1::Attr1_Device::nonGathering_nonReordering_EarlyWriteAck;
        // The descriptors name attributes by index: check that the indices match this MAIR.
        const _: () = assert!(MAIR_INDEX_NORMAL == 0 && MAIR_INDEX_DEVICE == 1);
        set(vcpu, MAIR_EL1_ID, mair.value, "KVM_SET_ONE_REG (MAIR_EL1)")?;

        let tcr = TCR_EL1::T0SZ.val(64 - u64::from(Format::new(0).virtual_address_bits()))
            + TCR_EL1::TG0::KiB_4
            + TCR_EL1::IRGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::ORGN0::WriteBack_ReadAlloc_WriteAlloc_Cacheable
            + TCR_EL1::SH0::Inner
            + TCR_EL1::EPD1::DisableTTBR1Walks;
        let tcr = tcr.value | ips(self.ipa_bits);
        set(vcpu, TCR_EL1_ID, tcr, "KVM_SET_ONE_REG (TCR_EL1)")?;
        set(
            vcpu,
            TTBR0_EL1_ID,
            start.root.0,
            "KVM_SET_ONE_REG (TTBR0_EL1)",
        )?;
        let vectors = start.host_area.0 + VECTORS_OFFSET;
        set(vcpu, VBAR_EL1_ID, vectors, "KVM_SET_ONE_REG (VBAR_EL1)")?;
        let cpacr = CPACR_EL1::FPEN::TrapNothing.value;
        set(vcpu, CPACR_EL1_ID, cpacr, "KVM_SET_ONE_REG (CPACR_EL1)")?;

        // Keep the reset value's RES1 bits; turn on the MMU and the data and instruction caches.
        let sctlr = get(vcpu, SCTLR_EL1_ID, "KVM_GET_ONE_REG (SCTLR_EL1)")?;
        let on = SCTLR_EL1::M::Enable + SCTLR_EL1::C::Cacheable + SCTLR_EL1::I::Cacheable;
        set(
            vcpu,
            SCTLR_EL1_ID,
            sctlr | on.value,
            "KVM_SET_ONE_REG (SCTLR_EL1)",
        )?;

        let pstate = SPSR_EL1::D::Masked
            + SPSR_EL1::A::Masked
            + SPSR_EL1::I::Masked
            + SPSR_EL1::F::Masked
            + SPSR_EL1::M::EL1h;
        set(vcpu, REG_PSTATE, pstate.value, "KVM_SET_ONE_REG (PSTATE)")?;
        set(
            vcpu,
            REG_SP_EL1,
            start.stack_top - Aarch64::VCPU_AREA,
            "KVM_SET_ONE_REG (SP_EL1)",
        )?;
        // The vCPU's own exception stack, above the guest's.
        set(
            vcpu,
            REG_SP_EL0,
            start.stack_top,
            "KVM_SET_ONE_REG (SP_EL0)",
        )?;
        set(vcpu, REG_X0, start.index as u64, "KVM_SET_ONE_REG (x0)")?;
        Ok(set(vcpu, REG_PC, start.entry, "KVM_SET_ONE_REG (PC)")?)
    }

    /// TTBR0_EL1, read with one `KVM_GET_ONE_REG` (aarch64 has no synced registers). The
    /// walker drops its ASID and CnP bits.
    fn page_table_root(vcpu: &mut VcpuFd) -> Result<GuestAddress, RootError> {
        Ok(get(vcpu, TTBR0_EL1_ID, "KVM_GET_ONE_REG (TTBR0_EL1)").map(GuestAddress)?)
    }

    fn handler_table(host_area: GuestAddress) -> u64 {
        host_area.0 + VECTORS_OFFSET
    }

    fn program_counter(vcpu: &mut VcpuFd) -> Result<u64, KvmError> {
        get(vcpu, REG_PC, "KVM_GET_ONE_REG (PC)")
    }

    /// 34 `KVM_GET_ONE_REG`s: x0..x30, the stack pointer in use, pc, pstate. A vCPU stopped
    /// in the exception vectors shows where the exception was taken instead (pc from
    /// ELR_EL1, pstate from SPSR_EL1; exception entry left sp and the other registers alone,
    /// but the vector's code overwrote x0), as a process's core shows the faulting
    /// instruction, so that gdb unwinds the guest's own frames.
    fn core_registers(
        vcpu: &mut VcpuFd,
        _memory: &GuestMemoryMmap,
    ) -> Result<UserPtRegs, KvmError> {
        let mut registers = UserPtRegs::default();
        for (n, x) in registers.regs.iter_mut().enumerate() {
            let id = core_reg(offset_of!(kvm_regs, regs.regs) + 8 * n);
            *x = get(vcpu, id, "KVM_GET_ONE_REG (x0..x30)")?;
        }
        registers.pc = get(vcpu, REG_PC, "KVM_GET_ONE_REG (PC)")?;
        registers.pstate = get(vcpu, REG_PSTATE, "KVM_GET_ONE_REG (PSTATE)")?;
        // The vectors are wherever VBAR_EL1 points: the host's, in the host area the layout
        // placed, or the guest's own.
        let vectors = get(vcpu, VBAR_EL1_ID, "KVM_GET_ONE_REG (VBAR_EL1)")?;
        if Aarch64::handler_code(vectors).contains(&registers.pc) {
            registers.pc = get(vcpu, REG_ELR_EL1, "KVM_GET_ONE_REG (ELR_EL1)")?;
            registers.pstate = get(vcpu, REG_SPSR_EL1, "KVM_GET_ONE_REG (SPSR_EL1)")?;
        }
        registers.sp = if registers.pstate & PSTATE_SP_SELECT != 0 {
            get(vcpu, REG_SP_EL1, "KVM_GET_ONE_REG (SP_EL1)")?
        } else {
            get(vcpu, REG_SP_EL0, "KVM_GET_ONE_REG (SP_EL0)")?
        };
        Ok(registers)
    }

    /// PSCI SYSTEM_OFF is a power-off; SYSTEM_RESET comes from the host's exception vectors
    /// when they have no doorbell (or a guest that asked for it), so it reports the exception.
    fn system_event(vcpu: &mut VcpuFd, kind: u32, data: &[u64]) -> SystemStop {
        let registers = [
            (ESR_EL1_ID, "KVM_GET_ONE_REG (ESR_EL1)"),
            (REG_ELR_EL1, "KVM_GET_ONE_REG (ELR_EL1)"),
            (FAR_EL1_ID, "KVM_GET_ONE_REG (FAR_EL1)"),
        ];
        reset_is_an_exception(vcpu, kind, data, registers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_register_ids_are_the_kernels_encoding() {
        // arch/arm64/include/uapi/asm/kvm.h: KVM_REG_ARM_CORE_REG(regs.pc), offset 256 / 4.
        assert_eq!(REG_PC, 0x6030_0000_0010_0040);
        assert_eq!(REG_X0, 0x6030_0000_0010_0000);
    }

    #[test]
    fn system_register_ids_are_the_kernels_encoding() {
        // ARM64_SYS_REG(3, 0, 1, 0, 0) and ARM64_SYS_REG(3, 0, 10, 2, 0).
        assert_eq!(SCTLR_EL1_ID, 0x6030_0000_0013_c080);
        assert_eq!(MAIR_EL1_ID, 0x6030_0000_0013_c510);
    }

    #[test]
    fn sp_el0_is_the_kernels_core_register_after_x30() {
        // KVM_REG_ARM_CORE_REG(regs.sp): offset 248 / 4.
        assert_eq!(REG_SP_EL0, 0x6030_0000_0010_003e);
    }

    #[test]
    fn spsr_el1_is_the_kernels_core_register_after_elr_el1() {
        // KVM_REG_ARM_CORE_REG(spsr[KVM_SPSR_EL1]): offset 288 / 4.
        assert_eq!(REG_SPSR_EL1, 0x6030_0000_0010_0048);
    }

    #[test]
    fn output_size_covers_the_ipa_size() {
        assert_eq!(ips(40), 0b010 << 32);
        assert_eq!(ips(44), 0b100 << 32);
        assert_eq!(ips(48), 0b101 << 32);
        assert_eq!(ips(33), 0b001 << 32);
    }
}
