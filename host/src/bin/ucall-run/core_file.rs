//! `--core FILE`: where a core may go, and writing it so that it is whole or not there at all.
//!
//! The path is checked before the guest runs, without opening it (a `stat`, which never blocks,
//! where opening a FIFO for writing waits for a reader): it must be a regular file or a new
//! name in an existing folder, and not the guest ELF (the same file by device and inode, so a
//! link or another spelling is caught too). The core is written to a new temporary file in the
//! same folder and renamed over the path once complete, so a reader never sees half a core,
//! and a failed write removes it and leaves the path as it was.

use std::fs::{File, OpenOptions};
use std::io::BufWriter;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why `path` cannot take the core; the message names it.
pub fn check(path: &Path, guest: &Path) -> Result<(), String> {
    let shown = path.display();
    match std::fs::metadata(path) {
        Ok(meta) if !meta.file_type().is_file() => {
            Err(format!("--core {shown}: not a regular file"))
        }
        Ok(meta) => match std::fs::metadata(guest) {
            Ok(elf) if (elf.dev(), elf.ino()) == (meta.dev(), meta.ino()) => Err(format!(
                "--core {shown}: that is the guest ELF, which the core would replace"
            )),
            _ => Ok(()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let folder = folder_of(path);
            match std::fs::metadata(&folder) {
                Ok(meta) if meta.is_dir() => Ok(()),
                _ => Err(format!(
                    "--core {shown}: {} is not a folder",
                    folder.display()
                )),
            }
        }
        Err(e) => Err(format!("--core {shown}: {e}")),
    }
}

/// The folder `path` is in (`.` for a bare name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `path` through `write`, to a temporary file renamed over it when complete; on any
/// error nothing is left behind and `path` is untouched.
pub fn write_whole(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), String>,
) -> Result<(), String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} names no file", path.display()))?;
    let mut temporary = name.to_os_string();
    temporary.push(format!(".{}.partial", std::process::id()));
    let temporary = folder_of(path).join(temporary);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .map_err(|e| format!("cannot create {}: {e}", temporary.display()))?;
    let written = (|| {
        let mut out = BufWriter::new(file);
        write(&mut out)?;
        let file = out.into_inner().map_err(|e| e.error().to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&temporary, path).map_err(|e| e.to_string())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ucall-run-core-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind_and_the_old_file_as_it_was() {
        let dir = scratch("fails");
        let path = dir.join("guest.core");
        std::fs::write(&path, b"old").unwrap();
        let result = write_whole(&path, |out| {
            out.write_all(b"half a core").unwrap();
            Err("No space left on device".into())
        });
        assert_eq!(result, Err("No space left on device".into()));
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn a_whole_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = scratch("whole");
        let path = dir.join("guest.core");
        std::fs::write(&path, b"old").unwrap();
        write_whole(&path, |out| {
            out.write_all(b"core").map_err(|e| e.to_string())
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"core");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = scratch("dir");
        let err = check(&dir, Path::new("/nonexistent")).unwrap_err();
        assert_eq!(err, format!("--core {}: not a regular file", dir.display()));
    }

    #[test]
    fn a_new_name_in_a_missing_folder_is_refused() {
        let err = check(Path::new("/nonexistent/guest.core"), Path::new("/x")).unwrap_err();
        assert_eq!(
            err,
            "--core /nonexistent/guest.core: /nonexistent is not a folder"
        );
    }
}
