//! Which page tables a ucall is read through: the format and root a vCPU runs with, or those
//! a rooted ucall named, checked as the architecture requires.

use crate::paging::GuestView;
use crate::vm::arch::{KvmArch, Native, RootError};
use crate::vm::{Format, RunError};
use kvm_ioctls::VcpuFd;
use vm_memory::{GuestAddress, GuestMemory};

/// A set of guest page tables: their format and root, which with the guest's memory make a
/// [`GuestView`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::vm) struct Tables {
    pub(in crate::vm) format: Format,
    pub(in crate::vm) root: GuestAddress,
}

impl Tables {
    /// `memory` seen through these tables.
    pub(in crate::vm) fn view<'a, M: GuestMemory + ?Sized>(
        &'a self,
        memory: &'a M,
    ) -> GuestView<'a, M, Format> {
        GuestView::new(memory, &self.format, self.root)
    }
}

impl From<(Format, GuestAddress)> for Tables {
    fn from((format, root): (Format, GuestAddress)) -> Self {
        Tables { format, root }
    }
}

/// The format and root of the tables vCPU `vcpu` runs with now.
pub(super) fn live_tables(vcpu: usize, fd: &mut VcpuFd, built: Format) -> Result<Tables, RunError> {
    let tables = Native::live_tables(fd, built).map_err(|e| match e {
        RootError::Kvm(source) => RunError::Kvm { vcpu, source },
        RootError::Unsupported(mode) => RunError::UnsupportedPagingMode { vcpu, mode },
    })?;
    Ok(Tables::from(tables))
}

/// The tables a rooted ucall named, checked as the architecture requires.
pub(super) fn carried_tables(vcpu: usize, root: u64, built: Format) -> Result<Tables, RunError> {
    let tables = Native::carried_tables(root, built).map_err(|e| match e {
        RootError::Kvm(source) => RunError::Kvm { vcpu, source },
        RootError::Unsupported(mode) => RunError::UnsupportedPagingMode { vcpu, mode },
    })?;
    Ok(Tables::from(tables))
}
