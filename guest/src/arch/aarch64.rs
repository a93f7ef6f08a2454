//! aarch64: one plain 8-byte store to the address the host published: a rooted ucall (see
//! `ucall_abi::rooted`) when the guest can translate its own call block, else a plain one.

use aarch64_cpu::asm::{barrier, wfi};
#[cfg(not(feature = "pool"))]
use ucall_abi::Record;

/// Sends `record` by MMIO. Without a published address there is no way to reach the host, so
/// the vCPU stops; the host's watchdog reports it.
#[cfg(not(feature = "pool"))]
#[inline(always)]
pub(crate) fn signal(record: &Record, mmio_address: Option<u64>) {
    match mmio_address {
        Some(address) => transport::mmio_rooted(record, address),
        None => halt(),
    }
}

/// Exits with `token` (the pool convention): one plain store to the published address.
/// Without one the vCPU stops, as for [`signal`].
#[cfg(feature = "pool")]
#[inline(always)]
pub(crate) fn signal_token(token: u64, mmio_address: Option<u64>) {
    let Some(address) = mmio_address else { halt() };
    barrier::dmb(barrier::SY);
    // SAFETY: `address` is the page the host mapped (Device memory) for ucalls and backs with
    // no memory, so the store only exits. The asm may read memory, so the pool record is
    // written before it.
    unsafe {
        core::arch::asm!(
            "str {token}, [{address}]",
            address = in(reg) address,
            token = in(reg) token,
            options(nostack, preserves_flags),
        );
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
    use ucall_abi::rooted::{MMIO_OFFSET, RootedCall};

    /// PAR_EL1.F: the translation failed.
    const PAR_FAILED: u64 = 1;
    /// PAR_EL1.PA, bits 51:12 of the physical address.
    const PAR_ADDRESS: u64 = 0x000f_ffff_ffff_f000;

    /// Sends `record` as a rooted ucall (see `ucall_abi::rooted`): the guest-physical address of
    /// a [`RootedCall`] on the stack, holding the record's address and TTBR0_EL1, goes to
    /// `address` + [`MMIO_OFFSET`], so the host reads no register. If the stack cannot be
    /// translated (`AT` fails), it sends the record as [`mmio`] does.
    #[inline(always)]
    pub fn mmio_rooted(record: &Record, address: u64) {
        let mut call = core::mem::MaybeUninit::<RootedCall>::uninit();
        let block = call.as_mut_ptr();
        let (root, par): (u64, u64);
        // SAFETY: reading TTBR0_EL1 and translating an address with `AT` change nothing but
        // PAR_EL1, which no one else relies on; `isb` makes PAR_EL1 show the result.
        unsafe {
            asm!(
                "mrs {root}, ttbr0_el1",
                "at s1e1r, {block}",
                "isb",
                "mrs {par}, par_el1",
                root = out(reg) root,
                block = in(reg) block as u64,
                par = out(reg) par,
                options(nomem, nostack, preserves_flags),
            );
        }
        if par & PAR_FAILED != 0 {
            return mmio(record, address);
        }
        // SAFETY: `block` is this frame's aligned, writable slot. Volatile, so that the stores
        // are made although no Rust code reads them (the host does), one word each.
        unsafe {
            core::ptr::write_volatile(&raw mut (*block).record, core::ptr::from_ref(record) as u64);
            core::ptr::write_volatile(&raw mut (*block).root, root);
        }
        // 16-byte aligned, so the call block's page offset is that of its address.
        let gpa = (par & PAR_ADDRESS) | (block as u64 & 0xfff);
        barrier::dmb(barrier::SY);
        // SAFETY: as in `mmio`: the store goes to the ucall page and only exits. The asm may read
        // memory (no `nomem`), so `call` and the record are in memory when it exits.
        unsafe {
            asm!(
                "str {gpa}, [{doorbell}]",
                doorbell = in(reg) address + MMIO_OFFSET,
                gpa = in(reg) gpa,
                options(nostack, preserves_flags),
            );
        }
    }

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
