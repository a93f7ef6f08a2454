//! What a vCPU stopped for that the test may handle: a ucall, or the MMIO and port I/O of the
//! test's own devices.

use crate::decode::{Exit, Ucall};

/// What a vCPU stopped for: a ucall, or an MMIO or port I/O exit that is not one (the test's
/// own device or port).
///
/// ```no_run
/// use ucall_host::decode::Exit;
/// use ucall_host::vm::{Event, VmBuilder};
/// use ucall_host::Ucall;
///
/// let elf = std::fs::read("guest.elf")?;
/// let mut vcpu = VmBuilder::new(&elf).build()?.take_vcpus().remove(0);
/// loop {
///     match vcpu.next_event()? {
///         Event::Exit(Exit::PioIn { port: 0x60, .. }) => vcpu.answer_read(&[0x2a])?,
///         Event::Exit(exit) => println!("device access: {exit}"),
///         Event::Ucall(Ucall::Done) => break,
///         Event::Ucall(ucall) => println!("{ucall}"),
///         _ => {} // what later versions add
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A ucall, decoded; [`Vcpu::reply`](super::Vcpu::reply) answers it.
    Ucall(Ucall),
    /// An MMIO or port I/O exit that is not a ucall. A read (`MmioRead`, `PioIn`) returns
    /// zeros unless [`Vcpu::answer_read`](super::Vcpu::answer_read) supplies its data before the vCPU runs again.
    Exit(Exit),
}
