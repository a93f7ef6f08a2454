//! `ucall-run` as a user runs it, as a process, on built guests: what it prints and its exit
//! status. (Its refusals of bad input are the host crate's own tests, `host/tests/runner.rs`.)
//! Natively only: the QEMU machines have no cargo to build the runner with.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use ucall_tests::guest_dir;
/// The runner: `$UCALL_RUN` if set, else built here once with cargo (`-p ucall-host --features
/// runner`), as `cargo xtask run` builds it. A test crate cannot name another package's binary
/// (`CARGO_BIN_EXE_*` is for the package's own), and these tests need the built guests, which
/// the host crate's own tests must not (they run from its package too).
pub fn ucall_run_path() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os("UCALL_RUN") {
            return PathBuf::from(path);
        }
        let cargo = option_env!("CARGO").unwrap_or("cargo");
        let output = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "-p",
                "ucall-host",
                "--features",
                "runner",
            ])
            .args(["--bin", "ucall-run", "--message-format", "json"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo starts");
        assert!(
            output.status.success(),
            "cannot build ucall-run:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find_map(|message| Some(PathBuf::from(message["executable"].as_str()?)))
            .expect("cargo names the ucall-run executable")
    })
    .clone()
}

/// Runs `ucall-run` with `args`, colors off.
pub fn ucall_run<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(ucall_run_path())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .output()
        .expect("ucall-run starts")
}

/// The lines the runner printed on stdout.
pub fn stdout_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_guest_printf_cannot_forge_a_line_of_the_runner() {
    let output = ucall_run(&[guest_dir().join("printf_forges")]);
    let lines = stdout_lines(&output);
    assert_eq!(output.status.code(), Some(0), "{lines:?}");
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(
        lines[0],
        "vcpu 0: PRINTF innocent\\nDONE: 7 ucalls from 1 vCPU(s) in 1.0ms\\r\\e[2K"
    );
    assert_eq!(lines[1], "vcpu 0: DONE");
    assert!(
        lines[2].starts_with("DONE: 2 ucalls from 1 vCPU in "),
        "{lines:?}"
    );
}

#[test]
fn a_c_guest_in_the_seeds_conventions_at_gccs_address_runs_with_default_flags() {
    let output = ucall_run(&[guest_dir().join("seed_guest_default_link")]);
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
        lines[3].starts_with("ABORT: 3 ucalls from 1 vCPU in "),
        "{lines:?}"
    );
}

#[test]
fn one_ucall_is_counted_in_the_singular() {
    let output = ucall_run(&[guest_dir().join("assert_fails")]);
    let lines = stdout_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert!(
        lines[1].starts_with("ABORT: 1 ucall from 1 vCPU in "),
        "{lines:?}"
    );
}

#[test]
fn two_vcpus_are_counted_in_the_plural() {
    let output = ucall_run(&[
        "--vcpus".as_ref(),
        "2".as_ref(),
        guest_dir().join("demo").as_os_str(),
    ]);
    let lines = stdout_lines(&output);
    assert_eq!(output.status.code(), Some(0), "{lines:?}");
    let summary = lines.last().expect("a summary");
    assert!(
        summary.starts_with("DONE: 14 ucalls from 2 vCPUs in "),
        "{lines:?}"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("under KVM: 2 vCPUs, "), "{stderr}");
}

/// The README shows the README guest's output as the runner printed it: its ucall lines are
/// those of a real run (the timing of the summary aside).
#[test]
fn the_readmes_output_of_the_readme_guest_is_what_the_runner_prints() {
    const README: &str = include_str!("../../README.md");
    let shown: Vec<&str> = README
        .split("$ cargo xtask run target/guests/x86_64/readme\n")
        .nth(1)
        .expect("the README runs the readme guest")
        .lines()
        .take_while(|line| !line.starts_with("```"))
        .filter(|line| line.starts_with("vcpu "))
        .collect();
    let output = ucall_run(&[guest_dir().join("readme")]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(stdout_lines(&output)[..shown.len()], shown);
    assert_eq!(shown.len(), 3, "{shown:?}");
}

#[test]
fn a_c_guest_of_todays_selftests_runs_with_default_flags_in_their_convention() {
    let output = ucall_run(&[guest_dir().join("selftests_guest_default_link")]);
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
        lines[3].starts_with("ABORT: 3 ucalls from 1 vCPU in "),
        "{lines:?}"
    );
}

#[test]
fn a_selftests_guest_that_prints_then_finishes_exits_0() {
    let output = ucall_run(&[guest_dir().join("selftests_done_default_link")]);
    let lines = stdout_lines(&output);
    assert_eq!(output.status.code(), Some(0), "{lines:?}");
    assert_eq!(
        lines[..2],
        ["vcpu 0: PRINTF printf, then done", "vcpu 0: DONE"]
    );
}

#[test]
fn a_selftests_guest_without_a_pool_exits_2_saying_so() {
    let path = guest_dir().join("selftests_no_pool_default_link");
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
