//! The checks that run on other toolchains than the one building xtask: the library crates on
//! their minimum supported Rust version, and their docs as docs.rs builds them (nightly, with
//! each crate's `[package.metadata.docs.rs]`). Each toolchain and target is installed when
//! missing.

use crate::ecosystem::LIBRARY_CRATES;
use crate::install;
use crate::shell::{Run, cargo, say, workspace_root};
use anyhow::{Context, Result, anyhow};
use serde_json::Value;
use std::process::Command;

/// `cargo` of `toolchain` through rustup, in the workspace root, in a target folder of its own
/// (`target/<folder>`) so that it does not rebuild what the main toolchain built.
fn cargo_on(toolchain: &str, folder: &str) -> Command {
    let mut command = Command::new("rustup");
    command
        .args(["run", toolchain, "cargo"])
        .current_dir(workspace_root())
        .env(
            "CARGO_TARGET_DIR",
            workspace_root().join("target").join(folder),
        )
        // What the outer cargo set for xtask names the outer toolchain's programs.
        .env_remove("CARGO")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    command
}

/// The workspace's `rust-version`, from the metadata of `ucall-host`.
fn rust_version(packages: &[Value]) -> Result<String> {
    packages
        .iter()
        .find(|package| package["name"] == "ucall-host")
        .and_then(|package| package["rust_version"].as_str())
        .map(str::to_string)
        .ok_or_else(|| anyhow!("ucall-host has no rust-version in its manifest"))
}

/// The workspace's packages, as `cargo metadata` describes them.
fn packages() -> Result<Vec<Value>> {
    let text = cargo()
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output_text()?;
    let metadata: Value = serde_json::from_str(&text).context("cargo metadata: bad JSON")?;
    metadata["packages"]
        .as_array()
        .cloned()
        .ok_or_else(|| anyhow!("cargo metadata lists no packages"))
}

/// Installs the toolchains the checks use when missing: the workspace's `rust-version` (with
/// the guest crate's x86_64 target) and nightly.
pub fn ensure_toolchains() -> Result<()> {
    let version = rust_version(&packages()?)?;
    install::ensure_toolchain(&version)?;
    install::ensure_toolchain_targets(&version, &[crate::arch::Arch::X86_64.guest_target()])?;
    install::ensure_toolchain("nightly")
}

/// `cargo check` of the library crates with the workspace's `rust-version`, all features: on
/// this host, and the guest crate also on its x86_64 bare-metal target. (The guest's other
/// targets are left to the stable checks: rustup has no 1.85 `rust-std` for
/// `aarch64-unknown-none` to offer here.)
pub fn msrv() -> Result<()> {
    let version = rust_version(&packages()?)?;
    let guest_target = crate::arch::Arch::X86_64.guest_target();
    install::ensure_toolchain(&version)?;
    install::ensure_toolchain_targets(&version, &[guest_target])?;
    let mut check = cargo_on(&version, "msrv");
    check.args(["check", "--quiet", "--all-features"]);
    for name in LIBRARY_CRATES {
        check.args(["-p", name]);
    }
    check.run()?;
    cargo_on(&version, "msrv")
        .args(["check", "--quiet", "--all-features", "-p", "ucall-guest"])
        .args(["--target", guest_target])
        .run()
}

/// `cargo doc` of each library crate as docs.rs builds it: nightly, its `rustdoc-args`
/// (`--cfg docsrs`), its features and each of its targets (those of `arches`), with every
/// rustdoc warning an error. Every target of a machine in the list is checked.
pub fn docs_rs() -> Result<()> {
    let arches = crate::machines::arches();
    install::ensure_toolchain("nightly")?;
    for package in packages()? {
        let Some(name) = package["name"].as_str() else {
            continue;
        };
        if !LIBRARY_CRATES.contains(&name) {
            continue;
        }
        let settings = &package["metadata"]["docs"]["rs"];
        let strings = |key: &str| -> Vec<String> {
            settings[key]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|value| value.as_str().map(str::to_string))
                .collect()
        };
        let mut targets = strings("targets");
        if targets.is_empty() {
            targets.extend(settings["default-target"].as_str().map(str::to_string));
        }
        let names_targets = !targets.is_empty();
        let checked = |target: &String| arches.iter().any(|arch| target.starts_with(arch.name()));
        let (targets, skipped): (Vec<String>, Vec<String>) = targets.into_iter().partition(checked);
        for target in &skipped {
            say(&format!(
                "{name} for {target}: skipped, the checks do not cover its architecture yet"
            ));
        }
        let mut rustdoc_flags = strings("rustdoc-args");
        rustdoc_flags.extend(["-D".into(), "warnings".into()]);
        // docs.rs builds the host's target when the crate names none. A target whose nightly
        // rust-std rustup cannot fetch here (riscv64gc-unknown-linux-gnu's is missing from this
        // machine's nightly) is documented on stable with nightly features let through
        // (RUSTC_BOOTSTRAP=1), which still checks every doc link and `doc(cfg)`.
        let targets: Vec<(Option<String>, &str)> = if !names_targets {
            vec![(None, "nightly")]
        } else {
            targets
                .into_iter()
                .map(|target| {
                    match install::ensure_toolchain_targets("nightly", &[target.as_str()]) {
                        Ok(()) => (Some(target), "nightly"),
                        Err(e) => {
                            say(&format!(
                                "{name} for {target}: documented on stable with \
                                 RUSTC_BOOTSTRAP=1, as nightly has no rust-std for it here ({e})"
                            ));
                            (Some(target), "stable")
                        }
                    }
                })
                .collect()
        };
        for (target, toolchain) in targets {
            if let Some(target) = &target {
                install::ensure_toolchain_targets(toolchain, &[target.as_str()])?;
            }
            let mut doc = cargo_on(toolchain, "docs-rs");
            if toolchain != "nightly" {
                doc.env("RUSTC_BOOTSTRAP", "1");
            }
            doc.args(["doc", "--quiet", "--no-deps", "-p", name])
                .env("RUSTDOCFLAGS", rustdoc_flags.join(" "));
            if settings["all-features"] == true {
                doc.arg("--all-features");
            }
            let features = strings("features");
            if !features.is_empty() {
                doc.args(["--features", &features.join(",")]);
            }
            if let Some(target) = target {
                doc.args(["--target", &target]);
            }
            doc.run()?;
        }
    }
    Ok(())
}
