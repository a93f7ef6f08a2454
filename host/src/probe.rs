//! Finding a guest-physical address for the ucall MMIO page.
//!
//! The page must be backed by no memory slot (so that KVM exits to userspace on every access),
//! must not be mapped yet in the guest's page tables (so that mapping it changes nothing the guest
//! uses), and must fit both the guest's physical address width and, since it is identity-mapped,
//! its virtual one. As the Linux KVM selftests do, the search starts at 5/8 of the usable space,
//! where nothing is likely to live, and then moves down and up alternately in 1/16 steps.

use crate::Error;
use crate::paging::{PAGE_SIZE, PageTableFormat};
use vm_memory::{GuestAddress, GuestMemory, GuestMemoryBackend, GuestMemoryRegion};

/// The address widths of a guest, as KVM reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressWidths {
    /// Bits of guest-physical address.
    pub physical: u32,
    /// Bits of guest-virtual address of the paging mode in use.
    pub virtual_: u32,
}

impl AddressWidths {
    /// The width within which an identity-mapped address is valid both ways: one bit less than
    /// the virtual width (the upper half is negative), and no more than the physical width.
    ///
    /// ```
    /// use ucall_host::probe::AddressWidths;
    ///
    /// assert_eq!(AddressWidths { physical: 46, virtual_: 48 }.usable_bits(), 46);
    /// assert_eq!(AddressWidths { physical: 52, virtual_: 48 }.usable_bits(), 47);
    /// ```
    pub fn usable_bits(&self) -> u32 {
        (self.virtual_.saturating_sub(1)).min(self.physical).min(63)
    }
}

/// The candidates, in the order they are tried: 5/8 of the usable space, then alternately one
/// 1/16 step further down and up.
///
/// ```
/// use ucall_host::probe::{candidates, AddressWidths};
///
/// let widths = AddressWidths { physical: 36, virtual_: 48 };
/// let first: Vec<u64> = candidates(widths).take(3).collect();
/// assert_eq!(first, [0xa_0000_0000, 0x9_0000_0000, 0xb_0000_0000]);
/// ```
pub fn candidates(widths: AddressWidths) -> impl Iterator<Item = u64> {
    let end = 1u64 << widths.usable_bits();
    let start = end / 8 * 5;
    let step = (end / 16).max(1);
    (0..(end - start).div_ceil(step)).flat_map(move |i| {
        let offset = i * step;
        let down = start.checked_sub(offset);
        let up = Some(start + offset).filter(|&gpa| offset > 0 && gpa < end);
        down.into_iter().chain(up)
    })
}

/// The first candidate (see [`candidates`]) for which `is_free` holds.
///
/// ```
/// use ucall_host::probe::{find, AddressWidths};
///
/// let widths = AddressWidths { physical: 36, virtual_: 48 };
/// // Pretend that everything from 0x9_0000_0000 up is taken.
/// assert_eq!(find(widths, |gpa| gpa < 0x9_0000_0000)?, 0x8_0000_0000);
/// # Ok::<(), ucall_host::Error>(())
/// ```
pub fn find(widths: AddressWidths, mut is_free: impl FnMut(u64) -> bool) -> Result<u64, Error> {
    candidates(widths)
        .find(|&gpa| is_free(gpa))
        .ok_or(Error::NoFreeAddress {
            bits: widths.usable_bits(),
        })
}

/// Whether the page at `gpa` overlaps a region of `memory` (each region is one memory slot).
///
/// ```
/// use ucall_host::probe::is_backed;
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
///
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
/// assert!(is_backed(&memory, 0xf_f000));
/// assert!(!is_backed(&memory, 0x10_0000));
/// ```
pub fn is_backed<M: GuestMemoryBackend + ?Sized>(memory: &M, gpa: u64) -> bool {
    memory.iter().any(|region| {
        let start = region.start_addr().0;
        let end = start.saturating_add(region.len());
        gpa < end && start < gpa.saturating_add(PAGE_SIZE)
    })
}

/// The ucall MMIO address for a guest whose memory slots are the regions of `memory` (plus
/// whatever `other_slots` says is taken) and whose page tables are at `root`: free of memory,
/// unmapped, and within `widths`.
///
/// ```
/// use ucall_host::paging::{x86_64::X86_64, MemoryKind, PageTables};
/// use ucall_host::probe::{find_mmio_address, AddressWidths};
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
///
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
/// let mut tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)?;
/// tables.identity_map(&memory, 0..0x20_0000, MemoryKind::Normal)?;
/// let widths = AddressWidths { physical: 46, virtual_: 48 };
/// let gpa = find_mmio_address(&memory, tables.format(), tables.root(), widths, |_| false)?;
/// assert_eq!(gpa, 0x2800_0000_0000);
/// # Ok::<(), ucall_host::Error>(())
/// ```
pub fn find_mmio_address<M, F>(
    memory: &M,
    format: &F,
    root: GuestAddress,
    widths: AddressWidths,
    mut other_slots: impl FnMut(u64) -> bool,
) -> Result<u64, Error>
where
    M: GuestMemory + GuestMemoryBackend + ?Sized,
    F: PageTableFormat,
{
    let widths = AddressWidths {
        physical: widths.physical,
        virtual_: widths.virtual_.min(format.virtual_address_bits()),
    };
    find(widths, |gpa| {
        !is_backed(memory, gpa)
            && !other_slots(gpa)
            && matches!(
                format.translate(memory, root, gpa),
                Err(Error::NotMapped { .. })
            )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const W36: AddressWidths = AddressWidths {
        physical: 36,
        virtual_: 48,
    };

    #[test]
    fn search_starts_at_five_eighths_then_alternates_down_and_up() {
        let order: Vec<u64> = candidates(W36).collect();
        let step = 1u64 << 32;
        let start = 10 * step;
        assert_eq!(
            order,
            [
                start,
                start - step,
                start + step,
                start - 2 * step,
                start + 2 * step,
                start - 3 * step,
                start + 3 * step,
                start - 4 * step,
                start + 4 * step,
                start - 5 * step,
                start + 5 * step,
            ]
        );
    }

    #[test]
    fn candidates_fit_the_usable_width() {
        for widths in [
            W36,
            AddressWidths {
                physical: 52,
                virtual_: 48,
            },
            AddressWidths {
                physical: 40,
                virtual_: 57,
            },
        ] {
            let end = 1u64 << widths.usable_bits();
            assert!(candidates(widths).all(|gpa| gpa < end));
        }
    }

    #[test]
    fn virtual_width_of_five_level_cpu_is_limited_by_paging_mode() {
        // CPUID may say 57 virtual bits; the 4-level tables make it 48, so the search stays below 2^47.
        let widths = AddressWidths {
            physical: 52,
            virtual_: 57,
        };
        assert_eq!(widths.usable_bits(), 52);
        let limited = AddressWidths {
            physical: 52,
            virtual_: widths.virtual_.min(48),
        };
        assert_eq!(limited.usable_bits(), 47);
    }

    #[test]
    fn candidate_already_mapped_in_the_guest_tables_is_skipped() {
        use crate::paging::{Mapping, MemoryKind, PageSize, PageTables, x86_64::X86_64};
        use vm_memory::GuestMemoryMmap;

        let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
        let mut tables =
            PageTables::new(&memory, X86_64::new(36), GuestAddress(0x1000), 0x8000).unwrap();
        let first = candidates(W36).next().unwrap();
        let mapping = Mapping {
            gva: first,
            gpa: 0x5000,
            size: PageSize::Size4K,
            kind: MemoryKind::Normal,
        };
        tables.map(&memory, mapping).unwrap();
        let gpa =
            find_mmio_address(&memory, tables.format(), tables.root(), W36, |_| false).unwrap();
        assert_eq!(gpa, candidates(W36).nth(1).unwrap());
    }

    #[test]
    fn candidate_in_another_slot_is_skipped() {
        use crate::paging::{PageTables, x86_64::X86_64};
        use vm_memory::GuestMemoryMmap;

        let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
        let tables =
            PageTables::new(&memory, X86_64::new(36), GuestAddress(0x1000), 0x8000).unwrap();
        let first = candidates(W36).next().unwrap();
        let gpa = find_mmio_address(&memory, tables.format(), tables.root(), W36, |gpa| {
            gpa == first
        })
        .unwrap();
        assert_eq!(gpa, candidates(W36).nth(1).unwrap());
    }

    #[test]
    fn nothing_free_is_an_error_naming_the_width() {
        assert!(matches!(
            find(W36, |_| false),
            Err(Error::NoFreeAddress { bits: 36 })
        ));
    }

    #[test]
    fn tiny_widths_do_not_loop_or_panic() {
        for physical in 0..14 {
            let widths = AddressWidths {
                physical,
                virtual_: 48,
            };
            let end = 1u64 << widths.usable_bits();
            assert!(candidates(widths).all(|gpa| gpa < end));
        }
    }
}
