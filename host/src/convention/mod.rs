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
//! Adding a convention: a module here with a type that implements [`Convention`], a
//! [`ConventionKind`] variant, and its arms in [`ConventionKind::resolve`] and [`for_kind`].
//!
//! ```
//! use ucall_host::convention::{for_kind, ConventionKind};
//! use ucall_host::paging::x86_64::X86_64;
//! use vm_memory::GuestMemoryMmap;
//!
//! let kind = ConventionKind::Auto.resolve(|symbol| symbol == "ucall_exit_mmio_addr");
//! assert_eq!(kind, ConventionKind::Seed);
//! let seed = for_kind::<GuestMemoryMmap, X86_64>(kind);
//! assert_eq!(seed.kind(), ConventionKind::Seed);
//! ```

pub mod seed;

use crate::decode::{self, Exit, Located, Transport, Ucall};
use crate::paging::{self, GuestView, PageTableFormat, PageTables};
use std::fmt::Debug;
use std::ops::Range;
use ucall_abi::MAX_ARGS;
use vm_memory::GuestMemory;

/// Which convention a guest speaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum ConventionKind {
    /// Whichever the guest's symbols say ([`ConventionKind::resolve`]).
    #[default]
    Auto,
    /// [`seed`]: the record's address in the exit, `ucall_abi` records and commands.
    Seed,
}

impl ConventionKind {
    /// The convention itself: `self`, or for [`Auto`](ConventionKind::Auto) the one whose
    /// symbols the guest has (`has_symbol` says whether the image defines a symbol), the seed
    /// convention when none.
    pub fn resolve(self, has_symbol: impl Fn(&str) -> bool) -> ConventionKind {
        let _ = has_symbol;
        match self {
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
    /// Where the image's writable symbol `name` of `size` bytes is (guest-physical), if it has
    /// one.
    pub symbol: &'a dyn Fn(&str, u64) -> Option<u64>,
}

impl<M: ?Sized, F: Debug> Debug for VmSetup<'_, M, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmSetup")
            .field("tables", &self.tables)
            .field("area", &self.area)
            .field("vcpus", &self.vcpus)
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

    /// Prepares the VM before its vCPUs run; nothing by default.
    fn setup(&mut self, vm: &mut VmSetup<'_, M, F>) -> Result<(), Error> {
        let _ = vm;
        Ok(())
    }

    /// Where the record of the ucall in `exit` is, or `None` for an exit that is not a ucall;
    /// `transport` says which exits the VM serves, `record_register` reads the register that
    /// carries an address for transports that do not carry it themselves.
    fn locate(
        &self,
        transport: &Transport,
        exit: &Exit,
        memory: &M,
        record_register: &mut dyn FnMut() -> u64,
    ) -> Result<Option<Located>, decode::Error>;

    /// The ucall whose record is at guest-virtual `record`, read through `guest`.
    fn decode(&self, guest: &GuestView<'_, M, F>, record: u64) -> Result<Ucall, decode::Error>;

    /// Writes the host's `reply` to the call whose record is at `record`, read back by the
    /// guest when it resumes.
    fn reply(
        &self,
        guest: &GuestView<'_, M, F>,
        record: u64,
        reply: &[u64; MAX_ARGS],
    ) -> Result<(), paging::Error>;
}
