//! riscv64 registers in a core: the kernel's `struct user_regs_struct`
//! (`arch/riscv/include/uapi/asm/ptrace.h`), filled with `KVM_GET_ONE_REG` of the core
//! registers, which KVM lays out the same way (`struct kvm_riscv_core` starts with it).

use zerocopy::{Immutable, IntoBytes};

/// `struct user_regs_struct`: what `NT_PRSTATUS` carries as `pr_reg` on riscv64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, Immutable)]
#[repr(C)]
pub struct RiscvUserRegs {
    /// The program counter.
    pub pc: u64,
    /// x1 to x31 (`ra`, `sp`, `gp`, `tp`, `t0`, ...).
    pub regs: [u64; 31],
}

impl RiscvUserRegs {
    /// The program counter.
    pub fn program_counter(&self) -> u64 {
        self.pc
    }

    /// The stack pointer (x2).
    pub fn stack_pointer(&self) -> u64 {
        self.regs[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// `sizeof(struct user_regs_struct)`: pc, then x1..x31 (gdb's `riscv_linux_gregmap`).
    #[test]
    fn user_regs_have_the_kernels_layout() {
        assert_eq!(size_of::<RiscvUserRegs>(), 32 * 8);
        assert_eq!(offset_of!(RiscvUserRegs, regs), 8);
    }
}
