//! An UNHANDLED ucall: the exception a guest took without a handler of its own.

#[cfg(feature = "vm")]
use crate::vm::arch::{Arch, Native};
use std::fmt;
use ucall_abi::{MAX_ARGS, unhandled};

/// The exception in an UNHANDLED ucall, as the ABI lays it out (see [`ucall_abi::unhandled`]):
/// the values mean what the architecture says, and [`Unhandled::name`] says it in its words.
///
/// ```
/// use ucall_host::decode::{Sender, Unhandled};
///
/// let fault = Unhandled { vector: 14, instruction_address: 0x20_1234, error_code: 2, fault_address: 0xdead_0000, sent_by: Sender::HostHandler };
/// # #[cfg(all(target_arch = "x86_64", feature = "vm"))]
/// assert_eq!(
///     fault.to_string(),
///     "#PF at 0x201234 (fault address 0xdead0000, error code 0x2)"
/// );
/// let forged = Unhandled { sent_by: Sender::Guest, ..fault };
/// # #[cfg(all(target_arch = "x86_64", feature = "vm"))]
/// assert_eq!(
///     forged.to_string(),
///     "#PF at 0x201234 (fault address 0xdead0000, error code 0x2), sent by the guest, not the host's exception handler"
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Unhandled {
    /// The exception: the vector on x86_64, the vector-table entry on aarch64.
    pub vector: u64,
    /// The address of the instruction that took it.
    pub instruction_address: u64,
    /// The x86_64 error code (0 for vectors without one), the aarch64 syndrome (ESR_EL1).
    pub error_code: u64,
    /// The faulting data address: CR2 on x86_64, FAR_EL1 on aarch64.
    pub fault_address: u64,
    /// Who sent the report, where the host could tell: any guest can send an UNHANDLED record
    /// of its own making, so only one sent from the host's exception handlers' code is the
    /// host's account of an exception.
    #[cfg_attr(feature = "serde", serde(default))]
    pub sent_by: Sender,
}

/// Who sent an UNHANDLED ucall.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum Sender {
    /// Not checked: the decoder sees the record only. The VM's run loop checks where the vCPU
    /// stopped.
    #[default]
    Unchecked,
    /// The host's exception handlers: the vCPU stopped in their code. (A guest can still jump
    /// into that code with a frame of its own; at its privilege level, nothing the host sees
    /// tells that apart from an exception.)
    HostHandler,
    /// The guest itself: the vCPU was not in the host's handlers when it sent the report (the
    /// guest's own handler, or a forgery).
    Guest,
}

impl Sender {
    /// The word for it in the runner's JSON: `unchecked`, `host_handler` or `guest`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::Unchecked => "unchecked",
            Sender::HostHandler => "host_handler",
            Sender::Guest => "guest",
        }
    }
}

impl Unhandled {
    /// The exception's four values from a record's arguments.
    pub fn from_args(args: &[u64; MAX_ARGS]) -> Self {
        Unhandled {
            vector: args[unhandled::VECTOR],
            instruction_address: args[unhandled::INSTRUCTION_ADDRESS],
            error_code: args[unhandled::ERROR_CODE],
            fault_address: args[unhandled::FAULT_ADDRESS],
            sent_by: Sender::Unchecked,
        }
    }

    /// The exception's name on this host's architecture: `#PF`, `#UD`, ... on x86_64, the
    /// exception class (`data abort`, ...) on aarch64. The names come from the architecture
    /// seam of the `vm` feature; without it every exception is just `exception`.
    pub fn name(&self) -> &'static str {
        #[cfg(feature = "vm")]
        return Native::exception_name(self.vector, self.error_code);
        #[cfg(not(feature = "vm"))]
        "exception"
    }
}

/// `<name> at <instruction address> (fault address <address>, error code <code>)`, and
/// `, sent by the guest, not the host's exception handler` when it was.
impl fmt::Display for Unhandled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {:#x} (fault address {:#x}, error code {:#x})",
            self.name(),
            self.instruction_address,
            self.fault_address,
            self.error_code
        )?;
        if self.sent_by == Sender::Guest {
            f.write_str(", sent by the guest, not the host's exception handler")?;
        }
        Ok(())
    }
}
