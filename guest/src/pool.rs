//! The pool convention of today's Linux KVM selftests (`ucall_abi::selftests`), for guests
//! whose stack the host cannot read (feature `pool`).
//!
//! With the feature, this crate defines the guest global `ucall_pool`, so a host that follows
//! `ucall_abi` serves the guest in the pool convention; every ucall then goes through a record
//! of the host's pool instead of the stack. The API does not change: [`send`](crate::send)
//! translates each record into the convention (its numbers, PRINTF's text and ABORT's message
//! into the record's buffer, ABORT's file and line where the selftests put them) and exits with
//! the record's token. What the convention cannot say is lost: ABORT's column, the seventh
//! argument, and replies (the host writes nothing back, so [`call`](crate::call) returns its
//! own arguments). Log-ring flushes are not part of the convention: use PRINTF.
//!
//! ```no_run
//! // The same program as without the feature.
//! ucall_guest::sync(&[1, 2]);
//! ucall_guest::guest_printf!("through the pool");
//! ```

use crate::arch;
use core::sync::atomic::{AtomicU64, Ordering};
use ucall_abi::selftests::{self, FAILED, RECORDS, Record as PoolRecord, record_offset};
use ucall_abi::{Command, Record, STRING_MAX_LEN};

/// The pool's guest-virtual address, written by the host before the guest runs; zero for none.
/// Its presence in the ELF is what tells the host to use the pool convention.
#[used]
#[unsafe(export_name = "ucall_pool")]
static UCALL_POOL: AtomicU64 = AtomicU64::new(0);

/// Sends `record` through a record of the pool, or exits with all-ones if there is no pool or
/// no free record.
pub(crate) fn send(record: &Record, mmio_address: Option<u64>) {
    let pool = UCALL_POOL.load(Ordering::Relaxed);
    let Some(index) = claim(pool) else {
        arch::signal_token(FAILED, mmio_address);
        return;
    };
    let slot = (pool + record_offset(index) as u64) as *mut PoolRecord;
    // SAFETY: the host gave the guest the pool at `pool` (POOL_SIZE bytes of its RAM, mapped
    // writable) and this vCPU holds record `index` until `release`, so no one else writes it.
    let token = unsafe { fill(&mut *slot, record) };
    arch::signal_token(token, mmio_address);
    release(pool, index);
}

/// The bitmap word of record `index` in the pool at `pool`, and its bit.
fn in_use(pool: u64, index: usize) -> (&'static AtomicU64, u64) {
    // SAFETY: the bitmap is the pool's first BITMAP_SIZE bytes, 8-byte aligned, and every
    // access to it is atomic.
    let word = unsafe { &*((pool as *const AtomicU64).add(index / 64)) };
    (word, 1 << (index % 64))
}

/// Claims the first free record with an atomic test-and-set of its bit.
fn claim(pool: u64) -> Option<usize> {
    if pool == 0 {
        return None;
    }
    (0..RECORDS).find(|&index| {
        let (word, bit) = in_use(pool, index);
        word.fetch_or(bit, Ordering::Acquire) & bit == 0
    })
}

fn release(pool: u64, index: usize) {
    let (word, bit) = in_use(pool, index);
    word.fetch_and(!bit, Ordering::Release);
}

/// Fills `slot` with `record` in the pool convention and returns the slot's token.
fn fill(slot: &mut PoolRecord, record: &Record) -> u64 {
    let mut args = [0; selftests::MAX_ARGS];
    let cmd = match record.command() {
        Ok(Command::Printf) => {
            copy_text(&mut slot.buffer, record.args[ucall_abi::printf::TEXT]);
            selftests::Command::Printf as u64
        }
        Ok(Command::Done) => selftests::Command::Done as u64,
        Ok(Command::Abort) => {
            use ucall_abi::abort::{FILE, LINE, MESSAGE};
            copy_text(&mut slot.buffer, record.args[MESSAGE]);
            args[selftests::abort::EXPRESSION] = record.args[MESSAGE];
            args[selftests::abort::FILE] = record.args[FILE];
            args[selftests::abort::LINE] = record.args[LINE];
            selftests::Command::Abort as u64
        }
        _ => {
            args[..record.args.len()].copy_from_slice(&record.args);
            record.cmd
        }
    };
    slot.cmd = cmd;
    slot.args = args;
    // SAFETY: a plain read of the slot's token, which the host wrote before the guest ran;
    // volatile, since nothing in the program wrote it.
    unsafe { core::ptr::read_volatile(&raw const slot.token) }
}

/// Copies the NUL-terminated string at `address` (at most the buffer's size, NUL included).
fn copy_text(buffer: &mut [u8; selftests::BUFFER_LEN], address: u64) {
    let mut len = 0;
    if address != 0 {
        while len < buffer.len().min(STRING_MAX_LEN) - 1 {
            // SAFETY: `address` is a string this crate made (a TextBuffer or a file name),
            // NUL-terminated within STRING_MAX_LEN bytes, alive until the ucall returns.
            let byte = unsafe { *((address + len as u64) as *const u8) };
            if byte == 0 {
                break;
            }
            buffer[len] = byte;
            len += 1;
        }
    }
    buffer[len] = 0;
}
