//! x86_64: 4-level paging, the SDM's exception mnemonics, and the host's IDT stubs
//! (`exceptions.rs`), which report every exception as an UNHANDLED ucall over port I/O.
//!
//! The crash frame: a vCPU stopped in the stubs ([`Arch::handler_code`] of the IDT base, with
//! the host's IDT limit) has its record at `rsp`, and the frame the CPU pushed (rip, cs,
//! rflags, rsp, ss) 0x48 bytes above it (`INTERRUPTED_FRAME` in `exceptions.rs`).

mod core_registers;
// Installed by `vm::arch` on a host of this architecture only; elsewhere only the names and the
// handlers' range are used.
#[cfg_attr(not(all(feature = "vm", target_arch = "x86_64")), allow(dead_code))]
pub(crate) mod exceptions;

pub use core_registers::UserRegs;

use super::Arch;
use std::ops::Range;

/// The x86_64 architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct X86_64;

/// `EM_X86_64`.
const EM_X86_64: u16 = 62;

impl Arch for X86_64 {
    type Format = crate::paging::x86_64::X86_64;
    type CoreRegisters = UserRegs;

    const NAME: &'static str = "x86_64";
    const ELF_MACHINE: u16 = EM_X86_64;
    const HOST_AREA: u64 = exceptions::END_OFFSET;
    const HOST_AREA_NAME: &'static str = "GDT, TSSes, IDT and exception handlers";
    const PORT_IO: bool = true;
    const MAX_INSTRUCTION_LEN: usize = 15;

    /// The SDM's mnemonic: `#PF`, `#UD`, ...; the error code does not change it.
    fn exception_name(vector: u64, _error_code: u64) -> &'static str {
        exceptions::name(vector)
    }

    fn handler_code(idt_base: u64) -> Range<u64> {
        exceptions::handler_code(idt_base)
    }
}
