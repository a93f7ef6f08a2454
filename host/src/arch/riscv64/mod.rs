//! riscv64: Sv48 (or Sv39) paging through `satp`, `scause` names, and the host's trap handler
//! (`exceptions.rs`), which reports an exception as an UNHANDLED ucall over the SBI transport.
//!
//! The crash frame: a vCPU stopped in the handler after its first instruction (the swap of
//! `sp` and `sscratch`; [`Arch::handler_code`] of `stvec`) took the exception at `sepc`, and
//! the guest's `sp` is in `sscratch`; the handler overwrote `t0`, `a0`, `a6` and `a7`.

mod core_registers;
// Installed by `vm::arch` on a host of this architecture only; elsewhere only the names and the
// handlers' range are used.
#[cfg_attr(not(all(feature = "vm", target_arch = "riscv64")), allow(dead_code))]
pub(crate) mod exceptions;

pub use core_registers::RiscvUserRegs;

use super::Arch;
use std::ops::Range;

/// The riscv64 architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Riscv64;

/// `EM_RISCV`.
const EM_RISCV: u16 = 243;

impl Arch for Riscv64 {
    type Format = crate::paging::riscv64::Riscv64;
    type CoreRegisters = RiscvUserRegs;

    const NAME: &'static str = "riscv64";
    const ELF_MACHINE: u16 = EM_RISCV;
    const HOST_AREA: u64 = exceptions::END_OFFSET;
    const HOST_AREA_NAME: &'static str = "trap handler and exception stacks";
    const SBI_CALLS: bool = true;
    const MAX_INSTRUCTION_LEN: usize = 4;

    /// `scause`'s name: "load page fault", "illegal instruction", ...; the error code is 0.
    fn exception_name(scause: u64, _error_code: u64) -> &'static str {
        exceptions::name(scause)
    }

    /// The handler past its first instruction, where `sp` is already swapped.
    fn handler_code(stvec: u64) -> Range<u64> {
        stvec.saturating_add(4)..stvec.saturating_add(4 * exceptions::code().len() as u64)
    }
}
