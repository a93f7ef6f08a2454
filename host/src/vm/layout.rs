//! Where a guest's memory goes, planned per guest from its ELF: RAM placed to cover the
//! image's segments, and the host's own structures (page tables, the architecture's GDT/TSS or
//! exception vectors, the vCPU stacks) where no segment is.
//!
//! The planner is shared; an architecture only says what it needs ([`Arch::HOST_AREA`]: bytes
//! of its own structures, which it lays out itself) and where RAM may go (below
//! `1 << physical width`). The rules:
//!
//! - RAM is one range of the requested size. It starts at the 1 GiB boundary below the image
//!   when the image, the host's structures and the stacks fit from there (so guests linked at
//!   0x400000 or 2 MiB get RAM from 0, and those at 1 GiB + 2 MiB get it from 1 GiB), else at
//!   the 2 MiB boundary below the image.
//! - The stacks are at the top of RAM, one after another, vCPU 0's highest.
//! - The host area (the architecture's structures, then the page tables) is the lowest free
//!   range after the first page of RAM, which stays unused so that a null pointer reads zeros.
//!
//! ```
//! use ucall_host::vm::{HostRegion, Layout, LayoutRequest};
//!
//! // An image linked where gcc links static programs, 0x400000.
//! let image = [0x40_0000..0x40_3000];
//! let request = LayoutRequest {
//!     memory_size: 32 << 20,
//!     stack_bytes: 64 << 10,
//!     host_area: 0x2000,
//!     host_area_name: "GDT and TSS",
//!     ram_limit: 1 << 40,
//! };
//! let layout = Layout::plan(&image, &request)?;
//! assert_eq!(layout.ram, 0..32 << 20);
//! assert_eq!(layout.host_area, 0x1000..0x3000);
//! assert_eq!(layout.tables.start, 0x3000);
//! assert_eq!(layout.stacks, (32 << 20) - (64 << 10)..32 << 20);
//! # Ok::<(), ucall_host::vm::LayoutError>(())
//! ```
//!
//! [`Arch::HOST_AREA`]: crate::arch::Arch::HOST_AREA

pub use super::host_region::HostRegion;

use super::elf::{LoadError, Segment};
use crate::arch::Arch;
use crate::paging::{PAGE_SIZE, PageSize};
use crate::probe::AddressWidths;
use std::ops::Range;

const GIB: u64 = PageSize::Size1G.bytes();
const MIB2: u64 = PageSize::Size2M.bytes();

/// What a layout must hold besides the image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayoutRequest {
    /// Bytes of RAM, a multiple of 2 MiB.
    pub memory_size: u64,
    /// Bytes of stack for all vCPUs together, whole pages.
    pub stack_bytes: u64,
    /// Bytes of the architecture's own structures ([`Arch::HOST_AREA`](crate::arch::Arch::HOST_AREA)).
    pub host_area: u64,
    /// What they are, for errors ([`Arch::HOST_AREA_NAME`](crate::arch::Arch::HOST_AREA_NAME)).
    pub host_area_name: &'static str,
    /// Where RAM must end at the latest: `1 << ` the guest's physical address width.
    pub ram_limit: u64,
}

impl LayoutRequest {
    /// What architecture `A` needs: its host area, and RAM below the VM's physical address
    /// width in `widths`.
    pub fn new<A: Arch>(widths: AddressWidths, memory_size: u64, stack_bytes: u64) -> Self {
        LayoutRequest {
            memory_size,
            stack_bytes,
            host_area: A::HOST_AREA,
            host_area_name: A::HOST_AREA_NAME,
            ram_limit: 1u64.checked_shl(widths.physical).unwrap_or(u64::MAX),
        }
    }
}

/// Where one guest's memory and the host's structures in it are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Guest RAM.
    pub ram: Range<u64>,
    /// The architecture's own structures ([`Arch::setup_memory`](super::arch::KvmArch::setup_memory)
    /// writes them here).
    pub host_area: Range<u64>,
    /// What they are.
    pub host_area_name: &'static str,
    /// The space page tables come from.
    pub tables: Range<u64>,
    /// The vCPU stacks, at the top of RAM.
    pub stacks: Range<u64>,
}

/// Why no layout holds the guest.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum LayoutError {
    /// The image, the host's structures and the stacks do not fit in the memory size.
    #[error(
        "the guest image at {image_start:#x}..{image_end:#x}, {host_bytes:#x} bytes of host structures and {stack_bytes:#x} bytes of stacks do not fit {memory_size:#x} bytes of memory placed from {ram_start:#x}"
    )]
    DoesNotFit {
        /// Where the image's segments start.
        image_start: u64,
        /// Where they end.
        image_end: u64,
        /// Bytes of host structures and page tables.
        host_bytes: u64,
        /// Bytes of stacks.
        stack_bytes: u64,
        /// Bytes of memory.
        memory_size: u64,
        /// Where RAM would have started (the 2 MiB boundary below the image).
        ram_start: u64,
    },
    /// RAM that holds the image would end beyond the guest's physical address width.
    #[error(
        "guest memory {ram_start:#x}..{ram_end:#x} would end beyond the guest's physical addresses (below {limit:#x})"
    )]
    BeyondPhysicalAddresses {
        /// Where RAM would start.
        ram_start: u64,
        /// Where it would end (saturated at 2^64).
        ram_end: u64,
        /// The limit.
        limit: u64,
    },
}

/// The space for page tables that identity-map `ram_len` bytes of RAM (2 MiB leaves) and the
/// ucall MMIO page: a page per level for the first mapping, a page per GiB of RAM and per
/// 512 GiB, and room for the MMIO page's own path.
pub(crate) fn table_space(ram_len: u64) -> u64 {
    (8 + ram_len.div_ceil(GIB) + ram_len.div_ceil(512 * GIB)) * PAGE_SIZE
}

impl Layout {
    /// Plans the layout for an image whose segments occupy `image` (guest-physical ranges,
    /// sorted and disjoint, as [`GuestImage::segments`](super::GuestImage::segments) gives them).
    pub fn plan(image: &[Range<u64>], request: &LayoutRequest) -> Result<Layout, LayoutError> {
        let span_start = image.first().map_or(0, |range| range.start);
        let span_end = image.iter().map(|range| range.end).max().unwrap_or(0);
        let fine = span_start & !(MIB2 - 1);
        for base in [span_start & !(GIB - 1), fine] {
            if let Some(layout) = Self::plan_at(base, image, span_end, request) {
                return Ok(layout);
            }
        }
        let ram_end = fine.saturating_add(request.memory_size);
        if ram_end > request.ram_limit {
            return Err(LayoutError::BeyondPhysicalAddresses {
                ram_start: fine,
                ram_end,
                limit: request.ram_limit,
            });
        }
        Err(LayoutError::DoesNotFit {
            image_start: span_start,
            image_end: span_end,
            host_bytes: request
                .host_area
                .saturating_add(table_space(request.memory_size)),
            stack_bytes: request.stack_bytes,
            memory_size: request.memory_size,
            ram_start: fine,
        })
    }

    /// The layout with RAM from `base`, if everything fits.
    fn plan_at(
        base: u64,
        image: &[Range<u64>],
        span_end: u64,
        request: &LayoutRequest,
    ) -> Option<Layout> {
        let ram_end = base.checked_add(request.memory_size)?;
        let stacks_start = ram_end.checked_sub(request.stack_bytes)?;
        if ram_end > request.ram_limit || span_end > stacks_start {
            return None;
        }
        let tables_len = table_space(request.memory_size);
        let host_len = request.host_area.checked_add(tables_len)?;
        // The lowest page-aligned gap between the segments that holds the host area.
        let mut free = base.checked_add(PAGE_SIZE)?;
        let mut at = None;
        for segment in image {
            let segment_start = segment.start & !(PAGE_SIZE - 1);
            if segment_start >= free && segment_start - free >= host_len {
                at = Some(free);
                break;
            }
            free = free.max(segment.end.checked_next_multiple_of(PAGE_SIZE)?);
        }
        let at = match at {
            Some(at) => at,
            None if stacks_start >= free && stacks_start - free >= host_len => free,
            None => return None,
        };
        let host_area = at..at + request.host_area;
        Some(Layout {
            ram: base..ram_end,
            tables: host_area.end..host_area.end + tables_len,
            host_area,
            host_area_name: request.host_area_name,
            stacks: stacks_start..ram_end,
        })
    }

    /// The host's structures and where they are.
    pub(crate) fn host_regions(&self) -> [(HostRegion, Range<u64>); 3] {
        [
            (
                HostRegion::Arch(self.host_area_name),
                self.host_area.clone(),
            ),
            (HostRegion::PageTables, self.tables.clone()),
            (HostRegion::Stacks, self.stacks.clone()),
        ]
    }

    /// Refuses segments that lie on any of the host's structures: for a VMM whose layout is
    /// fixed rather than planned around the image (a planned layout passes by construction).
    pub fn check(&self, segments: &[Segment]) -> Result<(), LoadError> {
        for segment in segments {
            for (region, range) in self.host_regions() {
                if segment.gpa.start < range.end && range.start < segment.gpa.end {
                    return Err(LoadError::OverlapsHost {
                        segment: segment.index,
                        start: segment.gpa.start,
                        end: segment.gpa.end,
                        region,
                        region_start: range.start,
                        region_end: range.end,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
