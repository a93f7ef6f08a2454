//! The checks of the library crates as others build them: on their minimum supported Rust
//! version (a toolchain of its own, installed when missing), and their docs with each crate's
//! `[package.metadata.docs.rs]`.

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
        .env_remove("RUSTDOC")
        // A folder of xtask's own, checked mostly from scratch: incremental would be pure cost
        // (see `static_build::static_cargo`).
        .env("CARGO_INCREMENTAL", "0");
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

/// Installs the toolchain the checks use when missing: the workspace's `rust-version` (with
/// the guest crate's x86_64 target).
pub fn ensure_toolchains() -> Result<()> {
    let version = rust_version(&packages()?)?;
    install::ensure_toolchain(&version)?;
    install::ensure_toolchain_targets(&version, &[crate::arch::Arch::X86_64.guest_target()])
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

/// One `cargo doc` of a library crate with docs.rs's settings.
#[derive(Debug)]
struct DocBuild {
    package: String,
    /// `None`: this host's target, as docs.rs builds a crate that names none.
    target: Option<String>,
    rustdoc_flags: Vec<String>,
    all_features: bool,
    features: Vec<String>,
}

/// The doc builds of every library crate from its `[package.metadata.docs.rs]`: each of its
/// targets that a machine of the list covers, its `rustdoc-args` (`--cfg docsrs`) and
/// features, with every rustdoc warning an error.
fn doc_builds() -> Result<Vec<DocBuild>> {
    let arches = crate::machines::arches();
    let mut builds = Vec::new();
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
        let checked = |target: &String| arches.iter().any(|arch| target.starts_with(arch.name()));
        let (targets, skipped): (Vec<String>, Vec<String>) = targets.into_iter().partition(checked);
        for target in &skipped {
            say(&format!(
                "{name} for {target}: skipped, the checks do not cover its architecture yet"
            ));
        }
        let mut rustdoc_flags = strings("rustdoc-args");
        rustdoc_flags.extend(["-D".into(), "warnings".into()]);
        let targets: Vec<Option<String>> = match targets.is_empty() {
            true => vec![None],
            false => targets.into_iter().map(Some).collect(),
        };
        for target in targets {
            builds.push(DocBuild {
                package: name.to_string(),
                target,
                rustdoc_flags: rustdoc_flags.clone(),
                all_features: settings["all-features"] == true,
                features: strings("features"),
            });
        }
    }
    Ok(builds)
}

/// The rustup targets [`docs_rs`] documents for, to install with the others up front.
pub fn doc_targets() -> Result<Vec<String>> {
    Ok(doc_builds()?
        .into_iter()
        .filter_map(|build| build.target)
        .collect())
}

/// `cargo doc` of each library crate with docs.rs's settings ([`doc_builds`]). Every target
/// of a machine in the list is checked.
///
/// docs.rs builds with nightly; here the main toolchain's rustdoc does it with nightly
/// features let through (`RUSTC_BOOTSTRAP=1`), which checks the same doc links and `doc(cfg)`
/// badges without a second toolchain to install and keep current. Only rustdoc is given it
/// (through [`RUSTDOC_WITH_NIGHTLY_FEATURES`]): some dependencies' build scripts watch that
/// variable, and with it set for cargo they would be built again, apart from what the lints
/// checked. So the docs share `target/` with the lints, and document this host's target as
/// they check it, with no `--target`.
pub fn docs_rs() -> Result<()> {
    let rustdoc = rustdoc_with_nightly_features()?;
    let host = crate::machines::native()?.arch.linux_gnu_target();
    for build in doc_builds()? {
        let mut doc = cargo();
        doc.args(["doc", "--quiet", "--no-deps", "-p", &build.package])
            .env("RUSTDOC", &rustdoc)
            .env("RUSTDOCFLAGS", build.rustdoc_flags.join(" "));
        if build.all_features {
            doc.arg("--all-features");
        }
        if !build.features.is_empty() {
            doc.args(["--features", &build.features.join(",")]);
        }
        if let Some(target) = build.target.as_ref().filter(|target| *target != host) {
            install::ensure_targets(&[target])?;
            doc.args(["--target", target]);
        }
        doc.run()?;
    }
    Ok(())
}

/// A `RUSTDOC` for cargo: rustdoc (the toolchain's, through `PATH`) with `RUSTC_BOOTSTRAP=1`.
const RUSTDOC_WITH_NIGHTLY_FEATURES: &str = "#!/bin/sh\n# Written by cargo xtask: rustdoc with nightly features, as on docs.rs.\n\
     RUSTC_BOOTSTRAP=1 exec rustdoc \"$@\"\n";

/// Writes [`RUSTDOC_WITH_NIGHTLY_FEATURES`] into `target/xtask/` and returns its path.
fn rustdoc_with_nightly_features() -> Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = workspace_root().join("target/xtask");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("rustdoc-with-nightly-features");
    std::fs::write(&path, RUSTDOC_WITH_NIGHTLY_FEATURES)
        .and_then(|()| std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
