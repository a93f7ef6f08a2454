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
//! let in_ring = LOG.install(); // false: the host does not drain rings, lines go by PRINTF
//! for i in 0..100 {
//!     guest_log!("step {i}");
//! }
//! ucall_guest::sync(&[1]); // the host prints the 100 lines, then this SYNC
//! ```
//!
//! The ring's address is published as a physical address: it must be identity-mapped, as a
//! `ucall-guest` program is. Several vCPUs may log into the one ring: a lock serialises them.

use crate::{Record, STRING_MAX_LEN, TextBuffer, printf, send};
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
/// ```no_run
/// ucall_guest::log_ring::log(format_args!("stage {}", 3));
/// ```
pub fn log(args: fmt::Arguments<'_>) {
    let ring = ACTIVE.load(Ordering::Acquire);
    if ring.is_null() {
        return printf(args);
    }
    let mut text = TextBuffer::<STRING_MAX_LEN>::new();
    text.write_args(args);
    let capacity = ACTIVE_CAPACITY.load(Ordering::Relaxed);
    // SAFETY: ACTIVE holds only a pointer to a `&'static LogRing<N>` with N == capacity, set by
    // `install` before it was published (the acquire load above pairs with its release store).
    let ring = unsafe { Producer::new(ring, capacity) };
    if !with_lock(|| ring.push(truncated(text.as_str(), ring.max_text_len()))) {
        // The host drained nothing though the ring was full: keep the line rather than lose it.
        // The host drains the ring before it handles this PRINTF, so the order stays.
        printf(format_args!("{}", text.as_str()));
    }
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

    /// Appends one record, flushing once if the ring is full; false if it stayed full.
    fn push(&self, text: &str) -> bool {
        let need = (abi::LENGTH_LEN + text.len()) as u32;
        let head = self.header.head.load(Ordering::Relaxed);
        let mut flushed = false;
        loop {
            // Acquire: the host's reads of the bytes it consumed are done before we overwrite.
            let tail = self.header.tail.load(Ordering::Acquire);
            let used = head.wrapping_sub(tail);
            if used <= self.capacity && self.capacity - used >= need {
                break;
            }
            if flushed {
                return false;
            }
            send(&Record::with_cmd(abi::FLUSH_COMMAND, &[]));
            flushed = true;
        }
        let length = (text.len() as u16).to_le_bytes();
        self.put(head, &length);
        self.put(head.wrapping_add(abi::LENGTH_LEN as u32), text.as_bytes());
        // Release: the host that sees the new head sees the record's bytes.
        self.header
            .head
            .store(head.wrapping_add(need), Ordering::Release);
        true
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
            ptr::copy_nonoverlapping(bytes[first..].as_ptr(), self.data, bytes.len() - first);
        }
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
        assert!(producer(&RING).push("hey"));
        assert_eq!(&data(&RING)[..5], &[3, 0, b'h', b'e', b'y']);
        assert_eq!(RING.header.head.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn a_record_wraps_around_the_end_of_the_data_area() {
        static RING: LogRing<16> = LogRing::new();
        RING.header.head.store(14, Ordering::Relaxed);
        RING.header.tail.store(14, Ordering::Relaxed);
        assert!(producer(&RING).push("abcd"));
        let data = data(&RING);
        assert_eq!((&data[14..], &data[..4]), (&[4, 0][..], &b"abcd"[..]));
        assert_eq!(RING.header.head.load(Ordering::Relaxed), 20);
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
