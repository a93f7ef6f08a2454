//! The opt-in log ring: lines logged without an exit each, drained by the host at its next exit.
//!
//! A program declares one ring as a static and installs it; [`guest_log!`](crate::guest_log)
//! then writes lines into it, and the host reads them out whenever the guest exits (any ucall,
//! or the vCPU's end), before it handles that exit, so lines and ucalls keep their order. The
//! guest exits for the ring only when it is full. Without an installed ring, or with a host
//! that does not drain rings, [`guest_log!`](crate::guest_log) sends PRINTF ucalls instead, so
//! the same program runs on any host. [`ucall_abi::log_ring`] describes the protocol.
//!
//! ```no_run
//! use ucall_guest::{guest_log, log_ring::LogRing};
//!
//! static LOG: LogRing<4096> = LogRing::new();
//!
//! // False when the host does not drain rings: guest_log! then sends PRINTF ucalls.
//! let in_ring = LOG.install();
//! for i in 0..100 {
//!     guest_log!("step {i}");
//! }
//! ucall_guest::sync(&[1]); // the host prints the 100 lines, then this SYNC
//! ```
//!
//! The ring's address is published as a physical address: it must be identity-mapped, as a
//! `ucall-guest` program is. Several vCPUs may log into the one ring: a lock serialises them.

use crate::{Record, printf, send};
use core::cell::UnsafeCell;
use core::fmt;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use ucall_abi::log_ring::{self as abi, RingHeader};

/// Where the host says that it drains log rings ([`abi::ENABLED`]); before the guest runs.
#[used]
#[unsafe(export_name = "ucall_log_ring_enabled")]
static HOST_DRAINS: AtomicU64 = AtomicU64::new(0);

/// Where the guest publishes its ring's (physical) address for the host.
#[used]
#[unsafe(export_name = "ucall_log_ring")]
static RING_ADDRESS: AtomicU64 = AtomicU64::new(0);

/// The installed ring, for this program's own use: its header, and the data area after it.
static ACTIVE: AtomicPtr<Header> = AtomicPtr::new(ptr::null_mut());
/// The installed ring's capacity, from its type: never read back from memory the host shares.
static ACTIVE_CAPACITY: AtomicU32 = AtomicU32::new(0);
/// Serialises the vCPUs that log: the ring has one producer.
static LOCK: AtomicBool = AtomicBool::new(false);

/// The wire header ([`RingHeader`]), with atomics where guest and host meet.
#[repr(C)]
struct Header {
    magic: AtomicU32,
    version: AtomicU32,
    capacity: AtomicU32,
    head: AtomicU32,
    tail: AtomicU32,
    reserved: AtomicU32,
}

const _: () = assert!(size_of::<Header>() == RingHeader::SIZE);
const _: () = assert!(core::mem::offset_of!(Header, head) == RingHeader::HEAD_OFFSET);
const _: () = assert!(core::mem::offset_of!(Header, tail) == RingHeader::TAIL_OFFSET);

/// A log ring with a data area of `N` bytes: a power of two from [`abi::MIN_CAPACITY`] to
/// [`abi::MAX_CAPACITY`] (checked when the program is compiled). Declare it as a `static`, so
/// it stays in place and is zero-filled memory (`.bss`) until [`install`](LogRing::install).
///
/// ```no_run
/// static LOG: ucall_guest::log_ring::LogRing<65536> = ucall_guest::log_ring::LogRing::new();
/// ```
#[repr(C)]
pub struct LogRing<const N: usize> {
    header: Header,
    data: [UnsafeCell<u8>; N],
}

// SAFETY: the data area is written only under `LOCK`, by the one producer, and read by the host
// outside the guest program; the header's shared words are atomics.
unsafe impl<const N: usize> Sync for LogRing<N> {}

impl<const N: usize> LogRing<N> {
    /// An empty ring, not yet installed.
    pub const fn new() -> Self {
        const {
            assert!(
                N <= u32::MAX as usize && RingHeader::capacity_is_valid(N as u32),
                "a log ring's capacity is a power of two from MIN_CAPACITY to MAX_CAPACITY"
            )
        };
        LogRing {
            header: Header {
                magic: AtomicU32::new(0),
                version: AtomicU32::new(0),
                capacity: AtomicU32::new(0),
                head: AtomicU32::new(0),
                tail: AtomicU32::new(0),
                reserved: AtomicU32::new(0),
            },
            data: [const { UnsafeCell::new(0) }; N],
        }
    }

    /// Makes this the ring that [`guest_log!`](crate::guest_log) writes to and publishes it to
    /// the host, if the host drains log rings. Returns whether lines now go to this ring: false
    /// when the host does not drain rings or another ring is installed already (lines then go
    /// by PRINTF, or to the other ring). Installing the same ring again changes nothing.
    pub fn install(&'static self) -> bool {
        if HOST_DRAINS.load(Ordering::Relaxed) != abi::ENABLED {
            return false;
        }
        // A pointer to the whole ring (not only its header), so that the data area after the
        // header may be reached through it.
        let this = ptr::from_ref(self).cast::<Header>().cast_mut();
        let header = &self.header;
        with_lock(|| {
            let active = ACTIVE.load(Ordering::Relaxed);
            if !active.is_null() {
                return active == this;
            }
            header.magic.store(abi::MAGIC, Ordering::Relaxed);
            header.version.store(abi::VERSION, Ordering::Relaxed);
            header.capacity.store(N as u32, Ordering::Relaxed);
            header.head.store(0, Ordering::Relaxed);
            header.tail.store(0, Ordering::Relaxed);
            ACTIVE_CAPACITY.store(N as u32, Ordering::Relaxed);
            // Published after the header is written: the host checks it once it sees the address.
            RING_ADDRESS.store(this as u64, Ordering::Release);
            ACTIVE.store(this, Ordering::Release);
            true
        })
    }
}

impl<const N: usize> fmt::Debug for LogRing<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogRing")
            .field("capacity", &N)
            .field("head", &self.header.head.load(Ordering::Relaxed))
            .field("tail", &self.header.tail.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<const N: usize> Default for LogRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Logs one line of formatted text: into the installed ring, or as a PRINTF ucall when there is
/// none. Text longer than [`abi::LINE_MAX_LEN`] bytes (or than the ring's capacity less the
/// length) is truncated at a character boundary, as [`printf`] truncates.
/// [`guest_log!`](crate::guest_log) is the usual way to call it.
///
/// The text is formatted straight into the ring, with no buffer in between: on an emulating
/// hypervisor every guest instruction counts, and a line then costs its formatting and little
/// more. If the ring fills up in the middle of a line, the guest sends LOG_FLUSH; the host drains
/// the lines before this one, and the line goes on.
///
/// ```no_run
/// ucall_guest::log_ring::log(format_args!("stage {}", 3));
/// ```
pub fn log(args: fmt::Arguments<'_>) {
    let ring = ACTIVE.load(Ordering::Acquire);
    if ring.is_null() {
        return printf(args);
    }
    let capacity = ACTIVE_CAPACITY.load(Ordering::Relaxed);
    // SAFETY: ACTIVE holds only a pointer to a `&'static LogRing<N>` with N == capacity, set by
    // `install` before it was published (the acquire load above pairs with its release store).
    let ring = unsafe { Producer::new(ring, capacity) };
    with_lock(|| ring.write_record(args));
}

/// The installed ring, seen through its header.
struct Producer {
    header: &'static Header,
    data: *mut u8,
    capacity: u32,
}

impl Producer {
    /// # Safety
    ///
    /// `ring` points to a `LogRing<N>` that lives for ever, with `N == capacity`.
    unsafe fn new(ring: *mut Header, capacity: u32) -> Producer {
        Producer {
            // SAFETY: the caller guarantees a `'static` ring, whose first field is the header.
            header: unsafe { &*ring },
            // SAFETY: the data area follows the header within the same `LogRing` (repr(C)).
            data: unsafe { ring.cast::<u8>().add(RingHeader::SIZE) },
            capacity,
        }
    }

    /// The longest text a record in this ring can hold.
    fn max_text_len(&self) -> usize {
        abi::LINE_MAX_LEN.min(self.capacity as usize - abi::LENGTH_LEN)
    }

    /// Bytes free after `head`: what the host has not yet consumed is taken.
    fn free(&self, head: u32) -> usize {
        // Acquire: the host's reads of the bytes it consumed are done before we overwrite them.
        let used = head.wrapping_sub(self.header.tail.load(Ordering::Acquire));
        self.capacity.saturating_sub(used) as usize
    }

    /// Asks the host to drain the ring.
    fn flush(&self) {
        send(&Record::with_cmd(abi::FLUSH_COMMAND, &[]));
    }

    /// Formats one record after `head` and publishes it. A host that drains nothing on a flush
    /// breaks the protocol: the line is then cut to what fits, or dropped if not even its length
    /// does.
    fn write_record(&self, args: fmt::Arguments<'_>) {
        let head = self.header.head.load(Ordering::Relaxed);
        let mut flushed = false;
        if self.free(head) < abi::LENGTH_LEN {
            self.flush();
            flushed = true;
            if self.free(head) < abi::LENGTH_LEN {
                return;
            }
        }
        let max_len = self.max_text_len();
        let mut record = RecordWriter {
            ring: self,
            head,
            len: 0,
            max_len,
            room: max_len.min(self.free(head) - abi::LENGTH_LEN),
            flushed,
            cut: false,
        };
        // `write_str` below never fails, so neither does this. A line without arguments skips
        // the formatting machinery: fewer guest instructions.
        let _ = match args.as_str() {
            Some(text) => fmt::Write::write_str(&mut record, text),
            None => fmt::write(&mut record, args),
        };
        let len = record.len;
        self.put(head, &(len as u16).to_le_bytes());
        // Release: the host that sees the new head sees the record's bytes.
        self.header.head.store(
            head.wrapping_add((abi::LENGTH_LEN + len) as u32),
            Ordering::Release,
        );
    }

    /// Copies `bytes` into the data area from stream position `position`, wrapping.
    fn put(&self, position: u32, bytes: &[u8]) {
        let offset = (position & (self.capacity - 1)) as usize;
        let first = bytes.len().min(self.capacity as usize - offset);
        // SAFETY: `offset + first` and `bytes.len() - first` are within the data area of
        // `capacity` bytes (bytes.len() <= capacity - LENGTH_LEN); the area is UnsafeCell bytes
        // that only this producer writes, under the lock, and `bytes` is not in it.
        unsafe {
            ptr::copy_nonoverlapping(bytes.as_ptr(), self.data.add(offset), first);
            if first < bytes.len() {
                ptr::copy_nonoverlapping(bytes[first..].as_ptr(), self.data, bytes.len() - first);
            }
        }
    }
}

/// The text of a record being formatted into the ring, after its length at `head`.
struct RecordWriter<'a> {
    ring: &'a Producer,
    head: u32,
    /// Bytes of text so far.
    len: usize,
    max_len: usize,
    /// Bytes of text that may still follow: within `max_len` and the free space.
    room: usize,
    /// Whether this record sent a flush already: another could not free more, since the host
    /// drains only what is published.
    flushed: bool,
    /// Whether text was cut: what comes after is dropped, so the line is a prefix of the text.
    cut: bool,
}

impl fmt::Write for RecordWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.cut {
            return Ok(());
        }
        // Flush only when the free space is what limits the piece, not the line's length.
        if s.len() > self.room && self.room < self.max_len - self.len && !self.flushed {
            self.ring.flush();
            self.flushed = true;
            let taken = abi::LENGTH_LEN + self.len;
            self.room =
                (self.max_len - self.len).min(self.ring.free(self.head).saturating_sub(taken));
        }
        let piece = if s.len() <= self.room {
            s
        } else {
            self.cut = true;
            truncated(s, self.room)
        };
        let at = self.head.wrapping_add((abi::LENGTH_LEN + self.len) as u32);
        self.ring.put(at, piece.as_bytes());
        self.len += piece.len();
        self.room -= piece.len();
        Ok(())
    }
}

/// `text` cut to at most `max_len` bytes at a character boundary.
fn truncated(text: &str, max_len: usize) -> &str {
    let mut len = text.len().min(max_len);
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    &text[..len]
}

/// Runs `f` holding [`LOCK`].
fn with_lock<T>(f: impl FnOnce() -> T) -> T {
    while LOCK
        .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    let result = f();
    LOCK.store(false, Ordering::Release);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring of 16 bytes seen through a producer, outside any guest.
    fn producer(ring: &'static LogRing<16>) -> Producer {
        ring.header.capacity.store(16, Ordering::Relaxed);
        // SAFETY: `ring` is 'static and has 16 bytes of data.
        unsafe { Producer::new(ptr::from_ref(ring).cast::<Header>().cast_mut(), 16) }
    }

    fn data(ring: &LogRing<16>) -> [u8; 16] {
        // SAFETY: nothing writes the ring while the test reads it.
        core::array::from_fn(|i| unsafe { *ring.data[i].get() })
    }

    #[test]
    fn a_record_is_its_length_then_its_text() {
        static RING: LogRing<16> = LogRing::new();
        producer(&RING).write_record(format_args!("hey"));
        assert_eq!(&data(&RING)[..5], &[3, 0, b'h', b'e', b'y']);
        assert_eq!(RING.header.head.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn a_record_wraps_around_the_end_of_the_data_area() {
        static RING: LogRing<16> = LogRing::new();
        RING.header.head.store(14, Ordering::Relaxed);
        RING.header.tail.store(14, Ordering::Relaxed);
        producer(&RING).write_record(format_args!("ab{}", "cd"));
        let data = data(&RING);
        assert_eq!((&data[14..], &data[..4]), (&[4, 0][..], &b"abcd"[..]));
        assert_eq!(RING.header.head.load(Ordering::Relaxed), 20);
    }

    #[test]
    fn text_beyond_the_free_space_is_cut_and_what_follows_dropped() {
        static RING: LogRing<16> = LogRing::new();
        let ring = producer(&RING);
        // As after a flush that freed nothing more: 14 bytes of room for text.
        let mut record = RecordWriter {
            ring: &ring,
            head: 0,
            len: 0,
            max_len: ring.max_text_len(),
            room: 14,
            flushed: true,
            cut: false,
        };
        let _ = fmt::write(&mut record, format_args!("{}{}", "abcdefghijklmé", "z"));
        assert_eq!((record.len, record.cut), (13, true));
        assert_eq!(&data(&RING)[2..15], b"abcdefghijklm");
    }

    #[test]
    fn text_is_cut_at_a_character_boundary() {
        assert_eq!(truncated("aé€", 4), "aé");
        assert_eq!(truncated("abc", 14), "abc");
    }

    #[test]
    fn the_longest_text_leaves_room_for_the_length() {
        static RING: LogRing<16> = LogRing::new();
        assert_eq!(producer(&RING).max_text_len(), 14);
    }
}
