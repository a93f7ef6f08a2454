//! What can go wrong while deciding whether an exit is a ucall and decoding its record.

use crate::paging;

/// An exit that touched the ucall address or port the wrong way, or a record that cannot be
/// decoded.
///
/// ```
/// use ucall_host::decode::{self, Exit, Transport};
///
/// let exit = Exit::mmio_write(0x2800_0000_0000, &[0; 4]);
/// let err = Transport::mmio(0x2800_0000_0000).record_address(&exit, || 0).unwrap_err();
/// assert!(matches!(err, decode::Error::BadMmioAccess { len: 4, is_write: true, .. }));
/// ```
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Error {
    /// An access to the ucall MMIO address that is not an 8-byte write.
    #[error(
        "bad access to the ucall MMIO address {gpa:#x}: a {len}-byte {} (a ucall is an 8-byte write)",
        if *is_write { "write" } else { "read" }
    )]
    BadMmioAccess {
        /// The address.
        gpa: u64,
        /// The access size.
        len: usize,
        /// Whether it was a write.
        is_write: bool,
    },
    /// A port I/O access to the ucall port that is not a 1-byte `in`.
    #[error(
        "bad access to the ucall port {port:#x}: a {size}-byte {} (a ucall is a 1-byte in)",
        if *is_in { "in" } else { "out" }
    )]
    BadPioAccess {
        /// The port.
        port: u16,
        /// The access size in bytes (times the repeat count of string I/O).
        size: usize,
        /// Whether it was an `in`.
        is_in: bool,
    },
    /// A rooted ucall's call block is not 16-byte aligned.
    #[error("rooted ucall: the call block at guest-physical {gpa:#x} is not 16-byte aligned")]
    RootedCallMisaligned {
        /// The guest-physical address the guest sent.
        gpa: u64,
    },
    /// A rooted ucall's call block is not in guest memory.
    #[error("rooted ucall: the call block at guest-physical {gpa:#x} is outside guest memory")]
    RootedCallOutsideMemory {
        /// The guest-physical address the guest sent.
        gpa: u64,
    },
    /// An SBI call to the ucall extension with a function that is not the ucall.
    #[error(
        "bad SBI call to the ucall extension {extension:#x}: function {function} (a ucall is function {})",
        ucall_abi::SBI_UCALL_FUNCTION
    )]
    BadSbiCall {
        /// The extension.
        extension: u64,
        /// The function asked for.
        function: u64,
    },
    /// A ucall record names a command this host does not know.
    #[error("ucall record at {record_gva:#x} has unknown command {cmd}")]
    UnknownCommand {
        /// The command number.
        cmd: u64,
        /// Where the record is.
        record_gva: u64,
    },
    /// The record or one of its strings cannot be read through the guest's page tables.
    #[error(transparent)]
    Paging(#[from] paging::Error),
}
