//! Turning a vCPU exit into a typed ucall.
//!
//! Decoding is two steps that a VMM can also take one at a time:
//! 1. [`Transport::record_address`]: is this exit a ucall, and where is its record? Or
//!    [`Transport::locate`], which also takes rooted ucalls (`ucall_abi::rooted`: the exit
//!    names the table root, as `ucall-guest` does on aarch64 and riscv64) and says which root.
//! 2. [`decode`]: read the record (and its strings) through the guest's page tables.
//!
//! ```
//! use ucall_host::decode::{decode, Exit, Transport, Ucall};
//! use ucall_host::paging::{x86_64::X86_64, MemoryKind, PageTables};
//! use ucall_abi::{Command, Record};
//! use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
//! use zerocopy::IntoBytes;
//!
//! let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
//! let mut tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)?;
//! tables.identity_map(&memory, 0..0x20_0000, MemoryKind::Normal)?;
//! // The guest put a SYNC record at 0x10000 and stored its address to the ucall MMIO page.
//! memory.write_slice(Record::new(Command::Sync, &[1, 2]).as_bytes(), GuestAddress(0x1_0000)).unwrap();
//! let transport = Transport::mmio(0x2800_0000_0000);
//! let exit = Exit::mmio_write(0x2800_0000_0000, &0x1_0000u64.to_le_bytes());
//!
//! let record = transport.record_address(&exit, || unreachable!("MMIO carries the address"))?;
//! let ucall = decode(&tables.view(&memory), record.unwrap())?;
//! assert_eq!(ucall, Ucall::Sync { args: [1, 2, 0, 0, 0, 0] });
//! # Ok::<(), ucall_host::Error>(())
//! ```

mod error;
mod exit;
mod locate;
mod reply;
mod unhandled;

pub use error::Error;
pub use exit::{Exit, MMIO_DATA_MAX, Transport};
pub use locate::Located;
pub use reply::write_reply;
pub use unhandled::Unhandled;

use crate::paging::{self, GuestView, PageTableFormat};
use std::fmt;
use ucall_abi::{Command, MAX_ARGS, Record, STRING_MAX_LEN};
use vm_memory::GuestMemory;
use zerocopy::{FromZeros, IntoBytes};

/// A ucall, decoded. Its `Display` is the one-line form `ucall-run` prints.
///
/// ```
/// use ucall_host::Ucall;
///
/// assert_eq!(Ucall::Sync { args: [1, 2, 0, 0, 0, 0] }.to_string(), "SYNC [1, 2, 0, 0, 0, 0]");
/// assert_eq!(Ucall::Printf("hi".into()).to_string(), "PRINTF hi");
/// assert_eq!(Ucall::Done.to_string(), "DONE");
/// assert_eq!(Ucall::Call { number: 0x100, args: [40, 2, 0, 0, 0, 0] }.to_string(), "CALL 0x100 [40, 2, 0, 0, 0, 0]");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Ucall {
    /// A synchronisation point with its six values.
    Sync {
        /// The record's arguments.
        args: [u64; MAX_ARGS],
    },
    /// Text from the guest.
    Printf(String),
    /// A line the guest logged into its log ring, drained by the host at an exit (see
    /// [`log_ring`](crate::log_ring)); `decode` never returns it, the run loop does.
    Log(String),
    /// The guest failed.
    Abort(Abort),
    /// The guest finished.
    Done,
    /// A user command (from [`ucall_abi::FIRST_USER_COMMAND`] to
    /// [`ucall_abi::LAST_USER_COMMAND`]): the guest waits for an answer, which the host may
    /// write with [`write_reply`] (or `Vcpu::reply`) before it resumes the vCPU.
    Call {
        /// The command number.
        number: u64,
        /// The record's arguments.
        args: [u64; MAX_ARGS],
    },
    /// The guest took an exception it has no handler for; the vCPU does not run again.
    Unhandled(Unhandled),
}

impl Ucall {
    /// Whether the vCPU ends with this ucall: DONE, ABORT and UNHANDLED are not resumed.
    ///
    /// ```
    /// assert!(ucall_host::Ucall::Done.is_final());
    /// assert!(!ucall_host::Ucall::Printf("hi".into()).is_final());
    /// ```
    pub fn is_final(&self) -> bool {
        matches!(self, Ucall::Done | Ucall::Abort(_) | Ucall::Unhandled(_))
    }
}

/// What a guest said when it failed.
///
/// ```
/// use ucall_host::Abort;
///
/// let abort = Abort {
///     message: "x == 1".into(),
///     file: Some("src/main.rs".into()),
///     line: 7,
///     column: Some(5),
/// };
/// assert_eq!(abort.to_string(), "src/main.rs:7:5: x == 1");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Abort {
    /// The message.
    pub message: String,
    /// The source file, when the guest said (guests of the seed's era do not).
    pub file: Option<String>,
    /// The line.
    pub line: u64,
    /// The column, when the guest said.
    pub column: Option<u64>,
}

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.column) {
            (Some(file), Some(column)) => write!(f, "{file}:{}:{column}: ", self.line)?,
            (Some(file), None) => write!(f, "{file}:{}: ", self.line)?,
            (None, _) => write!(f, "line {}: ", self.line)?,
        }
        f.write_str(&self.message)
    }
}

impl fmt::Display for Ucall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ucall::Sync { args } => write!(f, "SYNC {args:?}"),
            Ucall::Printf(text) => write!(f, "PRINTF {text}"),
            Ucall::Log(text) => write!(f, "LOG {text}"),
            Ucall::Abort(abort) => write!(f, "ABORT {abort}"),
            Ucall::Done => f.write_str("DONE"),
            Ucall::Call { number, args } => write!(f, "CALL {number:#x} {args:?}"),
            Ucall::Unhandled(unhandled) => write!(f, "UNHANDLED {unhandled}"),
        }
    }
}

/// Reads the raw record at guest-virtual `gva`, for commands of a VMM's own.
///
/// ```
/// use ucall_abi::Record;
/// use ucall_host::decode::read_record;
/// use ucall_host::paging::{x86_64::X86_64, MemoryKind, PageTables};
/// use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};
/// use zerocopy::IntoBytes;
///
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
/// let mut tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000)?;
/// tables.identity_map(&memory, 0..0x20_0000, MemoryKind::Normal)?;
/// // A command number of the VMM's own, which `decode` would call unknown.
/// let mine = Record { cmd: 0x100, args: [5, 0, 0, 0, 0, 0] };
/// memory.write_slice(mine.as_bytes(), GuestAddress(0x1_0000)).unwrap();
/// let record = read_record(&tables.view(&memory), 0x1_0000)?;
/// assert_eq!((record.cmd, record.args[0]), (0x100, 5));
/// # Ok::<(), ucall_host::Error>(())
/// ```
pub fn read_record<M: GuestMemory + ?Sized, F: PageTableFormat>(
    guest: &GuestView<'_, M, F>,
    gva: u64,
) -> Result<Record, paging::Error> {
    let mut record = Record::new_zeroed();
    guest.read(gva, record.as_mut_bytes())?;
    Ok(record)
}

/// Reads the record at guest-virtual `gva` and decodes it, strings included (see the module
/// example). A record whose command is unknown, or whose strings are unmapped, unterminated
/// within [`STRING_MAX_LEN`] bytes or not UTF-8, is an [`Error`] that names the address.
/// `guest` is the memory seen through the tables the vCPU runs with.
pub fn decode<M: GuestMemory + ?Sized, F: PageTableFormat>(
    guest: &GuestView<'_, M, F>,
    gva: u64,
) -> Result<Ucall, Error> {
    let record = read_record(guest, gva)?;
    let string = |address| guest.read_c_string(address, STRING_MAX_LEN);
    let nonzero = |value: u64| (value != 0).then_some(value);
    match record.command() {
        Ok(Command::Sync) => Ok(Ucall::Sync { args: record.args }),
        Ok(Command::Done) => Ok(Ucall::Done),
        Ok(Command::Printf) => Ok(Ucall::Printf(string(record.args[ucall_abi::printf::TEXT])?)),
        Ok(Command::Abort) => {
            use ucall_abi::abort::{COLUMN, FILE, LINE, MESSAGE};
            Ok(Ucall::Abort(Abort {
                message: string(record.args[MESSAGE])?,
                file: nonzero(record.args[FILE]).map(string).transpose()?,
                line: record.args[LINE],
                column: nonzero(record.args[COLUMN]),
            }))
        }
        Ok(Command::Unhandled) => Ok(Ucall::Unhandled(Unhandled::from_args(&record.args))),
        Err(number) if ucall_abi::is_user_command(number) => Ok(Ucall::Call {
            number,
            args: record.args,
        }),
        Ok(Command::None) | Err(_) => Err(Error::UnknownCommand {
            cmd: record.cmd,
            record_gva: gva,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paging::{MemoryKind, PageTables, x86_64::X86_64};
    use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

    const RECORD: u64 = 0x1_0000;

    struct Guest {
        memory: GuestMemoryMmap,
        tables: PageTables<X86_64>,
    }

    impl Guest {
        fn new() -> Self {
            let memory = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 0x20_0000)]).unwrap();
            let mut tables =
                PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x8000).unwrap();
            tables
                .identity_map(&memory, 0..0x20_0000, MemoryKind::Normal)
                .unwrap();
            Guest { memory, tables }
        }

        fn put(&self, gva: u64, bytes: &[u8]) {
            self.memory.write_slice(bytes, GuestAddress(gva)).unwrap();
        }

        fn decode(&self, record: Record) -> Result<Ucall, Error> {
            self.put(RECORD, record.as_bytes());
            decode(&self.tables.view(&self.memory), RECORD)
        }
    }

    #[test]
    fn sync_keeps_all_six_arguments() {
        let ucall = Guest::new()
            .decode(Record::new(Command::Sync, &[1, 2, 3, 4, 5, 6]))
            .unwrap();
        assert_eq!(
            ucall,
            Ucall::Sync {
                args: [1, 2, 3, 4, 5, 6]
            }
        );
    }

    #[test]
    fn done_is_done() {
        assert_eq!(
            Guest::new()
                .decode(Record::new(Command::Done, &[]))
                .unwrap(),
            Ucall::Done
        );
    }

    #[test]
    fn printf_reads_its_string() {
        let guest = Guest::new();
        guest.put(0x2_0000, b"hi there\0");
        let ucall = guest
            .decode(Record::new(Command::Printf, &[0x2_0000]))
            .unwrap();
        assert_eq!(ucall, Ucall::Printf("hi there".into()));
    }

    #[test]
    fn abort_in_the_seeds_convention_has_message_and_line_only() {
        let guest = Guest::new();
        guest.put(0x2_0000, b"Failed guest assert: x == 1\0");
        let ucall = guest
            .decode(Record::new(Command::Abort, &[0x2_0000, 42]))
            .unwrap();
        let expected = Abort {
            message: "Failed guest assert: x == 1".into(),
            file: None,
            line: 42,
            column: None,
        };
        assert_eq!(ucall, Ucall::Abort(expected));
    }

    #[test]
    fn abort_with_file_and_column() {
        let guest = Guest::new();
        guest.put(0x2_0000, b"boom\0");
        guest.put(0x3_0000, b"src/main.rs\0");
        let ucall = guest
            .decode(Record::new(Command::Abort, &[0x2_0000, 7, 0x3_0000, 9]))
            .unwrap();
        let expected = Abort {
            message: "boom".into(),
            file: Some("src/main.rs".into()),
            line: 7,
            column: Some(9),
        };
        assert_eq!(ucall, Ucall::Abort(expected));
    }

    #[test]
    fn unknown_command_names_number_and_record() {
        let err = Guest::new()
            .decode(Record {
                cmd: 77,
                args: [0; 6],
            })
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::UnknownCommand {
                    cmd: 77,
                    record_gva: RECORD
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn user_commands_are_calls_with_their_number_and_arguments() {
        let guest = Guest::new();
        for number in [0x100, 0x1234, 0xffff] {
            let ucall = guest.decode(Record::with_cmd(number, &[1, 2])).unwrap();
            let args = [1, 2, 0, 0, 0, 0];
            assert_eq!(ucall, Ucall::Call { number, args });
        }
    }

    #[test]
    fn numbers_around_the_user_range_are_unknown() {
        for cmd in [0xff, 0x1_0000] {
            let err = Guest::new().decode(Record::with_cmd(cmd, &[])).unwrap_err();
            assert!(
                matches!(err, Error::UnknownCommand { cmd: c, .. } if c == cmd),
                "{err}"
            );
        }
    }

    #[test]
    fn unhandled_carries_vector_address_code_and_fault_address() {
        let ucall = Guest::new()
            .decode(Record::new(
                Command::Unhandled,
                &[14, 0x20_1234, 2, 0xdead_0000],
            ))
            .unwrap();
        let expected = Unhandled {
            vector: 14,
            instruction_address: 0x20_1234,
            error_code: 2,
            fault_address: 0xdead_0000,
        };
        assert_eq!(ucall, Ucall::Unhandled(expected));
    }

    #[test]
    fn command_none_is_not_a_ucall() {
        let err = Guest::new().decode(Record::default()).unwrap_err();
        assert!(matches!(err, Error::UnknownCommand { cmd: 0, .. }), "{err}");
    }

    #[test]
    fn record_straddling_a_page_boundary_is_read_whole() {
        let guest = Guest::new();
        let gva = 0x1_0ff0;
        guest.put(gva, Record::new(Command::Sync, &[9, 8, 7]).as_bytes());
        let ucall = decode(&guest.tables.view(&guest.memory), gva).unwrap();
        assert_eq!(
            ucall,
            Ucall::Sync {
                args: [9, 8, 7, 0, 0, 0]
            }
        );
    }
}
