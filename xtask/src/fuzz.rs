//! `cargo xtask fuzz`: runs every fuzz target in `fuzz/` with cargo-fuzz (libFuzzer) on the
//! nightly toolchain, installing the toolchain and cargo-fuzz when they are missing, and reports
//! how many inputs each target ran.
//!
//! New inputs go to `target/fuzz-corpus/<target>/`; the seed corpus in `fuzz/seeds/` is read,
//! never written. A failing input is saved by cargo-fuzz under `fuzz/artifacts/<target>/`.

use crate::shell::{Run, cargo, workspace_root};
use std::process::{Command, Stdio};

/// The fuzz targets (binaries of `fuzz/Cargo.toml`) and the seed corpus each starts from. The
/// decoder's seeds serve both formats: their x86_64 table entries (0b11) are aarch64 table and
/// page descriptors too.
const TARGETS: [(&str, &str); 5] = [
    ("walk", "walk"),
    ("decode", "decode"),
    ("walk_aarch64", "walk_aarch64"),
    ("decode_aarch64", "decode"),
    ("load_elf", "load_elf"),
];

/// Fuzzes each target for `seconds` and prints the executions per target and in total.
pub fn run(seconds: u64) -> Result<(), String> {
    ensure_nightly()?;
    ensure_cargo_fuzz()?;
    let root = workspace_root();
    let mut total = 0u64;
    for (target, seeds) in TARGETS {
        let corpus = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .map_err(|e| format!("cannot create {}: {e}", corpus.display()))?;
        eprintln!("==> fuzzing {target} for {seconds} s");
        // No sanitizer: the code under test is safe Rust, and without ASan it runs ten times
        // as many inputs in the same time.
        let output = nightly_cargo()
            .current_dir(root.join("fuzz"))
            .args(["fuzz", "run", "--sanitizer", "none", target])
            .arg(&corpus)
            .arg(root.join("fuzz/seeds").join(seeds))
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot start cargo fuzz: {e}"))?;
        let log = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
            return Err(format!("fuzz target {target} failed ({})", output.status));
        }
        let runs = stat(&log, "stat::number_of_executed_units")
            .ok_or_else(|| format!("fuzz target {target}: libFuzzer reported no run count"))?;
        let done = log.lines().rev().find(|line| line.contains("DONE"));
        eprintln!(
            "    {target}: {runs} executions; {}",
            done.unwrap_or("").trim()
        );
        total += runs;
    }
    eprintln!("==> {total} executions in total");
    Ok(())
}

/// A number from libFuzzer's final statistics (`-print_final_stats=1`).
fn stat(log: &str, name: &str) -> Option<u64> {
    log.lines().find_map(|line| {
        line.strip_prefix(name)?
            .trim_start_matches(':')
            .trim()
            .parse()
            .ok()
    })
}

/// `cargo` of the nightly toolchain, whatever toolchain runs xtask.
fn nightly_cargo() -> Command {
    let mut command = Command::new("rustup");
    command
        .args(["run", "nightly", "cargo"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    command
}

fn ensure_nightly() -> Result<(), String> {
    let toolchains = Command::new("rustup")
        .args(["toolchain", "list"])
        .output_text()?;
    if toolchains.lines().any(|line| line.starts_with("nightly")) {
        return Ok(());
    }
    eprintln!("    installing the nightly toolchain (cargo-fuzz needs it)");
    Command::new("rustup")
        .args(["toolchain", "install", "nightly", "--profile", "minimal"])
        .run()
}

fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = nightly_cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if installed {
        return Ok(());
    }
    eprintln!("    installing cargo-fuzz from crates.io");
    cargo().args(["install", "--locked", "cargo-fuzz"]).run()
}
