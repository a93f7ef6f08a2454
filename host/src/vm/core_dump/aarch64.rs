//! aarch64 registers in a core: the kernel's `struct user_pt_regs`
//! (`arch/arm64/include/uapi/asm/ptrace.h`), filled with `KVM_GET_ONE_REG` of the core
//! registers.

use zerocopy::{Immutable, IntoBytes};

/// `struct user_pt_regs`: what `NT_PRSTATUS` carries as `pr_reg` on aarch64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, Immutable)]
#[repr(C)]
pub struct UserPtRegs {
    /// x0 to x30 (x29 is the frame pointer, x30 the link register).
    pub regs: [u64; 31],
    /// The stack pointer of the exception level the vCPU was at (SP_EL1 at EL1h).
    pub sp: u64,
    /// The program counter.
    pub pc: u64,
    /// PSTATE.
    pub pstate: u64,
}

impl UserPtRegs {
    /// The program counter.
    pub fn program_counter(&self) -> u64 {
        self.pc
    }

    /// The stack pointer.
    pub fn stack_pointer(&self) -> u64 {
        self.sp
    }
}

#[cfg(target_arch = "aarch64")]
mod native {
    use super::UserPtRegs;
    use crate::vm::KvmError;
    use crate::vm::arch::aarch64::{
        Aarch64, REG_ELR_EL1, REG_PC, REG_PSTATE, REG_SP_EL1, VBAR_EL1_ID, core_reg, get,
    };
    use crate::vm::core_dump::CoreArch;
    use kvm_bindings::kvm_regs;
    use kvm_ioctls::VcpuFd;
    use std::mem::offset_of;

    /// SP_EL0, `regs.sp` of `struct kvm_regs`.
    const REG_SP_EL0: u64 = core_reg(offset_of!(kvm_regs, regs.sp));
    /// SPSR_EL1, `spsr[KVM_SPSR_EL1]` of `struct kvm_regs`.
    const REG_SPSR_EL1: u64 = core_reg(offset_of!(kvm_regs, spsr));
    /// The bytes of an exception vector table: 16 entries of 128 bytes.
    const VECTOR_TABLE_SIZE: u64 = 16 * 0x80;
    /// PSTATE.M\[0\]: the vCPU runs on its own exception level's stack pointer (EL1h), not
    /// SP_EL0.
    const PSTATE_SP_SELECT: u64 = 1;

    impl CoreArch for Aarch64 {
        type Registers = UserPtRegs;

        /// 34 `KVM_GET_ONE_REG`s: x0..x30, the stack pointer in use, pc, pstate. A vCPU stopped
        /// in the exception vectors shows where the exception was taken instead (pc from
        /// ELR_EL1, pstate from SPSR_EL1; exception entry left sp and the other registers alone,
        /// but the vector's code overwrote x0), as a process's core shows the faulting
        /// instruction, so that gdb unwinds the guest's own frames.
        fn core_registers(
            vcpu: &mut VcpuFd,
            _memory: &vm_memory::GuestMemoryMmap,
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
            if (vectors..vectors.saturating_add(VECTOR_TABLE_SIZE)).contains(&registers.pc) {
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
    }

    #[cfg(test)]
    mod tests {
        use super::*;

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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// `sizeof(struct user_pt_regs)` and the offsets gdb's aarch64-linux target reads
    /// (`aarch64_linux_gregmap`): sp after x30, then pc, then pstate (cpsr).
    #[test]
    fn user_pt_regs_have_the_kernels_layout() {
        assert_eq!(size_of::<UserPtRegs>(), 34 * 8);
        assert_eq!(offset_of!(UserPtRegs, sp), 31 * 8);
        assert_eq!(offset_of!(UserPtRegs, pc), 32 * 8);
        assert_eq!(offset_of!(UserPtRegs, pstate), 33 * 8);
    }
}
