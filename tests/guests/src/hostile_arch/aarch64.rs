//! aarch64: raw exits and wrong-size accesses by MMIO, the root table found through
//! TTBR0_EL1, and the cases only aarch64 has (no port I/O).
use crate::cases::*;
use core::arch::asm;
use ucall_guest::Record;

/// A ucall whose record is at `address`, whatever that is.
pub fn exit_with(address: u64) {
    let Some(mmio) = ucall_guest::mmio_address() else {
        ucall_guest::halt()
    };
    // SAFETY: the barrier orders the record's stores (Normal memory) before the store to the
    // host's ucall page (Device memory), which only exits.
    unsafe {
        asm!("dmb sy", "str {a}, [{m}]", m = in(reg) mmio, a = in(reg) address, options(nostack))
    }
}

/// A `size`-byte store to `address` (the ucall page: it only exits).
pub fn mmio_write(address: u64, size: u8) {
    let v = 0x1234_5678_9abc_def0u64;
    // SAFETY: `address` is in the host's ucall page, backed by no memory: the store exits.
    unsafe {
        match size {
            1 => {
                asm!("strb {v:w}, [{a}]", a = in(reg) address, v = in(reg) v, options(nostack))
            }
            2 => {
                asm!("strh {v:w}, [{a}]", a = in(reg) address, v = in(reg) v, options(nostack))
            }
            4 => asm!("str {v:w}, [{a}]", a = in(reg) address, v = in(reg) v, options(nostack)),
            _ => asm!("str {v}, [{a}]", a = in(reg) address, v = in(reg) v, options(nostack)),
        }
    }
}

/// A `size`-byte load from `address` (the ucall page: it only exits).
pub fn mmio_read(address: u64, size: u8) {
    // SAFETY: as for `mmio_write`.
    unsafe {
        match size {
            1 => {
                asm!("ldrb {v:w}, [{a}]", a = in(reg) address, v = out(reg) _, options(nostack))
            }
            _ => asm!("ldr {v}, [{a}]", a = in(reg) address, v = out(reg) _, options(nostack)),
        }
    }
}

/// The root table, found through TTBR0_EL1 (identity-mapped, so its address is a pointer;
/// the ASID in bits 63:48 and CnP in bit 0 are not part of it).
pub fn root() -> *mut u64 {
    let ttbr0: u64;
    // SAFETY: reading TTBR0_EL1 at EL1 has no side effects.
    unsafe { asm!("mrs {}, ttbr0_el1", out(reg) ttbr0, options(nomem, nostack)) };
    (ttbr0 & 0x0000_ffff_ffff_f000) as *mut u64
}

/// What the architecture asks after editing live translation tables: complete the stores,
/// drop any cached translation, and resynchronise (Arm ARM D8.17, "TLB maintenance").
pub fn tables_changed() {
    // SAFETY: barriers and a TLB invalidation of this VM's EL1 entries: no memory effects
    // beyond forgetting cached translations.
    unsafe {
        asm!(
            "dsb ishst",
            "tlbi vmalle1is",
            "dsb ish",
            "isb",
            options(nostack)
        )
    }
}

/// Runs on the tables at `root` from now on, with no stale translation left.
pub fn install_root(root: *mut u64) {
    // SAFETY: the caller's tables map everything the current ones do; the TLB invalidation
    // and barriers only drop cached translations of the old tables.
    unsafe {
        asm!(
            "msr ttbr0_el1, {}",
            "isb",
            "tlbi vmalle1",
            "dsb nsh",
            "isb",
            in(reg) root as u64,
            options(nostack)
        )
    }
}

/// The cases that only aarch64 has.
pub fn misbehave(case: Case, _record: *mut Record, text: *mut u8) {
    match case {
        Case::BlockAtThePageLevel => {
            crate::tables::call_through_a_page_entry(text as u64, descriptor::BLOCK_1G);
        }
        Case::SystemOff => {
            // SAFETY: PSCI SYSTEM_OFF (0x8400_0008) does not return.
            unsafe { asm!("hvc #0", in("x0") 0x8400_0008u64, options(nostack)) }
        }
        _ => {}
    }
}

// The faulting load at a symbol of its own, so that the test knows the exception's address.
core::arch::global_asm!(
    ".global hostile_fault",
    ".type hostile_fault, %function",
    "hostile_fault:",
    "ldr x0, [x0]",
    "ret",
);

unsafe extern "C" {
    /// Loads 8 bytes from `address`.
    pub fn hostile_fault(address: u64) -> u64;
}
