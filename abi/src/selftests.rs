//! The pool convention: how guests built with today's Linux KVM selftests' ucall code talk to
//! their host. It is the second convention a host may serve; the crate root describes the
//! first, the *seed* convention, which this crate's own guests use.
//!
//! # Which convention a guest gets
//!
//! A guest whose ELF has a symbol named [`POOL_SYMBOL`] (`ucall_pool`, a static 8-byte
//! variable in `.bss`; today's selftests library defines it with local binding) gets the pool
//! convention; every other guest gets the seed convention. The ELF decides because the guest
//! cannot say it any other way before its first ucall, and the symbol is exactly what a pool
//! guest needs from its host. A host may override the choice (`ucall-run --abi
//! auto|seed|selftests`, `VmBuilder::convention`), for instance to check that a seed guest with a
//! stray `ucall_pool` is refused.
//!
//! # Side by side
//!
//! | | seed convention (this crate's root) | pool convention (this module) |
//! |---|---|---|
//! | chosen when | the ELF has no `ucall_pool` | the ELF has `ucall_pool` |
//! | NONE, SYNC, ABORT | 0, 1, 2 | 0, 1, 2 |
//! | PRINTF | 4 | **3** |
//! | DONE | 3 | **4** |
//! | UNHANDLED | 5 | 5 |
//! | record | 56 bytes on the guest's stack: `cmd`, `args[6]` | 1,096 bytes in a host-allocated pool: `cmd`, `args[7]`, `buffer[1024]`, `token` ([`Record`]) |
//! | what the exit carries | the record's guest-virtual address | the record's token ([`Record::token`]), which the host maps back to the record |
//! | PRINTF text | a string address in `args[0]` | the record's buffer, up to its NUL |
//! | ABORT | `args[0]` message, `args[1]` line, `args[2]` file, `args[3]` column | `args[0]` expression, `args[1]` file, `args[2]` line ([`abort`]); the message in the buffer |
//! | UNHANDLED | the same four values on every architecture | per architecture ([`unhandled`]) |
//! | x86_64 exit | `in al, dx` on port 0x1000, address in `rdi`; or an 8-byte store to `ucall_exit_mmio_addr` | the same, with the token |
//! | aarch64 exit | an 8-byte store of the address to `ucall_exit_mmio_addr` (rooted: `ucall_abi::rooted`) | an 8-byte store of the token to `ucall_exit_mmio_addr` |
//! | riscv64 exit | `ecall`, `a7` = 0x08FF_FFFF, `a6` = 0, address in `a0` (or MMIO) | `ecall`, `a7` = 0x08FF_FFFF, `a6` = 0, token in `a0`, `a1`..`a5` zero; `a6` = [`SBI_UNEXPECTED_TRAP_FUNCTION`] reports a trap without a record |
//! | replies | the host may overwrite `args` | none: the host writes nothing back |
//!
//! # The pool
//!
//! One per VM, [`POOL_SIZE`] bytes, zeroed, mapped writable in the guest: a [`BITMAP_SIZE`]-byte
//! in-use bitmap (bit `i` of byte `i / 8` set while record `i` is taken; the guest's alone, the
//! host never writes it), then [`RECORDS`] records of [`Record::SIZE`] bytes. Before any vCPU
//! runs, the host writes the pool's guest-virtual address into the guest's `ucall_pool` and a
//! token into each record: any value that is neither [`NO_RECORD`] nor [`FAILED`] and that the
//! host maps back to its record (the record's own guest-virtual address is the simplest).
//!
//! A ucall: the guest claims a free record with an atomic test-and-set on the bitmap, zeroes
//! its arguments, fills `cmd`, `args` and the buffer, makes the exit with the record's token,
//! and clears its bit when the host resumes it. A guest that finds `ucall_pool` zero or no free
//! record makes the exit with [`FAILED`]; a host reports that as an error and does not resume.
//! An exit with [`NO_RECORD`] is a ucall without a record (NONE) and is resumed.
//!
//! ```
//! use ucall_abi::selftests::{Command, Record, POOL_SIZE, RECORDS, record_offset};
//! use zerocopy::{FromZeros, IntoBytes};
//!
//! let mut record = Record::new_zeroed();
//! record.cmd = Command::Printf as u64;
//! record.buffer[..6].copy_from_slice(b"hello\0");
//! assert_eq!(record.as_bytes().len(), 1096);
//! assert_eq!(record.text(), b"hello");
//! assert_eq!(record_offset(RECORDS - 1) + Record::SIZE, POOL_SIZE);
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The guest global (8 bytes, little-endian) that holds the pool's guest-virtual address, and
/// whose presence in the ELF selects this convention.
pub const POOL_SYMBOL: &str = "ucall_pool";

/// Records in a pool: one per vCPU that the selftests allow (`KVM_MAX_VCPUS`).
pub const RECORDS: usize = 512;

/// Bytes of the in-use bitmap at the start of the pool: a bit per record.
pub const BITMAP_SIZE: usize = RECORDS / 8;

/// Arguments in a record.
pub const MAX_ARGS: usize = 7;

/// Bytes of a record's text buffer, its NUL included.
pub const BUFFER_LEN: usize = 1024;

/// The bytes of a whole pool: the bitmap, then the records.
pub const POOL_SIZE: usize = BITMAP_SIZE + RECORDS * Record::SIZE;

/// The token of "no record": a ucall without data, read as NONE and resumed.
pub const NO_RECORD: u64 = 0;

/// The token a guest sends when `ucall_pool` is zero or every record is taken.
pub const FAILED: u64 = u64::MAX;

/// The riscv64 SBI function (in `a6`, extension [`crate::SBI_EXTENSION`]) with which the
/// selftests' default trap vector reports a trap it has no handler for; it carries no record.
/// A ucall is function [`crate::SBI_UCALL_FUNCTION`] (0) with the token in `a0`.
pub const SBI_UNEXPECTED_TRAP_FUNCTION: u64 = 1;

/// Where record `index` starts in the pool.
///
/// ```
/// assert_eq!(ucall_abi::selftests::record_offset(0), 64);
/// assert_eq!(ucall_abi::selftests::record_offset(1), 64 + 1096);
/// ```
pub const fn record_offset(index: usize) -> usize {
    BITMAP_SIZE + index * Record::SIZE
}

/// The command numbers of this convention. PRINTF and DONE have each other's numbers in the
/// seed convention ([`crate::Command`]): a host must know which convention a guest uses.
///
/// ```
/// use ucall_abi::selftests::Command;
///
/// assert_eq!(Command::try_from(3), Ok(Command::Printf));
/// assert_eq!(Command::try_from(4), Ok(Command::Done));
/// assert_eq!(Command::try_from(6), Err(6));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Command {
    /// No command.
    None = 0,
    /// A synchronisation point: `GUEST_SYNC(stage)` sends the address of `"hello"` and the
    /// stage; the seven arguments are free-form.
    Sync = 1,
    /// The guest failed ([`abort`]).
    Abort = 2,
    /// Text in the record's buffer.
    Printf = 3,
    /// The guest finished.
    Done = 4,
    /// The guest took an exception it has no handler for ([`unhandled`]).
    Unhandled = 5,
}

impl Command {
    /// Every command, in number order.
    pub const ALL: [Command; 6] = [
        Command::None,
        Command::Sync,
        Command::Abort,
        Command::Printf,
        Command::Done,
        Command::Unhandled,
    ];

    /// The command's name in capitals, as the selftests spell it after `UCALL_`.
    ///
    /// ```
    /// assert_eq!(ucall_abi::selftests::Command::Printf.name(), "PRINTF");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Command::None => "NONE",
            Command::Sync => "SYNC",
            Command::Abort => "ABORT",
            Command::Printf => "PRINTF",
            Command::Done => "DONE",
            Command::Unhandled => "UNHANDLED",
        }
    }
}

impl TryFrom<u64> for Command {
    /// The number, which names no command of this convention.
    type Error = u64;

    fn try_from(raw: u64) -> Result<Self, u64> {
        Command::ALL
            .iter()
            .copied()
            .find(|&command| command as u64 == raw)
            .ok_or(raw)
    }
}

/// Indices of an ABORT record's arguments (`GUEST_ASSERT*`, `GUEST_FAIL`). The message the
/// guest formatted (for `GUEST_ASSERT_EQ(answer, 42)`: `0x29 != 0x2a (answer != 42)`) is in
/// the buffer.
pub mod abort {
    /// The address of the failed expression's text (`"answer == 42"`).
    pub const EXPRESSION: usize = 0;
    /// The address of the source file's name.
    pub const FILE: usize = 1;
    /// The line.
    pub const LINE: usize = 2;
}

pub mod unhandled {
    //! What an UNHANDLED record carries: each architecture's selftests library reports an
    //! exception without a handler its own way.
    //!
    //! | arch | how | arguments |
    //! |---|---|---|
    //! | x86_64 | no UNHANDLED: an ABORT (`GUEST_FAIL`) with the expression `"Unconditional guest failure"` and the buffer `Unhandled exception '0x<vector>' at guest RIP '0x<rip>'` | (ABORT's) |
    //! | aarch64 | UNHANDLED | [`aarch64::VECTOR`] the vector-table entry (0-15), [`aarch64::EC`] the exception class (ESR_EL1 bits 31:26), [`aarch64::EC_VALID`] 1 when the class is meaningful (synchronous entries), else 0 |
    //! | riscv64 | UNHANDLED from the guest's vector; with none, the SBI call function [`SBI_UNEXPECTED_TRAP_FUNCTION`](super::SBI_UNEXPECTED_TRAP_FUNCTION) without a record | [`riscv64::KIND`] 0 for an exception, 1 for an interrupt, [`riscv64::CAUSE`] the exception code (`scause` without its interrupt bit; 0 for interrupts) |

    /// aarch64's UNHANDLED arguments.
    pub mod aarch64 {
        /// The vector-table entry, `(offset from VBAR_EL1) / 0x80`.
        pub const VECTOR: usize = 0;
        /// The exception class, ESR_EL1 bits 31:26.
        pub const EC: usize = 1;
        /// Non-zero when [`EC`] is valid.
        pub const EC_VALID: usize = 2;
    }

    /// riscv64's UNHANDLED arguments.
    pub mod riscv64 {
        /// 0 for an exception, 1 for an interrupt.
        pub const KIND: usize = 0;
        /// The exception code.
        pub const CAUSE: usize = 1;
    }
}

/// One record of the pool: what a guest fills and the token the host gave it.
///
/// ```
/// use ucall_abi::selftests::Record;
///
/// assert_eq!((Record::SIZE, Record::BUFFER_OFFSET, Record::TOKEN_OFFSET), (1096, 64, 1088));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Record {
    /// A [`Command`] number.
    pub cmd: u64,
    /// The arguments.
    pub args: [u64; MAX_ARGS],
    /// Text: PRINTF's, or ABORT's message; NUL-terminated within the buffer.
    pub buffer: [u8; BUFFER_LEN],
    /// The token the host wrote before the guest ran; the guest sends it back in the exit.
    pub token: u64,
}

impl Record {
    /// The record's size in bytes.
    pub const SIZE: usize = core::mem::size_of::<Record>();
    /// Where the arguments start.
    pub const ARGS_OFFSET: usize = core::mem::offset_of!(Record, args);
    /// Where the buffer starts.
    pub const BUFFER_OFFSET: usize = core::mem::offset_of!(Record, buffer);
    /// Where the token is.
    pub const TOKEN_OFFSET: usize = core::mem::offset_of!(Record, token);

    /// The record's command, or the raw number if it names none of this convention's.
    pub fn command(&self) -> Result<Command, u64> {
        Command::try_from(self.cmd)
    }

    /// The buffer's text: up to its first NUL, or all of it if it has none (newlines and all).
    pub fn text(&self) -> &[u8] {
        let end = self
            .buffer
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(BUFFER_LEN);
        &self.buffer[..end]
    }
}

// The layout is the wire format: pin it.
const _: () = assert!(Record::SIZE == 1096);
const _: () = assert!(core::mem::offset_of!(Record, cmd) == 0);
const _: () = assert!(Record::ARGS_OFFSET == 8);
const _: () = assert!(Record::BUFFER_OFFSET == 64);
const _: () = assert!(Record::TOKEN_OFFSET == 1088);
const _: () = assert!(core::mem::align_of::<Record>() == 8);
const _: () = assert!(POOL_SIZE == 561_216);
const _: () = {
    let mut i = 0;
    while i < Command::ALL.len() {
        assert!(Command::ALL[i] as u64 == i as u64);
        i += 1;
    }
};
