//! The structures the host keeps in guest memory, as errors name them.

use std::fmt;

/// A structure the host keeps in guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum HostRegion {
    /// The architecture's own structures, by the name it gives them.
    Arch(&'static str),
    /// The page tables the host builds.
    PageTables,
    /// The vCPU stacks.
    Stacks,
}

impl fmt::Display for HostRegion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostRegion::Arch(name) => write!(f, "the host's {name}"),
            HostRegion::PageTables => f.write_str("the host's page tables"),
            HostRegion::Stacks => f.write_str("the vCPU stacks"),
        }
    }
}
