//! The costs outside the exit path: the first ucall of a new VM, and heap allocations.

use super::*;
use crate::exits::sync;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts every heap allocation of the process, to show that a SYNC ucall makes none.
pub(crate) struct Counting;

pub(crate) static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract, which we forward as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout, through `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is, as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded as is, as in `alloc`; `ptr` came from this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Nanoseconds from nothing to the first ucall: VM, memory, ELF, page tables, vCPU, run.
pub(crate) fn first_ucall(transport: TransportKind, elf: &[u8]) -> Result<f64> {
    let start = Instant::now();
    let mut vm = VmBuilder::new(elf)
        .transport(transport)
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let mut vcpu = vm.take_vcpus().remove(0);
    sync(&mut vcpu)?;
    let elapsed = start.elapsed().as_nanos() as f64;
    drop((vcpu, vm));
    Ok(elapsed)
}

/// Heap allocations per SYNC ucall over `count` ucalls.
pub(crate) fn allocations_per_sync(vcpu: &mut Vcpu, count: u32) -> Result<f64> {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for _ in 0..count {
        sync(vcpu)?;
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    Ok((after - before) as f64 / f64::from(count))
}
