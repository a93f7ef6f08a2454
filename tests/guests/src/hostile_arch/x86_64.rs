//! x86_64: raw exits, wrong-size accesses, the root table found through CR3, and the cases
//! only x86_64 has.
use crate::cases::*;
use core::arch::asm;
use ucall_guest::Record;

/// A ucall whose record is at `address`, whatever that is, by the published transport.
pub fn exit_with(address: u64) {
    match ucall_guest::mmio_address() {
        // SAFETY: the store goes to the host's ucall page and only exits.
        Some(mmio) => unsafe {
            asm!("mov qword ptr [{m}], {a}", m = in(reg) mmio, a = in(reg) address, options(nostack))
        },
        // SAFETY: reading the ucall port only exits.
        None => unsafe {
            asm!("in al, dx", in("dx") ucall_abi_port(), in("rdi") address, out("al") _, options(nostack))
        },
    }
}

fn ucall_abi_port() -> u16 {
    0x1000
}

/// A `size`-byte store to `address` (the ucall page: it only exits).
pub fn mmio_write(address: u64, size: u8) {
    let v = 0x1234_5678_9abc_def0u64;
    // SAFETY: `address` is in the host's ucall page, backed by no memory: the store exits.
    unsafe {
        match size {
            1 => {
                asm!("mov byte ptr [{a}], {v:l}", a = in(reg) address, v = in(reg) v, options(nostack))
            }
            2 => {
                asm!("mov word ptr [{a}], {v:x}", a = in(reg) address, v = in(reg) v, options(nostack))
            }
            4 => {
                asm!("mov dword ptr [{a}], {v:e}", a = in(reg) address, v = in(reg) v, options(nostack))
            }
            _ => {
                asm!("mov qword ptr [{a}], {v}", a = in(reg) address, v = in(reg) v, options(nostack))
            }
        }
    }
}

/// A `size`-byte load from `address` (the ucall page: it only exits).
pub fn mmio_read(address: u64, size: u8) {
    // SAFETY: as for `mmio_write`.
    unsafe {
        match size {
            1 => {
                asm!("mov {v:l}, byte ptr [{a}]", a = in(reg) address, v = out(reg) _, options(nostack))
            }
            _ => {
                asm!("mov {v}, qword ptr [{a}]", a = in(reg) address, v = out(reg) _, options(nostack))
            }
        }
    }
}

/// The root table, found through CR3 (identity-mapped, so its address is a pointer).
pub fn root() -> *mut u64 {
    let cr3: u64;
    // SAFETY: reading CR3 has no side effects at CPL0.
    unsafe { asm!("mov {}, cr3", out(reg) cr3, options(nomem, nostack)) };
    (cr3 & ADDRESS) as *mut u64
}

const ADDRESS: u64 = 0x000f_ffff_ffff_f000;

/// Makes page-table edits visible to the walker. On x86_64 the tables are ordinary
/// write-back memory and these edits only add entries the vCPU never used: nothing to do.
pub fn tables_changed() {}

/// Runs on the tables at `root` from now on.
pub fn install_root(root: *mut u64) {
    // SAFETY: the caller's tables map everything the current ones do.
    unsafe { asm!("mov cr3, {}", in(reg) root as u64, options(nostack)) };
}

/// The cases that only x86_64 has: port I/O, triple faults.
pub fn misbehave(case: Case, _record: *mut Record, text: *mut u8) {
    let port = 0x1000u16;
    match case {
        // SAFETY (all port I/O below): the ucall port and port 0x604 are served by no
        // device in the guest; each access only exits to the host.
        Case::PioIn2 => unsafe { asm!("in ax, dx", in("dx") port, out("ax") _, options(nostack)) },
        Case::PioIn4 => unsafe {
            asm!("in eax, dx", in("dx") port, out("eax") _, options(nostack))
        },
        Case::PioOut1 => unsafe {
            asm!("out dx, al", in("dx") port, in("al") 0u8, options(nostack))
        },
        Case::PioOut4 => unsafe {
            asm!("out dx, eax", in("dx") port, in("eax") 0u32, options(nostack))
        },
        // SAFETY: `rep insb` stores 4 bytes at `text`, this guest's own buffer.
        Case::PioRepIns4 => unsafe {
            asm!("rep insb", in("dx") port, inout("rdi") text => _, inout("rcx") 4u64 => _, options(nostack))
        },
        Case::PioOtherPort => unsafe {
            asm!("out dx, al", in("dx") 0x604u16, in("al") 0u8, options(nostack))
        },
        Case::TripleFault => {
            let idtr = [0u16; 5];
            // SAFETY: an empty IDT and a load from an unmapped address: the page fault
            // cannot be delivered, nor the double fault; the CPU shuts down.
            unsafe {
                asm!("lidt [{}]", in(reg) &idtr, options(nostack));
                asm!("mov {v}, qword ptr [{a}]", a = in(reg) UNMAPPED, v = out(reg) _, options(nostack));
            }
        }
        _ => {}
    }
}

// The faulting load at a symbol of its own, so that the test knows the exception's address.
core::arch::global_asm!(
    ".global hostile_fault",
    "hostile_fault:",
    "mov rax, [rdi]",
    "ret",
);

unsafe extern "C" {
    /// Loads 8 bytes from `address`.
    pub fn hostile_fault(address: u64) -> u64;
}
