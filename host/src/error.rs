//! One error type for callers that want one: every layer's error, composed.

/// Any error of this crate, for callers that handle them alike (`?` converts each layer's).
///
/// Each layer has its own error type, which says what was wrong and where: [`paging::Error`]
/// (tables and guest-virtual reads), [`decode::Error`] (exits and records),
/// [`probe::Error`] (the ucall page), and with the `vm` feature [`LoadError`] (the guest ELF),
/// [`SetupError`] and [`RunError`] (the VM and its vCPUs) and [`CoreDumpError`] (core files).
/// It is `Send + Sync + 'static`.
///
/// [`paging::Error`]: crate::paging::Error
/// [`decode::Error`]: crate::decode::Error
/// [`probe::Error`]: crate::probe::Error
/// [`LoadError`]: crate::vm::LoadError
/// [`SetupError`]: crate::vm::SetupError
/// [`RunError`]: crate::vm::RunError
/// [`CoreDumpError`]: crate::vm::core_dump::CoreDumpError
///
/// ```
/// use ucall_host::paging::{self, x86_64::X86_64, PageTables};
/// use ucall_host::Error;
/// use vm_memory::GuestAddress;
/// use ucall_host::memory::HeapMemory;
///
/// fn translate(memory: &HeapMemory, gva: u64) -> Result<u64, Error> {
///     let tables = PageTables::new(memory, X86_64::new(46), GuestAddress(0x1000), 0x4000)?;
///     Ok(tables.view(memory).translate(gva)?.gpa)
/// }
///
/// let memory = HeapMemory::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
/// let err = translate(&memory, 0x4000_0000).unwrap_err();
/// assert!(matches!(err, Error::Paging(paging::Error::NotMapped { gva: 0x4000_0000, level: 4, .. })));
/// ```
#[derive(Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub enum Error {
    /// Building or walking page tables.
    #[error(transparent)]
    Paging(#[from] crate::paging::Error),
    /// Recognising or decoding a ucall.
    #[error(transparent)]
    Decode(#[from] crate::decode::Error),
    /// A guest in the pool convention of today's selftests broke it.
    #[error(transparent)]
    Selftests(#[from] crate::convention::selftests::Error),
    /// Setting up the ucall MMIO page.
    #[error(transparent)]
    Probe(#[from] crate::probe::Error),
    /// Loading the guest ELF.
    #[cfg(feature = "vm")]
    #[cfg_attr(docsrs, doc(cfg(feature = "vm")))]
    #[error(transparent)]
    Load(#[from] crate::vm::LoadError),
    /// Setting up the VM.
    #[cfg(feature = "vm")]
    #[cfg_attr(docsrs, doc(cfg(feature = "vm")))]
    #[error(transparent)]
    Setup(#[from] crate::vm::SetupError),
    /// Running a vCPU.
    #[cfg(feature = "vm")]
    #[cfg_attr(docsrs, doc(cfg(feature = "vm")))]
    #[error(transparent)]
    Run(#[from] crate::vm::RunError),
    /// Writing a core file.
    #[cfg(feature = "vm")]
    #[cfg_attr(docsrs, doc(cfg(feature = "vm")))]
    #[error(transparent)]
    CoreDump(#[from] crate::vm::core_dump::CoreDumpError),
    /// Enabling or draining a guest's log ring.
    #[error(transparent)]
    LogRing(#[from] crate::log_ring::Error),
}

impl Error {
    /// The paging error at the bottom of this one, if it is one: the same guest fault whether
    /// it came up through decoding, the probe or the VM setup.
    ///
    /// ```
    /// use ucall_host::{decode, paging, Error};
    ///
    /// let err = Error::from(decode::Error::Paging(paging::Error::WrapsAround { gva: 0, len: 1 }));
    /// assert!(matches!(err.paging(), Some(paging::Error::WrapsAround { .. })));
    /// ```
    pub fn paging(&self) -> Option<&crate::paging::Error> {
        use crate::{decode, probe};
        match self {
            Error::Paging(e)
            | Error::Decode(decode::Error::Paging(e))
            | Error::Selftests(crate::convention::selftests::Error::Paging(e))
            | Error::Probe(probe::Error::Map(e)) => Some(e),
            #[cfg(feature = "vm")]
            Error::Setup(
                crate::vm::SetupError::Paging(e)
                | crate::vm::SetupError::Probe(probe::Error::Map(e)),
            )
            | Error::Run(
                crate::vm::RunError::Decode(decode::Error::Paging(e))
                | crate::vm::RunError::Reply { source: e, .. },
            ) => Some(e),
            _ => None,
        }
    }
}
