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
