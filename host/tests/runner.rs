//! `ucall-run` as a user runs it, as a process: default flags, what it prints, its exit status.
//! Needs the guests (`cargo xtask build-guests`) and the `runner` feature.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The built guest `name`: `$UCALL_GUEST_DIR`, else `target/guests/<arch>/`.
fn guest(name: &str) -> PathBuf {
    std::env::var_os("UCALL_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../target/guests")
                .join(std::env::consts::ARCH)
        })
        .join(name)
}

/// Runs `ucall-run` with `args`, colors off.
fn ucall_run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ucall-run"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("ucall-run starts")
}

fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_guest_printf_cannot_forge_a_line_of_the_runner() {
    let path = guest("printf_forges");
    let output = ucall_run(&[path.as_os_str()]);
    let lines = stdout_lines(&output);
    assert_eq!(output.status.code(), Some(0), "{lines:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[0],
        "vcpu 0: PRINTF innocent\\nDONE: 7 ucalls from 1 vCPU(s) in 1.0ms\\r\\e[2K"
    );
    assert_eq!(lines[1], "vcpu 0: DONE");
    assert!(
        lines[2].starts_with("DONE: 2 ucalls from 1 vCPU(s) in "),
        "{lines:?}"
    );
}

#[test]
fn a_c_guest_in_the_seeds_conventions_at_gccs_address_runs_with_default_flags() {
    let path = guest("seed_guest_default_link");
    let output = ucall_run(&[path.as_os_str()]);
    let lines = stdout_lines(&output);
    // SYNC, SYNC, then the guest's own failed CHECK: an ABORT, exit status 1.
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(lines[0].starts_with("vcpu 0: SYNC ["), "{lines:?}");
    assert_eq!(
        lines[2],
        "vcpu 0: ABORT line 52: Failed guest assert: answer == 42"
    );
    assert!(
        lines[3].starts_with("ABORT: 3 ucalls from 1 vCPU(s) in "),
        "{lines:?}"
    );
}

#[test]
fn a_fifo_as_the_guest_is_refused_at_once() {
    let dir = std::env::temp_dir().join(format!("ucall-run-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("guest.elf");
    let _ = std::fs::remove_file(&fifo);
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let output = ucall_run(&[fifo.as_os_str()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr.trim_end(),
        format!(
            "ucall-run: {} is a FIFO, not a regular file",
            fifo.display()
        )
    );
}

#[test]
fn a_memory_size_that_overflows_is_refused_naming_it() {
    let path = guest("printf_forges");
    let output = ucall_run(&[
        "--memory-mib".as_ref(),
        "17592186044416".as_ref(),
        path.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr.trim_end(),
        "ucall-run: --memory-mib 17592186044416: 17592186044416 MiB is more bytes than 64 bits count"
    );
}

#[test]
fn a_c_guest_of_todays_selftests_runs_with_default_flags_in_their_convention() {
    let path = guest("selftests_guest_default_link");
    let output = ucall_run(&[path.as_os_str()]);
    let lines = stdout_lines(&output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // GUEST_SYNC(1), GUEST_PRINTF, then a failed GUEST_ASSERT_EQ: an ABORT, exit status 1.
    assert_eq!(output.status.code(), Some(1), "{lines:?} {stderr}");
    assert!(stderr.contains("ucalls (selftests convention)"), "{stderr}");
    assert_eq!(lines.len(), 4, "{lines:?}");
    assert!(
        lines[0].starts_with("vcpu 0: SYNC [") && lines[0].ends_with(", 1, 0, 0, 0, 0]"),
        "{lines:?}"
    );
    assert_eq!(
        lines[1..3],
        [
            "vcpu 0: PRINTF hello from the pool\\nstage 2 of 3\\n",
            "vcpu 0: ABORT selftests_guest.c:13: 0x29 != 0x2a (answer != 42)",
        ]
    );
    assert!(
        lines[3].starts_with("ABORT: 3 ucalls from 1 vCPU(s) in "),
        "{lines:?}"
    );
}

#[test]
fn a_selftests_guest_that_prints_then_finishes_exits_0() {
    let path = guest("selftests_done_default_link");
    let output = ucall_run(&[path.as_os_str()]);
    let lines = stdout_lines(&output);
    assert_eq!(output.status.code(), Some(0), "{lines:?}");
    assert_eq!(
        lines[..2],
        ["vcpu 0: PRINTF printf, then done", "vcpu 0: DONE"]
    );
}

#[test]
fn a_selftests_guest_without_a_pool_exits_2_saying_so() {
    let path = guest("selftests_no_pool_default_link");
    let output = ucall_run(&["--json".as_ref(), path.as_os_str()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines = stdout_lines(&output);
    assert_eq!(output.status.code(), Some(2), "{lines:?}");
    assert!(
        stderr.contains("the guest found no ucall pool or no free record in it"),
        "{stderr}"
    );
    assert!(
        lines[0]
            .starts_with(r#"{"abi":"seed","errors":[{"message":"the guest found no ucall pool"#),
        "{lines:?}"
    );
}
