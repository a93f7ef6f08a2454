//! Why a guest's tests cannot be run at all.

use crate::vm::{LoadError, TestTableError};

/// Why a test program is refused before any of its tests runs.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum HarnessError {
    /// The ELF is not a guest this host loads.
    #[error(transparent)]
    Image(LoadError),
    /// Its test table breaks a rule of the ABI.
    #[error(transparent)]
    Table(#[from] TestTableError),
    /// It has a table but no `ucall_test_selected` the host may write.
    #[error("the guest has a test table, but: {0}")]
    Selection(LoadError),
}
