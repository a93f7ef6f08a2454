//! Draining a guest's log ring: lines the guest logged into its memory without an exit each.
//!
//! The protocol is [`ucall_abi::log_ring`]'s. A host that supports rings:
//! 1. before the guest runs, [`LogRing::enable`]s them: it writes
//!    [`ENABLED`](ucall_abi::log_ring::ENABLED) into the guest global
//!    [`ENABLED_SYMBOL`](ucall_abi::log_ring::ENABLED_SYMBOL) and remembers where the guest will
//!    publish its ring ([`ADDRESS_SYMBOL`](ucall_abi::log_ring::ADDRESS_SYMBOL));
//! 2. calls [`LogRing::drain`] at every exit of the guest, before it handles the ucall (so the
//!    order of lines and ucalls is kept), on a LOG_FLUSH
//!    ([`FLUSH_COMMAND`](ucall_abi::log_ring::FLUSH_COMMAND)) before it resumes the vCPU, and
//!    once more when a vCPU ends for any reason (so nothing is lost on ABORT or a crash).
//!
//! Nothing the guest wrote is trusted: the ring must lie in guest memory, its header must be
//! right, and each record must be in bounds and UTF-8, or [`drain`] says what is wrong, as an
//! [`Error`]. A drain reads the header and at most the ring's capacity, copies the unread
//! bytes before it looks at them (so the guest cannot change them under it), and writes only
//! the ring's `tail`. It reads guest-physical memory only, so it works whatever the guest did to
//! its page tables.
//!
//! ```
//! use ucall_abi::log_ring::RingHeader;
//! use ucall_host::log_ring::LogRing;
//! use vm_memory::{Bytes, GuestAddress};
//! use ucall_host::memory::HeapMemory;
//! use zerocopy::IntoBytes;
//!
//! let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x10000)]).unwrap();
//! // Where the guest's ELF has the globals `ucall_log_ring_enabled` and `ucall_log_ring`.
//! let (enabled, address) = (GuestAddress(0x8000), GuestAddress(0x8008));
//! let rings = LogRing::enable(&memory, enabled, address)?;
//!
//! // The guest sets up a 16-byte ring at 0x9000, logs "hi" and publishes the ring.
//! let mut header = RingHeader::new(16);
//! header.head = 4;
//! memory.write_slice(header.as_bytes(), GuestAddress(0x9000)).unwrap();
//! memory.write_slice(&[2, 0, b'h', b'i'], GuestAddress(0x9000 + 24)).unwrap();
//! memory.write_obj(0x9000u64, address).unwrap();
//!
//! let mut lines = Vec::new();
//! assert_eq!(rings.drain(&memory, |line| lines.push(line.to_string()))?, 1);
//! assert_eq!(lines, ["hi"]);
//! assert_eq!(rings.drain(&memory, |_| unreachable!("drained already"))?, 0);
//! # Ok::<(), ucall_host::log_ring::Error>(())
//! ```

mod error;
#[cfg(test)]
mod tests;

pub use error::Error;

use std::sync::atomic::Ordering;
use ucall_abi::log_ring::{self as abi, HeaderError, RingHeader};
use vm_memory::{Bytes, GuestAddress, GuestMemory, Permissions};
use zerocopy::{FromZeros, IntoBytes};

/// A guest's log-ring globals, once the host has enabled rings: where to look for the ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogRing {
    address_global: GuestAddress,
}

impl LogRing {
    /// Tells the guest that this host drains log rings, by writing
    /// [`ENABLED`](abi::ENABLED) into the global at `enabled_global`, and returns the rings to
    /// drain: the one whose address the guest publishes in the global at `address_global`. Both
    /// addresses are guest-physical, from the ELF's symbols
    /// [`ENABLED_SYMBOL`](abi::ENABLED_SYMBOL) and [`ADDRESS_SYMBOL`](abi::ADDRESS_SYMBOL); a
    /// guest without them has no ring.
    pub fn enable<M: GuestMemory + ?Sized>(
        memory: &M,
        enabled_global: GuestAddress,
        address_global: GuestAddress,
    ) -> Result<LogRing, Error> {
        memory
            .write_obj(abi::ENABLED, enabled_global)
            .map_err(|_| Error::GlobalOutsideMemory {
                global: enabled_global.0,
            })?;
        Ok(LogRing { address_global })
    }

    /// The ring the guest has published, or `None` before it has.
    pub fn address<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
    ) -> Result<Option<GuestAddress>, Error> {
        let address: u64 =
            memory
                .read_obj(self.address_global)
                .map_err(|_| Error::GlobalOutsideMemory {
                    global: self.address_global.0,
                })?;
        Ok((address != 0).then_some(GuestAddress(address)))
    }

    /// Drains the published ring (see [`drain`]); 0 lines when the guest has published none.
    pub fn drain<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        line: impl FnMut(&str),
    ) -> Result<usize, Error> {
        match self.address(memory)? {
            Some(ring) => drain(memory, ring, line),
            None => Ok(0),
        }
    }
}

/// Hands each unread line of the ring at guest-physical `ring` to `line`, in order, marks them
/// read, and returns how many there were.
///
/// A bad header is an error before any line. A bad record is an error after the lines before it
/// were handed over and marked read; the record and those after it stay unread.
///
/// ```
/// use ucall_abi::log_ring::RingHeader;
/// use ucall_host::log_ring::{drain, Error};
/// use vm_memory::{Bytes, GuestAddress};
/// use ucall_host::memory::HeapMemory;
/// use zerocopy::IntoBytes;
///
/// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap();
/// let mut header = RingHeader::new(16);
/// header.head = 3; // one record: the line "a"
/// memory.write_slice(header.as_bytes(), GuestAddress(0x100)).unwrap();
/// memory.write_slice(&[1, 0, b'a'], GuestAddress(0x100 + 24)).unwrap();
/// assert_eq!(drain(&memory, GuestAddress(0x100), |line| assert_eq!(line, "a")), Ok(1));
/// ```
pub fn drain<M: GuestMemory + ?Sized>(
    memory: &M,
    ring: GuestAddress,
    mut line: impl FnMut(&str),
) -> Result<usize, Error> {
    let header = read_header(memory, ring)?;
    let unread = read_unread(memory, ring, &header)?;
    let max_len = abi::LINE_MAX_LEN.min(header.capacity as usize - abi::LENGTH_LEN);
    let mut consumed = 0;
    let mut lines = 0;
    let outcome = loop {
        match next_record(&unread[consumed..], max_len) {
            Ok(None) => break Ok(lines),
            Ok(Some((text, len))) => {
                line(text);
                consumed += len;
                lines += 1;
            }
            Err(bad) => {
                break Err(bad.at(ring, header.tail.wrapping_add(consumed as u32), header.head));
            }
        }
    };
    // Release: every read of the bytes consumed is done before the guest may overwrite them.
    let tail = header.tail.wrapping_add(consumed as u32);
    memory
        .store(tail, tail_address(ring), Ordering::Release)
        .map_err(|_| Error::HeaderOutsideMemory { ring })?;
    outcome
}

/// The ring's header, checked, with `head` read with acquire semantics.
fn read_header<M: GuestMemory + ?Sized>(
    memory: &M,
    ring: GuestAddress,
) -> Result<RingHeader, Error> {
    // Aligned, `head` and `tail` can be accessed atomically.
    if ring.0 % 8 != 0 {
        return Err(Error::Misaligned { ring });
    }
    if ring.0.checked_add(RingHeader::SIZE as u64).is_none() {
        return Err(Error::HeaderOutsideMemory { ring });
    }
    let outside = |_| Error::HeaderOutsideMemory { ring };
    let mut header = RingHeader::new_zeroed();
    memory
        .read_slice(header.as_mut_bytes(), ring)
        .map_err(outside)?;
    // Acquire: the bytes the guest wrote before this head are visible to the reads that follow.
    header.head = memory
        .load(
            GuestAddress(ring.0 + RingHeader::HEAD_OFFSET as u64),
            Ordering::Acquire,
        )
        .map_err(outside)?;
    header.check().map_err(|bad| match bad {
        HeaderError::BadMagic(magic) => Error::BadMagic { ring, magic },
        HeaderError::BadVersion(version) => Error::BadVersion { ring, version },
        HeaderError::BadCapacity(capacity) => Error::BadCapacity { ring, capacity },
        HeaderError::Overrun {
            head,
            tail,
            capacity,
        } => Error::Overrun {
            ring,
            head,
            tail,
            capacity,
        },
    })?;
    Ok(header)
}

/// A copy of the `head - tail` unread bytes, in stream order.
fn read_unread<M: GuestMemory + ?Sized>(
    memory: &M,
    ring: GuestAddress,
    header: &RingHeader,
) -> Result<Vec<u8>, Error> {
    let capacity = header.capacity;
    let outside = || Error::DataOutsideMemory { ring, capacity };
    let data = ring
        .0
        .checked_add(RingHeader::SIZE as u64)
        .filter(|data| {
            data.checked_add(u64::from(capacity)).is_some()
                && memory.check_range(GuestAddress(*data), capacity as usize, Permissions::Read)
        })
        .ok_or_else(outside)?;
    let start = header.tail & (capacity - 1);
    let mut unread = vec![0; header.unread() as usize];
    // The unread bytes run from `start` to the end of the data area, then on from its start.
    let first = unread.len().min((capacity - start) as usize);
    let (to_end, from_start) = unread.split_at_mut(first);
    memory
        .read_slice(to_end, GuestAddress(data + u64::from(start)))
        .map_err(|_| outside())?;
    memory
        .read_slice(from_start, GuestAddress(data))
        .map_err(|_| outside())?;
    Ok(unread)
}

/// What is wrong with one record, before it is placed in the ring.
enum BadRecord {
    TooLong { len: usize, max_len: usize },
    PastHead,
    NotUtf8 { valid_up_to: usize },
}

impl BadRecord {
    fn at(self, ring: GuestAddress, position: u32, head: u32) -> Error {
        match self {
            BadRecord::TooLong { len, max_len } => Error::RecordTooLong {
                ring,
                position,
                len,
                max_len,
            },
            BadRecord::PastHead => Error::RecordPastHead {
                ring,
                position,
                head,
            },
            BadRecord::NotUtf8 { valid_up_to } => Error::NotUtf8 {
                ring,
                position,
                valid_up_to,
            },
        }
    }
}

/// The first record of `bytes` and its size with its length, or `None` when `bytes` is empty.
fn next_record(bytes: &[u8], max_len: usize) -> Result<Option<(&str, usize)>, BadRecord> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let (length, rest) = bytes
        .split_first_chunk::<{ abi::LENGTH_LEN }>()
        .ok_or(BadRecord::PastHead)?;
    let len = usize::from(u16::from_le_bytes(*length));
    if len > max_len {
        return Err(BadRecord::TooLong { len, max_len });
    }
    let text = rest.get(..len).ok_or(BadRecord::PastHead)?;
    let text = std::str::from_utf8(text).map_err(|e| BadRecord::NotUtf8 {
        valid_up_to: e.valid_up_to(),
    })?;
    Ok(Some((text, abi::LENGTH_LEN + len)))
}

fn tail_address(ring: GuestAddress) -> GuestAddress {
    GuestAddress(ring.0 + RingHeader::TAIL_OFFSET as u64)
}
