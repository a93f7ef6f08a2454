//! Reading the guest ELF: only a regular file, and only up to a bound, so that a FIFO, a
//! device such as `/dev/zero` or a huge file cannot block the runner or exhaust its memory.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest guest ELF the runner reads: far above any guest (debug info included), far
/// below what would strain the host.
pub const MAX_ELF_BYTES: u64 = 64 << 20;

/// Why the guest file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// It could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path given.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// It is not a regular file.
    #[error("{path} is a {kind}, not a regular file")]
    NotRegularFile {
        /// The path given.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// It is larger than the bound.
    #[error("{path} has {size} bytes, more than the {limit} bytes a guest ELF may have")]
    TooLarge {
        /// The path given.
        path: String,
        /// Its size (at least; a growing file is cut at the bound).
        size: u64,
        /// The bound.
        limit: u64,
    },
}

/// What a file that is not a regular file is.
fn kind(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "directory"
    } else if file_type.is_fifo() {
        "FIFO"
    } else if file_type.is_char_device() {
        "character device"
    } else if file_type.is_block_device() {
        "block device"
    } else if file_type.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// Reads the regular file at `path`, of at most `limit` bytes.
pub fn read_guest(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let name = || path.display().to_string();
    let io = |source| ReadError::Io {
        path: name(),
        source,
    };
    // Non-blocking, so that opening a FIFO with no writer returns at once; the type is then
    // checked on the open file, not on the path, which could change in between.
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    if !metadata.is_file() {
        return Err(ReadError::NotRegularFile {
            path: name(),
            kind: kind(metadata.file_type()),
        });
    }
    let too_large = |size| ReadError::TooLarge {
        path: name(),
        size,
        limit,
    };
    if metadata.len() > limit {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ucall-run-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        path
    }

    #[test]
    fn regular_file_within_the_bound_is_read() {
        let path = scratch("small");
        std::fs::write(&path, b"\x7fELF").unwrap();
        assert_eq!(read_guest(&path, 16).unwrap(), b"\x7fELF");
    }

    #[test]
    fn fifo_is_refused_without_blocking() {
        let path = scratch("fifo");
        let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates the file.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let err = read_guest(&path, MAX_ELF_BYTES).unwrap_err();
        assert!(
            matches!(err, ReadError::NotRegularFile { kind: "FIFO", .. }),
            "{err}"
        );
    }

    #[test]
    fn dev_zero_is_refused_as_a_device() {
        let err = read_guest(Path::new("/dev/zero"), MAX_ELF_BYTES).unwrap_err();
        assert!(
            matches!(&err, ReadError::NotRegularFile { path, kind: "character device" } if path == "/dev/zero"),
            "{err}"
        );
    }

    #[test]
    fn directory_is_refused() {
        let err = read_guest(Path::new("/"), MAX_ELF_BYTES).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::NotRegularFile {
                    kind: "directory",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn file_beyond_the_bound_is_refused_before_it_is_read() {
        let path = scratch("huge");
        // Sparse: a terabyte that takes no disk.
        File::create(&path).unwrap().set_len(1 << 40).unwrap();
        let err = read_guest(&path, MAX_ELF_BYTES).unwrap_err();
        assert!(
            matches!(
                err,
                ReadError::TooLarge {
                    size: 0x100_0000_0000,
                    limit: MAX_ELF_BYTES,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn missing_file_is_an_io_error_naming_it() {
        let err = read_guest(Path::new("/nonexistent/guest.elf"), 16).unwrap_err();
        assert!(matches!(&err, ReadError::Io { path, .. } if path == "/nonexistent/guest.elf"));
    }
}
