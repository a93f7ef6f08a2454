//! x86_64: port I/O, or MMIO when the host published an address.

#[cfg(feature = "pool")]
use core::arch::asm;
#[cfg(not(feature = "pool"))]
use ucall_abi::Record;

/// Sends `record` by MMIO when the host published an address, else by port I/O.
#[cfg(not(feature = "pool"))]
#[inline(always)]
pub(crate) fn signal(record: &Record, mmio_address: Option<u64>) {
    match mmio_address {
        Some(address) => transport::mmio(record, address),
        None => transport::pio(record),
    }
}

/// Exits with `token` (the pool convention): by MMIO when the host published an address, else
/// by port I/O with the token in `rdi`.
#[cfg(feature = "pool")]
#[inline(always)]
pub(crate) fn signal_token(token: u64, mmio_address: Option<u64>) {
    match mmio_address {
        // SAFETY: `address` is the page the host mapped for ucalls and backs with no memory,
        // so the store only exits. The asm may read memory, so the pool record is written.
        Some(address) => unsafe {
            asm!(
                "mov qword ptr [{address}], {token}",
                address = in(reg) address,
                token = in(reg) token,
                options(nostack, preserves_flags),
            );
        },
        // SAFETY: reading the ucall port only exits to the host; `al` is clobbered.
        None => unsafe {
            asm!(
                "in al, dx",
                in("dx") ucall_abi::PIO_PORT,
                in("rdi") token,
                out("al") _,
                options(nostack, preserves_flags),
            );
        },
    }
}

pub(crate) fn halt() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// The x86_64 transports, for programs that choose one themselves.
#[cfg_attr(docsrs, doc(cfg(target_arch = "x86_64")))]
pub mod transport {
    use core::arch::asm;
    use ucall_abi::{PIO_PORT, Record};

    /// Sends `record` with `in al, dx` on [`PIO_PORT`], its address in `rdi`, as the Linux KVM
    /// selftests do since Linux 6.2.
    #[inline(always)]
    pub fn pio(record: &Record) {
        // SAFETY: reading the ucall port only exits to the host, which reads the record and
        // resumes the guest; `al` is declared clobbered and no guest memory is written. The asm
        // may read memory (no `nomem`), so the record is in memory when the exit happens.
        unsafe {
            asm!(
                "in al, dx",
                in("dx") PIO_PORT,
                in("rdi") core::ptr::from_ref(record),
                out("al") _,
                options(nostack, preserves_flags),
            );
        }
    }

    /// Sends `record` as [`pio`] does, with `record.args[0]` in `rsi` too, and returns `rsi`
    /// after the exit: the first word of the host's reply, or `args[0]` from a host that does
    /// not answer (see [the ABI's replies](ucall_abi#replies)). The record holds the whole
    /// reply either way.
    ///
    /// ```no_run
    /// use ucall_guest::{transport, Record, FIRST_USER_COMMAND};
    ///
    /// let record = Record::with_cmd(FIRST_USER_COMMAND, &[40, 2]);
    /// let first = transport::pio_call(&record);
    /// ```
    #[inline(always)]
    pub fn pio_call(record: &Record) -> u64 {
        let first;
        // SAFETY: as for `pio`; the host may change `rsi` (declared in and out) and the record's
        // arguments, which the caller reads with volatile reads if it wants them.
        unsafe {
            asm!(
                "in al, dx",
                in("dx") PIO_PORT,
                in("rdi") core::ptr::from_ref(record),
                inout("rsi") record.args[0] => first,
                out("al") _,
                options(nostack, preserves_flags),
            );
        }
        first
    }

    /// Sends `record` with one 8-byte store of its address to `address`, as the seed's
    /// `ucall()` does.
    #[inline(always)]
    pub fn mmio(record: &Record, address: u64) {
        // SAFETY: `address` is the page the host mapped for ucalls and backs with no memory, so
        // the store only exits to the host. A single `mov` keeps the exit decodable.
        unsafe {
            asm!(
                "mov qword ptr [{address}], {record}",
                address = in(reg) address,
                record = in(reg) core::ptr::from_ref(record),
                options(nostack, preserves_flags),
            );
        }
    }
}
