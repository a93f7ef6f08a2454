//! riscv64: an SBI call carrying the record's address and `satp` (a rooted ucall); the plain
//! MMIO store and the Linux KVM selftests' SBI call are in [`transport`].
//!
//! The host enters `_start` in S-mode with the MMU on (Sv48), `sp` at the vCPU's stack and `a0`
//! holding its index, as it enters x86_64 and aarch64 guests with the first argument register;
//! interrupts stay off, and `sstatus.FS` is not Off (KVM's reset value when the vCPU has F and
//! D), since code built for riscv64gc may use the floating-point registers.

use core::arch::asm;
#[cfg(not(feature = "pool"))]
use ucall_abi::Record;

/// Sends `record` as a rooted ucall: an SBI call with its address and the guest's `satp`, so
/// that the host walks the tables this vCPU runs with without reading a register (one vCPU
/// ioctl per ucall; `ucall_abi::rooted`). A store carries one value, an SBI call two
/// registers, so this is the SBI call whether or not the host published an MMIO address; the
/// plain transports stay in [`transport`] for programs that choose.
#[cfg(not(feature = "pool"))]
#[inline(always)]
pub(crate) fn signal(record: &Record, mmio_address: Option<u64>) {
    let _ = mmio_address;
    transport::sbi_rooted(record);
}

/// Exits with `token` (the pool convention): the SBI call, function 0, the token in `a0` and
/// `a1` zero, whether or not an MMIO address is published, as the selftests do.
#[cfg(feature = "pool")]
#[inline(always)]
pub(crate) fn signal_token(token: u64, mmio_address: Option<u64>) {
    let _ = mmio_address;
    // SAFETY: the `ecall` goes to the hypervisor, which exits to the host with the token and
    // returns an SBI result in `a0` and `a1` (declared clobbered). The asm may read memory,
    // so the pool record is written before it.
    unsafe {
        asm!(
            "ecall",
            in("a7") ucall_abi::SBI_EXTENSION,
            in("a6") ucall_abi::SBI_UCALL_FUNCTION,
            inout("a0") token => _,
            inout("a1") 0u64 => _,
            options(nostack, preserves_flags),
        );
    }
}

pub(crate) fn halt() -> ! {
    loop {
        // SAFETY: `wfi` only waits for an interrupt (or returns at once, as it may); interrupts
        // stay disabled, so the loop keeps the vCPU stopped.
        unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) }
    }
}

/// The riscv64 transports, for programs that choose one themselves.
#[cfg_attr(docsrs, doc(cfg(target_arch = "riscv64")))]
pub mod transport {
    use core::arch::asm;
    use ucall_abi::Record;

    /// The SBI extension and function of a ucall (see `ucall_abi`): the last experimental
    /// extension, which KVM forwards to the host as `KVM_EXIT_RISCV_SBI`, as the Linux KVM
    /// selftests use it; the record's address goes in `a0`.
    pub use ucall_abi::{SBI_EXTENSION, SBI_UCALL_FUNCTION};

    /// Sends `record` with one 8-byte `sd` of its address to `address`, after a `fence` so that
    /// the record's own stores come first.
    #[inline(always)]
    pub fn mmio(record: &Record, address: u64) {
        // SAFETY: `address` is the page the host mapped for ucalls and backs with no memory, so
        // the store only exits to the host. `fence` orders the record's stores (normal memory)
        // before the store to the I/O page. The store is kept uncompressed (`norvc`): a plain
        // 4-byte `sd` is what every MMIO decoder takes.
        unsafe {
            asm!(
                "fence",
                ".option push",
                ".option norvc",
                "sd {record}, 0({address})",
                ".option pop",
                address = in(reg) address,
                record = in(reg) core::ptr::from_ref(record),
                options(nostack, preserves_flags),
            );
        }
    }

    /// Sends `record` with an `ecall` to [`SBI_EXTENSION`], function
    /// `ucall_abi::rooted::SBI_FUNCTION`: its address in `a0` and this vCPU's `satp` in `a1`.
    #[inline(always)]
    pub fn sbi_rooted(record: &Record) {
        // SAFETY: `csrr` reads `satp`, which S-mode may read; the `ecall` goes to the
        // hypervisor, which exits to the host with both registers and returns an SBI result in
        // `a0` and `a1` (declared clobbered). The asm may read memory (no `nomem`), so the
        // record is in memory when the exit happens.
        unsafe {
            asm!(
                "csrr a1, satp",
                "ecall",
                in("a7") SBI_EXTENSION,
                in("a6") ucall_abi::rooted::SBI_FUNCTION,
                inout("a0") core::ptr::from_ref(record) => _,
                out("a1") _,
                options(nostack, preserves_flags),
            );
        }
    }

    /// Sends `record` with an `ecall` to [`SBI_EXTENSION`], function [`SBI_UCALL_FUNCTION`], its
    /// address in `a0`, as the Linux KVM selftests do.
    #[inline(always)]
    pub fn sbi(record: &Record) {
        // SAFETY: the `ecall` goes to the hypervisor, which exits to the host with the record's
        // address and returns an SBI result in `a0` and `a1` (declared clobbered). The asm may
        // read memory (no `nomem`), so the record is in memory when the exit happens.
        unsafe {
            asm!(
                "ecall",
                in("a7") SBI_EXTENSION,
                in("a6") SBI_UCALL_FUNCTION,
                inout("a0") core::ptr::from_ref(record) => _,
                out("a1") _,
                options(nostack, preserves_flags),
            );
        }
    }
}
