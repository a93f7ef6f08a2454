//! aarch64: one plain 8-byte store to the address the host published.

use aarch64_cpu::asm::{barrier, wfi};
use ucall_abi::Record;

/// Sends `record` by MMIO. Without a published address there is no way to reach the host, so
/// the vCPU stops; the host's watchdog reports it.
#[inline(always)]
pub(crate) fn signal(record: &Record, mmio_address: Option<u64>) {
    match mmio_address {
        Some(address) => transport::mmio(record, address),
        None => halt(),
    }
}

pub(crate) fn halt() -> ! {
    loop {
        wfi();
    }
}

/// The aarch64 transport.
#[cfg_attr(docsrs, doc(cfg(target_arch = "aarch64")))]
pub mod transport {
    use super::barrier;
    use core::arch::asm;
    use ucall_abi::Record;

    /// Sends `record` with one plain 8-byte `str` of its address to `address`.
    #[inline(always)]
    pub fn mmio(record: &Record, address: u64) {
        // The record sits in Normal memory and the ucall page is Device memory: order the
        // record's stores before the one that exits.
        barrier::dmb(barrier::SY);
        // SAFETY: `address` is the page the host mapped (as Device memory) for ucalls and backs
        // with no memory, so the store only exits to the host. A plain `str` without writeback
        // gives KVM a valid syndrome to decode.
        unsafe {
            asm!(
                "str {record}, [{address}]",
                address = in(reg) address,
                record = in(reg) core::ptr::from_ref(record),
                options(nostack, preserves_flags),
            );
        }
    }
}
