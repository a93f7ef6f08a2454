//! Turning a vCPU exit into a typed ucall.
//!
//! Decoding is two steps that a VMM can also take one at a time:
//! 1. [`Transport::record_address`]: is this exit a ucall, and where is its record?
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
//! let exit = Exit::MmioWrite { gpa: 0x2800_0000_0000, data: &0x1_0000u64.to_le_bytes() };
//!
//! let record = transport.record_address(&exit, || unreachable!("MMIO carries the address"))?;
//! let ucall = decode(&memory, tables.format(), tables.root(), record.unwrap())?;
//! assert_eq!(ucall, Ucall::Sync { args: [1, 2, 0, 0, 0, 0] });
//! # Ok::<(), ucall_host::Error>(())
//! ```

use crate::Error;
use crate::paging::{PageTableFormat, read_c_string, read_virtual};
use std::fmt;
use ucall_abi::{Command, MAX_ARGS, Record, STRING_MAX_LEN, access};
use vm_memory::{GuestAddress, GuestMemory};
use zerocopy::{FromZeros, IntoBytes};

/// A ucall, decoded. Its `Display` is the one-line form `ucall-run` prints.
///
/// ```
/// use ucall_host::Ucall;
///
/// assert_eq!(Ucall::Sync { args: [1, 2, 0, 0, 0, 0] }.to_string(), "SYNC [1, 2, 0, 0, 0, 0]");
/// assert_eq!(Ucall::Printf("hi".into()).to_string(), "PRINTF hi");
/// assert_eq!(Ucall::Done.to_string(), "DONE");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ucall {
    /// A synchronisation point with its six values.
    Sync {
        /// The record's arguments.
        args: [u64; MAX_ARGS],
    },
    /// Text from the guest.
    Printf(String),
    /// The guest failed.
    Abort(Abort),
    /// The guest finished.
    Done,
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
            Ucall::Abort(abort) => write!(f, "ABORT {abort}"),
            Ucall::Done => f.write_str("DONE"),
        }
    }
}

/// An exit, as far as ucalls care: build it from whatever exit type the VMM has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit<'a> {
    /// A write to an address no memory backs.
    MmioWrite {
        /// The address.
        gpa: u64,
        /// The bytes written.
        data: &'a [u8],
    },
    /// A read from an address no memory backs.
    MmioRead {
        /// The address.
        gpa: u64,
        /// The access size.
        len: usize,
    },
    /// An x86 `in`.
    PioIn {
        /// The port.
        port: u16,
        /// Bytes transferred (size times count).
        size: usize,
    },
    /// An x86 `out`.
    PioOut {
        /// The port.
        port: u16,
        /// Bytes transferred (size times count).
        size: usize,
    },
}

/// Which exits are ucalls: a write to the ucall MMIO address, an `in` on the ucall port, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transport {
    /// The ucall MMIO address published to the guest, if any.
    pub mmio_gpa: Option<u64>,
    /// The ucall port, if port I/O is in use (x86_64).
    pub pio_port: Option<u16>,
}

impl Transport {
    /// Ucalls by 8-byte writes to `gpa`.
    ///
    /// ```
    /// use ucall_host::decode::Transport;
    ///
    /// assert_eq!(Transport::mmio(0x2800_0000_0000).mmio_gpa, Some(0x2800_0000_0000));
    /// ```
    pub fn mmio(gpa: u64) -> Self {
        Transport {
            mmio_gpa: Some(gpa),
            pio_port: None,
        }
    }

    /// Ucalls by `in al, dx` on [`ucall_abi::PIO_PORT`], record address in `rdi`.
    ///
    /// ```
    /// use ucall_host::decode::Transport;
    ///
    /// assert_eq!(Transport::pio().pio_port, Some(0x1000));
    /// ```
    pub fn pio() -> Self {
        Transport {
            mmio_gpa: None,
            pio_port: Some(ucall_abi::PIO_PORT),
        }
    }

    /// The guest-virtual address of the record if `exit` is a ucall, `None` if the exit is
    /// none of ucall's business, or an error if it touches the ucall address or port the wrong
    /// way. `record_register` reads the guest's `rdi` and is called only for port I/O ucalls.
    ///
    /// ```
    /// use ucall_host::decode::{Exit, Transport};
    ///
    /// let transport = Transport::pio();
    /// let ucall = Exit::PioIn { port: 0x1000, size: 1 };
    /// assert_eq!(transport.record_address(&ucall, || 0x7000)?, Some(0x7000));
    /// let serial = Exit::PioOut { port: 0x3f8, size: 1 };
    /// assert_eq!(transport.record_address(&serial, || 0)?, None);
    /// # Ok::<(), ucall_host::Error>(())
    /// ```
    pub fn record_address(
        &self,
        exit: &Exit<'_>,
        record_register: impl FnOnce() -> u64,
    ) -> Result<Option<u64>, Error> {
        match *exit {
            Exit::MmioWrite { gpa, data } if Some(gpa) == self.mmio_gpa => {
                let bytes: [u8; access::MMIO_LEN] =
                    data.try_into().map_err(|_| Error::BadMmioAccess {
                        gpa,
                        len: data.len(),
                        is_write: true,
                    })?;
                Ok(Some(u64::from_le_bytes(bytes)))
            }
            Exit::MmioRead { gpa, len } if Some(gpa) == self.mmio_gpa => {
                Err(Error::BadMmioAccess {
                    gpa,
                    len,
                    is_write: false,
                })
            }
            Exit::PioIn { port, size } if Some(port) == self.pio_port => {
                if size != access::PIO_LEN {
                    return Err(Error::BadPioAccess {
                        port,
                        size,
                        is_in: true,
                    });
                }
                Ok(Some(record_register()))
            }
            Exit::PioOut { port, size } if Some(port) == self.pio_port => {
                Err(Error::BadPioAccess {
                    port,
                    size,
                    is_in: false,
                })
            }
            _ => Ok(None),
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
/// let record = read_record(&memory, tables.format(), tables.root(), 0x1_0000)?;
/// assert_eq!((record.cmd, record.args[0]), (0x100, 5));
/// # Ok::<(), ucall_host::Error>(())
/// ```
pub fn read_record<M: GuestMemory + ?Sized, F: PageTableFormat>(
    memory: &M,
    format: &F,
    root: GuestAddress,
    gva: u64,
) -> Result<Record, Error> {
    let mut record = Record::new_zeroed();
    read_virtual(memory, format, root, gva, record.as_mut_bytes())?;
    Ok(record)
}

/// Reads the record at guest-virtual `gva` and decodes it, strings included (see the module
/// example). A record whose command is unknown, or whose strings are unmapped, unterminated
/// within [`STRING_MAX_LEN`] bytes or not UTF-8, is an [`Error`] that names the address.
pub fn decode<M: GuestMemory + ?Sized, F: PageTableFormat>(
    memory: &M,
    format: &F,
    root: GuestAddress,
    gva: u64,
) -> Result<Ucall, Error> {
    let record = read_record(memory, format, root, gva)?;
    let string = |address| read_c_string(memory, format, root, address, STRING_MAX_LEN);
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
        // UNHANDLED gets its own decoding later; until then it is reported as an unknown command.
        Ok(Command::None | Command::Unhandled) | Err(_) => Err(Error::UnknownCommand {
            cmd: record.cmd,
            record_gva: gva,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paging::{MemoryKind, PageTables, x86_64::X86_64};
    use vm_memory::{Bytes, GuestMemoryMmap};

    const UCALL_GPA: u64 = 0x2800_0000_0000;
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
            decode(
                &self.memory,
                self.tables.format(),
                self.tables.root(),
                RECORD,
            )
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
    fn command_none_is_not_a_ucall() {
        let err = Guest::new().decode(Record::default()).unwrap_err();
        assert!(matches!(err, Error::UnknownCommand { cmd: 0, .. }), "{err}");
    }

    #[test]
    fn record_straddling_a_page_boundary_is_read_whole() {
        let guest = Guest::new();
        let gva = 0x1_0ff0;
        guest.put(gva, Record::new(Command::Sync, &[9, 8, 7]).as_bytes());
        let ucall = decode(
            &guest.memory,
            guest.tables.format(),
            guest.tables.root(),
            gva,
        )
        .unwrap();
        assert_eq!(
            ucall,
            Ucall::Sync {
                args: [9, 8, 7, 0, 0, 0]
            }
        );
    }

    #[test]
    fn record_address_comes_from_an_8_byte_mmio_write() {
        let transport = Transport::mmio(UCALL_GPA);
        let exit = Exit::MmioWrite {
            gpa: UCALL_GPA,
            data: &RECORD.to_le_bytes(),
        };
        assert_eq!(transport.record_address(&exit, || 0).unwrap(), Some(RECORD));
    }

    #[test]
    fn mmio_write_of_4_bytes_is_a_bad_access() {
        let transport = Transport::mmio(UCALL_GPA);
        let exit = Exit::MmioWrite {
            gpa: UCALL_GPA,
            data: &[0; 4],
        };
        let err = transport.record_address(&exit, || 0).unwrap_err();
        assert!(matches!(
            err,
            Error::BadMmioAccess {
                gpa: UCALL_GPA,
                len: 4,
                is_write: true
            }
        ));
    }

    #[test]
    fn mmio_read_of_the_ucall_address_is_a_bad_access() {
        let transport = Transport::mmio(UCALL_GPA);
        let err = transport
            .record_address(
                &Exit::MmioRead {
                    gpa: UCALL_GPA,
                    len: 8,
                },
                || 0,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            Error::BadMmioAccess {
                len: 8,
                is_write: false,
                ..
            }
        ));
    }

    #[test]
    fn other_mmio_is_not_a_ucall() {
        let transport = Transport::mmio(UCALL_GPA);
        let exit = Exit::MmioWrite {
            gpa: UCALL_GPA + 8,
            data: &[0; 8],
        };
        assert_eq!(transport.record_address(&exit, || 0).unwrap(), None);
    }

    #[test]
    fn pio_in_of_one_byte_takes_the_record_from_rdi() {
        let exit = Exit::PioIn {
            port: ucall_abi::PIO_PORT,
            size: 1,
        };
        assert_eq!(
            Transport::pio().record_address(&exit, || RECORD).unwrap(),
            Some(RECORD)
        );
    }

    #[test]
    fn pio_out_on_the_ucall_port_is_a_bad_access() {
        let exit = Exit::PioOut {
            port: ucall_abi::PIO_PORT,
            size: 1,
        };
        let err = Transport::pio().record_address(&exit, || 0).unwrap_err();
        assert!(matches!(
            err,
            Error::BadPioAccess {
                port: 0x1000,
                size: 1,
                is_in: false
            }
        ));
    }

    #[test]
    fn pio_in_of_4_bytes_is_a_bad_access() {
        let exit = Exit::PioIn {
            port: ucall_abi::PIO_PORT,
            size: 4,
        };
        let err = Transport::pio().record_address(&exit, || 0).unwrap_err();
        assert!(matches!(
            err,
            Error::BadPioAccess {
                size: 4,
                is_in: true,
                ..
            }
        ));
    }
}
