//! Which exits are ucalls, and where their records are.

use super::Error;
use std::fmt;
use ucall_abi::access;

/// The most data one MMIO exit carries (the size of `kvm_run`'s `mmio.data`).
pub const MMIO_DATA_MAX: usize = 8;

/// An MMIO or port I/O exit, owned and `Copy`: build it from whatever exit type the VMM has
/// (the `vm` module makes one of a KVM exit with `Exit::from_kvm`).
///
/// ```
/// use ucall_host::decode::Exit;
///
/// let exit = Exit::mmio_write(0x2800_0000_0000, &0x1_0000u64.to_le_bytes());
/// assert!(matches!(exit, Exit::MmioWrite { len: 8, .. }));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Exit {
    /// A write to an address no memory backs.
    MmioWrite {
        /// The address.
        gpa: u64,
        /// The bytes written, the first `len.min(8)` of them.
        data: [u8; MMIO_DATA_MAX],
        /// The access size.
        len: usize,
    },
    /// A read from an address no memory backs.
    MmioRead {
        /// The address.
        gpa: u64,
        /// The access size.
        len: usize,
    },
    /// An x86 `in`.
    PioIn {
        /// The port.
        port: u16,
        /// Bytes transferred (size times count).
        size: usize,
    },
    /// An x86 `out`.
    PioOut {
        /// The port.
        port: u16,
        /// Bytes transferred (size times count).
        size: usize,
    },
    /// A riscv64 SBI call that KVM passed to userspace (`KVM_EXIT_RISCV_SBI`).
    Sbi {
        /// The extension (`a7`).
        extension: u64,
        /// The function (`a6`).
        function: u64,
        /// The arguments (`a0` to `a5`).
        args: [u64; 6],
    },
}

impl Exit {
    /// A write of `bytes` to `gpa`: the first 8 bytes are kept, the length is the real one.
    pub fn mmio_write(gpa: u64, bytes: &[u8]) -> Self {
        let mut data = [0; MMIO_DATA_MAX];
        let kept = bytes.len().min(MMIO_DATA_MAX);
        data[..kept].copy_from_slice(&bytes[..kept]);
        Exit::MmioWrite {
            gpa,
            data,
            len: bytes.len(),
        }
    }
}

/// The access in words, addresses and ports in hex, sizes in bytes.
///
/// ```
/// use ucall_host::decode::Exit;
///
/// let exit = Exit::PioOut { port: 0x3f8, size: 1 };
/// assert_eq!(exit.to_string(), "a 1-byte out to port 0x3f8");
/// ```
impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Exit::MmioWrite { gpa, data, len } => {
                let shown = &data[..len.min(MMIO_DATA_MAX)];
                write!(
                    f,
                    "a {len}-byte MMIO write to {gpa:#x} (bytes {shown:02x?})"
                )
            }
            Exit::MmioRead { gpa, len } => write!(f, "a {len}-byte MMIO read from {gpa:#x}"),
            Exit::PioIn { port, size } => write!(f, "a {size}-byte in from port {port:#x}"),
            Exit::PioOut { port, size } => write!(f, "a {size}-byte out to port {port:#x}"),
            Exit::Sbi {
                extension,
                function,
                args,
            } => write!(
                f,
                "an SBI call to extension {extension:#x}, function {function} (a0 {:#x})",
                args[0]
            ),
        }
    }
}

/// Which exits are ucalls: a write to the ucall MMIO address, an `in` on the ucall port, an SBI
/// call to the ucall extension, or several of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Transport {
    /// The ucall MMIO address published to the guest, if any.
    pub mmio_gpa: Option<u64>,
    /// The ucall port, if port I/O is in use (x86_64).
    pub pio_port: Option<u16>,
    /// The ucall SBI extension, if SBI calls are in use (riscv64).
    pub sbi_extension: Option<u64>,
}

impl Transport {
    /// Ucalls by 8-byte writes to `gpa`.
    ///
    /// ```
    /// use ucall_host::decode::Transport;
    ///
    /// assert_eq!(Transport::mmio(0x2800_0000_0000).mmio_gpa, Some(0x2800_0000_0000));
    /// ```
    pub fn mmio(gpa: u64) -> Self {
        Transport {
            mmio_gpa: Some(gpa),
            pio_port: None,
            sbi_extension: None,
        }
    }

    /// Ucalls by `in al, dx` on [`ucall_abi::PIO_PORT`], record address in `rdi`.
    ///
    /// ```
    /// use ucall_host::decode::Transport;
    ///
    /// assert_eq!(Transport::pio().pio_port, Some(0x1000));
    /// ```
    pub fn pio() -> Self {
        Transport {
            mmio_gpa: None,
            pio_port: Some(ucall_abi::PIO_PORT),
            sbi_extension: None,
        }
    }

    /// Ucalls by an SBI call to [`ucall_abi::SBI_EXTENSION`], function
    /// [`ucall_abi::SBI_UCALL_FUNCTION`], record address in `a0` (riscv64).
    ///
    /// ```
    /// use ucall_host::decode::{Exit, Transport};
    ///
    /// let exit = Exit::Sbi { extension: 0x08FF_FFFF, function: 0, args: [0x8020_1000, 0, 0, 0, 0, 0] };
    /// assert_eq!(Transport::sbi().record_address(&exit, || 0)?, Some(0x8020_1000));
    /// # Ok::<(), ucall_host::decode::Error>(())
    /// ```
    pub fn sbi() -> Self {
        Transport {
            mmio_gpa: None,
            pio_port: None,
            sbi_extension: Some(ucall_abi::SBI_EXTENSION),
        }
    }

    /// The guest-virtual address of the record if `exit` is a ucall, `None` if the exit is
    /// none of ucall's business, or an error if it touches the ucall address or port the wrong
    /// way. `record_register` reads the guest's `rdi` and is called only for port I/O ucalls.
    ///
    /// ```
    /// use ucall_host::decode::{Exit, Transport};
    ///
    /// let transport = Transport::pio();
    /// let ucall = Exit::PioIn { port: 0x1000, size: 1 };
    /// assert_eq!(transport.record_address(&ucall, || 0x7000)?, Some(0x7000));
    /// let serial = Exit::PioOut { port: 0x3f8, size: 1 };
    /// assert_eq!(transport.record_address(&serial, || 0)?, None);
    /// # Ok::<(), ucall_host::decode::Error>(())
    /// ```
    pub fn record_address(
        &self,
        exit: &Exit,
        record_register: impl FnOnce() -> u64,
    ) -> Result<Option<u64>, Error> {
        match *exit {
            Exit::MmioWrite { gpa, data, len } if Some(gpa) == self.mmio_gpa => {
                if len != access::MMIO_LEN {
                    return Err(Error::BadMmioAccess {
                        gpa,
                        len,
                        is_write: true,
                    });
                }
                Ok(Some(u64::from_le_bytes(data)))
            }
            Exit::MmioRead { gpa, len } if Some(gpa) == self.mmio_gpa => {
                Err(Error::BadMmioAccess {
                    gpa,
                    len,
                    is_write: false,
                })
            }
            Exit::PioIn { port, size } if Some(port) == self.pio_port => {
                if size != access::PIO_LEN {
                    return Err(Error::BadPioAccess {
                        port,
                        size,
                        is_in: true,
                    });
                }
                Ok(Some(record_register()))
            }
            Exit::PioOut { port, size } if Some(port) == self.pio_port => {
                Err(Error::BadPioAccess {
                    port,
                    size,
                    is_in: false,
                })
            }
            Exit::Sbi {
                extension,
                function,
                args,
            } if Some(extension) == self.sbi_extension => {
                if function != ucall_abi::SBI_UCALL_FUNCTION {
                    return Err(Error::BadSbiCall {
                        extension,
                        function,
                    });
                }
                Ok(Some(args[0]))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UCALL_GPA: u64 = 0x2800_0000_0000;
    const RECORD: u64 = 0x1_0000;

    #[test]
    fn record_address_comes_from_an_8_byte_mmio_write() {
        let transport = Transport::mmio(UCALL_GPA);
        let exit = Exit::mmio_write(UCALL_GPA, &RECORD.to_le_bytes());
        assert_eq!(transport.record_address(&exit, || 0).unwrap(), Some(RECORD));
    }

    #[test]
    fn mmio_write_of_4_bytes_is_a_bad_access() {
        let transport = Transport::mmio(UCALL_GPA);
        let exit = Exit::mmio_write(UCALL_GPA, &[0; 4]);
        let err = transport.record_address(&exit, || 0).unwrap_err();
        assert!(matches!(
            err,
            Error::BadMmioAccess {
                gpa: UCALL_GPA,
                len: 4,
                is_write: true
            }
        ));
    }

    #[test]
    fn mmio_write_wider_than_8_bytes_keeps_its_length_and_is_a_bad_access() {
        let transport = Transport::mmio(UCALL_GPA);
        let exit = Exit::mmio_write(UCALL_GPA, &[0; 16]);
        let err = transport.record_address(&exit, || 0).unwrap_err();
        assert!(matches!(
            err,
            Error::BadMmioAccess {
                len: 16,
                is_write: true,
                ..
            }
        ));
    }

    #[test]
    fn mmio_read_of_the_ucall_address_is_a_bad_access() {
        let transport = Transport::mmio(UCALL_GPA);
        let err = transport
            .record_address(
                &Exit::MmioRead {
                    gpa: UCALL_GPA,
                    len: 8,
                },
                || 0,
            )
            .unwrap_err();
        assert!(matches!(
            err,
            Error::BadMmioAccess {
                len: 8,
                is_write: false,
                ..
            }
        ));
    }

    #[test]
    fn other_mmio_is_not_a_ucall() {
        let transport = Transport::mmio(UCALL_GPA);
        let exit = Exit::mmio_write(UCALL_GPA + 8, &[0; 8]);
        assert_eq!(transport.record_address(&exit, || 0).unwrap(), None);
    }

    #[test]
    fn pio_in_of_one_byte_takes_the_record_from_rdi() {
        let exit = Exit::PioIn {
            port: ucall_abi::PIO_PORT,
            size: 1,
        };
        assert_eq!(
            Transport::pio().record_address(&exit, || RECORD).unwrap(),
            Some(RECORD)
        );
    }

    #[test]
    fn pio_out_on_the_ucall_port_is_a_bad_access() {
        let exit = Exit::PioOut {
            port: ucall_abi::PIO_PORT,
            size: 1,
        };
        let err = Transport::pio().record_address(&exit, || 0).unwrap_err();
        assert!(matches!(
            err,
            Error::BadPioAccess {
                port: 0x1000,
                size: 1,
                is_in: false
            }
        ));
    }

    fn sbi_call(function: u64) -> Exit {
        Exit::Sbi {
            extension: ucall_abi::SBI_EXTENSION,
            function,
            args: [RECORD, 0, 0, 0, 0, 0],
        }
    }

    #[test]
    fn sbi_call_to_the_ucall_function_takes_the_record_from_a0() {
        let record = Transport::sbi().record_address(&sbi_call(0), || 0).unwrap();
        assert_eq!(record, Some(RECORD));
    }

    #[test]
    fn sbi_call_to_another_function_of_the_ucall_extension_is_a_bad_call() {
        let err = Transport::sbi()
            .record_address(&sbi_call(1), || 0)
            .unwrap_err();
        assert!(matches!(
            err,
            Error::BadSbiCall {
                extension: ucall_abi::SBI_EXTENSION,
                function: 1
            }
        ));
    }

    #[test]
    fn sbi_call_is_not_a_ucall_when_the_transport_is_mmio() {
        let transport = Transport::mmio(UCALL_GPA);
        assert_eq!(transport.record_address(&sbi_call(0), || 0).unwrap(), None);
    }

    #[test]
    fn pio_in_of_4_bytes_is_a_bad_access() {
        let exit = Exit::PioIn {
            port: ucall_abi::PIO_PORT,
            size: 4,
        };
        let err = Transport::pio().record_address(&exit, || 0).unwrap_err();
        assert!(matches!(
            err,
            Error::BadPioAccess {
                size: 4,
                is_in: true,
                ..
            }
        ));
    }
}
