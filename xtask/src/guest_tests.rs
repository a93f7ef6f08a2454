//! `examples/guest-tests`, the example test crate, on every machine ([`Work::GuestTests`]):
//! built by cargo for the machine's bare-metal target and run by `ucall-run` as a libtest
//! harness; its exact outcome line is asserted. Here through `cargo test --target <target>`
//! (the runner from the crate's `.cargo/config.toml`, on `PATH`); in the VMs as one command of
//! the suite's boot, `ucall-run ELF ARGS`, the libtest arguments passed through.
//!
//! [`Work::GuestTests`]: crate::machines::Work::GuestTests

use crate::arch::Arch;
use crate::shell::{Run, cargo, describe, say, workspace_root};
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// Its outcome with libtest's default flags: three tests fail on purpose, one is ignored.
const OUTCOME: &str =
    "test result: FAILED. 6 passed; 3 failed; 1 ignored; 0 measured; 0 filtered out";
/// Its outcome with `--include-ignored`, the arguments passed through in the VMs.
const OUTCOME_WITH_IGNORED: &str =
    "test result: FAILED. 7 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out";
/// Its outcome with `--exact tests::adds`.
const OUTCOME_EXACT: &str =
    "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out";
/// libtest's exit status when a test failed.
pub const FAILED_STATUS: i32 = 101;
/// The libtest arguments the VMs pass through `ucall-run`.
pub const VM_ARGS: [&str; 1] = ["--include-ignored"];

fn crate_dir() -> PathBuf {
    workspace_root().join("examples/guest-tests")
}

/// `cargo` in the example crate's folder, with its own config's flags (RUSTFLAGS from outside
/// would win over them).
fn cargo_in_crate() -> Command {
    let mut command = cargo();
    command
        .current_dir(crate_dir())
        .env("CARGO_TARGET_DIR", crate::guests::dev_target_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    command
}

/// libtest's summary line in `output` up to its time (`; finished in ...`).
fn outcome_line(output: &str) -> Option<&str> {
    output
        .lines()
        .filter_map(|line| line.trim_end().split("; finished in").next())
        .find(|line| line.starts_with("test result:"))
}

/// Checks that `what` exited with `code` and printed the outcome line `outcome`.
fn expect_outcome(
    what: &str,
    (status, output): (i32, &str),
    code: i32,
    outcome: &str,
) -> Result<()> {
    if status != code || outcome_line(output) != Some(outcome) {
        bail!(
            "{what} exited with {status} and printed\n{output}\ninstead of exiting with {code} \
             and printing `{outcome}; finished in ...`"
        );
    }
    Ok(())
}

/// Runs `command` and checks its exit status and outcome line.
fn run_expecting(mut command: Command, code: i32, outcome: &str) -> Result<()> {
    let what = describe(&command);
    say(&format!("$ {what}"));
    let output = command
        .output()
        .with_context(|| format!("cannot start {what}"))?;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let status = output.status.code().unwrap_or(-1);
    expect_outcome(&what, (status, &printed), code, outcome)
}

/// `cargo test --target <target>` in the example crate with `ucall-run` (debug build) on
/// `PATH`: once with the default flags, once with `-- --exact tests::adds`.
pub fn native(target: &str) -> Result<()> {
    let path = crate::qemu::static_build::path_with_runner()?;
    let cargo_test = |args: &[&str]| {
        let mut command = cargo_in_crate();
        command
            .args(["test", "--quiet", "--target", target])
            .args(args)
            .env("PATH", &path);
        command
    };
    run_expecting(cargo_test(&[]), FAILED_STATUS, OUTCOME)?;
    run_expecting(
        cargo_test(&["--", "--exact", "tests::adds"]),
        0,
        OUTCOME_EXACT,
    )
}

/// Builds the example crate's test program for `arch` (`cargo test --no-run`) and returns it.
pub fn build(arch: Arch) -> Result<PathBuf> {
    let target = arch.guest_target();
    let json = cargo_in_crate()
        .args(["test", "--no-run", "--quiet", "--message-format=json"])
        .args(["--target", target])
        .output_text()?;
    json.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .with_context(|| {
            format!("cargo built no test program of examples/guest-tests for {target}")
        })
}

/// Checks the run of [`VM_ARGS`] in a VM, from its exit status and console lines.
pub fn check_in_vm(machine: &str, (status, output): (i32, String)) -> Result<()> {
    expect_outcome(
        &format!("examples/guest-tests on {machine}"),
        (status, &output),
        FAILED_STATUS,
        OUTCOME_WITH_IGNORED,
    )
}

#[cfg(test)]
mod tests {
    use super::outcome_line;

    #[test]
    fn the_outcome_line_is_read_up_to_its_time() {
        let output = "running 1 test\ntest tests::adds ... ok\n\n\
                      test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out; \
                      finished in 0.01s\n";
        assert_eq!(
            outcome_line(output),
            Some("test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out")
        );
    }
}
