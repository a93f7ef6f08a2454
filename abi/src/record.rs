//! The record a guest fills and the host reads, and into which the host may answer.

use crate::{Command, MAX_ARGS};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The record that a guest fills and whose address a ucall exit carries.
///
/// It is also where the host answers: before it resumes the vCPU, a host may overwrite
/// [`args`](Record::args) (all six words, at [`Record::ARGS_OFFSET`]) with its reply, and never
/// writes [`cmd`](Record::cmd). A host that does not answer leaves the arguments as the guest
/// wrote them. The guest reads the arguments back after the exit with volatile reads, since
/// nothing in the guest program changed them.
///
/// ```
/// use ucall_abi::{FIRST_USER_COMMAND, Record};
/// use zerocopy::{FromBytes, IntoBytes};
///
/// // The guest asks its host to add two numbers.
/// let mut guest_memory = Record::with_cmd(FIRST_USER_COMMAND, &[40, 2]).as_bytes().to_vec();
/// // The host answers into the arguments, and leaves `cmd` alone.
/// let sum = [42u64, 0, 0, 0, 0, 0];
/// guest_memory[Record::ARGS_OFFSET..].copy_from_slice(sum.as_bytes());
/// // What the guest reads back.
/// let record = Record::read_from_bytes(&guest_memory).unwrap();
/// assert_eq!((record.cmd, record.args), (FIRST_USER_COMMAND, sum));
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct Record {
    /// A [`Command`] number, or a user command (see [`crate::is_user_command`]).
    pub cmd: u64,
    /// The arguments; those a command does not use are zero. After the exit, the host's reply
    /// if it gave one.
    pub args: [u64; MAX_ARGS],
}

impl Record {
    /// The record's size in bytes.
    pub const SIZE: usize = core::mem::size_of::<Record>();

    /// Where [`args`](Record::args) start in the record: a reply is [`MAX_ARGS`] little-endian
    /// words written there.
    ///
    /// ```
    /// assert_eq!(ucall_abi::Record::ARGS_OFFSET, 8);
    /// ```
    pub const ARGS_OFFSET: usize = core::mem::offset_of!(Record, args);

    /// A record for `command` with the first `args.len()` arguments set (at most [`MAX_ARGS`];
    /// extra ones are dropped, as the selftests' `ucall()` does) and the others zero.
    ///
    /// ```
    /// use ucall_abi::{Command, Record};
    ///
    /// assert_eq!(Record::new(Command::Sync, &[7]).args, [7, 0, 0, 0, 0, 0]);
    /// ```
    #[inline]
    pub const fn new(command: Command, args: &[u64]) -> Record {
        Record::with_cmd(command as u64, args)
    }

    /// A record for the raw command number `cmd`, such as a user command, with its arguments
    /// set as [`Record::new`] does.
    ///
    /// ```
    /// use ucall_abi::{FIRST_USER_COMMAND, Record};
    ///
    /// let record = Record::with_cmd(FIRST_USER_COMMAND, &[1, 2, 3, 4, 5, 6, 7]);
    /// assert_eq!(record.cmd, 0x100);
    /// assert_eq!(record.args, [1, 2, 3, 4, 5, 6]); // the seventh is dropped
    /// ```
    #[inline]
    pub const fn with_cmd(cmd: u64, args: &[u64]) -> Record {
        let mut record = Record {
            cmd,
            args: [0; MAX_ARGS],
        };
        let mut i = 0;
        while i < args.len() && i < MAX_ARGS {
            record.args[i] = args[i];
            i += 1;
        }
        record
    }

    /// The record's command, or the raw number if it names none of the protocol's.
    ///
    /// ```
    /// use ucall_abi::{Command, Record};
    ///
    /// assert_eq!(Record::new(Command::Done, &[]).command(), Ok(Command::Done));
    /// assert_eq!(Record::with_cmd(0x105, &[]).command(), Err(0x105));
    /// ```
    pub fn command(&self) -> Result<Command, u64> {
        Command::try_from(self.cmd)
    }

    /// The record's 56 bytes as they are in guest memory: `cmd`, then the six arguments, each
    /// little-endian. (The zerocopy traits give the same view without a copy.)
    ///
    /// ```
    /// use ucall_abi::{Command, Record};
    ///
    /// let bytes = Record::new(Command::Sync, &[2]).to_bytes();
    /// assert_eq!(bytes[..16], [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    /// ```
    pub fn to_bytes(&self) -> [u8; Record::SIZE] {
        let mut bytes = [0; Record::SIZE];
        let words = core::iter::once(self.cmd).chain(self.args);
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        bytes
    }

    /// The record in `bytes`, as [`Record::to_bytes`] lays it out.
    ///
    /// ```
    /// use ucall_abi::{Command, Record};
    ///
    /// let record = Record::new(Command::Printf, &[0x2000]);
    /// assert_eq!(Record::from_bytes(&record.to_bytes()), record);
    /// ```
    pub fn from_bytes(bytes: &[u8; Record::SIZE]) -> Record {
        let mut words = bytes
            .chunks_exact(8)
            .map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
        let cmd = words.next().unwrap_or_default();
        let mut args = [0; MAX_ARGS];
        for (arg, word) in args.iter_mut().zip(words) {
            *arg = word;
        }
        Record { cmd, args }
    }
}

// The layout is the wire format: pin it.
const _: () = assert!(Record::SIZE == 56);
const _: () = assert!(core::mem::offset_of!(Record, cmd) == 0);
const _: () = assert!(Record::ARGS_OFFSET == 8);
const _: () = assert!(core::mem::align_of::<Record>() == 8);
