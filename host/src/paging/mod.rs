//! Guest page tables: building them in guest memory and walking them, bounded and checked.
//!
//! Each architecture's format implements [`PageTableFormat`]; [`PageTables`] builds tables with
//! any format, and a [`GuestView`] reads guest-virtual memory through any format, one page at a
//! time, so nothing outside guest memory is ever touched.

pub mod aarch64;
mod error;
mod radix;
pub mod riscv64;
#[cfg(test)]
mod tests;
mod view;
pub mod x86_64;

pub use error::{BadEntryReason, Error};
pub use view::GuestView;
use vm_memory::{Bytes, GuestAddress, GuestMemory};

/// The smallest page: the unit in which guest-virtual reads are translated.
pub const PAGE_SIZE: u64 = 0x1000;

/// How a mapping's memory behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryKind {
    /// Ordinary, cacheable RAM.
    Normal,
    /// Device memory (uncached, no speculation), as the ucall MMIO page should be.
    Device,
}

/// A page size that a format can map in one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PageSize {
    /// 4 KiB.
    Size4K,
    /// 2 MiB.
    Size2M,
    /// 1 GiB (x86_64 needs CPUID `Page1GB` for it), one level above 2 MiB on every format.
    ///
    /// ```
    /// use ucall_host::paging::{aarch64::Aarch64, x86_64::X86_64, Mapping, MemoryKind, PageSize};
    /// use ucall_host::paging::PageTables;
    /// use vm_memory::GuestAddress;
    /// use ucall_host::memory::HeapMemory;
    ///
    /// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
    /// let mapping = Mapping {
    ///     gva: 0x4000_0000,
    ///     gpa: 0,
    ///     size: PageSize::Size1G,
    ///     kind: MemoryKind::Normal,
    /// };
    /// let mut x86 = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x4000)?;
    /// let mut arm = PageTables::new(&memory, Aarch64::new(40), GuestAddress(0x8000), 0x4000)?;
    /// x86.map(&memory, mapping)?;
    /// arm.map(&memory, mapping)?;
    /// for translation in [
    ///     x86.view(&memory).translate(0x4000_1234)?,
    ///     arm.view(&memory).translate(0x4000_1234)?,
    /// ] {
    ///     assert_eq!((translation.gpa, translation.page_size), (0x1234, 0x4000_0000));
    /// }
    /// // A root and one table below it: the 1 GiB page is an entry of that table.
    /// assert_eq!(x86.table_range(), 0x1000..0x3000);
    /// # Ok::<(), ucall_host::Error>(())
    /// ```
    Size1G,
}

impl PageSize {
    /// The size in bytes.
    pub const fn bytes(self) -> u64 {
        match self {
            PageSize::Size4K => 0x1000,
            PageSize::Size2M => 0x20_0000,
            PageSize::Size1G => 0x4000_0000,
        }
    }
}

/// Where a guest-virtual address leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The guest-physical address.
    pub gpa: u64,
    /// The size of the page that maps it.
    pub page_size: u64,
}

/// One architecture's page-table format.
///
/// `translate` must terminate, never panic and never read outside `memory`, whatever the tables
/// hold: every malformed table is an [`Error`].
pub trait PageTableFormat {
    /// The width of the guest-virtual addresses that the tables translate.
    fn virtual_address_bits(&self) -> u32;

    /// Writes the entries that map `request.mapping` into the tables at `request.root`, taking
    /// new tables from `request.tables`.
    fn map<M: GuestMemory + ?Sized>(&self, request: MapRequest<'_, M>) -> Result<(), Error>;

    /// Translates `gva` through the tables at `root`.
    fn translate<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        root: GuestAddress,
        gva: u64,
    ) -> Result<Translation, Error>;

    /// Translates `gva` as [`translate`](Self::translate) does, for a write: every entry on the
    /// way must let the guest write (x86_64 R/W at every level, aarch64 APTable\[1\] and AP\[2\],
    /// RISC-V W), or the walk stops with [`Error::NotWritable`] at the first that does not.
    /// The guest's own tables decide, whatever its CR0.WP or the like say: the host writes
    /// only where the guest's mapping says it may.
    fn translate_for_write<M: GuestMemory + ?Sized>(
        &self,
        memory: &M,
        root: GuestAddress,
        gva: u64,
    ) -> Result<Translation, Error>;
}

/// One page to map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The guest-virtual address, aligned to `size`.
    pub gva: u64,
    /// The guest-physical address, aligned to `size`.
    pub gpa: u64,
    /// The page size.
    pub size: PageSize,
    /// How the memory behaves.
    pub kind: MemoryKind,
}

/// One page to map ([`PageTableFormat::map`]) and the tables in guest memory it goes into.
#[derive(Debug)]
pub struct MapRequest<'a, M: ?Sized> {
    /// The guest memory that holds the tables.
    pub memory: &'a M,
    /// Where tables that the mapping needs and the tree lacks come from.
    pub tables: &'a mut TableAllocator,
    /// The root table.
    pub root: GuestAddress,
    /// The page.
    pub mapping: Mapping,
}

impl Mapping {
    pub(crate) fn check_aligned(&self) -> Result<(), Error> {
        let page_size = self.size.bytes();
        if (self.gva | self.gpa) % page_size != 0 {
            return Err(Error::Misaligned {
                gva: self.gva,
                gpa: self.gpa,
                page_size,
            });
        }
        Ok(())
    }
}

/// Hands out zeroed 4 KiB pages for page tables from a range of guest-physical memory.
///
/// ```
/// use ucall_host::paging::TableAllocator;
/// use vm_memory::GuestAddress;
/// use ucall_host::memory::HeapMemory;
///
/// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
/// let mut tables = TableAllocator::new(GuestAddress(0x1_0000), 0x2000);
/// assert_eq!(tables.allocate(&memory).unwrap(), GuestAddress(0x1_0000));
/// assert_eq!(tables.allocate(&memory).unwrap(), GuestAddress(0x1_1000));
/// assert!(tables.allocate(&memory).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct TableAllocator {
    start: u64,
    size: u64,
    used: u64,
}

impl TableAllocator {
    /// Tables will come from the `size` bytes at `start` (rounded to whole pages).
    pub fn new(start: GuestAddress, size: u64) -> Self {
        TableAllocator {
            start: start.0,
            size: size - size % PAGE_SIZE,
            used: 0,
        }
    }

    /// A zeroed page for a table.
    pub fn allocate<M: GuestMemory + ?Sized>(&mut self, memory: &M) -> Result<GuestAddress, Error> {
        let exhausted = Error::TableSpaceExhausted {
            start: self.start,
            size: self.size,
        };
        if self.used + PAGE_SIZE > self.size {
            return Err(exhausted);
        }
        // A range that ends beyond 2^64 has no room either.
        let page = GuestAddress(self.start.checked_add(self.used).ok_or(exhausted)?);
        memory
            .write_slice(&[0; PAGE_SIZE as usize], page)
            .map_err(|source| Error::TableWrite {
                gpa: page.0,
                source,
            })?;
        self.used += PAGE_SIZE;
        Ok(page)
    }

    /// The guest-physical range that tables came from so far.
    pub fn used(&self) -> std::ops::Range<u64> {
        self.start..self.start.saturating_add(self.used)
    }
}

/// A set of page tables in guest memory: a root and the space its tables come from.
///
/// ```
/// use ucall_host::paging::{x86_64::X86_64, MemoryKind, PageTables};
/// use vm_memory::GuestAddress;
/// use ucall_host::memory::HeapMemory;
///
/// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x40_0000)]).unwrap();
/// let mut tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)?;
/// tables.identity_map(&memory, 0..0x40_0000, MemoryKind::Normal)?;
/// assert_eq!(tables.view(&memory).translate(0x20_1234)?.gpa, 0x20_1234);
/// # Ok::<(), ucall_host::paging::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct PageTables<F> {
    format: F,
    root: GuestAddress,
    allocator: TableAllocator,
}

impl<F: PageTableFormat> PageTables<F> {
    /// Empty tables whose root and further tables come from the `size` bytes at `start`.
    pub fn new<M: GuestMemory + ?Sized>(
        memory: &M,
        format: F,
        start: GuestAddress,
        size: u64,
    ) -> Result<Self, Error> {
        let mut allocator = TableAllocator::new(start, size);
        let root = allocator.allocate(memory)?;
        Ok(PageTables {
            format,
            root,
            allocator,
        })
    }

    /// The root table's guest-physical address (for CR3 or TTBR0_EL1).
    pub fn root(&self) -> GuestAddress {
        self.root
    }

    /// The format.
    pub fn format(&self) -> &F {
        &self.format
    }

    /// The guest-physical range that the tables occupy.
    pub fn table_range(&self) -> std::ops::Range<u64> {
        self.allocator.used()
    }

    /// Maps one page.
    pub fn map<M: GuestMemory + ?Sized>(
        &mut self,
        memory: &M,
        mapping: Mapping,
    ) -> Result<(), Error> {
        self.format.map(MapRequest {
            memory,
            tables: &mut self.allocator,
            root: self.root,
            mapping,
        })
    }

    /// Maps `range` (page-aligned) to the same physical addresses, with 2 MiB pages where the
    /// range allows and 4 KiB pages elsewhere.
    pub fn identity_map<M: GuestMemory + ?Sized>(
        &mut self,
        memory: &M,
        range: std::ops::Range<u64>,
        kind: MemoryKind,
    ) -> Result<(), Error> {
        let mut address = range.start;
        while address < range.end {
            let size = if address % PageSize::Size2M.bytes() == 0
                && range.end - address >= PageSize::Size2M.bytes()
            {
                PageSize::Size2M
            } else {
                PageSize::Size4K
            };
            self.map(
                memory,
                Mapping {
                    gva: address,
                    gpa: address,
                    size,
                    kind,
                },
            )?;
            address += size.bytes();
        }
        Ok(())
    }

    /// `memory` as the guest sees it through these tables.
    pub fn view<'a, M: GuestMemory + ?Sized>(&'a self, memory: &'a M) -> GuestView<'a, M, F> {
        GuestView::new(memory, &self.format, self.root)
    }
}
