//! What an architecture is to ucalls, without KVM: its page-table format, its exception names,
//! the exception handlers the host installs in its guests (their code, where they keep their
//! stacks, and how to read the frame they leave), and the registers a core file of it holds.
//!
//! One module per architecture implements [`Arch`] on a unit type ([`X86_64`], [`Aarch64`],
//! [`Riscv64`]); all three are compiled on every host and without the `vm` feature, so that a
//! VMM that only decodes can name an exception of any of them. [`Native`] is this host's (the
//! one `cfg` that chooses). The KVM setup of each architecture is `vm::arch`, which builds on
//! these facts.
//!
//! ```
//! use ucall_host::arch::{Aarch64, Arch, Riscv64, X86_64};
//!
//! assert_eq!(X86_64::exception_name(14, 2), "#PF");
//! assert_eq!(Aarch64::exception_name(4, 0x25 << 26), "data abort");
//! assert_eq!(Riscv64::exception_name(13, 0), "load page fault");
//! ```

pub mod aarch64;
pub mod riscv64;
pub mod x86_64;

pub use aarch64::Aarch64;
pub use riscv64::Riscv64;
pub use x86_64::X86_64;

use crate::paging::PageTableFormat;
use std::fmt::Debug;
use std::ops::Range;
use zerocopy::{Immutable, IntoBytes};

/// This host's architecture.
#[cfg(target_arch = "aarch64")]
pub type Native = Aarch64;
/// This host's architecture.
#[cfg(target_arch = "riscv64")]
pub type Native = Riscv64;
/// This host's architecture.
#[cfg(target_arch = "x86_64")]
pub type Native = X86_64;

/// The facts of one guest architecture that need no KVM: what a decoder, a page-table walker, a
/// loader and a core writer need to know of it.
///
/// ```
/// use ucall_host::arch::{Arch, Riscv64};
///
/// assert_eq!(Riscv64::NAME, "riscv64");
/// assert!(Riscv64::SBI_CALLS && !Riscv64::PORT_IO);
/// ```
pub trait Arch: Copy + Debug + Default + Send + Sync + 'static {
    /// The format of its page tables.
    type Format: PageTableFormat + Copy + Debug + Send + Sync + 'static;
    /// The kernel's `elf_gregset_t` for the architecture: the registers an `NT_PRSTATUS` note
    /// of a core file carries, in their order.
    type CoreRegisters: IntoBytes + Immutable + Copy + Debug + Default + PartialEq + Send + Sync;

    /// The architecture's name, as `std::env::consts::ARCH` spells it.
    const NAME: &'static str;
    /// The ELF machine (`EM_*`) of its guests and of their cores.
    const ELF_MACHINE: u16;
    /// Bytes the host keeps in guest memory for its own structures (descriptor tables,
    /// exception handlers and their stacks), whole pages.
    const HOST_AREA: u64;
    /// What those structures are, for errors that name them.
    const HOST_AREA_NAME: &'static str;
    /// Whether port I/O ucalls exist.
    const PORT_IO: bool = false;
    /// Whether SBI-call ucalls exist.
    const SBI_CALLS: bool = false;
    /// The longest instruction, in bytes: how much a report shows at the program counter.
    const MAX_INSTRUCTION_LEN: usize;

    /// The name of the exception an UNHANDLED ucall reports, from its vector and error code
    /// (see [`ucall_abi::unhandled`] for what they hold on each architecture).
    fn exception_name(vector: u64, error_code: u64) -> &'static str;

    /// Where the code of the host's exception handlers is, given the register that points at
    /// them (the IDT base on x86_64, VBAR_EL1 on aarch64, `stvec` on riscv64): a vCPU stopped
    /// there is reporting an exception, and the architecture's crash frame says where the guest
    /// was (see each module).
    fn handler_code(table: u64) -> Range<u64>;
}
