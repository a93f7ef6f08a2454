//! The pool convention of today's Linux KVM selftests (`ucall_abi::selftests`), on the host:
//! the pool set up before the vCPUs run, a record found from the token an exit carries, and
//! the record decoded into the same [`Ucall`] as the seed convention's.
//!
//! The host reads records by guest-physical address inside the pool only (the pool is in the
//! host's part of guest RAM, identity-mapped, so a record's token is its guest-virtual and
//! guest-physical address), bounds every text to its buffer, and writes nothing back: the
//! convention has no replies. The one thing read outside the pool is ABORT's file name, a
//! string the guest points at, read through its page tables and bounded like any string.
//!
//! [`Selftests`] is the convention behind the seam ([`super::Convention`]): its
//! [`setup`](super::Convention::setup) places a pool of records in the area the builder keeps
//! for it (after the architecture's structures in the host area) and writes its address into
//! `ucall_pool`; its `locate` takes the token from the exit, its `decode` reads the record
//! the token names, and its `reply` writes nothing.

use super::{CallError, Convention, ConventionKind, ExitAt, VmSetup};
use crate::Ucall;
use crate::decode::{Abort, Exit, Located, Unhandled, read_record};
use crate::paging::{self, GuestView, PageTableFormat};
use std::ops::Range;
use ucall_abi::selftests::{
    self, BUFFER_LEN, Command, FAILED, NO_RECORD, POOL_SIZE, RECORDS, Record, abort, record_offset,
};
use ucall_abi::{MAX_ARGS as SEED_ARGS, SBI_EXTENSION, STRING_MAX_LEN};
use vm_memory::{Bytes, GuestAddress, GuestMemory};
use zerocopy::{FromZeros, IntoBytes};

/// What goes wrong with a guest in the pool convention.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Error {
    /// The guest sent all-ones: it found `ucall_pool` zero (no pool was given to it, as for a
    /// guest without the symbol) or every record of the pool taken.
    #[error(
        "the guest found no ucall pool or no free record in it (it sent all-ones): give it a `ucall_pool` symbol, or make fewer ucalls at once (at most {RECORDS})"
    )]
    NoPool,
    /// The token is inside the pool but names no record.
    #[error(
        "ucall token {token:#x} is no record's token (the pool is {pool_start:#x}..{pool_end:#x})"
    )]
    ForgedToken {
        /// The token.
        token: u64,
        /// Where the pool starts.
        pool_start: u64,
        /// Where it ends.
        pool_end: u64,
    },
    /// The token points outside the pool.
    #[error("ucall token {token:#x} points outside the ucall pool {pool_start:#x}..{pool_end:#x}")]
    TokenOutsidePool {
        /// The token.
        token: u64,
        /// Where the pool starts.
        pool_start: u64,
        /// Where it ends.
        pool_end: u64,
    },
    /// riscv64: the guest's default trap vector reported a trap it has no handler for (SBI
    /// function 1 of the ucall extension), which carries no record.
    #[error("the guest took a trap it has no handler for (SBI call, function {function})")]
    UnexpectedTrap {
        /// The SBI function.
        function: u64,
    },
    /// The record names no command of the pool convention.
    #[error("ucall record at {record:#x} has unknown command {cmd} (pool convention)")]
    UnknownCommand {
        /// The command number.
        cmd: u64,
        /// Where the record is.
        record: u64,
    },
    /// The record is not in guest memory (a pool the host placed wrongly).
    #[error("ucall record at guest-physical {gpa:#x} is outside guest memory")]
    RecordOutsideMemory {
        /// Where the record is.
        gpa: u64,
    },
    /// A text is not UTF-8, or ABORT's file name cannot be read through the guest's tables.
    #[error(transparent)]
    Paging(#[from] paging::Error),
}

/// How an architecture's selftests library fills UNHANDLED (`ucall_abi::selftests::unhandled`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UnhandledLayout {
    /// x86_64 sends an ABORT instead; an UNHANDLED record is read as the seed's four values.
    X86_64,
    /// The vector-table entry, the exception class and whether it is valid.
    Aarch64,
    /// Exception or interrupt, and the cause code.
    Riscv64,
}

impl UnhandledLayout {
    /// The layout of the guests of ELF machine `machine` (`EM_X86_64`, `EM_AARCH64`,
    /// `EM_RISCV`); `None` for any other.
    pub(crate) fn for_elf_machine(machine: u16) -> Option<Self> {
        match machine {
            62 => Some(UnhandledLayout::X86_64),
            183 => Some(UnhandledLayout::Aarch64),
            243 => Some(UnhandledLayout::Riscv64),
            _ => None,
        }
    }

    /// The exception in our terms ([`Unhandled`]): the values the guest did not send are 0.
    fn unhandled(self, args: &[u64; selftests::MAX_ARGS]) -> Unhandled {
        use selftests::unhandled::{aarch64, riscv64};
        let mut seed = [0; ucall_abi::MAX_ARGS];
        match self {
            UnhandledLayout::X86_64 => seed.copy_from_slice(&args[..ucall_abi::MAX_ARGS]),
            UnhandledLayout::Aarch64 => {
                seed[ucall_abi::unhandled::VECTOR] = args[aarch64::VECTOR];
                // The class in its place in ESR_EL1, so that the exception is named.
                if args[aarch64::EC_VALID] != 0 {
                    seed[ucall_abi::unhandled::ERROR_CODE] = (args[aarch64::EC] & 0x3f) << 26;
                }
            }
            UnhandledLayout::Riscv64 => {
                // scause: the interrupt bit on top, the code below.
                seed[ucall_abi::unhandled::VECTOR] =
                    (args[riscv64::KIND] & 1) << 63 | args[riscv64::CAUSE];
            }
        }
        Unhandled::from_args(&seed)
    }
}

/// What an exit's token names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Token 0: a ucall without a record, resumed.
    Nothing,
    /// The record at this guest-physical (and guest-virtual) address.
    Record {
        /// Where the record is.
        gpa: u64,
    },
    /// A record the host's own exception handlers built in the host area, in the seed layout.
    HostReport {
        /// Its guest-virtual address.
        gva: u64,
    },
}

/// One VM's pool: where it is, where the host's own exception reports are, and how UNHANDLED
/// reads on this architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Pool {
    start: u64,
    host_reports: Vec<Range<u64>>,
    unhandled: UnhandledLayout,
}

impl Pool {
    /// The guest RAM a pool takes, whole pages.
    pub(crate) const BYTES: u64 = (POOL_SIZE as u64).next_multiple_of(crate::paging::PAGE_SIZE);

    /// A pool at guest-physical `start` (identity-mapped); records the host's exception
    /// handlers build in `host_reports` are theirs.
    pub(crate) fn new(
        start: u64,
        host_reports: Vec<Range<u64>>,
        unhandled: UnhandledLayout,
    ) -> Self {
        Pool {
            start,
            host_reports,
            unhandled,
        }
    }

    /// Where the pool starts: the value the host writes into `ucall_pool`.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// Writes each record's token (its own address) into `memory`; the rest of the pool stays
    /// as it is (zero, in fresh guest memory).
    pub(crate) fn install<M: GuestMemory + ?Sized>(&self, memory: &M) -> Result<(), Error> {
        for index in 0..RECORDS {
            let record = self.start + record_offset(index) as u64;
            let at = record + Record::TOKEN_OFFSET as u64;
            memory
                .write_slice(&record.to_le_bytes(), GuestAddress(at))
                .map_err(|_| Error::RecordOutsideMemory { gpa: record })?;
        }
        Ok(())
    }

    /// What `token` names.
    pub(crate) fn find(&self, token: u64) -> Result<Found, Error> {
        let end = self.start + POOL_SIZE as u64;
        let outside = |token| Error::TokenOutsidePool {
            token,
            pool_start: self.start,
            pool_end: end,
        };
        match token {
            NO_RECORD => Ok(Found::Nothing),
            FAILED => Err(Error::NoPool),
            token if self.host_reports.iter().any(|range| range.contains(&token)) => {
                Ok(Found::HostReport { gva: token })
            }
            token if token < self.start || token >= end => Err(outside(token)),
            token => {
                let offset = token - self.start;
                let first = record_offset(0) as u64;
                if offset < first || (offset - first) % Record::SIZE as u64 != 0 {
                    return Err(Error::ForgedToken {
                        token,
                        pool_start: self.start,
                        pool_end: end,
                    });
                }
                Ok(Found::Record { gpa: token })
            }
        }
    }

    /// Refuses the exits this convention has besides ucalls: riscv64's report of a trap
    /// without a handler (SBI function 1 of the ucall extension, with `a1` to `a5` zero).
    pub(crate) fn check_exit(exit: &Exit) -> Result<(), Error> {
        match *exit {
            Exit::Sbi {
                extension,
                function: function @ selftests::SBI_UNEXPECTED_TRAP_FUNCTION,
                args,
            } if extension == SBI_EXTENSION && args[1..].iter().all(|&a| a == 0) => {
                Err(Error::UnexpectedTrap { function })
            }
            _ => Ok(()),
        }
    }

    /// The ucall that `token` names, or `None` for a ucall without data (token 0 or command
    /// NONE), which the host resumes. `guest` is the guest's memory through its tables, for
    /// ABORT's file name and the host's own reports.
    pub(crate) fn decode<M: GuestMemory + ?Sized, F: PageTableFormat>(
        &self,
        guest: &GuestView<'_, M, F>,
        token: u64,
    ) -> Result<Option<Ucall>, Error> {
        let gpa = match self.find(token)? {
            Found::Nothing => return Ok(None),
            Found::HostReport { gva } => {
                let report = read_record(guest, gva)?;
                return Ok(Some(Ucall::Unhandled(Unhandled::from_args(&report.args))));
            }
            Found::Record { gpa } => gpa,
        };
        let mut record = Record::new_zeroed();
        guest
            .memory()
            .read_slice(record.as_mut_bytes(), GuestAddress(gpa))
            .map_err(|_| Error::RecordOutsideMemory { gpa })?;
        let text = || {
            String::from_utf8(record.text().to_vec()).map_err(|e| {
                Error::Paging(paging::Error::StringNotUtf8 {
                    gva: gpa + Record::BUFFER_OFFSET as u64,
                    valid_up_to: e.utf8_error().valid_up_to(),
                })
            })
        };
        let ucall = match record.command() {
            Ok(Command::None) => return Ok(None),
            Ok(Command::Sync) => {
                let mut args = [0; ucall_abi::MAX_ARGS];
                args.copy_from_slice(&record.args[..ucall_abi::MAX_ARGS]);
                Ucall::Sync { args }
            }
            Ok(Command::Printf) => Ucall::Printf(text()?),
            Ok(Command::Done) => Ucall::Done,
            Ok(Command::Abort) => {
                let file = match record.args[abort::FILE] {
                    0 => None,
                    at => Some(guest.read_c_string(at, STRING_MAX_LEN)?),
                };
                Ucall::Abort(Abort {
                    message: text()?,
                    file,
                    line: record.args[abort::LINE],
                    column: None,
                })
            }
            Ok(Command::Unhandled) => Ucall::Unhandled(self.unhandled.unhandled(&record.args)),
            Err(cmd) => return Err(Error::UnknownCommand { cmd, record: gpa }),
        };
        Ok(Some(ucall))
    }
}

/// The pool convention behind [`super::Convention`]: one per VM, its pool placed by
/// [`setup`](super::Convention::setup).
///
/// ```
/// use ucall_host::convention::{selftests::Selftests, Convention, ConventionKind};
/// use ucall_host::paging::x86_64::X86_64;
/// use ucall_host::memory::HeapMemory;
///
/// let pool: &dyn Convention<HeapMemory, X86_64> = &Selftests::default();
/// assert_eq!(pool.kind(), ConventionKind::Selftests);
/// // The pool's records, whole pages, however many vCPUs share them.
/// let bytes = (ucall_abi::selftests::POOL_SIZE as u64).next_multiple_of(0x1000);
/// assert_eq!(pool.guest_bytes(4), bytes);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selftests {
    /// The VM's pool, once set up; a VM that was never set up has none, and its guest's
    /// ucalls are [`Error::NoPool`].
    pool: Option<Pool>,
}

impl<M: GuestMemory + ?Sized, F: PageTableFormat> Convention<M, F> for Selftests {
    fn kind(&self) -> ConventionKind {
        ConventionKind::Selftests
    }

    /// `Pool::BYTES`, whatever the number of vCPUs: one pool per VM.
    fn guest_bytes(&self, vcpus: usize) -> u64 {
        let _ = vcpus;
        Pool::BYTES
    }

    fn written_symbols(&self) -> &'static [(&'static str, u64)] {
        &[(selftests::POOL_SYMBOL, size_of::<u64>() as u64)]
    }

    /// The pool at the start of the area, its tokens written, its address in `ucall_pool`
    /// (a guest without the symbol finds no pool, and says so with its first ucall).
    fn setup(&mut self, vm: &mut VmSetup<'_, M, F>) -> Result<(), super::Error> {
        // The builder serves x86_64, aarch64 and riscv64 guests only; x86_64's reading of
        // UNHANDLED is the seed's, the safe default.
        let unhandled =
            UnhandledLayout::for_elf_machine(vm.elf_machine).unwrap_or(UnhandledLayout::X86_64);
        let pool = Pool::new(vm.area.start, vm.host_reports.clone(), unhandled);
        pool.install(vm.memory)
            .map_err(|_| super::Error::WriteMemory {
                what: "record tokens",
                gpa: pool.start(),
            })?;
        if let Some(gpa) = (vm.symbol)(selftests::POOL_SYMBOL, size_of::<u64>() as u64) {
            vm.memory
                .write_obj(pool.start(), GuestAddress(gpa))
                .map_err(|_| super::Error::WriteMemory {
                    what: "pool address",
                    gpa,
                })?;
        }
        self.pool = Some(pool);
        Ok(())
    }

    /// The token in the exit (where the seed's exits carry an address), as the record's
    /// place; riscv64's report of a trap without a handler is an error.
    fn locate(&self, at: &mut ExitAt<'_, M>) -> Result<Option<Located>, CallError> {
        Pool::check_exit(at.exit)?;
        // Records are read in the pool by address: a root a rooted exit names is not used.
        let located = at.locate()?;
        Ok(located.map(|at| Located {
            record: at.record,
            root: None,
        }))
    }

    /// `Pool::decode`: `None` for token 0 and for NONE, which the host resumes.
    fn decode(&self, guest: &GuestView<'_, M, F>, record: u64) -> Result<Option<Ucall>, CallError> {
        let pool = self.pool.as_ref().ok_or(Error::NoPool)?;
        Ok(pool.decode(guest, record)?)
    }

    /// No: the guest resumes after NONE, SYNC and PRINTF expecting nothing written back.
    fn has_replies(&self) -> bool {
        false
    }

    /// Nothing: the convention has no replies, and the guest reads nothing back.
    fn reply(
        &self,
        guest: &GuestView<'_, M, F>,
        record: u64,
        reply: &[u64; SEED_ARGS],
    ) -> Result<(), paging::Error> {
        let _ = (guest, record, reply);
        Ok(())
    }
}

// The buffer's text is bounded by the buffer, and ABORT's file name like any string.
const _: () = assert!(BUFFER_LEN <= STRING_MAX_LEN);

#[cfg(test)]
mod tests;
