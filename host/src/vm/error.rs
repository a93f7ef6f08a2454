//! What can go wrong while setting up a VM and while running its vCPUs.

use super::TransportKind;
use super::elf::LoadError;
use super::layout::LayoutError;
use super::watchdog::WatchdogError;
use crate::decode::{self, Exit};
use crate::{convention, log_ring, paging, probe};
use std::fmt;
use std::time::Duration;
use vm_memory::GuestMemoryError;

/// A KVM ioctl that failed, and what was asked of KVM.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[error("KVM {what} failed: {source}")]
pub struct KvmError {
    /// The ioctl, or what it was for.
    pub what: &'static str,
    /// What KVM said.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::message"))]
    pub source: kvm_ioctls::Error,
}

impl KvmError {
    /// A `map_err` adapter: `fd.run().map_err(KvmError::with("KVM_RUN"))`.
    pub(crate) fn with(what: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> KvmError {
        move |source| KvmError { what, source }
    }
}

/// Why a VM could not be set up.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum SetupError {
    /// A KVM ioctl failed.
    #[error(transparent)]
    Kvm(#[from] KvmError),
    /// A capability that the host needs is missing.
    #[error("KVM lacks {0}")]
    MissingCapability(&'static str),
    /// The vCPUs' stacks do not fit the memory, or the sizes are not whole pages, or a stack
    /// is no larger than the architecture's own part of it
    /// ([`Arch::VCPU_AREA`](crate::arch::Arch::VCPU_AREA)).
    #[error(
        "{vcpus} vCPUs with {stack_size:#x} bytes of stack each do not fit {memory_size:#x} bytes of memory (a multiple of 2 MiB)"
    )]
    DoesNotFit {
        /// vCPUs asked for.
        vcpus: usize,
        /// Bytes of stack per vCPU.
        stack_size: u64,
        /// Bytes of memory.
        memory_size: u64,
    },
    /// Guest memory could not be allocated.
    #[error("cannot allocate {size:#x} bytes of guest memory: {source}")]
    Allocate {
        /// Bytes asked for.
        size: u64,
        /// What vm-memory said.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::message"))]
        source: vm_memory::mmap::FromRangesError,
    },
    /// A region of guest memory has no host address to give KVM.
    #[error("memory region {slot} has no host address: {source}")]
    HostAddress {
        /// The region's memory slot.
        slot: u32,
        /// What vm-memory said.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::message"))]
        source: GuestMemoryError,
    },
    /// No layout of guest memory holds the image, the host's structures and the stacks.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A structure the architecture needs in guest memory could not be written.
    #[error("cannot write the {what} at {gpa:#x}: {source}")]
    WriteMemory {
        /// The structure (GDT, TSS, exception vectors).
        what: &'static str,
        /// Where it goes.
        gpa: u64,
        /// What vm-memory said.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_display::message"))]
        source: GuestMemoryError,
    },
    /// The transport asked for does not exist on this architecture.
    #[error("{transport} ucalls are not available on {arch}")]
    UnsupportedTransport {
        /// The transport.
        transport: TransportKind,
        /// The architecture.
        arch: &'static str,
    },
    /// The guest's page tables could not be built.
    #[error(transparent)]
    Paging(#[from] paging::Error),
    /// The ucall MMIO page could not be set up.
    #[error(transparent)]
    Probe(#[from] probe::Error),
    /// The guest ELF could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The watchdog could not be started.
    #[error(transparent)]
    Watchdog(#[from] WatchdogError),
    /// The guest's log ring could not be enabled.
    #[error(transparent)]
    LogRing(#[from] log_ring::Error),
    /// The wire convention could not set the VM up.
    #[error(transparent)]
    Convention(#[from] convention::Error),
}

impl SetupError {
    /// A `map_err` adapter for a structure the architecture writes into guest memory:
    /// `memory.write_slice(&idt, at).map_err(SetupError::write_memory("IDT", at.0))`.
    pub(crate) fn write_memory(
        what: &'static str,
        gpa: u64,
    ) -> impl FnOnce(GuestMemoryError) -> SetupError {
        move |source| SetupError::WriteMemory { what, gpa, source }
    }
}

/// Why a vCPU stopped without a ucall, or why its ucall could not be decoded.
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum RunError {
    /// The exit was the ucall address or port used wrongly, or its record cannot be decoded.
    #[error(transparent)]
    Decode(#[from] decode::Error),
    /// A guest in the pool convention of today's selftests sent a token or record that breaks
    /// it, or found no pool.
    #[error(transparent)]
    Selftests(#[from] crate::convention::selftests::Error),
    /// The guest's log ring cannot be drained (the lines before the bad record came first).
    #[error(transparent)]
    LogRing(#[from] log_ring::Error),
    /// The guest made an exit that is not a ucall.
    #[error("vCPU {vcpu} made an exit that is not a ucall: {exit}")]
    UnexpectedExit {
        /// The vCPU's index.
        vcpu: usize,
        /// The exit.
        exit: ExitKind,
    },
    /// A reply could not be written: the guest may not write its record there (a read-only
    /// mapping, the MMIO page, memory outside RAM). Nothing was written.
    #[error("vCPU {vcpu}: cannot reply into the record at {record_gva:#x}: {source}")]
    Reply {
        /// The vCPU's index.
        vcpu: usize,
        /// Where the record is.
        record_gva: u64,
        /// Why the record cannot be written.
        source: paging::Error,
    },
    /// A reply without a ucall to answer: the last event was no ucall, or the vCPU ran since.
    #[error("vCPU {vcpu} has no ucall to answer")]
    NothingToAnswer {
        /// The vCPU's index.
        vcpu: usize,
    },
    /// A reply to a guest whose convention has no replies (the pool convention): it reads
    /// nothing back, so nothing was written, neither its record nor a register.
    #[error("vCPU {vcpu}: the {convention} convention has no replies, so none was written")]
    NoReplies {
        /// The vCPU's index.
        vcpu: usize,
        /// The guest's convention.
        convention: convention::ConventionKind,
    },
    /// Data for a read without a read to answer: the last event was no MMIO read or `in`.
    #[error("vCPU {vcpu} has no pending read to answer")]
    NoPendingRead {
        /// The vCPU's index.
        vcpu: usize,
    },
    /// Data for a read of another length than the read's.
    #[error("vCPU {vcpu}: {given} bytes given for {exit}")]
    ReadLength {
        /// The vCPU's index.
        vcpu: usize,
        /// The read.
        exit: Exit,
        /// How many bytes were given.
        given: usize,
    },
    /// The guest executed `hlt` (or `wfi` was reported) before DONE.
    #[error("vCPU {vcpu} halted")]
    Halted {
        /// The vCPU's index.
        vcpu: usize,
    },
    /// The guest shut down or powered off.
    #[error("vCPU {vcpu} shut down: {reason}")]
    Shutdown {
        /// The vCPU's index.
        vcpu: usize,
        /// How.
        reason: ShutdownReason,
    },
    /// The guest took an exception it has no handler for (aarch64, riscv64: the host's vectors
    /// stop it).
    #[error(
        "vCPU {vcpu} took an exception at {at:#x}: syndrome {syndrome:#x}, fault address {fault_address:#x}"
    )]
    GuestException {
        /// The vCPU's index.
        vcpu: usize,
        /// The exception syndrome (ESR_EL1 on aarch64, `scause` on riscv64).
        syndrome: u64,
        /// Where it happened (ELR_EL1 on aarch64, `sepc` on riscv64).
        at: u64,
        /// The faulting address, for aborts (FAR_EL1 on aarch64, `stval` on riscv64).
        fault_address: u64,
    },
    /// KVM could not run or emulate the guest.
    #[error("vCPU {vcpu}: KVM internal error (suberror {suberror}, data {data:x?}) {position}")]
    InternalError {
        /// The vCPU's index.
        vcpu: usize,
        /// KVM's suberror code (`KVM_INTERNAL_ERROR_*`).
        suberror: u32,
        /// KVM's data words for the suberror.
        data: Vec<u64>,
        /// Where the guest was.
        position: Position,
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
    #[error("vCPU {vcpu} runs {mode}, whose tables the host cannot walk")]
    UnsupportedPagingMode {
        /// The vCPU's index.
        vcpu: usize,
        /// The mode.
        mode: PagingMode,
    },
    /// The guest made no ucall within the watchdog timeout.
    #[error("vCPU {vcpu} made no ucall within {after:?}")]
    Timeout {
        /// The vCPU's index.
        vcpu: usize,
        /// The timeout.
        after: Duration,
    },
    /// The vCPU finished (DONE, ABORT or UNHANDLED) and cannot run again.
    #[error("vCPU {vcpu} already finished")]
    Finished {
        /// The vCPU's index.
        vcpu: usize,
    },
    /// A KVM ioctl failed.
    #[error("vCPU {vcpu}: {source}")]
    Kvm {
        /// The vCPU's index.
        vcpu: usize,
        /// The ioctl and its error.
        source: KvmError,
    },
}

/// An exit that the run loop does not serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum ExitKind {
    /// MMIO or port I/O that is not the ucall address or port.
    Access(Exit),
    /// Any other exit, by its `KVM_EXIT_*` number.
    Other {
        /// `kvm_run.exit_reason`.
        reason: u32,
    },
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitKind::Access(exit) => write!(f, "{exit}"),
            ExitKind::Other { reason } => write!(f, "KVM exit reason {reason}"),
        }
    }
}

/// How a guest shut down.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum ShutdownReason {
    /// x86_64 `KVM_EXIT_SHUTDOWN`: a triple fault, or a shutdown the CPU made.
    #[error("triple fault or shutdown")]
    TripleFault,
    /// The guest powered off (PSCI SYSTEM_OFF on aarch64, SBI system reset of type shutdown on
    /// riscv64).
    #[error("powered off")]
    PowerOff,
    /// A system event the architecture gives no meaning to.
    #[error("system event {kind} {data:x?}")]
    SystemEvent {
        /// `KVM_SYSTEM_EVENT_*`.
        kind: u32,
        /// The event's data words.
        data: Vec<u64>,
    },
}

/// A paging mode the host cannot walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum PagingMode {
    /// Paging is off (x86_64 CR0.PG clear).
    #[error("with paging off")]
    Off,
    /// Paging without 64-bit mode (x86_64 EFER.LMA clear).
    #[error("outside 64-bit mode")]
    Legacy,
    /// 5-level paging (x86_64 CR4.LA57).
    #[error("with 5-level paging")]
    FiveLevel,
    /// A riscv64 `satp` mode other than Sv39 and Sv48 (Bare, Sv57, reserved).
    #[error("with {0}")]
    Satp(crate::paging::riscv64::UnsupportedSatpMode),
}

/// Where a vCPU was, for reports: its program counter and the instruction bytes there.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Position {
    /// The program counter (rip, pc), if it could be read.
    pub pc: Option<u64>,
    /// The bytes at `pc`, empty if they could not be read through the guest's tables.
    pub instruction: Vec<u8>,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(pc) = self.pc else {
            return f.write_str("(pc unreadable)");
        };
        write!(f, "at pc {pc:#x}")?;
        if !self.instruction.is_empty() {
            f.write_str(", instruction bytes")?;
            for byte in &self.instruction {
                write!(f, " {byte:02x}")?;
            }
        }
        Ok(())
    }
}

impl From<convention::CallError> for RunError {
    fn from(error: convention::CallError) -> Self {
        match error {
            convention::CallError::Decode(e) => RunError::Decode(e),
            convention::CallError::Selftests(e) => RunError::Selftests(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_shows_the_pc_and_the_instruction_bytes() {
        let position = Position {
            pc: Some(0x20_1000),
            instruction: vec![0x0f, 0x0b],
        };
        assert_eq!(
            position.to_string(),
            "at pc 0x201000, instruction bytes 0f 0b"
        );
    }

    #[test]
    fn position_without_readable_bytes_shows_the_pc_only() {
        let position = Position {
            pc: Some(0x20_1000),
            instruction: Vec::new(),
        };
        assert_eq!(position.to_string(), "at pc 0x201000");
        let unknown = Position {
            pc: None,
            instruction: Vec::new(),
        };
        assert_eq!(unknown.to_string(), "(pc unreadable)");
    }

    #[test]
    fn an_exit_the_loop_does_not_serve_is_shown_by_kind() {
        let other = ExitKind::Other { reason: 17 };
        assert_eq!(other.to_string(), "KVM exit reason 17");
        let access = ExitKind::Access(Exit::PioOut {
            port: 0x604,
            size: 1,
        });
        assert_eq!(access.to_string(), "a 1-byte out to port 0x604");
    }
}
