//! A small VM for ucall guests: guest memory, an ELF, page tables, vCPUs and a run loop that
//! returns the next ucall or a typed error.
//!
//! This is what the tests and the `ucall-run` runner use; a VMM of its own needs none of it and
//! can use [`probe`](crate::probe), [`paging`](crate::paging) and [`decode`](crate::decode)
//! directly, with the loader [`GuestImage`] and the guest setup of [`arch::Native`] if it likes.
//!
//! - [`VmBuilder`] (`builder.rs`) makes the [`Vm`] (`machine.rs`), whose [`Vcpu`]s (`vcpu/`)
//!   run the loop; [`SetupError`] and [`RunError`] (`error.rs`) say what went wrong.
//! - [`Vcpu::next_event`] (`vcpu/next_event.rs`) returns ucalls and the test's own MMIO and port
//!   I/O ([`Event`], `event.rs`); [`Vcpu::answer_read`] supplies what a read returns,
//!   [`Vcpu::reply`] answers a ucall (`vcpu/reply.rs`). Ucalls are located, decoded and answered
//!   through the VM's wire convention ([`crate::convention`]).
//! - `exit.rs` makes a [`decode::Exit`](crate::decode::Exit) of a `kvm_ioctls::VcpuExit`;
//!   `ioctl_count.rs` counts the vCPU ioctls each call issues.
//! - [`Layout`] (`layout.rs`) places RAM and the host's structures around each guest's image.
//! - [`GuestImage`] (`elf/`) checks and loads the guest ELF; [`LoadError`] says why it refused.
//! - `log_drain.rs` drains the guest's log ring at every exit, so that the vCPUs return its lines as
//!   [`Ucall::Log`](crate::Ucall::Log) in order with the ucalls.
//! - [`arch`] is the KVM half of the architecture seam: one module per architecture implements
//!   [`arch::KvmArch`] on the facts of [`crate::arch`].
//! - [`core_dump`] writes an ELF core of a guest for gdb.
//!
//! ```no_run
//! use ucall_host::vm::{TransportKind, VmBuilder};
//! use ucall_host::Ucall;
//!
//! let elf = std::fs::read("guest.elf")?;
//! let mut vm = VmBuilder::new(&elf).transport(TransportKind::Auto).build()?;
//! let mut vcpu = vm.take_vcpus().remove(0);
//! loop {
//!     match vcpu.next_ucall()? {
//!         Ucall::Done => break,
//!         ucall => println!("{ucall}"),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod arch;
mod builder;
pub mod core_dump;
mod elf;
mod error;
mod event;
mod exit;
mod host_region;
mod ioctl_count;
mod layout;
mod log_drain;
mod machine;
mod sender;
mod vcpu;
mod watchdog;

pub use builder::VmBuilder;
pub use elf::{GuestImage, LoadError, Segment, TestCase, TestTableError, TextField, write_global};
pub use error::{ExitKind, KvmError, PagingMode, Position, RunError, SetupError, ShutdownReason};
pub use event::Event;
pub use layout::{HostRegion, Layout, LayoutError, LayoutRequest};
pub use machine::Vm;
pub use vcpu::{Vcpu, complete_pending_io, run_to_end};
pub use watchdog::{WatchdogError, WatchdogSignal};

use vm_memory::{GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

/// The page-table format of this host's architecture.
pub type Format = arch::FormatOf<arch::Native>;

/// How the guest signals ucalls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum TransportKind {
    /// Both at once where they exist: port I/O on x86_64, and MMIO whenever the guest has the
    /// symbol `ucall_exit_mmio_addr` (its address is published there). A guest written to
    /// either convention runs without choosing.
    #[default]
    Auto,
    /// An 8-byte store to a probed address published in `ucall_exit_mmio_addr`.
    Mmio,
    /// `in al, dx` on port 0x1000 with the record address in `rdi` (x86_64 only).
    Pio,
    /// An SBI call (`ecall`) to extension 0x08FF_FFFF, function 0, with the record address in
    /// `a0` (riscv64 only).
    Sbi,
}

/// As people write them: "MMIO", "port I/O", "SBI" (and "auto").
///
/// ```
/// assert_eq!(ucall_host::vm::TransportKind::Sbi.to_string(), "SBI");
/// ```
impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::Auto => "auto",
            TransportKind::Mmio => "MMIO",
            TransportKind::Pio => "port I/O",
            TransportKind::Sbi => "SBI",
        })
    }
}

/// Which page tables the host walks to find a plain ucall's record and strings (a rooted
/// ucall, as `ucall-guest` makes on aarch64 and riscv64, names its own: `ucall_abi::rooted`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableRoot {
    /// The root the vCPU runs with at the exit: CR3 on x86_64 (from the synced registers, no
    /// ioctl), TTBR0_EL1 on aarch64 and `satp` on riscv64 (one `KVM_GET_ONE_REG` per plain
    /// ucall). Right even for a guest that switches to tables of its own.
    #[default]
    Live,
    /// The tables the builder made, as the Linux KVM selftests assume: saves the register read
    /// on aarch64, but decodes a guest that switched tables through the wrong ones.
    Built,
}

/// Tells KVM about each region of `memory`, one memory slot per region.
///
/// # Safety
///
/// KVM maps the regions' host memory into the guest: `memory` must stay alive (not be dropped
/// or unmapped) for as long as `vm` exists, or the guest and KVM would access freed memory.
pub unsafe fn register_memory(
    vm: &kvm_ioctls::VmFd,
    memory: &GuestMemoryMmap,
) -> Result<(), SetupError> {
    for (slot, region) in memory.iter().enumerate() {
        let slot = slot as u32;
        let userspace_addr = region
            .get_host_address(vm_memory::MemoryRegionAddress(0))
            .map_err(|source| SetupError::HostAddress { slot, source })?
            as u64;
        let region = kvm_bindings::kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: region.start_addr().0,
            memory_size: region.len(),
            userspace_addr,
        };
        // SAFETY: the region is a live mapping of `memory_size` bytes that `memory` owns, and
        // the caller keeps `memory` alive as long as the VM (this function's contract).
        unsafe { vm.set_user_memory_region(region) }
            .map_err(KvmError::with("KVM_SET_USER_MEMORY_REGION"))?;
    }
    Ok(())
}
