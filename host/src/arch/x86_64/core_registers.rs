//! x86_64 registers in a core: the kernel's `struct user_regs_struct`
//! (`arch/x86/include/asm/user_64.h`), filled from `KVM_GET_REGS` and `KVM_GET_SREGS`.

use zerocopy::{Immutable, IntoBytes};

/// `struct user_regs_struct`: what `NT_PRSTATUS` carries as `pr_reg` on x86_64, in its order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, IntoBytes, Immutable)]
#[repr(C)]
#[allow(missing_docs)] // The kernel's register names.
pub struct UserRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    /// The syscall number on syscall entry; -1 (all ones) otherwise, as here.
    pub orig_rax: u64,
    pub rip: u64,
    pub cs: u64,
    pub eflags: u64,
    pub rsp: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    pub ds: u64,
    pub es: u64,
    pub fs: u64,
    pub gs: u64,
}

impl UserRegs {
    /// The program counter.
    pub fn program_counter(&self) -> u64 {
        self.rip
    }

    /// The stack pointer.
    pub fn stack_pointer(&self) -> u64 {
        self.rsp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    /// `sizeof(struct user_regs_struct)` and the offsets gdb's amd64-linux target reads
    /// (`amd64_linux_gregset_reg_offset`): rip is register 16, rsp 19, gs 26.
    #[test]
    fn user_regs_have_the_kernels_layout() {
        assert_eq!(size_of::<UserRegs>(), 27 * 8);
        assert_eq!(offset_of!(UserRegs, rbp), 4 * 8);
        assert_eq!(offset_of!(UserRegs, rip), 16 * 8);
        assert_eq!(offset_of!(UserRegs, rsp), 19 * 8);
        assert_eq!(offset_of!(UserRegs, gs), 26 * 8);
    }
}
