//! [`Exit`] from the exits of `kvm-ioctls`: the one place that maps a `VcpuExit`, in the VM
//! layer, so that `decode` needs no KVM crate.

use crate::decode::Exit;
use kvm_ioctls::VcpuExit;

impl Exit {
    /// The MMIO or port I/O exit in `exit`, owned; `None` for every other kind of exit.
    ///
    /// For a read (`MmioRead`, `IoIn`) the VMM still owes the guest its data: fill the slice in
    /// `exit` before the next `KVM_RUN`.
    ///
    /// ```
    /// use kvm_ioctls::VcpuExit;
    /// use ucall_host::decode::Exit;
    ///
    /// let mut data = 0x1_0000u64.to_le_bytes();
    /// let exit = Exit::from_kvm(&VcpuExit::MmioWrite(0x2800_0000_0000, &data));
    /// assert_eq!(exit, Some(Exit::mmio_write(0x2800_0000_0000, &data)));
    /// assert_eq!(Exit::from_kvm(&VcpuExit::IoIn(0x1000, &mut data[..1])), Some(Exit::PioIn { port: 0x1000, size: 1 }));
    /// assert_eq!(Exit::from_kvm(&VcpuExit::Hlt), None);
    /// ```
    pub fn from_kvm(exit: &VcpuExit<'_>) -> Option<Exit> {
        Some(match exit {
            VcpuExit::MmioWrite(gpa, data) => Exit::mmio_write(*gpa, data),
            VcpuExit::MmioRead(gpa, data) => Exit::MmioRead {
                gpa: *gpa,
                len: data.len(),
            },
            VcpuExit::IoIn(port, data) => Exit::PioIn {
                port: *port,
                size: data.len(),
            },
            VcpuExit::IoOut(port, data) => Exit::PioOut {
                port: *port,
                size: data.len(),
            },
            _ => return None,
        })
    }
}
