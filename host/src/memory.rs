//! Guest memory on the heap, for code that has no VM: tests, examples, fuzzing, and a VMM's own
//! checks of its exit handling.
//!
//! Every piece of this crate takes any [`vm_memory::GuestMemory`]; a VMM passes its own (usually
//! a `GuestMemoryMmap`, which needs vm-memory's `backend-mmap` feature and so `libc`). Without
//! the `vm` feature this crate does not turn `backend-mmap` on, and [`HeapMemory`] is the memory
//! its own examples and tests use: plain zeroed heap bytes, nothing mapped, no `libc`.
//!
//! ```
//! use ucall_host::memory::HeapMemory;
//! use ucall_host::vm_memory::{Bytes, GuestAddress};
//!
//! let memory = HeapMemory::from_ranges(&[(GuestAddress(0x1000), 0x1000)])?;
//! memory.write_obj(7u64, GuestAddress(0x1008))?;
//! assert_eq!(memory.read_obj::<u64>(GuestAddress(0x1008))?, 7);
//! assert!(memory.read_obj::<u64>(GuestAddress(0x2000)).is_err()); // no memory there
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::atomic::AtomicU8;
use vm_memory::bitmap::BS;
use vm_memory::{
    GuestAddress, GuestMemoryBackend, GuestMemoryError, GuestMemoryRegion, GuestMemoryRegionBytes,
    GuestMemoryResult, GuestRegionCollection, GuestRegionCollectionError, GuestUsize,
    MemoryRegionAddress, VolatileSlice,
};

/// One range of guest-physical memory held in a heap allocation.
#[derive(Debug)]
pub struct HeapRegion {
    start: GuestAddress,
    // Atomic bytes: the guest memory traits write through `&self`, and `AtomicU8` is a `u8`
    // that may be written while shared.
    bytes: Box<[AtomicU8]>,
}

impl HeapRegion {
    /// `len` zeroed bytes of guest memory from `start`.
    ///
    /// ```
    /// use ucall_host::memory::HeapRegion;
    /// use ucall_host::vm_memory::{GuestAddress, GuestMemoryRegion};
    ///
    /// let region = HeapRegion::new(GuestAddress(0x1000), 0x2000);
    /// assert_eq!(region.last_addr(), GuestAddress(0x2fff));
    /// ```
    pub fn new(start: GuestAddress, len: usize) -> HeapRegion {
        // Zeroed by the allocator (`calloc`), so a large region costs no writes up front.
        let zeroed = Box::into_raw(vec![0u8; len].into_boxed_slice()) as *mut [AtomicU8];
        // SAFETY: the pointer comes from `Box::into_raw` of a `[u8]` of `len` bytes, and
        // `AtomicU8` has the size, alignment and bit validity of `u8`, so the same allocation
        // is a valid `[AtomicU8]` of `len` elements, owned by the new box alone.
        let bytes = unsafe { Box::from_raw(zeroed) };
        HeapRegion { start, bytes }
    }
}

impl GuestMemoryRegion for HeapRegion {
    type B = ();

    fn len(&self) -> GuestUsize {
        self.bytes.len() as GuestUsize
    }

    fn start_addr(&self) -> GuestAddress {
        self.start
    }

    fn bitmap(&self) -> BS<'_, ()> {}

    fn get_slice(
        &self,
        offset: MemoryRegionAddress,
        count: usize,
    ) -> GuestMemoryResult<VolatileSlice<'_, BS<'_, ()>>> {
        let start = usize::try_from(offset.0).ok();
        let range = start
            .and_then(|start| Some(start..start.checked_add(count)?))
            .filter(|range| range.end <= self.bytes.len())
            .ok_or(GuestMemoryError::InvalidBackendAddress)?;
        let bytes = &self.bytes[range];
        // SAFETY: `bytes` is `count` bytes inside this region's allocation, which outlives the
        // returned slice (it borrows `self`), and `AtomicU8` permits writes through a shared
        // reference, so volatile reads and writes through the slice are sound.
        Ok(unsafe { VolatileSlice::new(bytes.as_ptr().cast::<u8>().cast_mut(), count) })
    }
}

impl GuestMemoryRegionBytes for HeapRegion {}

/// Guest memory made of [`HeapRegion`]s: a [`vm_memory::GuestMemory`] without `mmap`.
#[derive(Debug)]
pub struct HeapMemory {
    regions: GuestRegionCollection<HeapRegion>,
}

impl HeapMemory {
    /// Zeroed memory for each `(start, length)` range; ranges may not overlap.
    ///
    /// ```
    /// use ucall_host::memory::HeapMemory;
    /// use ucall_host::vm_memory::{GuestAddress, GuestMemoryBackend};
    ///
    /// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x1000), (GuestAddress(0x4000), 0x1000)])?;
    /// assert_eq!(memory.num_regions(), 2);
    /// assert!(HeapMemory::from_ranges(&[(GuestAddress(0), 0x2000), (GuestAddress(0x1000), 0x1000)]).is_err());
    /// # Ok::<(), ucall_host::vm_memory::GuestRegionCollectionError>(())
    /// ```
    pub fn from_ranges(
        ranges: &[(GuestAddress, usize)],
    ) -> Result<HeapMemory, GuestRegionCollectionError> {
        let regions = ranges
            .iter()
            .map(|&(start, len)| HeapRegion::new(start, len))
            .collect();
        Ok(HeapMemory {
            regions: GuestRegionCollection::from_regions(regions)?,
        })
    }
}

impl GuestMemoryBackend for HeapMemory {
    type R = HeapRegion;

    fn num_regions(&self) -> usize {
        self.regions.num_regions()
    }

    fn find_region(&self, addr: GuestAddress) -> Option<&HeapRegion> {
        self.regions.find_region(addr)
    }

    fn iter(&self) -> impl Iterator<Item = &HeapRegion> {
        self.regions.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::Bytes;

    #[test]
    fn a_read_across_two_adjacent_regions_sees_both() {
        let memory =
            HeapMemory::from_ranges(&[(GuestAddress(0), 0x1000), (GuestAddress(0x1000), 0x1000)])
                .unwrap();
        memory
            .write_slice(&[1, 2, 3, 4], GuestAddress(0xffe))
            .unwrap();
        let mut read = [0; 4];
        memory.read_slice(&mut read, GuestAddress(0xffe)).unwrap();
        assert_eq!(read, [1, 2, 3, 4]);
    }

    #[test]
    fn a_write_running_past_the_end_fails() {
        let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x1000)]).unwrap();
        assert!(memory.write_slice(&[0; 8], GuestAddress(0xffc)).is_err());
    }

    #[test]
    fn a_slice_beyond_a_region_is_refused() {
        let region = HeapRegion::new(GuestAddress(0), 0x1000);
        assert!(region.get_slice(MemoryRegionAddress(0xfff), 2).is_err());
        assert!(region.get_slice(MemoryRegionAddress(u64::MAX), 1).is_err());
        assert_eq!(
            region
                .get_slice(MemoryRegionAddress(0x1000), 0)
                .unwrap()
                .len(),
            0
        );
    }
}
