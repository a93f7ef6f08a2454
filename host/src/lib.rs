//! The host side of ucalls: calls from a bare-metal KVM guest to its host through one exit.
//!
//! Each piece works on its own, on a VMM's own `VmFd`, `VcpuFd` and [`vm_memory::GuestMemory`]:
//!
//! - [`arch`]: what each architecture is, without KVM (page-table format, exception names, the
//!   host's exception handlers, core registers); all three on every host.
//! - [`probe`]: find a guest-physical address for the ucall MMIO page.
//! - [`paging`]: build guest page tables, and walk them (bounded, checked) to read guest memory.
//! - [`decode`]: turn an exit ([`decode::Exit`], made from a `VcpuExit` with
//!   [`Exit::from_kvm`](decode::Exit::from_kvm)) plus a [`paging::GuestView`] of the guest's
//!   memory into a typed [`Ucall`].
//! - [`convention`]: the wire conventions (how a ucall is located, numbered and answered),
//!   one module each behind [`convention::Convention`].
//! - [`log_ring`]: drain the lines a guest logged into its memory without an exit each.
//! - [`vm`] (feature `vm`, on by default): a small VM builder and run loop for tests and the
//!   `ucall-run` runner, and ELF cores of guests for gdb ([`vm::core_dump`]).
//!
//! The wire format is [`ucall_abi`]'s; its crate docs describe the protocol.
//!
//! # Which part to use
//!
//! - **A VMM of your own** keeps its VM, memory, vCPU setup and run loop, and uses [`probe`],
//!   [`paging`] and [`decode`] (plus, if it likes, the loader [`vm::GuestImage`] and the guest
//!   setup of [`vm::arch::Native`]); [`probe::install_mmio_page`] sets up MMIO ucalls in one
//!   call. Such a VMM may turn the `vm` feature off (`default-features = false`): the crate is
//!   then these pieces and [`log_ring`], without `kvm-ioctls`, `kvm-bindings`, `goblin`,
//!   `vmm-sys-util` or `libc`, so no error of it names their types or ties the VMM to their
//!   versions. `examples/foreign_vmm.rs` in this crate is a whole VMM written so, on `kvm-ioctls` and
//!   `vm-memory` alone; run it with
//!   `cargo run -p ucall-host --example foreign_vmm -- --mmio path/to/guest.elf`.
//! - **Tests that run a guest** use [`vm::VmBuilder`] and [`vm::Vcpu::next_ucall`] (or
//!   [`vm::Vcpu::next_event`] to serve devices of their own, and [`vm::Vcpu::reply`] to answer
//!   calls).
//! - **A command line** is the `ucall-run` binary (feature `runner`), which is also a cargo
//!   `runner` for guest crates. The crate is not published: install the runner from a clone of
//!   the repository with `cargo install --path host --features runner`.
//!
//! The core of a VMM's exit handling, with the guest's memory and page tables in hand:
//!
//! ```
//! use ucall_host::decode::{decode, Exit, Transport};
//! use ucall_host::paging::{x86_64::X86_64, GuestView, MemoryKind, PageTables};
//! use ucall_host::{Error, Ucall};
//! use vm_memory::GuestAddress;
//! use ucall_host::memory::HeapMemory;
//!
//! fn on_io_in(
//!     guest: &GuestView<'_, HeapMemory, X86_64>,
//!     exit: Exit,
//!     rdi: u64,
//! ) -> Result<Option<Ucall>, Error> {
//!     let Some(record) = Transport::pio().record_address(&exit, || rdi)? else {
//!         return Ok(None); // the VMM's own device
//!     };
//!     Ok(Some(decode(guest, record)?))
//! }
//! # let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
//! # let tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)?;
//! # let serial = Exit::PioIn { port: 0x3f8, size: 1 };
//! # assert!(on_io_in(&tables.view(&memory), serial, 0)?.is_none());
//! # Ok::<(), Error>(())
//! ```
//!
//! # Features
//!
//! - `vm` (default): the [`vm`] module (VM builder, run loop, ELF loader,
//!   watchdog) and `Exit::from_kvm`, on `kvm-ioctls`, `kvm-bindings`, `vmm-sys-util`, `goblin`
//!   and `libc`.
//! - `runner`: the `ucall-run` binary (implies `vm`; adds `clap`, `anstream`, `anstyle`,
//!   `serde_json`).
//! - `serde`: `serde::Serialize` for [`Ucall`], [`decode::Exit`] and every error type, so that a
//!   VMM can log them as structured data, and `Deserialize` for the plain data among them
//!   ([`Ucall`], [`Abort`], [`decode::Exit`], [`decode::Transport`]). Errors serialize their
//!   typed fields as they are; a source error of another crate (`kvm-ioctls`, `vm-memory`,
//!   `goblin`) is serialized as its message, so errors do not deserialize.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

pub mod arch;
pub mod convention;
pub mod decode;
mod error;
#[cfg(feature = "vm")]
#[cfg_attr(docsrs, doc(cfg(feature = "vm")))]
pub mod harness;
pub mod log_ring;
pub mod memory;
pub mod paging;
pub mod probe;
#[cfg(feature = "serde")]
mod serde_display;
#[cfg(feature = "vm")]
#[cfg_attr(docsrs, doc(cfg(feature = "vm")))]
pub mod vm;

pub use decode::{Abort, Ucall};
pub use error::Error;

/// The wire format, so that a user of this crate needs no second dependency for it.
pub use ucall_abi;
/// The guest memory traits every piece here takes, at the version this crate uses.
pub use vm_memory;

/// The README's example, compiled and run as a doc test so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
