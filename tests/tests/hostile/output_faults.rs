//! Careless or hostile surroundings of the runner: its output goes nowhere. A failed write never
//! panics (exit status 101, "panicked" on stderr): a reader that went away ends the run quietly
//! with exit status 2 (the guests' outcome was not decided yet), a full disk is reported once.

use std::io::Read;
use std::process::Stdio;
use ucall_tests::{guest_dir, ucall_run};

/// 4 vCPUs of 1000 SYNCs: about 264 KB of JSON, far more than a pipe buffers.
const ARGS: [&str; 3] = ["--json", "--vcpus", "4"];
/// One vCPU of 1000 SYNCs: a full disk refuses each of its lines (and the emulated CPUs of the
/// QEMU machines run a quarter of the ucalls).
const ONE_VCPU: [&str; 2] = ["--vcpus", "1"];

#[test]
fn json_to_a_full_disk_is_reported_once_and_exits_2_without_a_panic() {
    let output = ucall_run()
        .arg("--json")
        .args(ONE_VCPU)
        .arg(guest_dir().join("many_ucalls"))
        .stdout(std::fs::File::create("/dev/full").expect("/dev/full"))
        .output()
        .expect("ucall-run starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr,
        "ucall-run: cannot write to stdout: No space left on device (os error 28); the run goes on\n"
    );
}

#[test]
fn json_into_a_reader_that_stops_after_100_bytes_ends_quietly_with_exit_2() {
    // As `ucall-run --json guest | head -c 100`.
    let mut child = ucall_run()
        .args(ARGS)
        .arg(guest_dir().join("many_ucalls"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ucall-run starts");
    let mut first = [0; 100];
    let mut stdout = child.stdout.take().expect("piped stdout");
    stdout.read_exact(&mut first).expect("100 bytes");
    drop(stdout);
    let output = child.wait_with_output().expect("ucall-run ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(first[0], b'{', "JSON lines: {first:?}");
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn human_output_to_a_full_disk_is_reported_once_and_exits_2_without_a_panic() {
    let output = ucall_run()
        .args(ONE_VCPU)
        .arg(guest_dir().join("many_ucalls"))
        .stdout(std::fs::File::create("/dev/full").expect("/dev/full"))
        .output()
        .expect("ucall-run starts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[0].starts_with("running "), "{stderr}");
    assert_eq!(
        lines[1],
        "ucall-run: cannot write to stdout: No space left on device (os error 28); the run goes on"
    );
}

#[test]
fn stderr_to_a_full_disk_is_reported_once_on_stdout_without_a_panic() {
    let output = ucall_run()
        .arg(guest_dir().join("faults"))
        .stderr(std::fs::File::create("/dev/full").expect("/dev/full"))
        .output()
        .expect("ucall-run starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(2), "{stdout}");
    let reports: Vec<&str> = stdout
        .lines()
        .filter(|line| line.starts_with("ucall-run: cannot write to stderr"))
        .collect();
    assert_eq!(
        reports,
        [
            "ucall-run: cannot write to stderr: No space left on device (os error 28); the run goes on"
        ]
    );
}
