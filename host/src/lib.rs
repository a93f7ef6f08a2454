//! The host side of ucalls: calls from a bare-metal KVM guest to its host through one exit.
//!
//! Each piece works on its own, on a VMM's own `VmFd`, `VcpuFd` and [`vm_memory::GuestMemory`]:
//!
//! - [`probe`]: find a guest-physical address for the ucall MMIO page.
//! - [`paging`]: build guest page tables, and walk them (bounded, checked) to read guest memory.
//! - [`decode`]: turn an exit plus guest memory into a typed [`Ucall`].
//! - [`vm`]: a small VM builder and run loop for tests and the `ucall-run` runner.
//!
//! The wire format is [`ucall_abi`]'s.
#![deny(missing_docs)]

pub mod decode;
mod error;
pub mod paging;
pub mod probe;
pub mod vm;

pub use decode::{Abort, Ucall};
pub use error::Error;
