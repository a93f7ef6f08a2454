//! An UNHANDLED ucall: the exception a guest took without a handler of its own.

#[cfg(feature = "vm")]
use crate::vm::arch::{Arch, Native};
use std::fmt;
use ucall_abi::{MAX_ARGS, unhandled};

/// The exception in an UNHANDLED ucall, as the ABI lays it out (see [`ucall_abi::unhandled`]):
/// the values mean what the architecture says, and [`Unhandled::name`] says it in its words.
///
/// ```
/// use ucall_host::decode::Unhandled;
///
/// let fault = Unhandled { vector: 14, instruction_address: 0x20_1234, error_code: 2, fault_address: 0xdead_0000 };
/// # #[cfg(all(target_arch = "x86_64", feature = "vm"))]
/// assert_eq!(
///     fault.to_string(),
///     "#PF at 0x201234 (fault address 0xdead0000, error code 0x2)"
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
}

impl Unhandled {
    /// The exception's four values from a record's arguments.
    pub fn from_args(args: &[u64; MAX_ARGS]) -> Self {
        Unhandled {
            vector: args[unhandled::VECTOR],
            instruction_address: args[unhandled::INSTRUCTION_ADDRESS],
            error_code: args[unhandled::ERROR_CODE],
            fault_address: args[unhandled::FAULT_ADDRESS],
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

/// `<name> at <instruction address> (fault address <address>, error code <code>)`.
impl fmt::Display for Unhandled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at {:#x} (fault address {:#x}, error code {:#x})",
            self.name(),
            self.instruction_address,
            self.fault_address,
            self.error_code
        )
    }
}
