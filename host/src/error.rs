//! The one error type of this crate.

use std::time::Duration;

/// Everything that can go wrong while setting up a guest or serving its ucalls.
///
/// Variants that come from guest behaviour (bad addresses, tables, strings, commands, exits) name
/// what was wrong and where, so that a test log or a VMM's report says which guest access failed.
/// A VMM wraps it in its own error type; it is `Send + Sync + 'static`.
///
/// ```
/// use ucall_host::paging::{x86_64::X86_64, PageTables};
/// use ucall_host::Error;
/// use vm_memory::{GuestAddress, GuestMemoryMmap};
///
/// let memory = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
/// let tables = PageTables::new(&memory, X86_64::new(46), GuestAddress(0x1000), 0x4000)?;
/// let err = tables.translate(&memory, 0x4000_0000).unwrap_err();
/// assert!(matches!(err, Error::NotMapped { gva: 0x4000_0000, level: 4, .. }));
/// assert!(err.to_string().starts_with("guest-virtual address 0x40000000 is not mapped"));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A guest-virtual address is not canonical for the paging mode.
    #[error("guest-virtual address {gva:#x} is not canonical for {bits}-bit virtual addresses")]
    NonCanonical {
        /// The address.
        gva: u64,
        /// The virtual address width of the paging mode.
        bits: u32,
    },
    /// The page tables have no present entry for a guest-virtual address.
    #[error(
        "guest-virtual address {gva:#x} is not mapped: level-{level} entry at {entry_gpa:#x} is {entry:#x}"
    )]
    NotMapped {
        /// The address.
        gva: u64,
        /// The table level (4 is the root on 4-level paging).
        level: u8,
        /// Where the entry is in guest-physical memory.
        entry_gpa: u64,
        /// The entry's value.
        entry: u64,
    },
    /// A page-table entry on the way to a guest-virtual address is malformed.
    #[error(
        "guest-virtual address {gva:#x}: level-{level} entry at {entry_gpa:#x} is malformed ({entry:#x}): {why}"
    )]
    BadEntry {
        /// The address being translated.
        gva: u64,
        /// The table level (4 is the root on 4-level paging).
        level: u8,
        /// Where the entry is in guest-physical memory.
        entry_gpa: u64,
        /// The entry's value.
        entry: u64,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A page table is outside guest memory.
    #[error(
        "guest-virtual address {gva:#x}: level-{level} table at {table_gpa:#x} is outside guest memory"
    )]
    TableOutsideMemory {
        /// The address being translated.
        gva: u64,
        /// The table level (4 is the root on 4-level paging).
        level: u8,
        /// The table's guest-physical address.
        table_gpa: u64,
    },
    /// A guest-virtual address translates to guest-physical memory that does not exist.
    #[error("guest-virtual address {gva:#x} maps to {gpa:#x}, outside guest memory")]
    OutsideMemory {
        /// The address.
        gva: u64,
        /// What it translates to.
        gpa: u64,
    },
    /// A guest-virtual range runs past the top of the address space (it would wrap to 0).
    #[error(
        "the {len} bytes at guest-virtual address {gva:#x} run past the top of the address space"
    )]
    WrapsAround {
        /// Where the range starts.
        gva: u64,
        /// Its length (for a string, the bound).
        len: usize,
    },
    /// A page-table mapping asked for is not aligned to its page size.
    #[error("cannot map {gva:#x} to {gpa:#x} with {page_size:#x}-byte pages: not aligned")]
    Misaligned {
        /// The virtual address.
        gva: u64,
        /// The physical address.
        gpa: u64,
        /// The page size.
        page_size: u64,
    },
    /// A mapping asked for overlaps one that exists.
    #[error("cannot map {gva:#x}: it is already mapped")]
    AlreadyMapped {
        /// The virtual address.
        gva: u64,
    },
    /// The space set aside for page tables is used up.
    #[error("no room for another page table: the {size:#x} bytes at {start:#x} are used up")]
    TableSpaceExhausted {
        /// Start of the space for tables.
        start: u64,
        /// Its size.
        size: u64,
    },
    /// No guest-physical address fits the ucall MMIO page.
    #[error(
        "no guest-physical address below 2^{bits} is free of memory slots and mappings for the ucall page"
    )]
    NoFreeAddress {
        /// The usable address width searched.
        bits: u32,
    },
    /// A ucall record names a command this host does not know.
    #[error("ucall record at {record_gva:#x} has unknown command {cmd}")]
    UnknownCommand {
        /// The command number.
        cmd: u64,
        /// Where the record is.
        record_gva: u64,
    },
    /// A string argument has no NUL within the bound.
    #[error("string at guest-virtual address {gva:#x} has no NUL within {max_len} bytes")]
    StringUnterminated {
        /// Where the string starts.
        gva: u64,
        /// The bound, including the NUL.
        max_len: usize,
    },
    /// A string argument is not UTF-8.
    #[error(
        "string at guest-virtual address {gva:#x} is not UTF-8: valid up to byte {valid_up_to}"
    )]
    StringNotUtf8 {
        /// Where the string starts.
        gva: u64,
        /// How many leading bytes are valid.
        valid_up_to: usize,
    },
    /// An access to the ucall MMIO address that is not an 8-byte write.
    #[error(
        "bad access to the ucall MMIO address {gpa:#x}: a {len}-byte {} (a ucall is an 8-byte write)",
        if *is_write { "write" } else { "read" }
    )]
    BadMmioAccess {
        /// The address.
        gpa: u64,
        /// The access size.
        len: usize,
        /// Whether it was a write.
        is_write: bool,
    },
    /// A port I/O access to the ucall port that is not a 1-byte `in`.
    #[error(
        "bad access to the ucall port {port:#x}: a {size}-byte {} (a ucall is a 1-byte in)",
        if *is_in { "in" } else { "out" }
    )]
    BadPioAccess {
        /// The port.
        port: u16,
        /// The access size in bytes (times the repeat count of string I/O).
        size: usize,
        /// Whether it was an `in`.
        is_in: bool,
    },
    /// The guest made an exit that is not a ucall.
    #[error("vCPU {vcpu} made an exit that is not a ucall: {exit}")]
    UnexpectedExit {
        /// The vCPU's index.
        vcpu: usize,
        /// The exit, described.
        exit: String,
    },
    /// The guest executed `hlt` (or `wfi` was reported) before DONE.
    #[error("vCPU {vcpu} halted")]
    Halted {
        /// The vCPU's index.
        vcpu: usize,
    },
    /// The guest shut down (on x86_64, a triple fault) or powered off.
    #[error("vCPU {vcpu} shut down: {why}")]
    Shutdown {
        /// The vCPU's index.
        vcpu: usize,
        /// The kind of shutdown.
        why: String,
    },
    /// KVM could not run or emulate the guest.
    #[error("vCPU {vcpu}: KVM internal error (suberror {suberror}) {detail}")]
    InternalError {
        /// The vCPU's index.
        vcpu: usize,
        /// KVM's suberror code.
        suberror: u32,
        /// Where the guest was, and the instruction bytes there when they could be read.
        detail: String,
    },
    /// KVM refused to enter the guest.
    #[error("vCPU {vcpu}: KVM could not enter the guest (hardware reason {reason:#x})")]
    FailEntry {
        /// The vCPU's index.
        vcpu: usize,
        /// The hardware entry failure reason.
        reason: u64,
    },
    /// The guest runs in a paging mode whose tables the host cannot walk.
    #[error("vCPU {vcpu} runs in an unsupported paging mode: {mode}")]
    UnsupportedPagingMode {
        /// The vCPU's index.
        vcpu: usize,
        /// The mode, with the registers that tell it.
        mode: String,
    },
    /// The guest made no ucall within the watchdog timeout.
    #[error("vCPU {vcpu} made no ucall within {after:?}")]
    Timeout {
        /// The vCPU's index.
        vcpu: usize,
        /// The timeout.
        after: Duration,
    },
    /// The vCPU finished (DONE or ABORT) and cannot run again.
    #[error("vCPU {vcpu} already finished")]
    Finished {
        /// The vCPU's index.
        vcpu: usize,
    },
    /// A KVM ioctl failed.
    #[error("KVM {what} failed: {source}")]
    Kvm {
        /// What was asked of KVM.
        what: &'static str,
        /// The error.
        source: kvm_ioctls::Error,
    },
    /// A capability that the host needs is missing.
    #[error("KVM lacks {0}")]
    MissingCapability(&'static str),
    /// Guest memory could not be set up or written.
    #[error("guest memory: {0}")]
    Memory(String),
    /// A guest ELF file is not usable.
    #[error("guest ELF: {0}")]
    Elf(String),
    /// A guest global that the host must write does not exist.
    #[error("the guest ELF has no symbol {0}")]
    SymbolNotFound(String),
    /// The host could not set up the watchdog.
    #[error("watchdog: {0}")]
    Watchdog(String),
    /// The guest took an exception it has no handler for (aarch64: the host's vectors stop it).
    #[error(
        "vCPU {vcpu} took an exception at {at:#x}: syndrome {syndrome:#x}, fault address {fault_address:#x}"
    )]
    GuestException {
        /// The vCPU's index.
        vcpu: usize,
        /// The exception syndrome (ESR_EL1 on aarch64).
        syndrome: u64,
        /// Where it happened (ELR_EL1 on aarch64).
        at: u64,
        /// The faulting address, for aborts (FAR_EL1 on aarch64).
        fault_address: u64,
    },
    /// Something asked of the host that this architecture does not have.
    #[error("{what} is not available on {arch}")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
        /// The architecture.
        arch: &'static str,
    },
}

impl Error {
    pub(crate) fn kvm(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> Error {
        move |source| Error::Kvm { what, source }
    }
}
