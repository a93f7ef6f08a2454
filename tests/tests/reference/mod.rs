//! Reference models for the property tests and fuzz targets: guest memory as plain byte vectors,
//! and page walks, reads and decoding written the simplest way, byte by byte, straight from the
//! architecture manuals and the wire format. The real code must agree with them exactly.
//!
//! Also used by the fuzz targets (`fuzz/`), which include this file by path.
#![allow(dead_code)]

pub mod fuzz;
/// The loader's model needs `ucall_host::vm` (its `vm` feature; the fuzz crate has a `vm`
/// feature of its own, on by default, for this).
pub mod loader;
pub mod riscv64;

use std::cell::RefCell;
use ucall_host::decode::{self, Abort, Ucall};
use ucall_host::paging::{self, BadEntryReason, PageTableFormat, Translation};
use vm_memory::{GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestRegionMmap};

/// Guest memory as the models see it: regions of plain bytes.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// (start, bytes) per region, not overlapping.
    pub regions: Vec<(u64, Vec<u8>)>,
}

impl Snapshot {
    /// The byte at `gpa`, if some region holds it.
    pub fn byte(&self, gpa: u64) -> Option<u8> {
        self.regions.iter().find_map(|(start, bytes)| {
            let offset = gpa.checked_sub(*start)?;
            bytes.get(usize::try_from(offset).ok()?).copied()
        })
    }

    /// The little-endian u64 at `gpa`, if all 8 bytes exist.
    pub fn u64(&self, gpa: u64) -> Option<u64> {
        let mut value = 0u64;
        for i in 0..8 {
            value |= u64::from(self.byte(gpa.checked_add(i)?)?) << (8 * i);
        }
        Some(value)
    }

    /// The same memory as vm-memory regions, with every region lookup recorded.
    pub fn to_memory(&self) -> Watched {
        let ranges: Vec<_> = self
            .regions
            .iter()
            .map(|(start, bytes)| (GuestAddress(*start), bytes.len()))
            .collect();
        let memory = GuestMemoryMmap::<()>::from_ranges(&ranges).expect("regions");
        for (start, bytes) in &self.regions {
            vm_memory::Bytes::write_slice(&memory, bytes, GuestAddress(*start)).expect("fill");
        }
        Watched {
            memory,
            lookups: RefCell::new(Vec::new()),
        }
    }
}

/// Guest memory that records the address of every access the code under test makes (vm-memory
/// looks up the region of each access, and of each region an access crosses into).
pub struct Watched {
    pub memory: GuestMemoryMmap,
    pub lookups: RefCell<Vec<u64>>,
}

impl Watched {
    /// The recorded lookups, cleared.
    pub fn take_lookups(&self) -> Vec<u64> {
        std::mem::take(&mut self.lookups.borrow_mut())
    }

    /// Whether `gpa` is in a region.
    pub fn contains(&self, gpa: u64) -> bool {
        self.memory.find_region(GuestAddress(gpa)).is_some()
    }
}

impl GuestMemoryBackend for Watched {
    type R = GuestRegionMmap;

    fn find_region(&self, addr: GuestAddress) -> Option<&GuestRegionMmap> {
        self.lookups.borrow_mut().push(addr.0);
        self.memory.find_region(addr)
    }

    fn iter(&self) -> impl Iterator<Item = &GuestRegionMmap> {
        self.memory.iter()
    }
}

/// A page-table format's reference model.
pub trait Model {
    /// The real format the model stands for.
    type Format: PageTableFormat;

    /// The levels of tables; the root is this level.
    const LEVELS: u32 = 4;
    /// The width of the virtual addresses the format translates.
    const VIRTUAL_BITS: u32 = 48;

    /// The real format, configured like the model.
    fn format(&self) -> Self::Format;

    /// The entry that points to the table or page at `address` with `flags` (bits outside the
    /// address field) set.
    fn entry(address: u64, flags: u64) -> u64 {
        address | flags
    }

    /// Translates `gva` through the tables at `root`; also returns the guest-physical address of
    /// every entry read, in order.
    fn translate(
        &self,
        memory: &Snapshot,
        root: u64,
        gva: u64,
    ) -> (Result<Translation, paging::Error>, Vec<u64>) {
        self.translate_access(memory, root, gva, false)
    }

    /// As `translate`, for a write when `write` is true: an entry without write permission
    /// stops the walk with `NotWritable`, once the entry has passed every other check.
    fn translate_access(
        &self,
        memory: &Snapshot,
        root: u64,
        gva: u64,
        write: bool,
    ) -> (Result<Translation, paging::Error>, Vec<u64>) {
        let mut walk = Walk {
            memory,
            root,
            gva,
            write,
            reads: Vec::new(),
        };
        let result = self.walk(&mut walk);
        (result, walk.reads)
    }

    /// The walk behind `translate_access`, reading entries through `walk`.
    fn walk(&self, walk: &mut Walk<'_>) -> Result<Translation, paging::Error>;
}

/// One translation a model makes: what it translates, and the entries it has read.
pub struct Walk<'a> {
    memory: &'a Snapshot,
    /// The root register's value.
    pub root: u64,
    /// The address translated.
    pub gva: u64,
    /// Whether the access writes.
    pub write: bool,
    /// The guest-physical address of every entry read, in order.
    reads: Vec<u64>,
}

impl Walk<'_> {
    /// The first step at each level of every model's walk (512 entries of 8 bytes a table, 9
    /// bits of the address a level above the 4 KiB offset): reads the level-`level` entry for
    /// `gva` in the table at `table`, records its address, and stops at a table outside memory
    /// or an entry whose bit 0 (valid, present, V in all three formats) is clear. Returns the
    /// entry's address and value.
    pub fn read_entry(&mut self, table: u64, level: u8) -> Result<(u64, u64), paging::Error> {
        let gva = self.gva;
        let index = (gva >> (12 + 9 * (u32::from(level) - 1))) & 511;
        let entry_gpa = table + index * 8;
        self.reads.push(entry_gpa);
        let entry = self
            .memory
            .u64(entry_gpa)
            .ok_or(paging::Error::TableOutsideMemory {
                gva,
                level,
                table_gpa: table,
            })?;
        if entry & 1 == 0 {
            return Err(paging::Error::NotMapped {
                gva,
                level,
                entry_gpa,
                entry,
            });
        }
        Ok((entry_gpa, entry))
    }

    /// The error of the entry at `entry_gpa`, which the format does not allow, for `reason`.
    pub fn bad_entry(
        &self,
        level: u8,
        entry_gpa: u64,
        entry: u64,
        reason: BadEntryReason,
    ) -> paging::Error {
        paging::Error::BadEntry {
            gva: self.gva,
            level,
            entry_gpa,
            entry,
            reason,
        }
    }

    /// The error of a write through the entry at `entry_gpa`, which does not allow it.
    pub fn not_writable(&self, level: u8, entry_gpa: u64, entry: u64) -> paging::Error {
        paging::Error::NotWritable {
            gva: self.gva,
            level,
            entry_gpa,
            entry,
        }
    }
}

/// x86_64 4-level paging (SDM Vol. 3A, 4.5), as the host supports it.
#[derive(Clone, Copy, Debug)]
pub struct X86_64Model {
    /// Physical address width, 12 to 52.
    pub physical_bits: u8,
}

impl Model for X86_64Model {
    type Format = ucall_host::paging::x86_64::X86_64;

    fn format(&self) -> Self::Format {
        ucall_host::paging::x86_64::X86_64::new(self.physical_bits)
    }

    fn walk(&self, walk: &mut Walk<'_>) -> Result<Translation, paging::Error> {
        let (gva, write) = (walk.gva, walk.write);
        // Canonical: bits 63..47 are copies of bit 47.
        if ((gva << 16) as i64 >> 16) as u64 != gva {
            return Err(paging::Error::NonCanonical { gva, bits: 48 });
        }
        let bits = self.physical_bits.clamp(12, 52);
        let address = ((1u64 << bits) - 1) & !0xfff;
        let reserved = ((1u64 << 52) - 1) & !((1u64 << bits) - 1);
        let mut table = walk.root & address;
        for level in [4u8, 3, 2, 1] {
            let shift = 12 + 9 * (u32::from(level) - 1);
            let (entry_gpa, entry) = walk.read_entry(table, level)?;
            let bad = |reason| walk.bad_entry(level, entry_gpa, entry, reason);
            if entry & reserved != 0 {
                return Err(bad(BadEntryReason::AddressBeyondPhysicalWidth));
            }
            let page_size_bit = entry & 0x80 != 0;
            if level == 4 && page_size_bit {
                return Err(bad(BadEntryReason::BlockAtRoot));
            }
            if level == 1 || page_size_bit {
                let size = 1u64 << shift;
                // Bits 12 (PAT) .. size of a large page: only PAT may be set.
                if level > 1 && entry & address & (size - 1) & !0x1fff != 0 {
                    return Err(bad(BadEntryReason::ReservedBlockBits));
                }
                // R/W, bit 1.
                if write && entry & 2 == 0 {
                    return Err(walk.not_writable(level, entry_gpa, entry));
                }
                let gpa = (entry & address & !(size - 1)) | (gva & (size - 1));
                return Ok(Translation {
                    gpa,
                    page_size: size,
                });
            }
            // R/W clear in a table entry: nothing below it is writable.
            if write && entry & 2 == 0 {
                return Err(walk.not_writable(level, entry_gpa, entry));
            }
            table = entry & address;
        }
        unreachable!("level 1 returns")
    }
}

/// aarch64 stage-1 translation from TTBR0_EL1 with a 4 KiB granule and 48-bit virtual
/// addresses (Arm ARM D8.3), as the host supports it. Levels are numbered as for x86_64: 4 is
/// the root (Arm level 0), 1 holds pages (Arm level 3).
#[derive(Clone, Copy, Debug)]
pub struct Aarch64Model {
    /// The VM's IPA size; the host supports 32 to 48.
    pub physical_bits: u8,
}

impl Model for Aarch64Model {
    type Format = ucall_host::paging::aarch64::Aarch64;

    fn format(&self) -> Self::Format {
        ucall_host::paging::aarch64::Aarch64::new(self.physical_bits)
    }

    fn walk(&self, walk: &mut Walk<'_>) -> Result<Translation, paging::Error> {
        let (gva, write) = (walk.gva, walk.write);
        // TTBR0_EL1 with T0SZ = 16 translates the addresses whose bits 63..48 are all 0.
        if gva >> 48 != 0 {
            return Err(paging::Error::NonCanonical { gva, bits: 48 });
        }
        let bits = self.physical_bits.clamp(32, 48);
        let address = ((1u64 << bits) - 1) & !0xfff;
        let beyond = ((1u64 << 48) - 1) & !((1u64 << bits) - 1);
        let mut table = walk.root & address;
        for level in [4u8, 3, 2, 1] {
            let shift = 12 + 9 * (u32::from(level) - 1);
            let (entry_gpa, entry) = walk.read_entry(table, level)?;
            let bad = |reason| walk.bad_entry(level, entry_gpa, entry, reason);
            // Bit 0 (valid) is set. Bit 1: table (or, at the last level, page); clear: block.
            if entry & beyond != 0 {
                return Err(bad(BadEntryReason::AddressBeyondPhysicalWidth));
            }
            let block = entry & 2 == 0;
            if level == 1 {
                if block {
                    return Err(bad(BadEntryReason::ReservedAtPageLevel));
                }
            } else if block {
                if level == 4 {
                    return Err(bad(BadEntryReason::BlockAtRoot));
                }
            } else {
                // APTable[1], bit 62: no write access below this table.
                if write && entry >> 62 & 1 == 1 {
                    return Err(walk.not_writable(level, entry_gpa, entry));
                }
                table = entry & address;
                continue;
            }
            let size = 1u64 << shift;
            // Block output addresses start at the block size; bits 17 up to it are RES0.
            if block && entry & (size - 1) & !0x1_ffff != 0 {
                return Err(bad(BadEntryReason::ReservedBlockBits));
            }
            // AP[2], bit 7: read-only.
            if write && entry >> 7 & 1 == 1 {
                return Err(walk.not_writable(level, entry_gpa, entry));
            }
            let gpa = (entry & address & !(size - 1)) | (gva & (size - 1));
            return Ok(Translation {
                gpa,
                page_size: size,
            });
        }
        unreachable!("level 1 returns")
    }
}

/// Reads `len` bytes at `gva` byte by byte.
pub fn read_virtual<M: Model>(
    model: &M,
    memory: &Snapshot,
    root: u64,
    gva: u64,
    len: usize,
) -> Result<Vec<u8>, paging::Error> {
    if len > 0 && gva.checked_add(len as u64 - 1).is_none() {
        return Err(paging::Error::WrapsAround { gva, len });
    }
    let mut pages = Pages::default();
    (0..len as u64)
        .map(|i| pages.read_byte(model, memory, root, gva + i))
        .collect()
}

/// The guest-physical address of the last page translated, so that a byte-by-byte read walks
/// once per page (only for speed: tables do not change during a read).
#[derive(Default)]
struct Pages(Option<(u64, u64)>);

impl Pages {
    fn read_byte<M: Model>(
        &mut self,
        model: &M,
        memory: &Snapshot,
        root: u64,
        gva: u64,
    ) -> Result<u8, paging::Error> {
        let (page, offset) = (gva & !0xfff, gva & 0xfff);
        let base = match self.0 {
            Some((cached, base)) if cached == page => base,
            _ => {
                let base = model.translate(memory, root, gva).0?.gpa - offset;
                self.0 = Some((page, base));
                base
            }
        };
        let gpa = base + offset;
        memory
            .byte(gpa)
            .ok_or(paging::Error::OutsideMemory { gva, gpa })
    }
}

/// Reads a NUL-terminated UTF-8 string of at most `max_len` bytes with its NUL, byte by byte.
pub fn read_c_string<M: Model>(
    model: &M,
    memory: &Snapshot,
    root: u64,
    gva: u64,
    max_len: usize,
) -> Result<String, paging::Error> {
    let mut bytes = Vec::new();
    let mut pages = Pages::default();
    for i in 0..max_len as u64 {
        let address = gva
            .checked_add(i)
            .ok_or(paging::Error::WrapsAround { gva, len: max_len })?;
        match pages.read_byte(model, memory, root, address)? {
            0 => {
                return String::from_utf8(bytes).map_err(|e| paging::Error::StringNotUtf8 {
                    gva,
                    valid_up_to: e.utf8_error().valid_up_to(),
                });
            }
            b => bytes.push(b),
        }
    }
    Err(paging::Error::StringUnterminated { gva, max_len })
}

/// Decodes the record at `gva` as the wire format says (README, "Wire format").
pub fn decode<M: Model>(
    model: &M,
    memory: &Snapshot,
    root: u64,
    gva: u64,
) -> Result<Ucall, decode::Error> {
    let bytes = read_virtual(model, memory, root, gva, 56)?;
    let word = |i: usize| u64::from_le_bytes(bytes[8 * i..8 * i + 8].try_into().expect("8 bytes"));
    let cmd = word(0);
    let args: [u64; 6] = std::array::from_fn(|i| word(i + 1));
    let string = |address| read_c_string(model, memory, root, address, 1024);
    match cmd {
        1 => Ok(Ucall::Sync { args }),
        3 => Ok(Ucall::Done),
        5 => Ok(Ucall::Unhandled(decode::Unhandled {
            vector: args[0],
            instruction_address: args[1],
            error_code: args[2],
            fault_address: args[3],
            sent_by: decode::Sender::Unchecked,
        })),
        0x100..=0xffff => Ok(Ucall::Call { number: cmd, args }),
        4 => Ok(Ucall::Printf(string(args[0])?)),
        2 => {
            let message = string(args[0])?;
            let file = if args[2] == 0 {
                None
            } else {
                Some(string(args[2])?)
            };
            Ok(Ucall::Abort(Abort {
                message,
                file,
                line: args[1],
                column: (args[3] != 0).then_some(args[3]),
            }))
        }
        _ => Err(decode::Error::UnknownCommand {
            cmd,
            record_gva: gva,
        }),
    }
}

/// Results compared exactly: errors by their full `Debug` text (every field).
pub fn same<T: std::fmt::Debug, E: std::fmt::Debug>(a: &Result<T, E>, b: &Result<T, E>) -> bool {
    format!("{a:?}") == format!("{b:?}")
}
