//! aarch64: 4 KiB-granule paging through TTBR0_EL1, exception-class names, and the host's
//! exception vectors (`exceptions.rs`), which report an exception as an UNHANDLED ucall through
//! the MMIO doorbell.
//!
//! The crash frame: a vCPU stopped in the vectors ([`Arch::handler_code`] of VBAR_EL1) took
//! the exception at ELR_EL1 with the PSTATE in SPSR_EL1; exception entry left `sp` and the
//! other registers alone, but the vector's code overwrote `x0` and `x1`.

mod core_registers;
// Installed by `vm::arch` on a host of this architecture only; elsewhere only the names and the
// handlers' range are used.
#[cfg_attr(not(all(feature = "vm", target_arch = "aarch64")), allow(dead_code))]
pub(crate) mod exceptions;

pub use core_registers::UserPtRegs;

use super::Arch;
use std::ops::Range;

/// The aarch64 architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Aarch64;

/// `EM_AARCH64`.
const EM_AARCH64: u16 = 183;

impl Arch for Aarch64 {
    type Format = crate::paging::aarch64::Aarch64;
    type CoreRegisters = UserPtRegs;

    const NAME: &'static str = "aarch64";
    const ELF_MACHINE: u16 = EM_AARCH64;
    const HOST_AREA: u64 = exceptions::END_OFFSET;
    const HOST_AREA_NAME: &'static str = "exception vectors, doorbell and stacks";
    const MAX_INSTRUCTION_LEN: usize = 4;

    /// IRQ, FIQ, SError, or the exception class of a synchronous exception (`data abort`, ...)
    /// from the syndrome (ESR_EL1) in the error code.
    fn exception_name(vector: u64, syndrome: u64) -> &'static str {
        exceptions::name(vector, syndrome)
    }

    /// The vector table: 16 entries of 128 bytes.
    fn handler_code(vbar: u64) -> Range<u64> {
        vbar..vbar.saturating_add(exceptions::TABLE_SIZE)
    }
}
