//! The registers of a vCPU for a core file.

use super::Vcpu;
use crate::vm::RunError;
use crate::vm::arch::{KvmArch, Native};
use crate::vm::core_dump::Registers;

impl Vcpu {
    /// The vCPU's registers for a [`CoreDump`](crate::vm::core_dump::CoreDump); read them after
    /// the vCPU's last exit, in the thread that ran it.
    pub fn core_registers(&mut self) -> Result<Registers, RunError> {
        Native::core_registers(&mut self.fd, &self.memory).map_err(|source| RunError::Kvm {
            vcpu: self.index,
            source,
        })
    }
}
