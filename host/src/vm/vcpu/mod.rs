//! A vCPU of a [`Vm`](super::Vm) and its API, one file per thing it does:
//!
//! - `run.rs`: `KVM_RUN` until the next exit that can be a ucall, everything else typed;
//! - `next_event.rs`: the next ucall or device access, the guest's log lines first;
//! - `reply.rs`: the host's answer to a ucall, and the data a device read returns;
//! - `tables.rs`: which page tables a ucall is read through;
//! - `core_registers.rs`: the registers for a core file.

mod core_registers;
mod next_event;
mod reply;
mod run;
mod tables;

pub use next_event::run_to_end;
pub use run::complete_pending_io;
pub(super) use tables::Tables;

use super::log_drain::VcpuLog;
use super::watchdog::Watchdog;
use super::{Format, TableRoot};
use crate::convention::Convention;
use crate::decode::{Exit, Transport};
use kvm_ioctls::VcpuFd;
use reply::PendingCall;
use std::sync::Arc;
use std::time::Duration;
use vm_memory::GuestMemoryMmap;

/// One vCPU of a [`Vm`](super::Vm), ready to run on any thread.
#[derive(Debug)]
pub struct Vcpu {
    pub(in crate::vm) index: usize,
    pub(in crate::vm) fd: VcpuFd,
    pub(in crate::vm) memory: Arc<GuestMemoryMmap>,
    /// The tables the builder made, which the vCPU starts with.
    pub(in crate::vm) built: Tables,
    pub(in crate::vm) table_root: TableRoot,
    pub(in crate::vm) transport: Transport,
    /// The VM's wire convention, shared by its vCPUs.
    pub(in crate::vm) convention: Arc<dyn Convention<GuestMemoryMmap, Format>>,
    pub(in crate::vm) timeout: Duration,
    pub(in crate::vm) watchdog: Watchdog,
    pub(in crate::vm) finished: bool,
    pub(in crate::vm) ioctls: u64,
    /// The read that the last event was, until the vCPU runs again.
    pub(in crate::vm) pending_read: Option<Exit>,
    /// The ucall that the last event was, until the vCPU runs again.
    pub(in crate::vm) pending_call: Option<PendingCall>,
    pub(in crate::vm) log: Option<VcpuLog>,
    /// Where the host's exception handlers' code is: an UNHANDLED from elsewhere is the guest's.
    pub(in crate::vm) handler_code: std::ops::Range<u64>,
}

impl Vcpu {
    /// The vCPU's index.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The vCPU's file descriptor, for anything this type does not offer.
    pub fn fd(&mut self) -> &mut VcpuFd {
        &mut self.fd
    }

    /// How many vCPU ioctls (`KVM_RUN`, `KVM_GET_ONE_REG`, ...) this vCPU's calls have issued,
    /// counted as they are issued: what a ucall costs, in the unit that dominates its cost on an
    /// emulating or nested hypervisor. A SYNC ucall from `ucall-guest` costs one, the `KVM_RUN`,
    /// on every architecture.
    ///
    /// ```no_run
    /// use ucall_host::vm::VmBuilder;
    ///
    /// let elf = std::fs::read("target/guests/x86_64/sync_stages")?;
    /// let mut vcpu = VmBuilder::new(&elf).build()?.take_vcpus().remove(0);
    /// let before = vcpu.ioctl_count();
    /// vcpu.next_ucall()?;
    /// assert_eq!(vcpu.ioctl_count() - before, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ioctl_count(&self) -> u64 {
        self.ioctls
    }

    /// Changes how long the vCPU may run without making a ucall (the builder's
    /// [`timeout`](super::VmBuilder::timeout)), from its next run on: a test harness gives each
    /// run what is left of the test's whole time.
    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }
}
