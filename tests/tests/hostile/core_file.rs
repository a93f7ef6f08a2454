//! Careless or hostile `--core` paths: the runner refuses, before the guest runs, a core that
//! would block (a FIFO waits for a reader) or replace the guest ELF, and writes a core of a big
//! guest as holes where guest memory is zeros.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use ucall_tests::{guest_dir, ucall_run};

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ucall-hostile-core-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Runs `ucall-run` with `args` and `--core core` on the guest `elf`, asserts that it exits 2
/// (refused, or the guest failed) and returns its output and stderr.
fn run_failing(args: &[&str], core: &Path, elf: &Path) -> (Output, String) {
    let output = ucall_run()
        .args(args)
        .arg("--core")
        .arg(core)
        .arg(elf)
        .output()
        .expect("ucall-run starts");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    (output, stderr)
}

#[test]
fn core_onto_a_fifo_is_refused_before_the_guest_runs() {
    let fifo = scratch("fifo").join("core");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates it.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    // Without the check this would wait for a reader forever: nothing here reads the FIFO.
    let (output, stderr) = run_failing(&[], &fifo, &guest_dir().join("faults"));
    assert_eq!(
        stderr.trim_end(),
        format!("ucall-run: --core {}: not a regular file", fifo.display())
    );
    assert!(output.stdout.is_empty(), "the guest did not run");
}

#[test]
fn core_onto_the_guest_elf_is_refused_and_the_elf_stays() {
    let elf = scratch("elf").join("faults");
    std::fs::copy(guest_dir().join("faults"), &elf).expect("a copy of the guest");
    let before = std::fs::read(&elf).unwrap();
    let (_, stderr) = run_failing(&[], &elf, &elf);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "ucall-run: --core {}: that is the guest ELF, which the core would replace",
            elf.display()
        )
    );
    assert_eq!(std::fs::read(&elf).unwrap(), before);
}

#[test]
fn core_of_a_256_mib_guest_takes_less_than_16_mib_on_disk_and_is_alone_in_its_folder() {
    let dir = scratch("sparse");
    let core = dir.join("guest.core");
    // The `faults` guest ends UNHANDLED, hence exit 2 after the core is written.
    run_failing(&["--memory-mib", "256"], &core, &guest_dir().join("faults"));
    let meta = std::fs::metadata(&core).expect("the core");
    assert!(meta.len() > 256 << 20, "{} bytes", meta.len());
    assert!(meta.blocks() * 512 < 16 << 20, "{} blocks", meta.blocks());
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
