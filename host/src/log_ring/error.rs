//! What can be wrong with a guest's log ring.

use vm_memory::GuestAddress;

/// A log ring that cannot be drained, or a global that cannot be read or written. Every variant
/// comes from guest memory or the guest's ELF and names where the problem is; the ring's address
/// is its guest-physical address.
///
/// ```
/// use ucall_host::log_ring::{drain, Error};
/// use vm_memory::GuestAddress;
/// use ucall_host::memory::HeapMemory;
///
/// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap();
/// let err = drain(&memory, GuestAddress(0x100), |_| {}).unwrap_err();
/// assert!(matches!(err, Error::BadMagic { ring: GuestAddress(0x100), magic: 0 }));
/// assert_eq!(err.to_string(), "log ring at 0x100: magic is 0x0, not 0x474f4c55 (\"ULOG\")");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Error {
    /// A log-ring global (its address from the ELF's symbol table) is not in guest memory.
    #[error("log-ring global at {global:#x} is outside guest memory")]
    GlobalOutsideMemory {
        /// The global's guest-physical address.
        global: u64,
    },
    /// The ring's address is not 8-byte aligned.
    #[error("log ring at {:#x}: not 8-byte aligned", ring.0)]
    Misaligned {
        /// The ring's address.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::address"))]
        ring: GuestAddress,
    },
    /// The ring's header is not (wholly) in guest memory.
    #[error("log ring at {:#x}: its header is outside guest memory", ring.0)]
    HeaderOutsideMemory {
        /// The ring's address.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::address"))]
        ring: GuestAddress,
    },
    /// `magic` is wrong.
    #[error("log ring at {:#x}: magic is {magic:#x}, not {:#x} (\"ULOG\")", ring.0, ucall_abi::log_ring::MAGIC)]
    BadMagic {
        /// The ring's address.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::address"))]
        ring: GuestAddress,
        /// What the header says.
        magic: u32,
    },
    /// `version` is not one this host knows.
    #[error("log ring at {:#x}: version {version} is not {}", ring.0, ucall_abi::log_ring::VERSION)]
    BadVersion {
        /// The ring's address.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::address"))]
        ring: GuestAddress,
        /// What the header says.
        version: u32,
    },
    /// `capacity` is not a power of two in the allowed range.
    #[error(
        "log ring at {:#x}: capacity {capacity:#x} is not a power of two from {:#x} to {:#x}",
        ring.0,
        ucall_abi::log_ring::MIN_CAPACITY,
        ucall_abi::log_ring::MAX_CAPACITY
    )]
    BadCapacity {
        /// The ring's address.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::address"))]
        ring: GuestAddress,
        /// What the header says.
        capacity: u32,
    },
    /// The data area runs outside guest memory.
    #[error("log ring at {:#x}: its {capacity:#x}-byte data area is outside guest memory", ring.0)]
    DataOutsideMemory {
        /// The ring's address.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::address"))]
        ring: GuestAddress,
        /// The data area's size.
        capacity: u32,
    },
    /// `head` is more than `capacity` bytes ahead of `tail`.
    #[error(
        "log ring at {:#x}: head {head:#x} is more than the capacity {capacity:#x} ahead of tail {tail:#x}",
        ring.0
    )]
    Overrun {
        /// The ring's address.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::address"))]
        ring: GuestAddress,
        /// `head`.
        head: u32,
        /// `tail`.
        tail: u32,
        /// `capacity`.
        capacity: u32,
    },
    /// A record's length is more than a line may be.
    #[error(
        "log ring at {:#x}: the record at stream position {position:#x} is {len} bytes long, more than {max_len}",
        ring.0
    )]
    RecordTooLong {
        /// The ring's address.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::address"))]
        ring: GuestAddress,
        /// Where the record starts in the stream (its length prefix).
        position: u32,
        /// The length it claims.
        len: usize,
        /// The most a line in this ring may have.
        max_len: usize,
    },
    /// A record (or its length prefix) runs past `head`.
    #[error(
        "log ring at {:#x}: the record at stream position {position:#x} runs past head {head:#x}",
        ring.0
    )]
    RecordPastHead {
        /// The ring's address.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::address"))]
        ring: GuestAddress,
        /// Where the record starts in the stream.
        position: u32,
        /// `head`.
        head: u32,
    },
    /// A record's text is not UTF-8.
    #[error(
        "log ring at {:#x}: the record at stream position {position:#x} is not UTF-8 after {valid_up_to} bytes",
        ring.0
    )]
    NotUtf8 {
        /// The ring's address.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::address"))]
        ring: GuestAddress,
        /// Where the record starts in the stream.
        position: u32,
        /// How many bytes of its text are valid.
        valid_up_to: usize,
    },
}
