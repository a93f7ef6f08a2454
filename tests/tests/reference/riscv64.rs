//! RISC-V Sv39 and Sv48 translation, from the Privileged Architecture's "Virtual Address
//! Translation Process" (the steps are numbered as there), as the host supports it: no Svpbmt, no Svnapot, and the checks
//! that do not depend on the kind of access. Levels are numbered as for x86_64: the spec's level
//! `i` is level `i + 1` here, so the root is 4 on Sv48 and 3 on Sv39.

use super::{Model, Walk};
use ucall_host::paging::Translation;
use ucall_host::paging::riscv64::{Mode, Riscv64};
use ucall_host::paging::{BadEntryReason, Error};

/// Sv39 (`LEVELS` = 3) or Sv48 (4).
#[derive(Clone, Copy, Debug)]
pub struct Riscv64Model<const LEVELS: u8> {
    /// Physical address width; the host supports 12 to 56.
    pub physical_bits: u8,
}

/// Three levels, 39-bit virtual addresses.
pub type Sv39Model = Riscv64Model<3>;
/// Four levels, 48-bit virtual addresses.
pub type Sv48Model = Riscv64Model<4>;

impl<const LEVELS: u8> Model for Riscv64Model<LEVELS> {
    type Format = Riscv64;
    const LEVELS: u32 = LEVELS as u32;
    const VIRTUAL_BITS: u32 = 12 + 9 * LEVELS as u32;

    fn format(&self) -> Riscv64 {
        let mode = if LEVELS == 3 { Mode::Sv39 } else { Mode::Sv48 };
        Riscv64::new(mode, self.physical_bits)
    }

    /// A PTE keeps the physical page number at bits 53..10.
    fn entry(address: u64, flags: u64) -> u64 {
        (address >> 12 << 10) | flags
    }

    fn walk(&self, walk: &mut Walk<'_>) -> Result<Translation, Error> {
        let (gva, write) = (walk.gva, walk.write);
        let va_bits = <Self as Model>::VIRTUAL_BITS;
        // Bits 63..VA must all equal bit VA-1, else a page fault before any access.
        let top = gva >> (va_bits - 1);
        if top != 0 && top != u64::MAX >> (va_bits - 1) {
            return Err(Error::NonCanonical { gva, bits: va_bits });
        }
        let bits = u32::from(self.physical_bits.clamp(12, 56));
        // Step 1: a = satp.ppn x PAGESIZE (the root address, its page offset dropped).
        let mut a = walk.root & ((1u64 << 56) - 1) & !0xfff;
        for i in (0..LEVELS).rev() {
            let level = i + 1;
            // Step 2: pte = the entry at a + va.vpn[i] x PTESIZE; step 3 for V = 0: not mapped.
            let (entry_gpa, pte) = walk.read_entry(a, level)?;
            let bad = |reason| walk.bad_entry(level, entry_gpa, pte, reason);
            let bit = |n: u32| (pte >> n) & 1 == 1;
            let (r, w, x, u, accessed, dirty) = (bit(1), bit(2), bit(3), bit(4), bit(6), bit(7));
            let ppn = (pte >> 10) & ((1 << 44) - 1);
            // Step 3, for V = 1: W without R, or reserved bits or encodings: page fault.
            if pte >> 54 != 0 {
                return Err(bad(BadEntryReason::ReservedBits));
            }
            if w && !r {
                return Err(bad(BadEntryReason::WriteWithoutRead));
            }
            // A page number the machine's physical addresses cannot hold.
            if ppn >> (bits - 12) != 0 {
                return Err(bad(BadEntryReason::AddressBeyondPhysicalWidth));
            }
            // Step 4: R = X = 0 points to the next level, if there is one.
            if !r && !x {
                if i == 0 {
                    return Err(bad(BadEntryReason::TableAtPageLevel));
                }
                if dirty || accessed || u {
                    return Err(bad(BadEntryReason::LeafBitsInTable));
                }
                a = ppn << 12;
                continue;
            }
            // Step 6: a superpage's page number must have its low i VPN-sized fields clear.
            if ppn & ((1 << (9 * u32::from(i))) - 1) != 0 {
                return Err(bad(BadEntryReason::MisalignedHugePage));
            }
            // Step 5, for a store: a leaf without W is a page fault.
            if write && !w {
                return Err(walk.not_writable(level, entry_gpa, pte));
            }
            // Step 8: the low i fields and the offset come from the virtual address.
            let size = 1u64 << (12 + 9 * u32::from(i));
            return Ok(Translation {
                gpa: (ppn << 12) | (gva & (size - 1)),
                page_size: size,
            });
        }
        unreachable!("level 1 returns")
    }
}
