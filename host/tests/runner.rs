//! `ucall-run` as a user runs it, as a process, on input that is refused before a guest runs:
//! the words of its errors and of `--version`. Everything here is made by the tests themselves,
//! so they run from the packaged crate too; the runner on real guests is tested in the
//! workspace's tests crate (`tests/tests/runner_guests.rs`).

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `ucall-run` with `args`, colors off.
fn ucall_run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ucall-run"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("ucall-run starts")
}

/// What the runner said on stderr, without the final newline.
fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .trim_end()
        .to_owned()
}

/// A file of this test's own holding `bytes`.
fn file_with(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ucall-run-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("a temporary file");
    path
}

/// The start of a real ELF: the runner's own executable.
fn elf_prefix(len: usize) -> Vec<u8> {
    let mut bytes = std::fs::read(env!("CARGO_BIN_EXE_ucall-run")).expect("the runner's binary");
    bytes.truncate(len);
    bytes
}

#[test]
fn a_text_file_as_the_guest_is_not_an_elf_file() {
    let path = file_with("notes.txt", b"hello, I am text\n");
    let output = ucall_run(&[&path]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "ucall-run: cannot start the guest: guest ELF: not an ELF file (17 bytes, not starting with \\x7fELF)"
    );
}

#[test]
fn an_empty_file_as_the_guest_is_not_an_elf_file() {
    let path = file_with("empty", b"");
    let output = ucall_run(&[&path]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "ucall-run: cannot start the guest: guest ELF: not an ELF file (0 bytes, not starting with \\x7fELF)"
    );
}

#[test]
fn a_truncated_elf_as_the_guest_is_not_an_elf_file() {
    // The whole ELF header and none of the program headers.
    let path = file_with("truncated.elf", &elf_prefix(100));
    let output = ucall_run(&[&path]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr(&output);
    assert!(
        stderr.starts_with(
            "ucall-run: cannot start the guest: guest ELF: not an ELF file (truncated or malformed: "
        ),
        "{stderr}"
    );
}

#[test]
fn a_fifo_as_the_guest_is_refused_at_once() {
    let fifo = file_with("guest.elf", b"");
    std::fs::remove_file(&fifo).unwrap();
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let output = ucall_run(&[&fifo]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        format!(
            "ucall-run: {} is a FIFO, not a regular file",
            fifo.display()
        )
    );
}

#[test]
fn zero_vcpus_is_refused_naming_the_option() {
    let output = ucall_run(&["--vcpus", "0", "guest.elf"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(stderr(&output), "ucall-run: --vcpus must be at least 1");
}

#[test]
fn an_odd_memory_size_is_refused_naming_the_option_and_its_rule() {
    let output = ucall_run(&["--memory-mib", "3", "guest.elf"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "ucall-run: --memory-mib must be a positive multiple of 2"
    );
}

#[test]
fn a_memory_size_that_overflows_is_refused_naming_it() {
    let output = ucall_run(&["--memory-mib", "17592186044416", "guest.elf"]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "ucall-run: --memory-mib 17592186044416: 17592186044416 MiB is more bytes than 64 bits count"
    );
}

#[cfg(target_arch = "x86_64")]
#[test]
fn sbi_calls_on_x86_64_are_refused_naming_them_as_people_write_them() {
    let path = file_with("any.elf", &elf_prefix(100));
    let output = ucall_run(&["--transport".as_ref(), "sbi".as_ref(), path.as_os_str()]);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "ucall-run: cannot start the guest: SBI ucalls are not available on x86_64"
    );
}

#[test]
fn version_names_the_runner_and_its_version() {
    let output = ucall_run(&["--version"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!("ucall-run {}\n", env!("CARGO_PKG_VERSION"))
    );
}
