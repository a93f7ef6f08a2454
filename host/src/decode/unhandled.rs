//! An UNHANDLED ucall: the exception a guest took without a handler of its own.

use crate::arch::{Arch, Native};
use std::fmt;
use ucall_abi::{MAX_ARGS, unhandled};

/// The exception in an UNHANDLED ucall, as the ABI lays it out (see [`ucall_abi::unhandled`]):
/// the values mean what the architecture says, and [`Unhandled::name_on`] says it in its words
/// ([`Unhandled::name`] and `Display` in this host's).
///
/// ```
/// use ucall_host::arch::{Aarch64, X86_64};
/// use ucall_host::decode::Unhandled;
///
/// let fault = Unhandled { vector: 14, instruction_address: 0x20_1234, error_code: 2, fault_address: 0xdead_0000 };
/// assert_eq!(
///     fault.display_on::<X86_64>().to_string(),
///     "#PF at 0x201234 (fault address 0xdead0000, error code 0x2)"
/// );
/// let abort = Unhandled { vector: 4, error_code: 0x25 << 26, ..fault };
/// assert_eq!(abort.name_on::<Aarch64>(), "data abort");
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

    /// The exception's name on architecture `A` ([`Arch::exception_name`]): `#PF`, `#UD`, ...
    /// on x86_64, the exception class (`data abort`, ...) on aarch64, `scause`'s name on
    /// riscv64.
    pub fn name_on<A: Arch>(&self) -> &'static str {
        A::exception_name(self.vector, self.error_code)
    }

    /// The exception's name on this host's architecture ([`Unhandled::name_on`] of
    /// [`Native`]).
    pub fn name(&self) -> &'static str {
        self.name_on::<Native>()
    }

    /// The exception as [`Display`](fmt::Display) shows it, named as architecture `A` names it.
    pub fn display_on<A: Arch>(&self) -> impl fmt::Display + '_ {
        OnArch::<A> {
            unhandled: self,
            arch: A::default(),
        }
    }
}

/// An [`Unhandled`] named in the words of architecture `A`.
struct OnArch<'a, A> {
    unhandled: &'a Unhandled,
    arch: A,
}

/// `<name> at <instruction address> (fault address <address>, error code <code>)`.
impl<A: Arch> fmt::Display for OnArch<'_, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let _ = self.arch;
        let u = self.unhandled;
        write!(
            f,
            "{} at {:#x} (fault address {:#x}, error code {:#x})",
            u.name_on::<A>(),
            u.instruction_address,
            u.fault_address,
            u.error_code
        )
    }
}

/// As [`Unhandled::display_on`] this host's architecture shows it.
impl fmt::Display for Unhandled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.display_on::<Native>().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Aarch64, Riscv64, X86_64};

    fn unhandled(vector: u64, error_code: u64) -> Unhandled {
        Unhandled {
            vector,
            instruction_address: 0x4020_0000,
            error_code,
            fault_address: 0,
        }
    }

    #[test]
    fn an_aarch64_data_abort_is_named_from_its_syndrome() {
        assert_eq!(unhandled(4, 0x25 << 26).name_on::<Aarch64>(), "data abort");
    }

    #[test]
    fn a_riscv64_load_page_fault_is_named_from_scause() {
        assert_eq!(unhandled(13, 0).name_on::<Riscv64>(), "load page fault");
    }

    #[test]
    fn an_x86_64_page_fault_is_named_by_its_mnemonic() {
        assert_eq!(unhandled(14, 2).name_on::<X86_64>(), "#PF");
    }

    #[test]
    fn display_on_another_architecture_uses_its_names() {
        assert_eq!(
            unhandled(2, 0).display_on::<Riscv64>().to_string(),
            "illegal instruction at 0x40200000 (fault address 0x0, error code 0x0)"
        );
    }
}
