//! The opt-in log ring: lines that a guest logs without an exit each, drained by the host.
//!
//! A guest that logs a lot pays a whole exit per [`Command::Printf`](crate::Command::Printf)
//! line. With a log ring it writes its lines into memory it shares with the host, and the host
//! drains them when the guest exits anyway (any ucall, or the vCPU's end), so a line costs a
//! fraction of an exit. The guest exits for the ring's sake only when it is full
//! ([`FLUSH_COMMAND`]).
//!
//! # Finding each other
//!
//! Two 8-byte little-endian guest globals, found by the host through the ELF symbol table as
//! [`MMIO_ADDR_SYMBOL`](crate::MMIO_ADDR_SYMBOL) is:
//!
//! | global | written by | value |
//! |--------|------------|-------|
//! | [`ENABLED_SYMBOL`] | the host, before the guest runs | [`ENABLED`] when the host drains log rings; anything else means it does not, and the guest logs through PRINTF |
//! | [`ADDRESS_SYMBOL`] | the guest, once its ring is set up | the guest-*physical* address of the ring's [`RingHeader`] (8-byte aligned), or 0 for no ring |
//!
//! The ring's address is physical so that the host can drain it whatever the guest did to its
//! page tables, even after a crash. A guest that runs identity-mapped (as `ucall-guest`'s do)
//! publishes its ring's address as it sees it.
//!
//! # Layout
//!
//! | offset | size | field | written by |
//! |--------|------|-------|------------|
//! | 0  | 4 | `magic`, [`MAGIC`] | guest, before publishing |
//! | 4  | 4 | `version`, [`VERSION`] | guest, before publishing |
//! | 8  | 4 | `capacity`: bytes of the data area, a power of two from [`MIN_CAPACITY`] to [`MAX_CAPACITY`] | guest, before publishing |
//! | 12 | 4 | `head`: bytes ever produced, wrapping at 2^32 | guest only |
//! | 16 | 4 | `tail`: bytes ever consumed, wrapping at 2^32 | host only |
//! | 20 | 4 | reserved, 0 | nobody |
//! | 24 | `capacity` | data area | guest |
//!
//! All fields are little-endian. Byte `n` of the stream lives at data offset
//! `n % capacity`; records and their length prefixes wrap around the end of the data area
//! freely (no padding). `head - tail` (wrapping) is the number of unread bytes, never more than
//! `capacity`.
//!
//! # Records
//!
//! Each line is one record: a 2-byte little-endian length `len`, then `len` bytes of UTF-8 text
//! without terminator, `len` at most [`LINE_MAX_LEN`] (the text of a PRINTF string). A longer
//! line is truncated, at a character boundary, to [`LINE_MAX_LEN`] bytes, or to `capacity - 2`
//! bytes if the ring is smaller: truncated, not split, as PRINTF truncates. A record never
//! straddles `head`: the guest publishes whole records only.
//!
//! # Protocol
//!
//! Guest (the only producer; a guest with several vCPUs serialises them itself):
//! 1. Writes the record's bytes from offset `head % capacity` on, wrapping, within the free space
//!    `capacity - (head - tail)` (reading `tail` with acquire semantics). When the free space
//!    runs out before the record is complete, it sends [`FLUSH_COMMAND`]: the host drains the
//!    ring up to `head` before it resumes the guest (the record in progress lies after `head`,
//!    so the host neither reads nor frees it), and the guest goes on with the room that freed.
//!    If a flush frees nothing (a host that breaks the protocol), the line is cut to what fits.
//! 2. Stores `head + 2 + len` to `head` with release semantics (on aarch64 `stlr`; on x86_64 a
//!    plain store after the others), so the host that sees the new `head` sees the bytes.
//!
//! Host (the only consumer; a host that drains from several threads serialises them):
//! 1. Reads the header, `head` with acquire semantics, and checks everything (magic, version,
//!    capacity, the ring inside guest memory, `head - tail` at most `capacity`).
//! 2. Copies the `head - tail` unread bytes out of the ring, then checks and delivers the
//!    records in order, each as one line.
//! 3. Stores the new `tail` with release semantics, after its last read of the data area, so the
//!    guest overwrites nothing unread.
//!
//! The host drains before it handles any ucall of the guest, PRINTF included, and when the vCPU
//! ends for any reason (DONE, ABORT, UNHANDLED, a crash or a timeout), so lines come out in the
//! order the guest wrote them relative to its ucalls, and none is lost when it fails.
//!
//! ```
//! use ucall_abi::log_ring::{self, RingHeader};
//! use zerocopy::{FromBytes, IntoBytes};
//!
//! // A 16-byte ring holding the line "hi", as the guest leaves it.
//! let header = RingHeader::new(16);
//! let mut ring = header.as_bytes().to_vec();
//! ring.extend_from_slice(&[0; 16]);
//! let data = RingHeader::SIZE;
//! ring[data..data + 4].copy_from_slice(&[2, 0, b'h', b'i']);
//! ring[RingHeader::HEAD_OFFSET..][..4].copy_from_slice(&4u32.to_le_bytes());
//!
//! let header = RingHeader::read_from_prefix(&ring).unwrap().0;
//! assert_eq!(header.unread(), 4);
//! assert!(header.check().is_ok());
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The guest global in which the host says that it drains log rings (by writing [`ENABLED`]).
pub const ENABLED_SYMBOL: &str = "ucall_log_ring_enabled";

/// The value of [`ENABLED_SYMBOL`] that means "this host drains log rings".
pub const ENABLED: u64 = 1;

/// The guest global that holds the guest-physical address of the guest's ring, or 0.
pub const ADDRESS_SYMBOL: &str = "ucall_log_ring";

/// The command a guest sends when its ring is full: the host drains the ring and resumes it.
/// No arguments. A protocol number, below the user range.
pub const FLUSH_COMMAND: u64 = 6;

/// `magic`: "ULOG" in little-endian bytes.
pub const MAGIC: u32 = u32::from_le_bytes(*b"ULOG");

/// `version` of the layout and protocol described here.
pub const VERSION: u32 = 1;

/// The smallest data area: room for a length and a few bytes of text.
pub const MIN_CAPACITY: u32 = 16;

/// The largest data area (1 MiB): a bound on what the host copies per drain.
pub const MAX_CAPACITY: u32 = 1 << 20;

/// Bytes of a record's length prefix.
pub const LENGTH_LEN: usize = 2;

/// The longest line text in a record: a PRINTF string's, without its NUL.
pub const LINE_MAX_LEN: usize = crate::STRING_MAX_LEN - 1;

/// The ring's header, at the ring's guest-physical address, followed by the data area.
///
/// The host reads it as plain bytes; a guest that writes it uses atomic accesses for `head` and
/// `tail` at [`RingHeader::HEAD_OFFSET`] and [`RingHeader::TAIL_OFFSET`].
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct RingHeader {
    /// [`MAGIC`].
    pub magic: u32,
    /// [`VERSION`].
    pub version: u32,
    /// Bytes of the data area: a power of two from [`MIN_CAPACITY`] to [`MAX_CAPACITY`].
    pub capacity: u32,
    /// Bytes ever produced (wrapping); written by the guest only.
    pub head: u32,
    /// Bytes ever consumed (wrapping); written by the host only.
    pub tail: u32,
    /// Zero.
    pub reserved: u32,
}

/// What is wrong with a [`RingHeader`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// `magic` is not [`MAGIC`].
    BadMagic(u32),
    /// `version` is not [`VERSION`].
    BadVersion(u32),
    /// `capacity` is not a power of two from [`MIN_CAPACITY`] to [`MAX_CAPACITY`].
    BadCapacity(u32),
    /// `head - tail` is more than `capacity`.
    Overrun {
        /// `head`.
        head: u32,
        /// `tail`.
        tail: u32,
        /// `capacity`.
        capacity: u32,
    },
}

impl RingHeader {
    /// The header's size: where the data area starts.
    pub const SIZE: usize = core::mem::size_of::<RingHeader>();
    /// Where `head` is.
    pub const HEAD_OFFSET: usize = core::mem::offset_of!(RingHeader, head);
    /// Where `tail` is.
    pub const TAIL_OFFSET: usize = core::mem::offset_of!(RingHeader, tail);

    /// An empty ring's header for a data area of `capacity` bytes.
    ///
    /// ```
    /// let header = ucall_abi::log_ring::RingHeader::new(4096);
    /// assert_eq!((header.head, header.tail, header.unread()), (0, 0, 0));
    /// ```
    pub const fn new(capacity: u32) -> RingHeader {
        RingHeader {
            magic: MAGIC,
            version: VERSION,
            capacity,
            head: 0,
            tail: 0,
            reserved: 0,
        }
    }

    /// Whether `capacity` is a power of two from [`MIN_CAPACITY`] to [`MAX_CAPACITY`].
    ///
    /// ```
    /// use ucall_abi::log_ring::RingHeader;
    ///
    /// assert!(RingHeader::capacity_is_valid(4096));
    /// assert!(!RingHeader::capacity_is_valid(4000));
    /// assert!(!RingHeader::capacity_is_valid(8));
    /// ```
    pub const fn capacity_is_valid(capacity: u32) -> bool {
        capacity.is_power_of_two() && MIN_CAPACITY <= capacity && capacity <= MAX_CAPACITY
    }

    /// Unread bytes, `head - tail` wrapping; meaningful once [`check`](Self::check) passed.
    pub const fn unread(&self) -> u32 {
        self.head.wrapping_sub(self.tail)
    }

    /// Checks magic, version, capacity and that `head` is at most `capacity` ahead of `tail`.
    ///
    /// ```
    /// use ucall_abi::log_ring::{HeaderError, RingHeader};
    ///
    /// let mut header = RingHeader::new(16);
    /// header.head = 17;
    /// assert_eq!(header.check(), Err(HeaderError::Overrun { head: 17, tail: 0, capacity: 16 }));
    /// ```
    pub const fn check(&self) -> Result<(), HeaderError> {
        if self.magic != MAGIC {
            return Err(HeaderError::BadMagic(self.magic));
        }
        if self.version != VERSION {
            return Err(HeaderError::BadVersion(self.version));
        }
        if !RingHeader::capacity_is_valid(self.capacity) {
            return Err(HeaderError::BadCapacity(self.capacity));
        }
        if self.unread() > self.capacity {
            return Err(HeaderError::Overrun {
                head: self.head,
                tail: self.tail,
                capacity: self.capacity,
            });
        }
        Ok(())
    }
}

// The layout is the wire format: pin it.
const _: () = assert!(RingHeader::SIZE == 24);
const _: () = assert!(RingHeader::HEAD_OFFSET == 12);
const _: () = assert!(RingHeader::TAIL_OFFSET == 16);
const _: () = assert!(LINE_MAX_LEN <= u16::MAX as usize);
const _: () = assert!(MIN_CAPACITY as usize > LENGTH_LEN);
const _: () = assert!(FLUSH_COMMAND < crate::FIRST_USER_COMMAND);
// No command of the protocol has the flush's number.
const _: () = assert!(FLUSH_COMMAND >= crate::Command::ALL.len() as u64);
