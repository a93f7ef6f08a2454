//! Careless or hostile `--core` paths: the runner refuses, before the guest runs, a core that
//! would block (a FIFO waits for a reader) or replace the guest ELF, and writes a core of a big
//! guest as holes where guest memory is zeros.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use ucall_tests::{guest_dir, ucall_run};

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ucall-hostile-core-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

#[test]
fn core_onto_a_fifo_is_refused_before_the_guest_runs() {
    let fifo = scratch("fifo").join("core");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates it.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    // Without the check this would wait for a reader forever: nothing here reads the FIFO.
    let output = ucall_run()
        .arg("--core")
        .arg(&fifo)
        .arg(guest_dir().join("faults"))
        .output()
        .expect("ucall-run starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
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
    let output = ucall_run()
        .arg("--core")
        .arg(&elf)
        .arg(&elf)
        .output()
        .expect("ucall-run starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
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
fn core_of_a_1_gib_guest_takes_less_than_64_mib_on_disk_and_is_alone_in_its_folder() {
    let dir = scratch("sparse");
    let core = dir.join("guest.core");
    let output = ucall_run()
        .args(["--memory-mib", "1024", "--core"])
        .arg(&core)
        .arg(guest_dir().join("faults"))
        .output()
        .expect("ucall-run starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "UNHANDLED: {stderr}");
    let meta = std::fs::metadata(&core).expect("the core");
    assert!(meta.len() > 1 << 30, "{} bytes", meta.len());
    assert!(meta.blocks() * 512 < 64 << 20, "{} blocks", meta.blocks());
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
