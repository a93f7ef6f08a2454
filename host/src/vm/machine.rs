//! The VM that [`VmBuilder`](super::VmBuilder) makes.

use super::{Format, Layout, Vcpu};
use crate::convention::ConventionKind;
use crate::decode::Transport;
use crate::paging::PageTables;
use crate::probe::AddressWidths;
use kvm_ioctls::{Kvm, VmFd};
use std::sync::Arc;
use vm_memory::GuestMemoryMmap;

/// A VM built by [`VmBuilder`](super::VmBuilder).
///
/// Fields drop in declaration order: the VM before the memory KVM maps into it.
#[derive(Debug)]
pub struct Vm {
    pub(super) kvm: Kvm,
    pub(super) fd: VmFd,
    pub(super) memory: Arc<GuestMemoryMmap>,
    pub(super) vcpus: Vec<Vcpu>,
    pub(super) transport: Transport,
    pub(super) widths: AddressWidths,
    pub(super) tables: PageTables<Format>,
    pub(super) layout: Layout,
    pub(super) convention: ConventionKind,
}

impl Vm {
    /// Hands over the vCPUs (once), to run them here or each on its own thread.
    pub fn take_vcpus(&mut self) -> Vec<Vcpu> {
        std::mem::take(&mut self.vcpus)
    }

    /// The VM's file descriptor.
    pub fn fd(&self) -> &VmFd {
        &self.fd
    }

    /// The KVM handle the VM was made with.
    pub fn kvm(&self) -> &Kvm {
        &self.kvm
    }

    /// The guest's memory.
    pub fn memory(&self) -> &GuestMemoryMmap {
        &self.memory
    }

    /// Which exits are ucalls (for MMIO, the probed address is in it).
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The address widths KVM reported for the guest.
    pub fn address_widths(&self) -> AddressWidths {
        self.widths
    }

    /// Where the guest's RAM and the host's structures in it are.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The wire convention the guest's ucalls are read in (never [`ConventionKind::Auto`]).
    pub fn convention(&self) -> ConventionKind {
        self.convention
    }

    /// The guest's page tables as the host built them.
    pub fn page_tables(&self) -> &PageTables<Format> {
        &self.tables
    }
}
