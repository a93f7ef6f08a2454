//! A guest that misbehaves on purpose: vCPU 0 acts out the case the host wrote to
//! `HOSTILE_CASE` (see `hostile_cases.rs`), every other vCPU makes well-behaved SYNCs, so a test
//! sees both what the host says about the hostile vCPU and that its neighbours carry on.
#![no_std]
#![no_main]

#[allow(dead_code)]
mod cases {
    include!("../hostile_cases.rs");
}

use cases::*;
use core::cell::UnsafeCell;
use core::ptr::write_volatile;
use core::sync::atomic::{AtomicU64, Ordering};
use ucall_guest::{Command, Record};

ucall_guest::entry!(main);

/// The case to act out, written by the host before the guest runs.
#[unsafe(no_mangle)]
static HOSTILE_CASE: AtomicU64 = AtomicU64::new(0);

/// Where guest memory ends, written by the host before the guest runs.
#[unsafe(no_mangle)]
static HOSTILE_MEMORY_END: AtomicU64 = AtomicU64::new(0);

/// Page-aligned guest memory at an address the host finds by symbol.
#[repr(C, align(4096))]
struct Pages<T>(UnsafeCell<T>);

// SAFETY: the guest writes these from one vCPU at a time, except `HOSTILE_RECORD` in
// `SharedRecord`, whose racing writes are the point of that case (the host must cope).
unsafe impl<T> Sync for Pages<T> {}

impl<T> Pages<T> {
    fn ptr(&self) -> *mut T {
        self.0.get()
    }
}

/// A record at a known address.
#[unsafe(no_mangle)]
static HOSTILE_RECORD: Pages<Record> = Pages(UnsafeCell::new(Record {
    cmd: 0,
    args: [0; 6],
}));

/// Two pages of text at a known address.
#[unsafe(no_mangle)]
static HOSTILE_TEXT: Pages<[u8; 8192]> = Pages(UnsafeCell::new([0; 8192]));

/// Page tables the guest builds: a level-3, a level-2, a level-1 table and a root.
#[unsafe(no_mangle)]
static HOSTILE_TABLES: Pages<[[u64; 512]; 4]> = Pages(UnsafeCell::new([[0; 512]; 4]));

fn main(vcpu: usize) {
    let case = Case::from_number(HOSTILE_CASE.load(Ordering::Relaxed)).unwrap_or(Case::Behave);
    if case == Case::SharedRecord {
        return shared_record(vcpu as u64);
    }
    if vcpu != 0 || case == Case::Behave {
        return behave(vcpu as u64);
    }
    misbehave(case);
    // The host answers every hostile ucall with an error and does not resume the vCPU; the
    // cases that are fine end here with DONE.
}

fn behave(vcpu: u64) {
    for i in 0..SYNCS {
        ucall_guest::sync(&[vcpu, i]);
    }
}

fn shared_record(vcpu: u64) {
    for i in 0..SYNCS {
        put(HOSTILE_RECORD.ptr(), Record::new(Command::Sync, &[vcpu, i]));
        arch::exit_with(HOSTILE_RECORD.ptr() as u64);
    }
}

fn misbehave(case: Case) {
    let memory_end = HOSTILE_MEMORY_END.load(Ordering::Relaxed);
    let record = HOSTILE_RECORD.ptr();
    let text = HOSTILE_TEXT.ptr().cast::<u8>();
    let mmio = ucall_guest::mmio_address().unwrap_or(0);
    match case {
        Case::Behave | Case::SharedRecord => {}
        Case::RecordUnmapped => arch::exit_with(UNMAPPED),
        Case::RecordNonCanonical => arch::exit_with(NON_CANONICAL),
        Case::RecordNonCanonicalHigh => arch::exit_with(NON_CANONICAL_HIGH),
        Case::RecordInTheUcallPage => arch::exit_with(mmio),
        Case::RecordAtNull => arch::exit_with(0),
        Case::RecordStraddlesEndOfMemory => arch::exit_with(memory_end - 8),
        Case::RecordWrapsAroundTheTop => arch::exit_with(u64::MAX - 7),
        Case::MmioWrite1 => arch::mmio_write(mmio, 1),
        Case::MmioWrite2 => arch::mmio_write(mmio, 2),
        Case::MmioWrite4 => arch::mmio_write(mmio, 4),
        Case::MmioRead1 => arch::mmio_read(mmio, 1),
        Case::MmioRead8 => arch::mmio_read(mmio, 8),
        Case::MmioWriteBesideTheUcallAddress => arch::mmio_write(mmio + 16, 8),
        Case::RootedCallMisaligned => rooted_call_at(text.wrapping_add(8), mmio),
        Case::RootedCallOutsideMemory => arch::mmio_write(mmio + ROOTED_DOORBELL, 8),
        Case::RootedCallWithARootOutsideMemory => {
            put(record, Record::new(Command::Sync, &[1]));
            put(text.cast::<u64>(), record as u64);
            put(text.cast::<u64>().wrapping_add(1), BEYOND_MEMORY);
            rooted_call_at(text, mmio);
        }
        Case::UnknownCommand => send_raw(record, 77, [0; 6]),
        Case::CommandNone => send_raw(record, 0, [1, 2, 3, 4, 5, 6]),
        Case::CommandMax => send_raw(record, u64::MAX, [0; 6]),
        Case::ForgedUnhandled => {
            let [vector, at, code, fault] = FORGED;
            send_raw(
                record,
                Command::Unhandled as u64,
                [vector, at, code, fault, 0, 0],
            );
        }
        Case::PrintfUnmapped => printf_at(record, UNMAPPED),
        Case::PrintfNonCanonical => printf_at(record, NON_CANONICAL),
        Case::PrintfUnterminated => {
            fill(text, 2048, b'x');
            printf_at(record, text as u64);
        }
        Case::PrintfLongerThanTheBound => {
            fill(text, 2000, b'x');
            printf_at(record, text as u64);
        }
        Case::PrintfExactlyTheBound => {
            fill(text, 1023, b'x');
            printf_at(record, text as u64);
        }
        Case::PrintfInvalidUtf8 => {
            put_bytes(text, b"ab\xffcd\0");
            printf_at(record, text as u64);
        }
        Case::PrintfTruncatedUtf8 => {
            put_bytes(text, b"ab\xe2\x82\0");
            printf_at(record, text as u64);
        }
        Case::PrintfRunsOffTheEndOfMemory => {
            // The last 8 bytes of memory are the unused return-address slot of vCPU 0's stack.
            let end = memory_end - 8;
            put_bytes(end as *mut u8, b"xxxxxxxx");
            printf_at(record, end);
        }
        Case::AbortMessageUnmapped => {
            send_raw(record, Command::Abort as u64, [UNMAPPED, 1, 0, 0, 0, 0])
        }
        Case::AbortFileInvalidUtf8 => {
            put_bytes(text, b"boom\0");
            let file = text as u64 + 0x100;
            put_bytes(file as *mut u8, b"src/\xc3(.rs\0");
            send_raw(
                record,
                Command::Abort as u64,
                [text as u64, 7, file, 9, 0, 0],
            );
        }
        Case::RecordStraddlesOntoAnUnmappedPage
        | Case::PrintfStraddlesOntoAnUnmappedPage
        | Case::TableThatPointsToItself
        | Case::TableOutsideMemory
        | Case::PageOutsideMemory
        | Case::ReservedBitInAnEntry
        | Case::HugePageBitInTheRoot
        | Case::ReservedBitInAHugePage
        | Case::NonPresentEntryWithBits
        | Case::SwitchedPageTables
        | Case::CallWithAReadOnlyRecord
        | Case::CallUnderAReadOnlyTable
        | Case::CallStraddlingOntoAReadOnlyPage => tables::misbehave(case, record, text),
        Case::Spin => loop {
            core::hint::spin_loop();
        },
        // `hlt`, or `wfi` forever: KVM handles both in the kernel, so only the watchdog ends it.
        Case::Halt => ucall_guest::halt(),
        other => arch::misbehave(other, record, text),
    }
}

/// Writes `value` to `place` so that it is in memory before the next exit.
fn put<T>(place: *mut T, value: T) {
    // SAFETY: every `place` here is a static of this guest, or the unused last bytes of
    // memory, and only this vCPU writes it now.
    unsafe { write_volatile(place, value) }
}

fn put_bytes(to: *mut u8, bytes: &[u8]) {
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: see `put`; the callers stay within the static they write.
        put(unsafe { to.add(i) }, b);
    }
}

/// `count` bytes of `byte` then a NUL.
fn fill(to: *mut u8, count: usize, byte: u8) {
    for i in 0..count {
        // SAFETY: see `put`; the callers stay within the memory they own.
        put(unsafe { to.add(i) }, byte);
    }
    if count < 2048 {
        // SAFETY: as above.
        put(unsafe { to.add(count) }, 0);
    }
}

fn send_raw(record: *mut Record, cmd: u64, args: [u64; 6]) {
    put(record, Record { cmd, args });
    arch::exit_with(record as u64);
}

/// The rooted-ucall doorbell, past the published MMIO address.
const ROOTED_DOORBELL: u64 = ucall_abi::rooted::MMIO_OFFSET;

/// A rooted ucall whose call block is at `block` (identity-mapped: its virtual address is its
/// guest-physical one), by one store of `block` to the rooted doorbell.
fn rooted_call_at(block: *mut u8, mmio: u64) {
    // SAFETY: `block` lies in `HOSTILE_TEXT`, 8-aligned with at least a record's bytes after
    // it, all initialised; the store only exits.
    let block = unsafe { &*block.cast::<Record>() };
    ucall_guest::transport::mmio(block, mmio + ROOTED_DOORBELL);
}

fn printf_at(record: *mut Record, text: u64) {
    send_raw(record, Command::Printf as u64, [text, 0, 0, 0, 0, 0]);
}

#[cfg(target_arch = "x86_64")]
mod arch {
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
            Case::PioIn2 => unsafe {
                asm!("in ax, dx", in("dx") port, out("ax") _, options(nostack))
            },
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
            Case::Exception => {
                // SAFETY: not safe, on purpose: the load faults and the host's handlers
                // report it.
                unsafe { hostile_fault(UNMAPPED) };
            }
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
        fn hostile_fault(address: u64) -> u64;
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    //! aarch64: raw exits and wrong-size accesses by MMIO, the root table found through
    //! TTBR0_EL1, and the cases only aarch64 has (no port I/O).
    use crate::cases::*;
    use crate::tables::{set, table};
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
                crate::tables::map_chain(text as u64);
                set(
                    table(2),
                    0,
                    descriptor::entry(text as u64, descriptor::BLOCK_1G),
                );
                tables_changed();
                exit_with(SLOT_BASE);
            }
            Case::Exception => {
                // SAFETY: not safe, on purpose: the load faults and the host's vectors stop
                // the vCPU.
                unsafe { hostile_fault(UNMAPPED) };
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
        fn hostile_fault(address: u64) -> u64;
    }
}

#[cfg(target_arch = "riscv64")]
#[path = "../hostile_arch/riscv64.rs"]
mod arch;

mod tables {
    //! The cases that edit the live page tables (found through the root register), the same on
    //! every architecture but for the descriptor bits and their encoding (`cases::descriptor`).
    use crate::arch::{exit_with, install_root, root, tables_changed};
    use crate::cases::descriptor::entry;
    use crate::cases::*;
    use crate::{HOSTILE_TABLES, put, put_bytes, send_raw};
    use ucall_guest::{Command, Record};

    /// The guest's own table `i`.
    pub fn table(i: usize) -> *mut u64 {
        // SAFETY: `i` < 4 at every call; the pointer stays within the static.
        unsafe { HOSTILE_TABLES.ptr().cast::<[u64; 512]>().add(i).cast() }
    }

    pub fn set(table: *mut u64, index: u64, entry: u64) {
        // SAFETY: `index` < 512: within the table.
        put(unsafe { table.add(index as usize) }, entry);
    }

    /// Points the root's free slot at a chain of the guest's tables down to `page` (4 KiB,
    /// at index 0 of the last table; index 1 stays not present).
    pub fn map_chain(page: u64) {
        set(root(), ROOT_SLOT, entry(table(0) as u64, descriptor::TABLE));
        set(table(0), 0, entry(table(1) as u64, descriptor::TABLE));
        set(table(1), 0, entry(table(2) as u64, descriptor::TABLE));
        set(table(2), 0, entry(page, descriptor::PAGE));
    }

    /// A user call through a chain of the guest's tables that ends in `pages` (4 KiB each,
    /// from index 0 of the last table), with the root's entry `root_bits`, and the record at
    /// `offset` into the first page.
    fn call_through(pages: &[u64], root_bits: u64, record: *mut Record, offset: u64) {
        set(root(), ROOT_SLOT, entry(table(0) as u64, root_bits));
        set(table(0), 0, entry(table(1) as u64, descriptor::TABLE));
        set(table(1), 0, entry(table(2) as u64, descriptor::TABLE));
        for (i, &page) in pages.iter().enumerate() {
            set(table(2), i as u64, page);
        }
        tables_changed();
        put(record, Record::with_cmd(CALL, &[1, 2, 3, 4, 5, 6]));
        exit_with(SLOT_BASE + offset);
    }

    /// Points the root's free slot at the guest's table 0 and puts `entry` at its index 0.
    fn one_below_the_root(below: u64) {
        set(root(), ROOT_SLOT, entry(table(0) as u64, descriptor::TABLE));
        set(table(0), 0, below);
    }

    pub fn misbehave(case: Case, record: *mut Record, text: *mut u8) {
        match case {
            Case::RecordStraddlesOntoAnUnmappedPage => map_chain(text as u64),
            Case::PrintfStraddlesOntoAnUnmappedPage => {
                map_chain(text as u64);
                // SAFETY: within the 8 KiB text buffer.
                put_bytes(unsafe { text.add(0xffc) }, b"xxxx");
            }
            Case::TableThatPointsToItself => {
                set(root(), ROOT_SLOT, entry(root() as u64, descriptor::TABLE))
            }
            Case::TableOutsideMemory => {
                set(root(), ROOT_SLOT, entry(BEYOND_MEMORY, descriptor::TABLE))
            }
            Case::PageOutsideMemory => {
                one_below_the_root(entry(BEYOND_MEMORY, descriptor::BLOCK_1G))
            }
            Case::ReservedBitInAnEntry => set(
                root(),
                ROOT_SLOT,
                entry(
                    table(0) as u64 | 1 << descriptor::RESERVED_ADDRESS_BIT,
                    descriptor::TABLE,
                ),
            ),
            Case::HugePageBitInTheRoot => set(
                root(),
                ROOT_SLOT,
                entry(table(0) as u64, descriptor::BLOCK_AT_ROOT),
            ),
            Case::ReservedBitInAHugePage => one_below_the_root(entry(
                0x4000_0000 | 1 << descriptor::RESERVED_BLOCK_BIT,
                descriptor::BLOCK_1G,
            )),
            Case::NonPresentEntryWithBits => one_below_the_root(0xdead_b000 | 0x2),
            Case::CallWithAReadOnlyRecord => {
                let page = entry(record as u64, descriptor::PAGE_READ_ONLY);
                return call_through(&[page], descriptor::TABLE, record, 0);
            }
            Case::CallUnderAReadOnlyTable => {
                let page = entry(record as u64, descriptor::PAGE);
                return call_through(&[page], descriptor::TABLE_READ_ONLY, record, 0);
            }
            Case::CallStraddlingOntoAReadOnlyPage => {
                // The record's first 16 bytes at the end of the writable text page, the rest at
                // the start of the read-only one after it.
                let pages = [
                    entry(text as u64, descriptor::PAGE),
                    entry(text as u64 + 0x1000, descriptor::PAGE_READ_ONLY),
                ];
                // SAFETY: within the 8 KiB text buffer.
                let at = unsafe { text.add(0xff0) }.cast::<Record>();
                return call_through(&pages, descriptor::TABLE, at, 0xff0);
            }
            Case::SwitchedPageTables => {
                // A copy of the root, plus a 1 GiB alias of RAM's first GiB at the free slot.
                let (old, new) = (root(), table(3));
                for i in 0..512 {
                    // SAFETY: i < 512, within the root table.
                    set(new, i, unsafe { old.add(i as usize).read_volatile() });
                }
                set(new, ROOT_SLOT, entry(table(0) as u64, descriptor::TABLE));
                set(table(0), 0, entry(RAM_BASE, descriptor::BLOCK_1G));
                tables_changed();
                install_root(new);
                put(record, Record::new(Command::Sync, &[0x5ca1ab1e, 1]));
                exit_with(SLOT_BASE + (record as u64 - RAM_BASE));
                return;
            }
            _ => return,
        }
        tables_changed();
        match case {
            Case::RecordStraddlesOntoAnUnmappedPage => exit_with(SLOT_BASE + 0xff8),
            Case::PrintfStraddlesOntoAnUnmappedPage => send_raw(
                record,
                Command::Printf as u64,
                [SLOT_BASE + 0xffc, 0, 0, 0, 0, 0],
            ),
            Case::TableThatPointsToItself => {
                // Every level takes the same slot back to the root; the "page" is the root,
                // and offset 0x400 is the slot's own entry.
                let s = ROOT_SLOT;
                exit_with(s << 39 | s << 30 | s << 21 | s << 12 | 0x400);
            }
            _ => exit_with(SLOT_BASE),
        }
    }
}
