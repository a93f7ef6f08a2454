//! Finding a guest-physical address for the ucall MMIO page.
//!
//! The page must be backed by no memory slot (so that KVM exits to userspace on every access),
//! must not be mapped yet in the guest's page tables (so that mapping it changes nothing the guest
//! uses), and must fit both the guest's physical address width and, since it is identity-mapped,
//! its virtual one. As the Linux KVM selftests do, the search starts at 5/8 of the usable space,
//! where nothing is likely to live, and then moves down and up alternately in 1/16 steps.
//!
//! [`install_mmio_page`] does all a VMM needs for MMIO ucalls: probe, map the page, publish the
//! address to the guest.

use crate::decode::Transport;
use crate::paging::{
    self, GuestView, Mapping, MemoryKind, PAGE_SIZE, PageSize, PageTableFormat, PageTables,
};
use vm_memory::{
    Bytes, GuestAddress, GuestMemory, GuestMemoryBackend, GuestMemoryError, GuestMemoryRegion,
};

/// Why no ucall MMIO page could be set up.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Error {
    /// No guest-physical address fits the ucall MMIO page.
    #[error(
        "no guest-physical address below 2^{bits} is free of memory slots and mappings for the ucall page"
    )]
    NoFreeAddress {
        /// The usable address width searched.
        bits: u32,
    },
    /// The page could not be mapped in the guest's tables.
    #[error("cannot map the ucall page: {0}")]
    Map(#[from] paging::Error),
    /// The address could not be written to the guest global that publishes it.
    #[error("cannot publish the ucall address in the guest global at {gpa:#x}: {source}")]
    Publish {
        /// Where the global is.
        gpa: u64,
        /// What guest memory said.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::message"))]
        source: GuestMemoryError,
    },
}

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
pub(crate) fn candidates(widths: AddressWidths) -> impl Iterator<Item = u64> {
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

/// The first candidate for which `is_free` holds, in the order the module docs give (5/8 of
/// the usable space, then alternately one 1/16 step further down and up).
///
/// ```
/// use ucall_host::probe::{find, AddressWidths};
///
/// let widths = AddressWidths { physical: 36, virtual_: 48 };
/// // Pretend that everything from 0x9_0000_0000 up is taken.
/// assert_eq!(find(widths, |gpa| gpa < 0x9_0000_0000)?, 0x8_0000_0000);
/// # Ok::<(), ucall_host::probe::Error>(())
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
/// use vm_memory::GuestAddress;
/// use ucall_host::memory::HeapMemory;
///
/// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
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

/// The ucall MMIO address for a guest whose memory slots are the regions of its memory (plus
/// whatever `other_slots` says is taken), seen through `guest`: free of memory, unmapped, and
/// within `widths`.
///
/// ```
/// use ucall_host::paging::{x86_64::X86_64, MemoryKind, PageTables};
/// use ucall_host::probe::{find_mmio_address, AddressWidths};
/// use vm_memory::GuestAddress;
/// use ucall_host::memory::HeapMemory;
///
/// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
/// let mut tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)?;
/// tables.identity_map(&memory, 0..0x20_0000, MemoryKind::Normal)?;
/// let widths = AddressWidths { physical: 46, virtual_: 48 };
/// let gpa = find_mmio_address(&tables.view(&memory), widths, |_| false)?;
/// assert_eq!(gpa, 0x2800_0000_0000);
/// # Ok::<(), ucall_host::Error>(())
/// ```
pub fn find_mmio_address<M, F>(
    guest: &GuestView<'_, M, F>,
    widths: AddressWidths,
    mut other_slots: impl FnMut(u64) -> bool,
) -> Result<u64, Error>
where
    M: GuestMemory + GuestMemoryBackend + ?Sized,
    F: PageTableFormat,
{
    let widths = AddressWidths {
        physical: widths.physical,
        virtual_: widths.virtual_.min(guest.format().virtual_address_bits()),
    };
    find(widths, |gpa| {
        !is_backed(guest.memory(), gpa)
            && !other_slots(gpa)
            && matches!(guest.translate(gpa), Err(paging::Error::NotMapped { .. }))
    })
}

/// Sets up MMIO ucalls in one call: finds the address ([`find_mmio_address`]), identity-maps
/// its page as device memory in `tables`, writes the address to the guest global at
/// `published_at` (the guest-physical address of [`ucall_abi::MMIO_ADDR_SYMBOL`], which
/// `GuestImage::symbol_gpa` finds), and returns the [`Transport`] that recognises its ucalls.
///
/// ```
/// use ucall_host::paging::{x86_64::X86_64, MemoryKind, PageTables};
/// use ucall_host::probe::{install_mmio_page, AddressWidths};
/// use vm_memory::{Bytes, GuestAddress};
/// use ucall_host::memory::HeapMemory;
///
/// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
/// let mut tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)?;
/// tables.identity_map(&memory, 0..0x20_0000, MemoryKind::Normal)?;
/// let widths = AddressWidths { physical: 46, virtual_: 48 };
/// let global = GuestAddress(0x1_0000);
/// let transport = install_mmio_page(&memory, &mut tables, widths, |_| false, global)?;
/// assert_eq!(transport.mmio_gpa, Some(0x2800_0000_0000));
/// assert_eq!(memory.read_obj::<u64>(global).unwrap(), 0x2800_0000_0000);
/// assert_eq!(tables.view(&memory).translate(0x2800_0000_0000)?.gpa, 0x2800_0000_0000);
/// # Ok::<(), ucall_host::Error>(())
/// ```
pub fn install_mmio_page<M, F>(
    memory: &M,
    tables: &mut PageTables<F>,
    widths: AddressWidths,
    other_slots: impl FnMut(u64) -> bool,
    published_at: GuestAddress,
) -> Result<Transport, Error>
where
    M: GuestMemory + GuestMemoryBackend + ?Sized,
    F: PageTableFormat,
{
    let gpa = find_mmio_address(&tables.view(memory), widths, other_slots)?;
    let page = Mapping {
        gva: gpa,
        gpa,
        size: PageSize::Size4K,
        kind: MemoryKind::Device,
    };
    tables.map(memory, page)?;
    memory
        .write_obj(gpa, published_at)
        .map_err(|source| Error::Publish {
            gpa: published_at.0,
            source,
        })?;
    Ok(Transport::mmio(gpa))
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
        use crate::memory::HeapMemory;
        use crate::paging::{Mapping, MemoryKind, PageSize, PageTables, x86_64::X86_64};

        let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
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
        let gpa = find_mmio_address(&tables.view(&memory), W36, |_| false).unwrap();
        assert_eq!(gpa, candidates(W36).nth(1).unwrap());
    }

    #[test]
    fn candidate_in_another_slot_is_skipped() {
        use crate::memory::HeapMemory;
        use crate::paging::{PageTables, x86_64::X86_64};

        let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
        let tables =
            PageTables::new(&memory, X86_64::new(36), GuestAddress(0x1000), 0x8000).unwrap();
        let first = candidates(W36).next().unwrap();
        let gpa = find_mmio_address(&tables.view(&memory), W36, |gpa| gpa == first).unwrap();
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
    fn install_mmio_page_maps_and_publishes_the_address_it_returns() {
        use crate::memory::HeapMemory;
        use crate::paging::{PageTables, x86_64::X86_64};
        use vm_memory::Bytes;

        let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
        let mut tables =
            PageTables::new(&memory, X86_64::new(36), GuestAddress(0x1000), 0x8000).unwrap();
        let global = GuestAddress(0x1_0000);
        let transport = install_mmio_page(&memory, &mut tables, W36, |_| false, global).unwrap();
        let gpa = candidates(W36).next().unwrap();
        assert_eq!(transport, Transport::mmio(gpa));
        assert_eq!(memory.read_obj::<u64>(global).unwrap(), gpa);
        let translation = tables.view(&memory).translate(gpa).unwrap();
        assert_eq!((translation.gpa, translation.page_size), (gpa, PAGE_SIZE));
    }

    #[test]
    fn install_mmio_page_with_its_global_outside_memory_is_a_publish_error() {
        use crate::memory::HeapMemory;
        use crate::paging::{PageTables, x86_64::X86_64};

        let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
        let mut tables =
            PageTables::new(&memory, X86_64::new(36), GuestAddress(0x1000), 0x8000).unwrap();
        let global = GuestAddress(0x40_0000);
        let err = install_mmio_page(&memory, &mut tables, W36, |_| false, global).unwrap_err();
        assert!(
            matches!(err, Error::Publish { gpa: 0x40_0000, .. }),
            "{err}"
        );
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
