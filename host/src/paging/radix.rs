//! What the page-table formats share: up to four levels of 512 eight-byte entries over 4 KiB
//! pages (four, translating 48-bit virtual addresses, unless a format says otherwise). Levels
//! count from the root (4 on four levels) down to 1 (4 KiB pages) on every architecture, so that
//! errors read the same.

use super::{BadEntryReason, Error, MapRequest, Mapping, PageSize, PageTableFormat, Translation};
use vm_memory::{Bytes, GuestAddress, GuestMemory};

/// Levels of translation; level 4 is the root, level 1 holds 4 KiB pages.
pub(crate) const LEVELS: u8 = 4;
/// Bits of virtual address that four levels of 9-bit indices over 4 KiB pages translate.
pub(crate) const VIRTUAL_BITS: u32 = 48;
/// Entries are 8 bytes, 512 to a table.
const INDEX_MASK: u64 = 0x1ff;

/// log2 of the bytes one entry of `level` covers.
pub(crate) fn level_shift(level: u8) -> u32 {
    12 + 9 * (u32::from(level) - 1)
}

/// The index of `gva`'s entry in a table of `level`.
pub(crate) fn index(gva: u64, level: u8) -> u64 {
    (gva >> level_shift(level)) & INDEX_MASK
}

/// The level whose entries map pages of `size`.
pub(crate) fn leaf_level(size: PageSize) -> u8 {
    match size {
        PageSize::Size4K => 1,
        PageSize::Size2M => 2,
        PageSize::Size1G => 3,
    }
}

/// The entry for `gva` in the table of `level` at `table`, and where it is.
pub(crate) fn read_entry<M: GuestMemory + ?Sized>(
    memory: &M,
    gva: u64,
    level: u8,
    table: u64,
) -> Result<(u64, u64), Error> {
    let outside = || Error::TableOutsideMemory {
        gva,
        level,
        table_gpa: table,
    };
    // A table at the very top of the address space would wrap: that is outside memory too.
    let entry_gpa = table
        .checked_add(index(gva, level) * 8)
        .ok_or_else(outside)?;
    let entry = memory
        .read_obj::<u64>(GuestAddress(entry_gpa))
        .map_err(|_| outside())?;
    Ok((entry_gpa, entry))
}

/// Writes one entry.
pub(crate) fn write_entry<M: GuestMemory + ?Sized>(
    memory: &M,
    entry_gpa: u64,
    entry: u64,
) -> Result<(), Error> {
    memory
        .write_obj(entry, GuestAddress(entry_gpa))
        .map_err(|source| Error::TableWrite {
            gpa: entry_gpa,
            source,
        })
}

/// Where `gva` leads through a leaf entry that maps `page_size` bytes from `output_address`.
fn leaf(output_address: u64, gva: u64, page_size: u64) -> Translation {
    let frame = output_address & !(page_size - 1);
    Translation {
        gpa: frame | (gva & (page_size - 1)),
        page_size,
    }
}

/// How one format encodes the entries that [`map`] reads and writes; every encoding is a
/// [`PageTableFormat`] through [`map`] and [`translate`].
pub(crate) trait Encoding {
    /// The width of the virtual addresses the tables translate.
    fn virtual_address_bits(&self) -> u32 {
        VIRTUAL_BITS
    }
    /// Whether the tables can map `gva` at all: the address is canonical for
    /// [`virtual_address_bits`](Self::virtual_address_bits).
    fn in_range(&self, gva: u64) -> bool;
    /// Where an entry keeps the next table's or the page's address.
    fn address_mask(&self) -> u64;
    /// Whether an entry is valid (present).
    fn is_valid(&self, entry: u64) -> bool;
    /// Whether a valid entry at `level` above 1 maps memory itself (a huge page or block)
    /// rather than a table.
    fn is_block(&self, entry: u64, level: u8) -> bool;
    /// What is wrong with a valid entry at `level`, if anything: reserved bits, or a kind of
    /// entry that this level cannot hold.
    fn malformed(&self, entry: u64, level: u8) -> Option<BadEntryReason>;
    /// The entry that points to the table at `table`.
    fn table_entry(&self, table: u64) -> u64;
    /// The entry at `level` that maps `mapping`.
    fn leaf_entry(&self, mapping: &Mapping, level: u8) -> u64;
    /// The number of levels; the root is this level.
    fn levels(&self) -> u8 {
        LEVELS
    }
    /// Whether a valid, well-formed entry at `level` lets the guest write through it: the
    /// entry's own write permission for a leaf, and for a pointer to a table whatever
    /// permission the format lets a table entry take away from everything below it.
    fn writable(&self, entry: u64, level: u8) -> bool;
    /// The next table's or the page's address in a valid entry: where [`Self::address_mask`]
    /// selects, unless the format keeps it elsewhere (RISC-V keeps a page number at bit 10).
    fn output_address(&self, entry: u64) -> u64 {
        entry & self.address_mask()
    }
}

/// The error of every format for an address its tables cannot map.
fn check_range<E: Encoding>(encoding: &E, gva: u64) -> Result<(), Error> {
    if encoding.in_range(gva) {
        Ok(())
    } else {
        Err(Error::NonCanonical {
            gva,
            bits: encoding.virtual_address_bits(),
        })
    }
}

/// Whether bits 63 down to `bits` of `gva` all equal bit `bits - 1` (x86_64's and RISC-V's
/// canonical addresses).
pub(crate) fn sign_extended(gva: u64, bits: u32) -> bool {
    let unused = 64 - bits;
    ((gva << unused) as i64 >> unused) as u64 == gva
}

/// Bits `low` up to `high` (not included) of a 64-bit entry: an address field, or the bits
/// between a physical width and a format's widest one.
pub(crate) fn bits(low: u8, high: u8) -> u64 {
    ((1u64 << high) - 1) & !((1u64 << low) - 1)
}

/// Writes the entries that map `request.mapping`, taking missing tables from
/// `request.tables`; refuses to replace anything already mapped.
pub(crate) fn map<E: Encoding, M: GuestMemory + ?Sized>(
    encoding: &E,
    request: MapRequest<'_, M>,
) -> Result<(), Error> {
    let MapRequest {
        memory,
        tables,
        root,
        mapping,
    } = request;
    mapping.check_aligned()?;
    let gva = mapping.gva;
    check_range(encoding, gva)?;
    let leaf_level = leaf_level(mapping.size);
    let mut table = root.0;
    for level in (leaf_level + 1..=encoding.levels()).rev() {
        let (entry_gpa, entry) = read_entry(memory, gva, level, table)?;
        table = if !encoding.is_valid(entry) {
            let next = tables.allocate(memory)?;
            write_entry(memory, entry_gpa, encoding.table_entry(next.0))?;
            next.0
        } else if encoding.is_block(entry, level) {
            return Err(Error::AlreadyMapped { gva });
        } else {
            encoding.output_address(entry)
        };
    }
    let (entry_gpa, entry) = read_entry(memory, gva, leaf_level, table)?;
    if encoding.is_valid(entry) {
        return Err(Error::AlreadyMapped { gva });
    }
    write_entry(memory, entry_gpa, encoding.leaf_entry(&mapping, leaf_level))
}

/// What a walk translates for: a read, or a write that every entry on the way must allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// Translates `gva` through the tables at `root`: at most one entry per level read, each
/// checked, so that the walk terminates and every malformed table is an error. For
/// [`Access::Write`], an entry that does not allow writing is [`Error::NotWritable`].
pub(crate) fn translate<E: Encoding, M: GuestMemory + ?Sized>(
    encoding: &E,
    memory: &M,
    root: GuestAddress,
    gva: u64,
    access: Access,
) -> Result<Translation, Error> {
    check_range(encoding, gva)?;
    let checked_entry = |level, table| {
        let (entry_gpa, entry) = read_entry(memory, gva, level, table)?;
        if !encoding.is_valid(entry) {
            return Err(Error::NotMapped {
                gva,
                level,
                entry_gpa,
                entry,
            });
        }
        if let Some(reason) = encoding.malformed(entry, level) {
            return Err(Error::BadEntry {
                gva,
                level,
                entry_gpa,
                entry,
                reason,
            });
        }
        if access == Access::Write && !encoding.writable(entry, level) {
            return Err(Error::NotWritable {
                gva,
                level,
                entry_gpa,
                entry,
            });
        }
        Ok(entry)
    };
    // The root register may carry flags (CR3's PCD/PWT, TTBR0's ASID and CnP) beside the address.
    let mut table = root.0 & encoding.address_mask();
    // Levels above 1 hold tables or blocks, level 1 only pages: a bounded loop over the table
    // levels and the last level after it leave no way to run off the end.
    for level in (2..=encoding.levels()).rev() {
        let entry = checked_entry(level, table)?;
        if encoding.is_block(entry, level) {
            let output = encoding.output_address(entry);
            return Ok(leaf(output, gva, 1 << level_shift(level)));
        }
        table = encoding.output_address(entry);
    }
    let entry = checked_entry(1, table)?;
    let output = encoding.output_address(entry);
    Ok(leaf(output, gva, PageSize::Size4K.bytes()))
}

impl<E: Encoding> PageTableFormat for E {
    fn virtual_address_bits(&self) -> u32 {
        Encoding::virtual_address_bits(self)
    }

    fn map<M: GuestMemory + ?Sized>(&self, request: MapRequest<'_, M>) -> Result<(), Error> {
        map(self, request)
    }

    fn translate<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        root: GuestAddress,
        gva: u64,
    ) -> Result<Translation, Error> {
        translate(self, memory, root, gva, Access::Read)
    }

    fn translate_for_write<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        root: GuestAddress,
        gva: u64,
    ) -> Result<Translation, Error> {
        translate(self, memory, root, gva, Access::Write)
    }
}
