//! Draining rings as a guest leaves them, well-formed and not.

use super::*;
use crate::memory::HeapMemory;
use proptest::prelude::*;

const MEMORY_SIZE: u64 = 0x4000;
const RING: GuestAddress = GuestAddress(0x1000);
const DATA: u64 = RING.0 + RingHeader::SIZE as u64;

fn memory() -> HeapMemory {
    HeapMemory::from_ranges(&[(GuestAddress(0), MEMORY_SIZE as usize)]).unwrap()
}

/// A guest's side of a ring of `capacity` bytes at [`RING`]: it appends records as the guest
/// crate does, and publishes them with `head`.
struct Guest {
    memory: HeapMemory,
    header: RingHeader,
}

impl Guest {
    fn new(capacity: u32) -> Self {
        let guest = Guest {
            memory: memory(),
            header: RingHeader::new(capacity),
        };
        guest.publish();
        guest
    }

    fn publish(&self) {
        self.memory
            .write_slice(self.header.as_bytes(), RING)
            .unwrap();
    }

    fn put(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            let offset = self.header.head & (self.header.capacity - 1);
            self.memory
                .write_obj(byte, GuestAddress(DATA + u64::from(offset)))
                .unwrap();
            self.header.head = self.header.head.wrapping_add(1);
        }
        self.publish();
    }

    fn log(&mut self, text: &str) {
        self.put(&(text.len() as u16).to_le_bytes());
        self.put(text.as_bytes());
    }

    /// Starts the stream at `position`, as if that many bytes had been logged and drained.
    fn at_position(mut self, position: u32) -> Self {
        self.header.head = position;
        self.header.tail = position;
        self.publish();
        self
    }

    fn drain(&self) -> (Result<usize, Error>, Vec<String>) {
        let mut lines = Vec::new();
        let result = drain(&self.memory, RING, |line| lines.push(line.to_string()));
        (result, lines)
    }

    fn tail(&self) -> u32 {
        self.memory.read_obj(tail_address(RING)).unwrap()
    }
}

#[test]
fn lines_come_out_in_order_and_the_ring_is_then_empty() {
    let mut guest = Guest::new(64);
    guest.log("one");
    guest.log("");
    guest.log("three é");
    assert_eq!(
        guest.drain(),
        (Ok(3), vec!["one".into(), "".into(), "three é".into()])
    );
    assert_eq!(guest.tail(), guest.header.head);
    assert_eq!(guest.drain(), (Ok(0), vec![]));
}

#[test]
fn a_record_wrapping_around_the_data_area_is_read_whole() {
    let mut guest = Guest::new(16).at_position(13);
    guest.log("abcdefgh"); // length at 13 and 14, text from 15 on through 0..7
    assert_eq!(guest.drain(), (Ok(1), vec!["abcdefgh".into()]));
}

#[test]
fn counters_wrapping_at_2_pow_32_are_followed() {
    let mut guest = Guest::new(16).at_position(u32::MAX - 2);
    guest.log("wrap");
    assert_eq!(guest.drain(), (Ok(1), vec!["wrap".into()]));
    assert_eq!(guest.tail(), 3);
}

#[test]
fn a_full_ring_is_drained_whole() {
    let mut guest = Guest::new(16);
    guest.log("abcdef"); // 8 bytes
    guest.log("ghijkl"); // 8 more: full
    assert_eq!(
        guest.drain(),
        (Ok(2), vec!["abcdef".into(), "ghijkl".into()])
    );
}

#[test]
fn a_ring_that_is_not_aligned_is_refused() {
    let guest = Guest::new(16);
    let err = drain(&guest.memory, GuestAddress(RING.0 + 4), |_| {}).unwrap_err();
    assert_eq!(
        err,
        Error::Misaligned {
            ring: GuestAddress(RING.0 + 4)
        }
    );
}

#[test]
fn a_header_past_the_end_of_memory_is_refused() {
    let ring = GuestAddress(MEMORY_SIZE - 8);
    let err = drain(&memory(), ring, |_| {}).unwrap_err();
    assert_eq!(err, Error::HeaderOutsideMemory { ring });
}

#[test]
fn a_header_at_the_top_of_the_address_space_is_refused() {
    let ring = GuestAddress(u64::MAX - 7);
    let err = drain(&memory(), ring, |_| {}).unwrap_err();
    assert_eq!(err, Error::HeaderOutsideMemory { ring });
}

#[test]
fn a_wrong_magic_is_refused() {
    let mut guest = Guest::new(16);
    guest.header.magic = 0x1234;
    guest.publish();
    assert_eq!(
        guest.drain().0,
        Err(Error::BadMagic {
            ring: RING,
            magic: 0x1234
        })
    );
}

#[test]
fn an_unknown_version_is_refused() {
    let mut guest = Guest::new(16);
    guest.header.version = 2;
    guest.publish();
    assert_eq!(
        guest.drain().0,
        Err(Error::BadVersion {
            ring: RING,
            version: 2
        })
    );
}

#[test]
fn a_capacity_that_is_not_a_power_of_two_is_refused() {
    let mut guest = Guest::new(16);
    guest.header.capacity = 48;
    guest.publish();
    assert_eq!(
        guest.drain().0,
        Err(Error::BadCapacity {
            ring: RING,
            capacity: 48
        })
    );
}

#[test]
fn a_capacity_above_the_maximum_is_refused() {
    let mut guest = Guest::new(16);
    guest.header.capacity = abi::MAX_CAPACITY * 2;
    guest.publish();
    let capacity = abi::MAX_CAPACITY * 2;
    assert_eq!(
        guest.drain().0,
        Err(Error::BadCapacity {
            ring: RING,
            capacity
        })
    );
}

#[test]
fn a_data_area_past_the_end_of_memory_is_refused_before_any_read() {
    let mut guest = Guest::new(16);
    guest.header.capacity = 0x4000; // from 0x1018 on: past 0x4000
    guest.publish();
    assert_eq!(
        guest.drain().0,
        Err(Error::DataOutsideMemory {
            ring: RING,
            capacity: 0x4000
        })
    );
}

#[test]
fn a_head_more_than_the_capacity_ahead_is_refused() {
    let mut guest = Guest::new(16);
    guest.header.head = 17;
    guest.publish();
    let expected = Error::Overrun {
        ring: RING,
        head: 17,
        tail: 0,
        capacity: 16,
    };
    assert_eq!(guest.drain().0, Err(expected));
}

#[test]
fn a_head_behind_the_tail_is_an_overrun() {
    let mut guest = Guest::new(16).at_position(8);
    guest.header.head = 7;
    guest.publish();
    let expected = Error::Overrun {
        ring: RING,
        head: 7,
        tail: 8,
        capacity: 16,
    };
    assert_eq!(guest.drain().0, Err(expected));
}

#[test]
fn a_record_longer_than_the_ring_allows_is_refused_after_the_lines_before_it() {
    let mut guest = Guest::new(16);
    guest.log("ok");
    guest.put(&[15, 0]); // 15 > 16 - 2
    let expected = Error::RecordTooLong {
        ring: RING,
        position: 4,
        len: 15,
        max_len: 14,
    };
    assert_eq!(guest.drain(), (Err(expected), vec!["ok".into()]));
    assert_eq!(guest.tail(), 4);
}

#[test]
fn a_record_longer_than_a_line_is_refused_in_a_large_ring() {
    let mut guest = Guest::new(2048);
    guest.put(&1024u16.to_le_bytes());
    guest.put(&[b'x'; 1024]);
    let expected = Error::RecordTooLong {
        ring: RING,
        position: 0,
        len: 1024,
        max_len: 1023,
    };
    assert_eq!(guest.drain(), (Err(expected), vec![]));
    assert_eq!(guest.tail(), 0);
}

#[test]
fn a_record_running_past_head_is_refused() {
    let mut guest = Guest::new(16);
    guest.put(&[5, 0, b'a']);
    let expected = Error::RecordPastHead {
        ring: RING,
        position: 0,
        head: 3,
    };
    assert_eq!(guest.drain().0, Err(expected));
}

#[test]
fn half_a_length_prefix_is_a_record_past_head() {
    let mut guest = Guest::new(16);
    guest.log("a");
    guest.put(&[1]);
    let expected = Error::RecordPastHead {
        ring: RING,
        position: 3,
        head: 4,
    };
    assert_eq!(guest.drain(), (Err(expected), vec!["a".into()]));
}

#[test]
fn text_that_is_not_utf8_is_refused() {
    let mut guest = Guest::new(16);
    guest.put(&[3, 0, b'a', 0xff, b'b']);
    let expected = Error::NotUtf8 {
        ring: RING,
        position: 0,
        valid_up_to: 1,
    };
    assert_eq!(guest.drain().0, Err(expected));
}

#[test]
fn enabling_writes_the_marker_into_the_guest_global() {
    let memory = memory();
    LogRing::enable(&memory, GuestAddress(0x100), GuestAddress(0x108)).unwrap();
    assert_eq!(
        memory.read_obj::<u64>(GuestAddress(0x100)).unwrap(),
        abi::ENABLED
    );
}

#[test]
fn enabling_through_a_global_outside_memory_is_refused() {
    let err = LogRing::enable(&memory(), GuestAddress(MEMORY_SIZE), GuestAddress(0)).unwrap_err();
    assert_eq!(
        err,
        Error::GlobalOutsideMemory {
            global: MEMORY_SIZE
        }
    );
}

#[test]
fn no_published_ring_drains_no_lines() {
    let memory = memory();
    let rings = LogRing::enable(&memory, GuestAddress(0x100), GuestAddress(0x108)).unwrap();
    assert_eq!(rings.address(&memory), Ok(None));
    assert_eq!(rings.drain(&memory, |_| unreachable!()), Ok(0));
}

#[test]
fn the_published_ring_is_drained() {
    let mut guest = Guest::new(16);
    guest.log("hi");
    let rings = LogRing::enable(&guest.memory, GuestAddress(0x100), GuestAddress(0x108)).unwrap();
    guest.memory.write_obj(RING.0, GuestAddress(0x108)).unwrap();
    let mut lines = Vec::new();
    assert_eq!(
        rings.drain(&guest.memory, |line| lines.push(line.to_string())),
        Ok(1)
    );
    assert_eq!(lines, ["hi"]);
}

#[test]
fn a_published_address_global_outside_memory_is_refused() {
    let rings = LogRing::enable(
        &memory(),
        GuestAddress(0x100),
        GuestAddress(MEMORY_SIZE - 4),
    )
    .unwrap();
    let err = rings.drain(&memory(), |_| {}).unwrap_err();
    assert_eq!(
        err,
        Error::GlobalOutsideMemory {
            global: MEMORY_SIZE - 4
        }
    );
}

/// Capacities the header may claim: mostly valid ones, so that records get parsed, and any.
fn capacity() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => (4u32..=11).prop_map(|shift| 1 << shift),
        1 => any::<u32>(),
    ]
}

/// Up to 12 characters of text, control characters aside (a regex strategy would need proptest's
/// `std`, which this crate's tests do without: see Cargo.toml).
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        any::<char>().prop_filter("not a control", |c| !c.is_control()),
        0..=12,
    )
    .prop_map(String::from_iter)
}

proptest! {
    /// Whatever the guest wrote, a drain ends with lines or a typed error, hands over no more
    /// bytes than the ring holds, and writes nothing but the ring's tail.
    #[test]
    fn any_ring_drains_without_panic_and_writes_only_its_tail(
        ring in (0u64..MEMORY_SIZE / 8 + 4).prop_map(|slot| slot * 8),
        valid_magic in any::<bool>(),
        capacity in capacity(),
        tail in any::<u32>(),
        unread in 0u32..=2048,
        bytes in proptest::collection::vec(any::<u8>(), 0..MEMORY_SIZE as usize),
    ) {
        let memory = memory();
        memory.write_slice(&bytes, GuestAddress(0)).unwrap();
        let mut header = RingHeader::new(capacity);
        if !valid_magic {
            header.magic = u32::from_le_bytes([bytes.first().copied().unwrap_or(0), 0, 0, 0]);
        }
        header.tail = tail;
        header.head = tail.wrapping_add(unread);
        // The header is written wherever it fits; elsewhere the drain must refuse it.
        let _ = memory.write_slice(header.as_bytes(), GuestAddress(ring));
        let mut before = vec![0; MEMORY_SIZE as usize];
        memory.read_slice(&mut before, GuestAddress(0)).unwrap();

        let mut text_bytes = 0;
        let mut lines = 0;
        let result = drain(&memory, GuestAddress(ring), |line| {
            text_bytes += abi::LENGTH_LEN + line.len();
            lines += 1;
        });

        if let Ok(count) = result {
            prop_assert_eq!(count, lines);
        }
        prop_assert!(text_bytes <= unread as usize);
        prop_assert!(text_bytes <= capacity as usize);
        let mut after = vec![0; MEMORY_SIZE as usize];
        memory.read_slice(&mut after, GuestAddress(0)).unwrap();
        let tail_at = (ring + RingHeader::TAIL_OFFSET as u64) as usize;
        for (at, (b, a)) in before.iter().zip(&after).enumerate() {
            if !(tail_at..tail_at + 4).contains(&at) {
                prop_assert_eq!(b, a, "byte {:#x} changed", at);
            }
        }
    }

    /// Any lines the guest logs through a ring come out as they went in, in order, wherever the
    /// stream starts.
    #[test]
    fn logged_lines_come_out_as_logged(
        start in any::<u32>(),
        texts in proptest::collection::vec(text(), 0..6),
    ) {
        let mut guest = Guest::new(256).at_position(start);
        let mut logged = Vec::new();
        for text in texts {
            let used = guest.header.unread() as usize;
            if used + abi::LENGTH_LEN + text.len() <= 256 {
                guest.log(&text);
                logged.push(text);
            }
        }
        let count = logged.len();
        prop_assert_eq!(guest.drain(), (Ok(count), logged));
        prop_assert_eq!(guest.tail(), guest.header.head);
    }
}
