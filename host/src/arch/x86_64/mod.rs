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
use x86_64::registers::control::{Cr0Flags, Cr4Flags};
use x86_64::registers::model_specific::EferFlags;

/// The x86_64 architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct X86_64;

/// CR0 of a vCPU in the long mode ucall guests run in: protected mode with paging, write
/// protection in ring 0, and the x87/SSE unit as an OS that saves it sets it up.
///
/// ```
/// use ucall_host::arch::x86_64::LONG_MODE_CR0;
///
/// assert_eq!(LONG_MODE_CR0 & (1 << 31), 1 << 31); // CR0.PG
/// ```
pub const LONG_MODE_CR0: u64 = Cr0Flags::PROTECTED_MODE_ENABLE
    .union(Cr0Flags::MONITOR_COPROCESSOR)
    .union(Cr0Flags::EXTENSION_TYPE)
    .union(Cr0Flags::NUMERIC_ERROR)
    .union(Cr0Flags::WRITE_PROTECT)
    .union(Cr0Flags::PAGING)
    .bits();
/// CR4 of that long mode: PAE paging (4-level, not LA57) and SSE with its exceptions.
///
/// ```
/// use ucall_host::arch::x86_64::LONG_MODE_CR4;
///
/// assert_eq!(LONG_MODE_CR4 & (1 << 5), 1 << 5); // CR4.PAE
/// ```
pub const LONG_MODE_CR4: u64 = Cr4Flags::PHYSICAL_ADDRESS_EXTENSION
    .union(Cr4Flags::OSFXSR)
    .union(Cr4Flags::OSXMMEXCPT_ENABLE)
    .bits();
/// EFER of that long mode: long mode enabled and active.
///
/// ```
/// use ucall_host::arch::x86_64::LONG_MODE_EFER;
///
/// assert_eq!(LONG_MODE_EFER, (1 << 8) | (1 << 10)); // EFER.LME | EFER.LMA
/// ```
pub const LONG_MODE_EFER: u64 = EferFlags::LONG_MODE_ENABLE
    .union(EferFlags::LONG_MODE_ACTIVE)
    .bits();

/// `EM_X86_64`.
const EM_X86_64: u16 = 62;

impl Arch for X86_64 {
    type Format = crate::paging::x86_64::X86_64;
    type CoreRegisters = UserRegs;

    const NAME: &'static str = "x86_64";
    const ELF_MACHINE: u16 = EM_X86_64;
    const HOST_AREA: u64 = exceptions::END_OFFSET;
    const HOST_AREA_NAME: &'static str = "IDT and exception handlers";
    /// The vCPU's own exception stack (and GDT and TSS).
    const VCPU_AREA: u64 = 0x400;
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
