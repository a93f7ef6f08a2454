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

#[cfg(target_arch = "x86_64")]
mod native {
    use super::UserRegs;
    use crate::vm::KvmError;
    use crate::vm::arch::x86_64::X86_64;
    use crate::vm::arch::x86_64::exceptions::{IDT_LIMIT, INTERRUPTED_FRAME, handler_code};
    use crate::vm::core_dump::CoreArch;
    use kvm_ioctls::VcpuFd;
    use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
    use zerocopy::IntoBytes;

    impl CoreArch for X86_64 {
        type Registers = UserRegs;

        /// Two ioctls: the general registers and the segment registers (selectors, FS and GS
        /// bases). A vCPU stopped in the host's exception handlers (an UNHANDLED ucall) shows
        /// where the exception was taken instead: rip, cs, rflags, rsp and ss from the frame the
        /// CPU pushed on the handler's stack, as a process's core shows the faulting
        /// instruction, so that gdb unwinds the guest's own frames.
        fn core_registers(
            vcpu: &mut VcpuFd,
            memory: &GuestMemoryMmap,
        ) -> Result<UserRegs, KvmError> {
            let mut r = vcpu.get_regs().map_err(KvmError::with("KVM_GET_REGS"))?;
            let mut s = vcpu.get_sregs().map_err(KvmError::with("KVM_GET_SREGS"))?;
            let in_handlers = s.idt.limit == IDT_LIMIT && handler_code(s.idt.base).contains(&r.rip);
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
