//! The guest side of ucalls: calls from a bare-metal KVM guest to its host through one exit.
//!
//! A ucall fills a [`Record`] on the guest's stack and makes a single exit that carries the
//! record's address (see [`ucall_abi`] for the wire format). This crate offers the calls, a
//! bounded `printf`, assertions that report to the host, a panic handler, and an entry macro, so
//! a guest program is a few lines long (this one is built and run by the tests as
//! `tests/guests/src/bin/readme.rs`; a bare-metal program cannot be a doctest):
//!
//! ```text
//! #![no_std]
//! #![no_main]
//!
//! use ucall_guest::{guest_assert_eq, guest_printf, sync};
//!
//! ucall_guest::entry!(main);
//!
//! fn main(vcpu: usize) {
//!     guest_printf!("hello from vCPU {}", vcpu);
//!     sync(&[1, 2, 3]);
//!     guest_assert_eq!(2 + 2, 4);
//! } // returning from `main` sends DONE
//! ```
//!
//! # Building a guest
//!
//! Guests are built for `x86_64-unknown-none`, `aarch64-unknown-none` or
//! `riscv64gc-unknown-none-elf` and linked at a fixed address with the linker script this crate
//! provides:
//!
//! ```text
//! RUSTFLAGS="-C relocation-model=static -C link-arg=-Tucall-guest.ld" \
//!     cargo build --release --target x86_64-unknown-none
//! ```
//!
//! # Running a guest
//!
//! `ucall-run` (from `ucall-host`, feature `runner`) runs the ELF under KVM and prints its
//! ucalls. Named as the cargo runner of the guest crate, it makes `cargo run` do that:
//!
//! ```toml
//! # .cargo/config.toml of the guest crate
//! [target.x86_64-unknown-none]
//! runner = "ucall-run"
//! rustflags = ["-C", "relocation-model=static", "-C", "link-arg=-Tucall-guest.ld"]
//! ```
//!
//! with `panic = "abort"` in the crate's profiles. The repository's `examples/external-guest`
//! is such a crate.
//!
//! # Replies
//!
//! [`call`] is a ucall that returns the host's answer: the host may overwrite the record's six
//! arguments before it resumes the guest, and [`call`] reads them back (from a host that does
//! not answer, they come back as sent). Commands from [`FIRST_USER_COMMAND`] to
//! [`LAST_USER_COMMAND`] are the program's own, agreed with its host.
//!
//! # Logging without an exit per line
//!
//! [`guest_log!`] is [`guest_printf!`] through the opt-in [`log_ring`]: once the program has
//! installed a ring and the host drains rings, lines go into guest memory and the host reads
//! them at the guest's next exit, so many lines cost one exit. Otherwise it sends PRINTF.
//!
//! # Transports
//!
//! On x86_64 a ucall uses MMIO when the host has published an address in
//! [`ucall_abi::MMIO_ADDR_SYMBOL`], and port I/O otherwise; the same binary works with both. On
//! aarch64 it always uses MMIO, as a rooted ucall ([`ucall_abi::rooted`]): it translates its
//! own call block with `AT` and stores that guest-physical address to the second doorbell, so the
//! host reads no register and a ucall costs one `KVM_RUN`, as on x86_64. On riscv64 it uses MMIO (after a `fence`) when an address is
//! published, and otherwise the SBI call of the Linux KVM selftests (extension 0x08FF_FFFF,
//! record address in `a0`).
//!
//! # Test programs
//!
//! [`tests`] makes a module of `#[test]` functions a test program: the host reads the tests from
//! the ELF and runs each in a fresh VM, and `ucall-run` reports them as libtest does, so
//! `cargo test --target x86_64-unknown-none` runs them (the repository's `examples/guest-tests`
//! is such a crate):
//!
//! ```text
//! #![no_std]
//! #![no_main]
//!
//! #[ucall_guest::tests]
//! mod tests {
//!     #[test]
//!     fn adds() {
//!         ucall_guest::guest_assert_eq!(1 + 1, 2);
//!     }
//! }
//! ```
//!
//! # Exceptions
//!
//! An exception the guest has no handler for is reported by the host's handlers as an UNHANDLED
//! ucall (vector, instruction address, error code, fault address), and that vCPU stops. On
//! x86_64, `exceptions::expect_fault` runs code that should fault and returns the fault
//! instead.
//!
//! # Features
//!
//! - `panic-handler` (default): panics become ABORT ucalls with the message and location. Turn it
//!   off in programs that bring their own `#[panic_handler]`.
//! - `pool`: the guest uses the pool convention of today's Linux KVM selftests
//!   (`ucall_abi::selftests`): it defines `ucall_pool`, and its ucalls go through records of a
//!   pool the host allocates, with a token in the exit, instead of records on its stack. For
//!   guests whose stack the host cannot read. See [`pool`].
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]
#![deny(missing_debug_implementations)]

mod arch;
pub use arch::transport;
#[cfg(target_arch = "x86_64")]
#[cfg_attr(docsrs, doc(cfg(target_arch = "x86_64")))]
pub mod exceptions;
pub mod log_ring;
mod macros;
#[cfg(feature = "pool")]
#[cfg_attr(docsrs, doc(cfg(feature = "pool")))]
pub mod pool;
mod test_program;
mod text;

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

pub use text::TextBuffer;
pub use ucall_abi::{
    Command, FIRST_USER_COMMAND, LAST_USER_COMMAND, MAX_ARGS, Record, STRING_MAX_LEN,
};
pub use ucall_guest_macros::tests;

/// The address that ucalls store record addresses to, published by the host before the guest
/// runs; zero when the host has published none. The host finds it by its symbol name.
#[used]
#[unsafe(export_name = "ucall_exit_mmio_addr")]
static UCALL_EXIT_MMIO_ADDR: AtomicU64 = AtomicU64::new(0);

/// The MMIO address the host published in `ucall_exit_mmio_addr`, or `None`.
///
/// ```no_run
/// if let Some(addr) = ucall_guest::mmio_address() {
///     ucall_guest::guest_printf!("ucalls go to {addr:#x}");
/// }
/// ```
// Inlined: every ucall reads it, and on an emulating hypervisor each guest instruction of a
// call/return costs as much as a fraction of the exit.
#[inline(always)]
pub fn mmio_address() -> Option<u64> {
    match UCALL_EXIT_MMIO_ADDR.load(Ordering::Relaxed) {
        0 => None,
        addr => Some(addr),
    }
}

/// Sends `command` with `args` (at most [`MAX_ARGS`]; extra ones are dropped, missing ones are
/// zero) to the host, and returns when the host resumes the guest.
///
/// ```no_run
/// use ucall_guest::{ucall, Command};
///
/// ucall(Command::Sync, &[1, 2]);
/// ```
#[inline]
pub fn ucall(command: Command, args: &[u64]) {
    send(&Record::new(command, args));
}

/// Sends a prepared record to the host.
///
/// ```no_run
/// use ucall_guest::{send, Command, Record};
///
/// send(&Record { cmd: Command::Sync as u64, args: [1, 2, 3, 4, 5, 6] });
/// ```
#[inline]
pub fn send(record: &Record) {
    #[cfg(feature = "pool")]
    pool::send(record, mmio_address());
    #[cfg(not(feature = "pool"))]
    arch::signal(record, mmio_address());
}

/// Sends `command` with `args` (as [`ucall`] does) and returns the host's answer: the record's
/// six arguments as the host left them when it resumed the guest. A host that does not answer
/// leaves them as sent, so the result is then `args`, zero-padded to [`MAX_ARGS`].
///
/// `command` is a [`Command`] or a raw number, usually a user command (from
/// [`FIRST_USER_COMMAND`] to [`LAST_USER_COMMAND`]) that the guest program and its host agree
/// on. It works on every transport: the reply is in the record, never in a register (see
/// [the ABI's replies](ucall_abi#replies)).
///
/// ```no_run
/// use ucall_guest::{call, Command, FIRST_USER_COMMAND};
///
/// const ADD: u64 = FIRST_USER_COMMAND;
/// let [sum, ..] = call(ADD, &[40, 2]); // a host that implements ADD answers [42, 0, ...]
/// let echo = call(Command::Sync, &[7]); // [7, 0, 0, 0, 0, 0] from a host that does not answer
/// ```
#[inline]
pub fn call(command: impl Into<u64>, args: &[u64]) -> [u64; MAX_ARGS] {
    let record = Record::with_cmd(command.into(), args);
    send(&record);
    // SAFETY: `record.args` is a live, aligned local. The host wrote the reply (if any) while
    // the vCPU was stopped in the exit; a volatile read makes the compiler load it from memory
    // rather than reuse the values it stored before the exit.
    unsafe { core::ptr::read_volatile(&raw const record.args) }
}

/// A synchronisation point: sends [`Command::Sync`] with up to six values.
///
/// ```no_run
/// ucall_guest::sync(&[1, 0xfeed]);
/// ```
#[inline]
pub fn sync(args: &[u64]) {
    ucall(Command::Sync, args);
}

/// Tells the host that the guest finished successfully ([`Command::Done`]).
///
/// ```no_run
/// ucall_guest::done();
/// ```
#[inline]
pub fn done() {
    ucall(Command::Done, &[]);
}

/// Sends formatted text to the host ([`Command::Printf`]). Text longer than
/// [`STRING_MAX_LEN`] - 1 bytes is truncated at a character boundary; formatting never fails.
/// [`guest_printf!`] is the usual way to call it.
///
/// ```no_run
/// ucall_guest::printf(format_args!("stage {}", 3));
/// ```
pub fn printf(args: fmt::Arguments<'_>) {
    let mut text = TextBuffer::<STRING_MAX_LEN>::new();
    text.write_args(args);
    ucall(Command::Printf, &[text.as_c_ptr() as u64]);
}

/// Tells the host that the guest failed ([`Command::Abort`]) with a message and its location,
/// then stops the vCPU. [`guest_assert!`], [`guest_assert_eq!`] and the panic handler call it.
///
/// ```no_run
/// ucall_guest::abort(format_args!("bad value {}", 7), file!(), line!(), column!());
/// ```
pub fn abort(message: fmt::Arguments<'_>, file: &str, line: u32, column: u32) -> ! {
    let mut text = TextBuffer::<STRING_MAX_LEN>::new();
    text.write_args(message);
    let mut file_name = TextBuffer::<STRING_MAX_LEN>::new();
    file_name.push_str(file);
    let mut args = [0; MAX_ARGS];
    args[ucall_abi::abort::MESSAGE] = text.as_c_ptr() as u64;
    args[ucall_abi::abort::LINE] = line.into();
    args[ucall_abi::abort::FILE] = file_name.as_c_ptr() as u64;
    args[ucall_abi::abort::COLUMN] = column.into();
    ucall(Command::Abort, &args);
    halt()
}

/// Stops this vCPU for good: the host never gets another ucall from it.
///
/// ```no_run
/// ucall_guest::halt();
/// ```
pub fn halt() -> ! {
    arch::halt()
}

/// What the code that [`tests`] generates calls; not an API of its own.
#[doc(hidden)]
pub mod __private {
    pub use crate::test_program::{Entry, out_of_range, selected_test, test_name};
    pub use ucall_abi::test_table::NO_TEST_SELECTED;
}

#[cfg(all(feature = "panic-handler", target_os = "none"))]
#[panic_handler]
fn report_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let (file, line, column) = info
        .location()
        .map_or(("<unknown>", 0, 0), |l| (l.file(), l.line(), l.column()));
    abort(format_args!("{}", info.message()), file, line, column)
}

/// The README's examples that compile on the host, as doc tests; its bare-metal program is the
/// test guest `readme.rs`, which `tests/tests/readme_guest.rs` compares with it.
#[cfg(doctest)]
#[doc = include_str!(concat!(env!("OUT_DIR"), "/README.md"))]
pub struct ReadmeDoctests;
