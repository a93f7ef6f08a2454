//! The log ring in the run loop: each vCPU drains the guest's ring at every exit and hands the
//! lines out as [`Ucall::Log`] events before what the exit brought.
//!
//! The protocol is [`ucall_abi::log_ring`]'s and the drain [`crate::log_ring`]'s. The builder
//! enables the ring when the guest ELF has both globals (a guest opts in by linking
//! `ucall_guest::log_ring`); the vCPUs share one lock, since they share the guest's one ring.

use super::{Event, GuestImage, LoadError, RunError, SetupError};
use crate::decode::{self, Ucall};
use crate::log_ring::{self, LogRing};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use ucall_abi::log_ring::{ADDRESS_SYMBOL, ENABLED_SYMBOL, FLUSH_COMMAND};
use vm_memory::{GuestAddress, GuestMemoryMmap};

/// Enables the guest's log ring when its ELF has both globals; `None` for a guest without them.
pub(super) fn enable(
    image: &GuestImage<'_>,
    memory: &GuestMemoryMmap,
) -> Result<Option<SharedRing>, SetupError> {
    let global = |name| match image.symbol_gpa(name) {
        Ok(gpa) => Ok(Some(GuestAddress(gpa))),
        Err(LoadError::SymbolNotFound(_)) => Ok(None),
        Err(e) => Err(e),
    };
    let (Some(enabled), Some(address)) = (global(ENABLED_SYMBOL)?, global(ADDRESS_SYMBOL)?) else {
        return Ok(None);
    };
    Ok(Some(SharedRing {
        ring: LogRing::enable(memory, enabled, address)?,
        lock: Arc::new(Mutex::new(())),
    }))
}

/// The guest's ring and the lock that lets one vCPU at a time drain it.
#[derive(Clone, Debug)]
pub(super) struct SharedRing {
    ring: LogRing,
    lock: Arc<Mutex<()>>,
}

/// One vCPU's side of the ring: what a drain brought, waiting to be returned in order.
#[derive(Debug)]
pub(super) struct VcpuLog {
    shared: SharedRing,
    /// Lines, then a ring error if the drain failed, then the ucall or error of the exit.
    pending: VecDeque<Result<Event, RunError>>,
    flushes: u64,
}

impl VcpuLog {
    pub(super) fn new(shared: SharedRing) -> Self {
        VcpuLog {
            shared,
            pending: VecDeque::new(),
            flushes: 0,
        }
    }

    /// The next thing a drain brought, oldest first.
    pub(super) fn next(&mut self) -> Option<Result<Event, RunError>> {
        self.pending.pop_front()
    }

    /// LOG_FLUSHes served so far.
    pub(super) fn flushes(&self) -> u64 {
        self.flushes
    }

    /// Whether `outcome` is the guest's LOG_FLUSH: the ring is full and the guest waits for a
    /// drain. Not a ucall of the protocol, so the decoder calls it an unknown command.
    pub(super) fn is_flush(outcome: &Result<Event, RunError>) -> bool {
        matches!(
            outcome,
            Err(RunError::Decode(decode::Error::UnknownCommand {
                cmd: FLUSH_COMMAND,
                ..
            }))
        )
    }

    /// Serves a LOG_FLUSH: drains, and queues the lines (and a ring error) to return before the
    /// next exit's ucall. The guest resumes right after.
    pub(super) fn flush(&mut self, memory: &GuestMemoryMmap) {
        self.flushes += 1;
        if let Err(e) = self.drain(memory) {
            self.pending.push_back(Err(e.into()));
        }
    }

    /// Drains after an exit that ended with `outcome`, and returns what comes first: the oldest
    /// line, or `outcome` itself when there is nothing before it. A ring error goes after the
    /// lines before the bad record and before `outcome`, so nothing is lost.
    pub(super) fn before(
        &mut self,
        memory: &GuestMemoryMmap,
        outcome: Result<Event, RunError>,
    ) -> Result<Event, RunError> {
        if let Err(e) = self.drain(memory) {
            self.pending.push_back(Err(e.into()));
        }
        match self.pending.pop_front() {
            Some(first) => {
                self.pending.push_back(outcome);
                first
            }
            None => outcome,
        }
    }

    fn drain(&mut self, memory: &GuestMemoryMmap) -> Result<usize, log_ring::Error> {
        // A vCPU that panicked mid-drain left no state behind the lock: it guards the ring only.
        let _one = self
            .shared
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let pending = &mut self.pending;
        self.shared.ring.drain(memory, |line| {
            pending.push_back(Ok(Event::Ucall(Ucall::Log(line.into()))))
        })
    }
}
