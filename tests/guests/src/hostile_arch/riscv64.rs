//! riscv64: raw exits and wrong-size accesses by MMIO (or the selftests' SBI call), the
//! root table found through `satp`, and the cases it shares with aarch64 (no port I/O).
use crate::cases::*;
use core::arch::asm;
use ucall_guest::Record;
use ucall_guest::transport::{SBI_EXTENSION, SBI_UCALL_FUNCTION};

/// A ucall whose record is at `address`, whatever that is, by the published transport.
pub fn exit_with(address: u64) {
    match ucall_guest::mmio_address() {
        // SAFETY: the fence orders the record's stores before the store to the host's
        // ucall page, which only exits; `norvc` keeps the store a plain 4-byte `sd`.
        Some(mmio) => unsafe {
            asm!(
                "fence",
                ".option push",
                ".option norvc",
                "sd {a}, 0({m})",
                ".option pop",
                m = in(reg) mmio,
                a = in(reg) address,
                options(nostack)
            )
        },
        // SAFETY: the ecall exits to the host, which sets a0 and a1 (clobbered).
        None => unsafe {
            asm!(
                "ecall",
                in("a7") SBI_EXTENSION,
                in("a6") SBI_UCALL_FUNCTION,
                inout("a0") address => _,
                out("a1") _,
                options(nostack)
            )
        },
    }
}

/// A `size`-byte store to `address` (the ucall page: it only exits).
pub fn mmio_write(address: u64, size: u8) {
    let v = 0x1234_5678_9abc_def0u64;
    // SAFETY: `address` is in the host's ucall page, backed by no memory: the store exits.
    unsafe {
        match size {
            1 => asm!("sb {v}, 0({a})", a = in(reg) address, v = in(reg) v, options(nostack)),
            2 => asm!("sh {v}, 0({a})", a = in(reg) address, v = in(reg) v, options(nostack)),
            4 => asm!("sw {v}, 0({a})", a = in(reg) address, v = in(reg) v, options(nostack)),
            _ => asm!("sd {v}, 0({a})", a = in(reg) address, v = in(reg) v, options(nostack)),
        }
    }
}

/// A `size`-byte load from `address` (the ucall page: it only exits).
pub fn mmio_read(address: u64, size: u8) {
    // SAFETY: as for `mmio_write`.
    unsafe {
        match size {
            1 => asm!("lb {v}, 0({a})", a = in(reg) address, v = out(reg) _, options(nostack)),
            _ => asm!("ld {v}, 0({a})", a = in(reg) address, v = out(reg) _, options(nostack)),
        }
    }
}

/// `satp.MODE` and the page-number field.
const SATP_MODE_SV48: u64 = 9 << 60;
const SATP_PPN: u64 = (1 << 44) - 1;

/// The root table, found through `satp` (identity-mapped, so its address is a pointer; the
/// mode and ASID are not part of it).
pub fn root() -> *mut u64 {
    let satp: u64;
    // SAFETY: reading satp in S-mode has no side effects.
    unsafe { asm!("csrr {}, satp", out(reg) satp, options(nomem, nostack)) };
    ((satp & SATP_PPN) << 12) as *mut u64
}

/// What the privileged spec asks after editing live page tables: `sfence.vma` orders the
/// stores before later walks and drops cached translations.
pub fn tables_changed() {
    // SAFETY: a fence and a TLB flush of this hart: no memory effects beyond forgetting
    // cached translations.
    unsafe { asm!("sfence.vma", options(nostack)) }
}

/// Runs on the tables at `root` (Sv48, ASID 0) from now on, with no stale translation left.
pub fn install_root(root: *mut u64) {
    let satp = SATP_MODE_SV48 | (root as u64 >> 12);
    // SAFETY: the caller's tables map everything the current ones do; the flush only drops
    // cached translations of the old tables.
    unsafe { asm!("csrw satp, {}", "sfence.vma", in(reg) satp, options(nostack)) }
}

/// The cases that riscv64 shares with aarch64.
pub fn misbehave(case: Case, _record: *mut Record, text: *mut u8) {
    match case {
        // A pointer to a table where a 4 KiB page must be.
        Case::BlockAtThePageLevel => {
            crate::tables::call_through_a_page_entry(text as u64, descriptor::TABLE);
        }
        Case::SystemOff => {
            // SAFETY: SBI system reset (extension "SRST", function 0), type 0 (shutdown),
            // reason 0: it does not return.
            unsafe {
                asm!(
                    "ecall",
                    in("a7") 0x5352_5354u64,
                    in("a6") 0u64,
                    in("a0") 0u64,
                    in("a1") 0u64,
                    options(nostack)
                )
            }
        }
        _ => {}
    }
}

// The faulting load at a symbol of its own, so that the test knows the exception's address.
core::arch::global_asm!(
    ".global hostile_fault",
    ".type hostile_fault, %function",
    "hostile_fault:",
    ".option push",
    ".option norvc",
    "ld a0, 0(a0)",
    ".option pop",
    "ret",
);

unsafe extern "C" {
    /// Loads 8 bytes from `address`.
    pub fn hostile_fault(address: u64) -> u64;
}
