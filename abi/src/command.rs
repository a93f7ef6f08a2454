//! Command numbers: the protocol's own below [`FIRST_USER_COMMAND`], the program's own from
//! there to [`LAST_USER_COMMAND`], and where each command keeps its arguments.

/// The first number of the user range: commands that a guest program and its host agree on
/// between themselves. A host decodes them as user calls with their six arguments, not as
/// unknown commands; numbers below belong to the protocol, whether it uses them yet or not.
///
/// ```
/// use ucall_abi::{Command, FIRST_USER_COMMAND, is_user_command};
///
/// const READ_SENSOR: u64 = FIRST_USER_COMMAND + 1;
/// assert!(is_user_command(READ_SENSOR));
/// assert!(!is_user_command(Command::Sync.into()));
/// ```
pub const FIRST_USER_COMMAND: u64 = 0x100;

/// The last number of the user range. Numbers above it name no command: a host reports them as
/// unknown, so that a "record" that is really a pointer, a page-table entry or garbage is still
/// told apart from a call.
///
/// ```
/// assert!(!ucall_abi::is_user_command(ucall_abi::LAST_USER_COMMAND + 1));
/// ```
pub const LAST_USER_COMMAND: u64 = 0xffff;

/// Whether `number` is in the user range, [`FIRST_USER_COMMAND`] to [`LAST_USER_COMMAND`].
///
/// ```
/// assert!(ucall_abi::is_user_command(0x100));
/// assert!(ucall_abi::is_user_command(0xffff));
/// assert!(!ucall_abi::is_user_command(0xff)); // reserved for the protocol
/// assert!(!ucall_abi::is_user_command(u64::MAX)); // no command at all
/// ```
pub const fn is_user_command(number: u64) -> bool {
    FIRST_USER_COMMAND <= number && number <= LAST_USER_COMMAND
}

/// What a ucall asks the host to do: the record's `cmd` field, for the protocol's own commands.
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
    /// `args[2]` the file string (or 0) and `args[3]` the column (or 0). See [`abort`].
    Abort = 2,
    /// The guest finished successfully.
    Done = 3,
    /// The guest prints `args[0]`, a string. See [`printf`].
    Printf = 4,
    /// The guest took an exception that it has no handler for: the vector, the instruction
    /// address, the error code and the fault address. See [`unhandled`].
    Unhandled = 5,
}

impl Command {
    /// Every command, in number order.
    ///
    /// ```
    /// use ucall_abi::Command;
    ///
    /// assert!(Command::ALL.iter().all(|&c| Command::try_from(u64::from(c)) == Ok(c)));
    /// ```
    pub const ALL: [Command; 6] = [
        Command::None,
        Command::Sync,
        Command::Abort,
        Command::Done,
        Command::Printf,
        Command::Unhandled,
    ];

    /// The command's name in capitals, as the selftests spell it after `UCALL_`.
    ///
    /// ```
    /// assert_eq!(ucall_abi::Command::Unhandled.name(), "UNHANDLED");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            Command::None => "NONE",
            Command::Sync => "SYNC",
            Command::Abort => "ABORT",
            Command::Done => "DONE",
            Command::Printf => "PRINTF",
            Command::Unhandled => "UNHANDLED",
        }
    }
}

impl TryFrom<u64> for Command {
    /// The number that names no command of the protocol: a user command (see
    /// [`is_user_command`]) or an unknown one.
    type Error = u64;

    fn try_from(raw: u64) -> Result<Self, u64> {
        Ok(match raw {
            0 => Command::None,
            1 => Command::Sync,
            2 => Command::Abort,
            3 => Command::Done,
            4 => Command::Printf,
            5 => Command::Unhandled,
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
///
/// ```
/// use ucall_abi::{abort, Command, Record};
///
/// let mut args = [0; 6];
/// args[abort::MESSAGE] = 0x20_1000; // guest-virtual address of "x == 1\0"
/// args[abort::LINE] = 7;
/// let record = Record::new(Command::Abort, &args);
/// assert_eq!(record.args[1], 7);
/// ```
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
///
/// ```
/// assert_eq!(ucall_abi::printf::TEXT, 0);
/// ```
pub mod printf {
    /// The text string.
    pub const TEXT: usize = 0;
}

pub mod unhandled {
    //! Indices of the arguments of a [`Command::Unhandled`](crate::Command::Unhandled) record:
    //! which exception the guest took, where, and why. The host does not resume the vCPU
    //! afterwards.
    //!
    //! What each value means depends on the architecture:
    //!
    //! | index | x86_64 | aarch64 | riscv64 |
    //! |-------|--------|---------|---------|
    //! | [`VECTOR`] | the exception vector (0-31; 14 is #PF) | the vector-table entry, `(offset from VBAR_EL1) / 0x80` (0-15: synchronous, IRQ, FIQ, SError for current EL with SP0, current EL with SPx, lower EL AArch64, lower EL AArch32) | `scause` |
    //! | [`INSTRUCTION_ADDRESS`] | the faulting RIP | `ELR_EL1` | `sepc` |
    //! | [`ERROR_CODE`] | the error code the CPU pushed, 0 for vectors without one | `ESR_EL1`, the syndrome | 0 |
    //! | [`FAULT_ADDRESS`] | CR2 (meaningful for #PF) | `FAR_EL1` (meaningful when the syndrome says so) | `stval` |
    //!
    //! The same four values serve any later architecture: the cause in [`VECTOR`], the
    //! instruction address, whatever further code the CPU reports in [`ERROR_CODE`], and the data
    //! address in [`FAULT_ADDRESS`]. The other arguments are zero.
    //!
    //! ```
    //! use ucall_abi::{unhandled, Command, Record};
    //!
    //! // A page fault at 0xdead0000, caused by the instruction at 0x201234 writing to a
    //! // not-present page (error code W = bit 1).
    //! let mut args = [0; 6];
    //! args[unhandled::VECTOR] = 14;
    //! args[unhandled::INSTRUCTION_ADDRESS] = 0x20_1234;
    //! args[unhandled::ERROR_CODE] = 0b10;
    //! args[unhandled::FAULT_ADDRESS] = 0xdead_0000;
    //! let record = Record::new(Command::Unhandled, &args);
    //! assert_eq!(record.cmd, 5);
    //! ```

    /// The exception: the vector on x86_64, the vector-table entry on aarch64, `scause` on
    /// riscv64.
    pub const VECTOR: usize = 0;
    /// The address of the instruction that took the exception (RIP, `ELR_EL1`, `sepc`).
    pub const INSTRUCTION_ADDRESS: usize = 1;
    /// The x86_64 error code (0 when the vector pushes none), the aarch64 syndrome (`ESR_EL1`),
    /// 0 on riscv64.
    pub const ERROR_CODE: usize = 2;
    /// The faulting data address: CR2, `FAR_EL1` or `stval`.
    pub const FAULT_ADDRESS: usize = 3;
}

// The protocol's numbers stay below the user range.
const _: () = {
    let mut i = 0;
    while i < Command::ALL.len() {
        assert!(!is_user_command(Command::ALL[i] as u64));
        assert!(Command::ALL[i] as u64 == i as u64);
        i += 1;
    }
};
