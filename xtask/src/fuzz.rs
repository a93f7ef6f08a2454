//! `cargo xtask fuzz`: runs every fuzz target of `fuzz/Cargo.toml` with cargo-fuzz (libFuzzer)
//! on the nightly toolchain, installing the toolchain and cargo-fuzz when they are missing, and
//! reports how many inputs each target ran.
//!
//! New inputs go to `target/fuzz-corpus/<target>/`; the seed corpus in `fuzz/seeds/` is read,
//! never written. A failing input is saved by cargo-fuzz under `fuzz/artifacts/<target>/`.

use crate::arch::Arch;
use crate::install;
use crate::shell::{Run, cargo, say, workspace_root};
use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The fuzz targets: the binaries of `fuzz/Cargo.toml`, as cargo reads them.
pub fn targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let text = cargo()
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(fuzz_dir.join("Cargo.toml"))
        .output_text()?;
    let metadata: Value = serde_json::from_str(&text).context("cargo metadata: bad JSON")?;
    let targets: Vec<String> = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|package| package["targets"].as_array().into_iter().flatten())
        .filter(|target| {
            target["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|kind| kind == "bin"))
        })
        .filter_map(|target| target["name"].as_str().map(str::to_string))
        .collect();
    if targets.is_empty() {
        bail!(
            "{} names no fuzz target",
            fuzz_dir.join("Cargo.toml").display()
        );
    }
    Ok(targets)
}

/// The seed corpus of `target`: `fuzz/seeds/<target>`, else that of the target it is the
/// architecture's variant of (`decode_aarch64` starts from `decode`'s seeds: their x86_64 table
/// entries, 0b11, are aarch64 table and page descriptors too).
pub fn seeds(fuzz_dir: &Path, target: &str) -> Result<PathBuf> {
    let seeds = fuzz_dir.join("seeds");
    let generic = crate::machines::arches()
        .into_iter()
        .find_map(|arch: Arch| target.strip_suffix(&format!("_{}", arch.name())));
    [Some(target), generic]
        .into_iter()
        .flatten()
        .map(|name| seeds.join(name))
        .find(|folder| folder.is_dir())
        .ok_or_else(|| anyhow!("fuzz target {target} has no seeds in {}", seeds.display()))
}

/// Fuzzes each target for `seconds` and prints the executions per target and in total.
pub fn run(seconds: u64) -> Result<()> {
    install::ensure_cargo_fuzz()?;
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    let targets = targets(&fuzz_dir)?;
    let mut total = 0u64;
    for target in &targets {
        let seeds = seeds(&fuzz_dir, target)?;
        let corpus = root.join("target/fuzz-corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("cannot create {}", corpus.display()))?;
        eprintln!("==> fuzzing {target} for {seconds} s");
        // No sanitizer: the code under test is safe Rust, and without ASan it runs ten times
        // as many inputs in the same time.
        let output = nightly_cargo()
            .current_dir(&fuzz_dir)
            .args(["fuzz", "run", "--sanitizer", "none", target])
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={seconds}"))
            .arg("-print_final_stats=1")
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .output()
            .context("cannot start cargo fuzz")?;
        let log = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            eprint!("{}", crate::shell::tail(&log, 40));
            bail!("fuzz target {target} failed ({})", output.status);
        }
        let runs = stat(&log, "stat::number_of_executed_units")
            .ok_or_else(|| anyhow!("fuzz target {target}: libFuzzer reported no run count"))?;
        let done = log.lines().rev().find(|line| line.contains("DONE"));
        say(&format!(
            "{target}: {runs} executions; {}",
            done.unwrap_or("").trim()
        ));
        total += runs;
    }
    eprintln!(
        "==> {total} executions in total, {} targets: {}",
        targets.len(),
        targets.join(", ")
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fuzz_dir() -> PathBuf {
        workspace_root().join("fuzz")
    }

    #[test]
    fn every_file_in_fuzz_targets_is_a_fuzz_target_with_seeds() {
        let targets = targets(&fuzz_dir()).unwrap();
        let mut files: Vec<String> = std::fs::read_dir(fuzz_dir().join("fuzz_targets"))
            .unwrap()
            .flatten()
            .filter_map(|entry| Some(entry.path().file_stem()?.to_str()?.to_string()))
            .collect();
        files.sort();
        let mut sorted = targets.clone();
        sorted.sort();
        assert_eq!(sorted, files);
        for target in &targets {
            assert!(seeds(&fuzz_dir(), target).is_ok(), "{target}");
        }
    }

    #[test]
    fn an_architectures_variant_of_a_target_starts_from_the_generic_targets_seeds() {
        assert_eq!(
            seeds(&fuzz_dir(), "decode_aarch64").unwrap(),
            fuzz_dir().join("seeds/decode")
        );
        assert_eq!(
            seeds(&fuzz_dir(), "walk_riscv64").unwrap(),
            fuzz_dir().join("seeds/walk_riscv64")
        );
    }
}
