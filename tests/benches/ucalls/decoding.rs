//! The decode benchmark: a record and its strings decoded from memory, no exit.

use super::*;
use crate::figure::Figure;
use ucall_host::decode::decode;
use ucall_host::paging::x86_64::X86_64;
use ucall_host::paging::{MemoryKind, PageTables};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

/// A guest's memory with a record prepared for `decode`.
pub(crate) struct DecodeBench {
    pub(crate) figure: Figure,
    pub(crate) memory: GuestMemoryMmap,
    pub(crate) tables: PageTables<X86_64>,
}

pub(crate) const RECORD: u64 = 0x1_0000;
pub(crate) const TEXT: u64 = 0x2_0000;
pub(crate) const FILE: u64 = 0x3_0000;

impl DecodeBench {
    /// Memory holding the record `cmd, args` at `RECORD`, a message at `TEXT`, a file name at
    /// `FILE`.
    pub(crate) fn new(name: &str, cmd: u64, args: [u64; 6]) -> Result<Self> {
        let memory = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x20_0000)])
            .map_err(|e| e.to_string())?;
        let mut tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)
            .map_err(|e| e.to_string())?;
        tables
            .identity_map(&memory, 0..0x20_0000, MemoryKind::Normal)
            .map_err(|e| e.to_string())?;
        let write = |value: u64, at: u64| {
            memory
                .write_obj(value, GuestAddress(at))
                .map_err(|e| e.to_string())
        };
        write(cmd, RECORD)?;
        for (i, arg) in args.iter().enumerate() {
            write(*arg, RECORD + 8 + 8 * i as u64)?;
        }
        let put = |text: &[u8], at: u64| {
            memory
                .write_slice(text, GuestAddress(at))
                .map_err(|e| e.to_string())
        };
        put(b"stage 3 of 5: 42 values checked, all as expected\0", TEXT)?;
        put(b"tests/guests/src/bin/assert_fails.rs\0", FILE)?;
        Ok(DecodeBench {
            figure: Figure::new(name, "ns"),
            memory,
            tables,
        })
    }

    /// Decodes the record `count` times and returns the nanoseconds per decode.
    pub(crate) fn batch(&mut self, count: u32) -> Result<f64> {
        let start = Instant::now();
        for _ in 0..count {
            let ucall = decode(
                &self.tables.view(&self.memory),
                std::hint::black_box(RECORD),
            )
            .map_err(|e| e.to_string())?;
            std::hint::black_box(ucall);
        }
        Ok(start.elapsed().as_nanos() as f64 / f64::from(count))
    }
}
