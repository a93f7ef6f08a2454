//! The wire format of a ucall, shared by guests and hosts.
//!
//! A *ucall* is a call from a bare-metal guest to its host (a "hypercall to userspace") that rides
//! on a single KVM exit. The guest fills a [`Record`] on its own stack and then makes one exit that
//! carries the record's guest-virtual address. The host decodes the exit, translates the address
//! through the guest's page tables, reads the record and resumes the vCPU.
//!
//! This crate is the contract between both sides: `no_std`, no allocation, no `unsafe`, so that
//! firmware, C-compatible guests and any host agree on the same bytes.
//!
//! # Record layout
//!
//! | offset | size | field      | meaning                                   |
//! |--------|------|------------|-------------------------------------------|
//! | 0      | 8    | `cmd`      | a [`Command`] number                      |
//! | 8      | 48   | `args[6]`  | command arguments, unused ones are zero   |
//!
//! All fields are little-endian `u64` on both supported architectures. The layout is the one of
//! the Linux KVM selftests' `struct ucall` of the Linux 5.10 era, so guests written against those
//! selftests are understood unchanged.
//!
//! # Commands
//!
//! | number | command            | arguments                                                   |
//! |--------|--------------------|-------------------------------------------------------------|
//! | 0      | [`Command::None`]  | none; never sent on purpose                                 |
//! | 1      | [`Command::Sync`]  | up to six free-form values                                  |
//! | 2      | [`Command::Abort`] | `args[0]` message string, `args[1]` line, `args[2]` file string or 0, `args[3]` column or 0 |
//! | 3      | [`Command::Done`]  | none                                                        |
//! | 4      | [`Command::Printf`]| `args[0]` text string                                       |
//!
//! Numbers 0 to 3 are those of the selftests (`UCALL_NONE`, `UCALL_SYNC`, `UCALL_ABORT`,
//! `UCALL_DONE`); later numbers are this project's extensions.
//!
//! # Strings
//!
//! A string argument is the guest-virtual address of NUL-terminated UTF-8 text. Including its NUL,
//! a string occupies at most [`STRING_MAX_LEN`] bytes: a host stops looking for the NUL there and
//! reports the string as unterminated. A string may cross page boundaries.
//!
//! # Transports
//!
//! | arch    | transport | the exit                                                                     |
//! |---------|-----------|------------------------------------------------------------------------------|
//! | x86_64  | port I/O  | `in al, dx` with `dx` = [`PIO_PORT`], record address in `rdi`                 |
//! | x86_64  | MMIO      | one 8-byte store of the record address to the address in [`MMIO_ADDR_SYMBOL`] |
//! | aarch64 | MMIO      | one 8-byte `str` of the record address to the address in [`MMIO_ADDR_SYMBOL`] |
//!
//! For MMIO, the host picks a guest-physical address that no memory slot covers, maps it in the
//! guest's page tables (identity-mapped) and publishes it by writing the guest global named
//! [`MMIO_ADDR_SYMBOL`], an 8-byte little-endian integer. A store to that address cannot be served
//! by KVM, so it exits to userspace with the stored value, which is the record's address.
//!
//! On x86_64 one guest binary serves both transports: it stores to the published address when
//! [`MMIO_ADDR_SYMBOL`] is non-zero and uses port I/O when it is zero. The access sizes are in
//! [`access`]; any other access to the ucall address or port is a protocol error, not a ucall.
//!
//! ## Choosing and publishing the MMIO address
//!
//! The host chooses the address before the guest runs, as the Linux KVM selftests do:
//!
//! 1. Usable width: `min(virtual bits - 1, physical bits)`, where the virtual width is that of
//!    the paging mode the guest runs in (48 for x86_64 4-level paging, even on a CPU that could
//!    do 57) and the physical width is what KVM reports (CPUID `0x80000008` on x86_64, the IPA
//!    size on aarch64). An identity-mapped address must be valid both ways.
//! 2. Candidates: 5/8 of that space first (where nothing is likely to live), then alternately one
//!    1/16 step lower and higher.
//! 3. The first candidate page that no memory slot backs and that the guest's page tables do not
//!    map yet wins. The host maps it (identity, as device memory) and writes its address to
//!    [`MMIO_ADDR_SYMBOL`] in the loaded guest image, found through the ELF symbol table.
//!
//! `ucall-host`'s `probe` module implements this; any host that follows the same rules (or any
//! other rule giving an unbacked, mapped address) is compatible, since the guest only reads the
//! global.
//!
//! # A ucall, end to end
//!
//! 1. The guest fills a zeroed [`Record`] on its stack (string arguments point at NUL-terminated
//!    text it keeps alive until the host resumes it).
//! 2. It makes the exit of its transport, carrying the record's guest-virtual address.
//! 3. The host translates that address through the guest's page tables (the current CR3 or
//!    TTBR0), reads [`Record::SIZE`] bytes, then any strings, page by page.
//! 4. The host resumes the vCPU; a port I/O `in` reads an unspecified byte, ignored by the guest.
//!    After [`Command::Done`] or [`Command::Abort`] the host does not resume that vCPU.
//!
//! # Example
//!
//! ```
//! use ucall_abi::{Command, Record};
//! use zerocopy::IntoBytes;
//!
//! let record = Record::new(Command::Sync, &[7, 42]);
//! assert_eq!(record.as_bytes().len(), Record::SIZE);
//! assert_eq!(record.command(), Ok(Command::Sync));
//! assert_eq!(record.args, [7, 42, 0, 0, 0, 0]);
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// How many `u64` arguments a [`Record`] carries.
pub const MAX_ARGS: usize = 6;

/// The most bytes a string argument occupies, including its terminating NUL.
pub const STRING_MAX_LEN: usize = 1024;

/// The name of the guest global (an 8-byte integer) in which the host publishes the MMIO address
/// that the guest stores record addresses to. Zero means "no MMIO address published".
pub const MMIO_ADDR_SYMBOL: &str = "ucall_exit_mmio_addr";

/// The x86_64 I/O port that the port I/O transport reads from (`in al, dx`).
pub const PIO_PORT: u16 = 0x1000;

/// The size in bytes of the access that each transport makes.
pub mod access {
    /// Bytes stored by the MMIO transport: one guest-virtual address.
    pub const MMIO_LEN: usize = 8;
    /// Bytes read by the port I/O transport (`in al, dx`).
    pub const PIO_LEN: usize = 1;
}

/// What a ucall asks the host to do: the record's `cmd` field.
///
/// ```
/// use ucall_abi::Command;
///
/// assert_eq!(Command::try_from(3), Ok(Command::Done));
/// assert_eq!(Command::try_from(99), Err(99));
/// assert_eq!(u64::from(Command::Printf), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u64)]
pub enum Command {
    /// No command; a zero-filled record.
    None = 0,
    /// A synchronisation point with up to six free-form values.
    Sync = 1,
    /// The guest failed; `args[0]` is the message string, `args[1]` the line,
    /// `args[2]` the file string (or 0) and `args[3]` the column (or 0).
    Abort = 2,
    /// The guest finished successfully.
    Done = 3,
    /// The guest prints `args[0]`, a string.
    Printf = 4,
}

impl TryFrom<u64> for Command {
    /// The number that names no command.
    type Error = u64;

    fn try_from(raw: u64) -> Result<Self, u64> {
        Ok(match raw {
            0 => Command::None,
            1 => Command::Sync,
            2 => Command::Abort,
            3 => Command::Done,
            4 => Command::Printf,
            unknown => return Err(unknown),
        })
    }
}

impl From<Command> for u64 {
    fn from(command: Command) -> u64 {
        command as u64
    }
}

/// Indices of the arguments of an [`Command::Abort`] record.
pub mod abort {
    /// The message string.
    pub const MESSAGE: usize = 0;
    /// The line number.
    pub const LINE: usize = 1;
    /// The file-name string, or 0 when the guest does not say.
    pub const FILE: usize = 2;
    /// The column number, or 0 when the guest does not say.
    pub const COLUMN: usize = 3;
}

/// Indices of the arguments of a [`Command::Printf`] record.
pub mod printf {
    /// The text string.
    pub const TEXT: usize = 0;
}

/// The record that a guest fills and whose address a ucall exit carries.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Record {
    /// A [`Command`] number.
    pub cmd: u64,
    /// The arguments; those a command does not use are zero.
    pub args: [u64; MAX_ARGS],
}

impl Record {
    /// The record's size in bytes.
    pub const SIZE: usize = core::mem::size_of::<Record>();

    /// A record for `command` with the first `args.len()` arguments set (at most [`MAX_ARGS`];
    /// extra ones are dropped, as the selftests' `ucall()` does) and the others zero.
    pub const fn new(command: Command, args: &[u64]) -> Record {
        let mut record = Record {
            cmd: command as u64,
            args: [0; MAX_ARGS],
        };
        let mut i = 0;
        while i < args.len() && i < MAX_ARGS {
            record.args[i] = args[i];
            i += 1;
        }
        record
    }

    /// The record's command, or the raw number if it names none.
    pub fn command(&self) -> Result<Command, u64> {
        Command::try_from(self.cmd)
    }
}

// The layout is the wire format: pin it.
const _: () = assert!(Record::SIZE == 56);
const _: () = assert!(core::mem::offset_of!(Record, cmd) == 0);
const _: () = assert!(core::mem::offset_of!(Record, args) == 8);
const _: () = assert!(core::mem::align_of::<Record>() == 8);
const _: () = assert!(STRING_MAX_LEN >= 2);
