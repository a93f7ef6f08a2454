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
        Case::Exception => {
            // SAFETY: not safe, on purpose: the load faults and the host's exception handlers
            // report it (or stop the vCPU).
            unsafe { arch::hostile_fault(UNMAPPED) };
        }
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
#[path = "../hostile_arch/x86_64.rs"]
mod arch;

#[cfg(target_arch = "aarch64")]
#[path = "../hostile_arch/aarch64.rs"]
mod arch;

#[cfg(target_arch = "riscv64")]
#[path = "../hostile_arch/riscv64.rs"]
mod arch;

#[path = "../hostile_arch/tables.rs"]
mod tables;
