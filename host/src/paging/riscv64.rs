//! RISC-V page tables: Sv48 (four levels, 48-bit virtual addresses) as the host builds them, and
//! Sv39 (three levels, 39-bit) walked too, the mode chosen from `satp.MODE` (RISC-V Privileged
//! Architecture, Supervisor-Level ISA: the sections "Sv39" and "Sv48", and "Virtual Address
//! Translation Process" under "Sv32").
//!
//! The host builds 4 KiB pages, 2 MiB megapages and 1 GiB gigapages ([`super::PageSize`]); the
//! walker also takes 512 GiB terapages at the Sv48 root, which that enum does not offer.
//!
//! Levels are counted as on the other architectures so that errors read the same: level 1 holds
//! 4 KiB pages (RISC-V level 0), the root is level 4 on Sv48 and level 3 on Sv39.
//!
//! The walker checks what the specification makes a page fault or reserved, except what depends
//! on the access: permissions (R, X, U), and A and D, which the host reads through as a
//! debugger would. W is checked for the host's writes (replies), which go only where the
//! guest's leaf allows writing. It implements neither Svpbmt nor Svnapot: PBMT (bits 62..61) and N (bit 63)
//! are reserved like bits 60..54, and an entry with any of them set is malformed. The tables the
//! host builds leave them clear: the MMIO page is device memory by the platform's PMAs, not by
//! its page-table entry.

use super::radix::{Encoding, bits, level_shift, sign_extended};
use super::{BadEntryReason, Mapping, MemoryKind};
use vm_memory::GuestAddress;

/// Physical addresses have at most 56 bits: a 44-bit page number over 4 KiB pages.
const MAX_PHYSICAL_BITS: u8 = 56;

/// V, bit 0: the entry is valid.
const VALID: u64 = 1 << 0;
/// R, bit 1: readable. R, W and X all clear make a pointer to the next table.
const READ: u64 = 1 << 1;
/// W, bit 2: writable (reserved without R).
const WRITE: u64 = 1 << 2;
/// X, bit 3: executable.
const EXECUTE: u64 = 1 << 3;
/// U, bit 4: user-mode accessible (reserved in a pointer to a table).
const USER: u64 = 1 << 4;
/// A, bit 6: accessed. Set by the host, so that a guest without Svadu does not fault.
const ACCESSED: u64 = 1 << 6;
/// D, bit 7: dirty. Set by the host for the same reason.
const DIRTY: u64 = 1 << 7;
/// The physical page number (PPN) sits at bits 53..10.
const PPN_SHIFT: u32 = 10;
const PPN_MASK: u64 = ((1 << 54) - 1) & !((1 << PPN_SHIFT) - 1);
/// Bits 63..54: N (Svnapot), PBMT (Svpbmt) and bits reserved for future standard use.
const RESERVED: u64 = !((1 << 54) - 1);

/// `satp.MODE`, bits 63..60.
const SATP_MODE_SHIFT: u32 = 60;
/// `satp.PPN`, bits 43..0: the root table's physical page number.
const SATP_PPN_MASK: u64 = (1 << 44) - 1;

/// The translation modes the host walks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Three levels, 39-bit virtual addresses (`satp.MODE` 8).
    Sv39,
    /// Four levels, 48-bit virtual addresses (`satp.MODE` 9).
    Sv48,
}

impl Mode {
    /// The value of `satp.MODE` that selects this mode.
    pub const fn satp_mode(self) -> u64 {
        match self {
            Mode::Sv39 => 8,
            Mode::Sv48 => 9,
        }
    }

    /// Levels of tables; the root is this level.
    pub const fn levels(self) -> u8 {
        match self {
            Mode::Sv39 => 3,
            Mode::Sv48 => 4,
        }
    }

    /// The width of the virtual addresses the mode translates.
    pub const fn virtual_address_bits(self) -> u32 {
        match self {
            Mode::Sv39 => 39,
            Mode::Sv48 => 48,
        }
    }
}

/// `satp` selects a translation mode that the host does not walk: Bare (no translation), Sv57,
/// Sv64 or a reserved value. A VMM reports it as the vCPU's unsupported paging mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[error("satp {satp:#x} selects translation mode {mode} ({}); ucalls need Sv39 (8) or Sv48 (9)", satp_mode_name(*.mode))]
pub struct UnsupportedSatpMode {
    /// The `satp` value.
    pub satp: u64,
    /// Its MODE field.
    pub mode: u8,
}

/// The specification's name for a `satp.MODE` value.
fn satp_mode_name(mode: u8) -> &'static str {
    match mode {
        0 => "Bare: no translation",
        8 => "Sv39",
        9 => "Sv48",
        10 => "Sv57",
        11 => "Sv64",
        _ => "reserved",
    }
}

/// The RISC-V Sv48 or Sv39 format, for a machine with `physical_bits` of guest-physical address.
///
/// ```
/// use ucall_host::paging::{riscv64::{Mode, Riscv64}, PageTableFormat};
/// use vm_memory::GuestAddress;
///
/// let format = Riscv64::new(Mode::Sv48, 44);
/// assert_eq!(format.virtual_address_bits(), 48);
/// let satp = format.satp(GuestAddress(0x8000_1000));
/// assert_eq!(satp, 9 << 60 | 0x8_0001);
/// assert_eq!(Riscv64::from_satp(satp, 44), Ok((format, GuestAddress(0x8000_1000))));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Riscv64 {
    mode: Mode,
    physical_bits: u8,
}

impl Riscv64 {
    /// The format of `mode` for a machine with `physical_bits` of guest-physical address
    /// (clamped to 12..=56).
    pub fn new(mode: Mode, physical_bits: u8) -> Self {
        Riscv64 {
            mode,
            physical_bits: physical_bits.clamp(12, MAX_PHYSICAL_BITS),
        }
    }

    /// The format and root table that `satp` selects (its ASID is ignored), or an error for a
    /// mode the host does not walk, Bare included: without translation a ucall's addresses
    /// would not mean what the walker reads them as.
    pub fn from_satp(
        satp: u64,
        physical_bits: u8,
    ) -> Result<(Self, GuestAddress), UnsupportedSatpMode> {
        let field = (satp >> SATP_MODE_SHIFT) as u8;
        let mode = match u64::from(field) {
            m if m == Mode::Sv39.satp_mode() => Mode::Sv39,
            m if m == Mode::Sv48.satp_mode() => Mode::Sv48,
            _ => return Err(UnsupportedSatpMode { satp, mode: field }),
        };
        let root = GuestAddress((satp & SATP_PPN_MASK) << 12);
        Ok((Riscv64::new(mode, physical_bits), root))
    }

    /// The `satp` value that runs the tables at `root` (4 KiB-aligned) in this mode, with ASID 0.
    pub fn satp(&self, root: GuestAddress) -> u64 {
        self.mode.satp_mode() << SATP_MODE_SHIFT | ((root.0 >> 12) & SATP_PPN_MASK)
    }

    /// The translation mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The guest-physical width the entries are checked against.
    pub fn physical_bits(&self) -> u8 {
        self.physical_bits
    }
}

/// Whether a valid entry maps memory (R or X set) rather than pointing to a table.
fn is_leaf(entry: u64) -> bool {
    entry & (READ | EXECUTE) != 0
}

impl Encoding for Riscv64 {
    /// Bits 63 down to the width must all equal the top bit of the width.
    fn in_range(&self, gva: u64) -> bool {
        sign_extended(gva, self.mode.virtual_address_bits())
    }

    /// Every bit that a physical page number can reach: the root from `satp` is not truncated,
    /// and entries are checked against the physical width in [`Encoding::malformed`].
    fn address_mask(&self) -> u64 {
        bits(12, MAX_PHYSICAL_BITS)
    }

    fn output_address(&self, entry: u64) -> u64 {
        (entry & PPN_MASK) >> PPN_SHIFT << 12
    }

    fn levels(&self) -> u8 {
        self.mode.levels()
    }

    fn virtual_address_bits(&self) -> u32 {
        self.mode.virtual_address_bits()
    }

    fn is_valid(&self, entry: u64) -> bool {
        entry & VALID != 0
    }

    fn is_block(&self, entry: u64, level: u8) -> bool {
        level > 1 && is_leaf(entry)
    }

    fn malformed(&self, entry: u64, level: u8) -> Option<BadEntryReason> {
        if entry & RESERVED != 0 {
            return Some(BadEntryReason::ReservedBits);
        }
        if entry & (READ | WRITE) == WRITE {
            return Some(BadEntryReason::WriteWithoutRead);
        }
        if self.output_address(entry) >> self.physical_bits != 0 {
            return Some(BadEntryReason::AddressBeyondPhysicalWidth);
        }
        if !is_leaf(entry) {
            if level == 1 {
                return Some(BadEntryReason::TableAtPageLevel);
            }
            return (entry & (DIRTY | ACCESSED | USER) != 0)
                .then_some(BadEntryReason::LeafBitsInTable);
        }
        let page_size = 1u64 << level_shift(level);
        (self.output_address(entry) & (page_size - 1) != 0)
            .then_some(BadEntryReason::MisalignedHugePage)
    }

    /// W of a leaf; a pointer to a table carries no permissions of its own.
    fn writable(&self, entry: u64, _level: u8) -> bool {
        !is_leaf(entry) || entry & WRITE != 0
    }

    fn table_entry(&self, table: u64) -> u64 {
        (table >> 12) << PPN_SHIFT | VALID
    }

    fn leaf_entry(&self, mapping: &Mapping, _level: u8) -> u64 {
        let permissions = match mapping.kind {
            MemoryKind::Normal => READ | WRITE | EXECUTE,
            MemoryKind::Device => READ | WRITE,
        };
        (mapping.gpa >> 12) << PPN_SHIFT | permissions | ACCESSED | DIRTY | VALID
    }
}

#[cfg(test)]
mod tests;
