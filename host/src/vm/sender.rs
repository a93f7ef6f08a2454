//! Telling a forged UNHANDLED from the host's own: any guest can send an UNHANDLED record, so
//! the run loop labels each with who sent it ([`Sender`]), from where the vCPU stopped.

use super::Vcpu;
use super::arch::{KvmArch, Native};
use crate::decode::{Sender, Ucall};

impl Vcpu {
    /// `ucall`, and if it is an UNHANDLED, labelled: sent by the host's exception handlers when
    /// the vCPU stopped in their code, else by the guest. A program counter that cannot be read
    /// leaves it unchecked. One register read, for a ucall that ends the vCPU anyway.
    pub(super) fn with_sender(&mut self, ucall: Ucall) -> Ucall {
        let Ucall::Unhandled(mut unhandled) = ucall else {
            return ucall;
        };
        unhandled.sent_by = match Native::program_counter(&mut self.fd) {
            Ok(pc) if self.handler_code.contains(&pc) => Sender::HostHandler,
            Ok(_) => Sender::Guest,
            Err(_) => Sender::Unchecked,
        };
        Ucall::Unhandled(unhandled)
    }
}
