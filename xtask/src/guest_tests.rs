//! `examples/guest-tests`, the example test crate, on every machine: built by cargo for each
//! bare-metal target and run by `ucall-run` as a libtest harness; its exact outcome line is
//! asserted. Natively through `cargo test --target x86_64-unknown-none` (the runner from its
//! `.cargo/config.toml`, on `PATH`); for aarch64 and riscv64 through
//! `cargo xtask run --arch A ELF -- ARGS` (this program's own `run`), in their QEMU machines.

use crate::arch::Arch;
use crate::install;
use crate::shell::{Run, cargo, describe, workspace_root};
use std::path::PathBuf;
use std::process::Command;

/// Its outcome with libtest's default flags: three tests fail on purpose, one is ignored.
const OUTCOME: &str =
    "test result: FAILED. 6 passed; 3 failed; 1 ignored; 0 measured; 0 filtered out";
/// Its outcome with `--include-ignored`, the arguments passed through in the QEMU machines.
const OUTCOME_WITH_IGNORED: &str =
    "test result: FAILED. 7 passed; 3 failed; 0 ignored; 0 measured; 0 filtered out";
/// Its outcome with `--exact tests::adds`.
const OUTCOME_EXACT: &str =
    "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 9 filtered out";

fn crate_dir() -> PathBuf {
    workspace_root().join("examples/guest-tests")
}

fn target_dir() -> PathBuf {
    workspace_root().join("target/guests/guest-tests")
}

/// `cargo` in the example crate's folder, with its own config's flags (RUSTFLAGS from outside
/// would win over them).
fn cargo_in_crate() -> Command {
    let mut command = cargo();
    command
        .current_dir(crate_dir())
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    command
}

/// Runs `command` and checks its exit status and that it printed the outcome line `outcome`
/// (libtest's summary up to its time).
fn expect_outcome(mut command: Command, code: i32, outcome: &str) -> Result<(), String> {
    eprintln!("    $ {}", describe(&command));
    let output = command
        .output()
        .map_err(|e| format!("cannot start {}: {e}", describe(&command)))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary = stdout
        .lines()
        .filter_map(|line| line.trim_end().split("; finished in").next())
        .find(|line| line.starts_with("test result:"));
    if output.status.code() != Some(code) || summary != Some(outcome) {
        return Err(format!(
            "{} exited with {:?} and printed\n{stdout}{}\ninstead of exiting with {code} and \
             printing `{outcome}; finished in ...`",
            describe(&command),
            output.status.code(),
            String::from_utf8_lossy(&output.stderr),
        ));
    }
    Ok(())
}

/// `cargo test --target <target>` in the example crate with `ucall-run` (debug build) on
/// `PATH`: once with the default flags, once with `-- --exact tests::adds`.
pub fn native(target: &str) -> Result<(), String> {
    cargo()
        .args(["build", "--quiet"])
        .args(crate::shell::RUNNER_BIN)
        .run()?;
    let bin_dir = workspace_root().join("target/debug");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(&path)))
        .map_err(|e| format!("cannot put target/debug on PATH: {e}"))?;
    let cargo_test = |args: &[&str]| {
        let mut command = cargo_in_crate();
        command
            .args(["test", "--quiet", "--target", target])
            .args(args)
            .env("PATH", &path);
        command
    };
    // libtest's exit status for failed tests.
    expect_outcome(cargo_test(&[]), 101, OUTCOME)?;
    expect_outcome(
        cargo_test(&["--", "--exact", "tests::adds"]),
        0,
        OUTCOME_EXACT,
    )
}

/// Builds the example crate's test program for `arch` (`cargo test --no-run`), then runs it
/// with `cargo xtask run --arch <arch> ELF -- --include-ignored` in the architecture's QEMU
/// machine.
pub fn in_qemu(arch: Arch) -> Result<(), String> {
    let target = arch.guest_target();
    install::ensure_targets(&[target])?;
    let json = cargo_in_crate()
        .args(["test", "--no-run", "--quiet", "--message-format=json"])
        .args(["--target", target])
        .output_text()?;
    let elf = json
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| {
            format!("cargo built no test program of examples/guest-tests for {target}")
        })?;
    let xtask = std::env::current_exe().map_err(|e| format!("where is xtask? {e}"))?;
    let mut run = Command::new(xtask);
    run.args(["run", "--arch", arch.name()])
        .arg(&elf)
        .args(["--", "--include-ignored"]);
    expect_outcome(run, 101, OUTCOME_WITH_IGNORED)
}
