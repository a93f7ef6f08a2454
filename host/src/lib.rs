//! The host side of ucalls: calls from a bare-metal KVM guest to its host through one exit.
//!
//! Each piece works on its own, on a VMM's own `VmFd`, `VcpuFd` and [`vm_memory::GuestMemory`]:
//!
//! - [`probe`]: find a guest-physical address for the ucall MMIO page.
//! - [`paging`]: build guest page tables, and walk them (bounded, checked) to read guest memory.
//! - [`decode`]: turn an exit ([`decode::Exit`], made from a `VcpuExit` with
//!   [`Exit::from_kvm`](decode::Exit::from_kvm)) plus a [`paging::GuestView`] of the guest's
//!   memory into a typed [`Ucall`].
//! - [`vm`]: a small VM builder and run loop for tests and the `ucall-run` runner.
//!
//! The wire format is [`ucall_abi`]'s; its crate docs describe the protocol.
//!
//! # Which part to use
//!
//! - **A VMM of your own** keeps its VM, memory, vCPU setup and run loop, and uses [`probe`],
//!   [`paging`] and [`decode`] (plus, if it likes, the loader [`vm::GuestImage`] and the guest
//!   setup of [`vm::arch::Native`]); [`probe::install_mmio_page`] sets up MMIO ucalls in one
//!   call.
//!   `examples/foreign_vmm.rs` in this crate is a whole VMM written so, on `kvm-ioctls` and
//!   `vm-memory` alone; run it with
//!   `cargo run -p ucall-host --example foreign_vmm -- --mmio path/to/guest.elf`.
//! - **Tests that run a guest** use [`vm::VmBuilder`] and [`vm::Vcpu::next_ucall`] (or
//!   [`vm::Vcpu::next_event`] to serve devices of their own, and [`vm::Vcpu::reply`] to answer
//!   calls).
//! - **A command line** is the `ucall-run` binary (feature `runner`), which is also a cargo
//!   `runner` for guest crates: `cargo install ucall-host --features runner`.
//!
//! The core of a VMM's exit handling, with the guest's memory and page tables in hand:
//!
//! ```
//! use ucall_host::decode::{decode, Exit, Transport};
//! use ucall_host::paging::{x86_64::X86_64, GuestView, MemoryKind, PageTables};
//! use ucall_host::{Error, Ucall};
//! use vm_memory::{GuestAddress, GuestMemoryMmap};
//!
//! fn on_io_in(
//!     guest: &GuestView<'_, GuestMemoryMmap, X86_64>,
//!     exit: Exit,
//!     rdi: u64,
//! ) -> Result<Option<Ucall>, Error> {
//!     let Some(record) = Transport::pio().record_address(&exit, || rdi)? else {
//!         return Ok(None); // the VMM's own device
//!     };
//!     Ok(Some(decode(guest, record)?))
//! }
//! # let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
//! # let tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)?;
//! # let serial = Exit::PioIn { port: 0x3f8, size: 1 };
//! # assert!(on_io_in(&tables.view(&memory), serial, 0)?.is_none());
//! # Ok::<(), Error>(())
//! ```
//!
//! # Features
//!
//! - `runner`: the `ucall-run` binary (adds `clap`, `anstream`, `anstyle`, `serde_json`).
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

pub mod decode;
mod error;
pub mod paging;
pub mod probe;
pub mod vm;

pub use decode::{Abort, Ucall};
pub use error::Error;
pub use paging::GuestView;
