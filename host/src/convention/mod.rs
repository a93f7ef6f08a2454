//! Wire conventions: how a guest's ucall is found from its exit and what its record means.
//!
//! A convention is one module that implements [`Convention`]; a VM runs one, chosen per guest
//! ([`ConventionKind`], with [`ConventionKind::Auto`] resolved from the guest's symbols). The
//! run loop only ever calls through the trait, in this order:
//!
//! 1. [`setup`](Convention::setup), once per VM after the image is loaded and the page tables
//!    are built, before any vCPU runs: a convention that keeps state in the guest (a pool of
//!    records the host allocates, say) gets the guest's memory, its page tables, the image's
//!    symbols and the [`guest_bytes`](Convention::guest_bytes) it asked the layout for.
//! 2. At every exit, [`locate`](Convention::locate): is this exit a ucall, and where is its
//!    record (a guest-virtual address, and the tables it is read through)? The exit may carry
//!    the record's address or a token the convention maps to one.
//! 3. [`decode`](Convention::decode): the record, read through the guest's tables, as a
//!    [`Ucall`] (one type for every convention; a convention maps its command numbers to it).
//! 4. [`reply`](Convention::reply), when the host answers a call.
//!
//! [`seed`] is the convention `ucall-guest` and the seed's guests speak: the exit carries the
//! record's address (or a rooted call, `ucall_abi::rooted`), records are [`ucall_abi::Record`]s
//! with [`ucall_abi::Command`] numbers.
//!
//! [`selftests`] is the pool convention of today's Linux KVM selftests (`ucall_abi::selftests`):
//! the host allocates a pool of records in the VM and writes its address into the guest's
//! `ucall_pool`; the exit carries a token naming a record. A guest gets it when its ELF has
//! `ucall_pool` ([`ConventionKind::Auto`]); the builder's and runner's choice overrides that.
//!
//! Adding a convention: a module here with a type that implements [`Convention`], a
//! [`ConventionKind`] variant, and its arms in [`ConventionKind::resolve`] and [`for_kind`].
//!
//! ```
//! use ucall_host::convention::{for_kind, ConventionKind};
//! use ucall_host::paging::x86_64::X86_64;
//! use ucall_host::memory::HeapMemory;
//!
//! let kind = ConventionKind::Auto.resolve(|symbol| symbol == "ucall_exit_mmio_addr");
//! assert_eq!(kind, ConventionKind::Seed);
//! assert_eq!(ConventionKind::Auto.resolve(|s| s == "ucall_pool"), ConventionKind::Selftests);
//! assert_eq!(ConventionKind::Seed.resolve(|s| s == "ucall_pool"), ConventionKind::Seed);
//! assert_eq!(ConventionKind::Selftests.to_string(), "selftests");
//! let seed = for_kind::<HeapMemory, X86_64>(kind);
//! assert_eq!(seed.kind(), ConventionKind::Seed);
//! ```

pub mod seed;
pub mod selftests;

use crate::decode::{self, Exit, Located, Transport, Ucall};
use crate::paging::{self, GuestView, PageTableFormat, PageTables};
use std::fmt::{self, Debug};
use std::ops::Range;
use ucall_abi::MAX_ARGS;
use vm_memory::GuestMemory;

/// One exit as [`Convention::locate`] is asked about it, with what finding its record may take.
pub struct ExitAt<'a, M: ?Sized> {
    /// Which exits the VM serves.
    pub transport: &'a Transport,
    /// The exit.
    pub exit: &'a Exit,
    /// The guest's memory, where a rooted call is read.
    pub memory: &'a M,
    /// Reads the register that carries the record's address, for transports whose exit does
    /// not carry it (x86_64 port I/O's `rdi`).
    pub record_register: &'a mut dyn FnMut() -> u64,
}

impl<M: GuestMemory + ?Sized> ExitAt<'_, M> {
    /// [`Transport::locate`]: where the record is as the exit (or the rooted call it points
    /// to) says, before a convention maps what it found.
    pub fn locate(&mut self) -> Result<Option<Located>, decode::Error> {
        self.transport
            .locate(self.exit, self.memory, &mut *self.record_register)
    }
}

impl<M: ?Sized> Debug for ExitAt<'_, M> {
    // Neither the memory nor the register reader has anything to show.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExitAt")
            .field("transport", self.transport)
            .field("exit", self.exit)
            .finish_non_exhaustive()
    }
}

/// Which convention a guest speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "lowercase"))]
#[non_exhaustive]
pub enum ConventionKind {
    /// Whichever the guest's symbols say ([`ConventionKind::resolve`]).
    #[default]
    Auto,
    /// [`seed`]: the record's address in the exit, `ucall_abi` records and commands.
    Seed,
    /// [`selftests`]: the pool convention of today's Linux KVM selftests. A guest without
    /// `ucall_pool` then finds no pool, and its ucalls are [`selftests::Error::NoPool`].
    Selftests,
}

impl fmt::Display for ConventionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConventionKind::Auto => "auto",
            ConventionKind::Seed => "seed",
            ConventionKind::Selftests => "selftests",
        })
    }
}

impl ConventionKind {
    /// The convention itself: `self`, or for [`Auto`](ConventionKind::Auto) the one whose
    /// symbols the guest has (`has_symbol` says whether the image defines a symbol): the pool
    /// convention for a guest with `ucall_pool`, the seed convention otherwise.
    pub fn resolve(self, has_symbol: impl Fn(&str) -> bool) -> ConventionKind {
        match self {
            ConventionKind::Auto if has_symbol(ucall_abi::selftests::POOL_SYMBOL) => {
                ConventionKind::Selftests
            }
            ConventionKind::Auto => ConventionKind::Seed,
            kind => kind,
        }
    }
}

/// The convention of a resolved `kind` (an unresolved [`ConventionKind::Auto`] is the seed's).
pub fn for_kind<M, F>(kind: ConventionKind) -> Box<dyn Convention<M, F>>
where
    M: GuestMemory + ?Sized,
    F: PageTableFormat,
{
    match kind {
        ConventionKind::Auto | ConventionKind::Seed => Box::new(seed::Seed),
        ConventionKind::Selftests => Box::new(selftests::Selftests::default()),
    }
}

/// What a convention's [`setup`](Convention::setup) may use: the VM before its vCPUs run.
pub struct VmSetup<'a, M: ?Sized, F> {
    /// The guest's memory, the image loaded.
    pub memory: &'a M,
    /// The page tables the vCPUs start with (identity-mapped RAM); the convention may map more.
    pub tables: &'a mut PageTables<F>,
    /// The guest-physical (= virtual) range the layout kept for the convention:
    /// [`guest_bytes`](Convention::guest_bytes), whole pages, in RAM, mapped.
    pub area: Range<u64>,
    /// How many vCPUs the VM has.
    pub vcpus: usize,
    /// The guest-physical ranges where the host's own exception handlers build their reports
    /// (seed records, whatever the convention): the architecture's structures in the host
    /// area, and the vCPUs' stacks, whose tops hold each vCPU's exception stack.
    pub host_reports: Vec<Range<u64>>,
    /// The ELF machine of the guest (`EM_X86_64`, `EM_AARCH64`, `EM_RISCV`).
    pub elf_machine: u16,
    /// Where the image's writable object `name` of exactly `size` bytes is (guest-physical), if
    /// it has one.
    pub symbol: &'a dyn Fn(&str, u64) -> Option<u64>,
}

impl<M: ?Sized, F: Debug> Debug for VmSetup<'_, M, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmSetup")
            .field("tables", &self.tables)
            .field("area", &self.area)
            .field("vcpus", &self.vcpus)
            .field("host_reports", &self.host_reports)
            .field("elf_machine", &self.elf_machine)
            .finish_non_exhaustive()
    }
}

/// Why a convention could not set a VM up.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Error {
    /// The guest lacks a symbol the convention needs.
    #[error("the guest has no writable symbol `{0}`, which the convention needs")]
    SymbolNotFound(&'static str),
    /// Guest memory could not be written.
    #[error("cannot write the convention's {what} at {gpa:#x}")]
    WriteMemory {
        /// What.
        what: &'static str,
        /// Where.
        gpa: u64,
    },
    /// Mapping what the convention keeps in the guest failed.
    #[error(transparent)]
    Paging(#[from] paging::Error),
}

/// Why a ucall's exit or record breaks its convention.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum CallError {
    /// The exit or the record cannot be read as a ucall (either convention).
    #[error(transparent)]
    Decode(#[from] decode::Error),
    /// A token, record or exit that breaks the pool convention of today's selftests, or a
    /// guest of that convention that found no pool.
    #[error(transparent)]
    Selftests(#[from] selftests::Error),
}

/// One wire convention (see the module docs): how the host finds, decodes and answers a
/// ucall, and what it prepares in a VM first. Object-safe over the guest's memory `M` and
/// page-table format `F`, so a VM holds whichever one its guest speaks.
pub trait Convention<M: GuestMemory + ?Sized, F: PageTableFormat>: Debug + Send + Sync {
    /// Which convention this is.
    fn kind(&self) -> ConventionKind;

    /// Bytes of guest memory the convention keeps for a VM of `vcpus` vCPUs (its
    /// [`VmSetup::area`]); none by default.
    fn guest_bytes(&self, vcpus: usize) -> u64 {
        let _ = vcpus;
        0
    }

    /// The writable guest globals (name, bytes) that [`setup`](Convention::setup) writes when
    /// the guest has them: the builder refuses a guest whose global is outside its writable
    /// data or not an object of that size before KVM is asked for anything. None by default.
    fn written_symbols(&self) -> &'static [(&'static str, u64)] {
        &[]
    }

    /// Prepares the VM before its vCPUs run; nothing by default.
    fn setup(&mut self, vm: &mut VmSetup<'_, M, F>) -> Result<(), Error> {
        let _ = vm;
        Ok(())
    }

    /// Where the record of the ucall in `at.exit` is, or `None` for an exit that is not a ucall.
    fn locate(&self, at: &mut ExitAt<'_, M>) -> Result<Option<Located>, CallError>;

    /// The ucall whose record is at guest-virtual `record` (as [`locate`](Convention::locate)
    /// found it), read through `guest`; `None` for a call that carries nothing, which the host
    /// resumes without an event.
    fn decode(&self, guest: &GuestView<'_, M, F>, record: u64) -> Result<Option<Ucall>, CallError>;

    /// Whether the guest reads a [`reply`](Convention::reply) back. When it does not, the VM
    /// refuses a reply and writes nothing for it: not the record, and not the register an
    /// architecture's transport also carries the reply in (x86_64 port I/O's `rsi`), which
    /// such a guest keeps its own values in. Yes by default.
    fn has_replies(&self) -> bool {
        true
    }

    /// Writes the host's `reply` to the call whose record is at `record`, read back by the
    /// guest when it resumes.
    fn reply(
        &self,
        guest: &GuestView<'_, M, F>,
        record: u64,
        reply: &[u64; MAX_ARGS],
    ) -> Result<(), paging::Error>;
}
