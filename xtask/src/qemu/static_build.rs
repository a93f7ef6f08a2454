//! Static Linux executables for a VM's architecture: `/init`, the runner and the test binaries,
//! built by cargo and found through its JSON messages. On the architecture of this machine the
//! same build is this machine's host-side tests ([`test_here`]) and its runner
//! ([`runner_here`]).

use crate::arch::Arch;
use crate::shell::workspace_root;
use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The packages whose test binaries run in the VMs: the integration tests and the host's unit
/// tests (those KVM-free run natively only: `qemu::suite`).
const TEST_PACKAGES: [&str; 2] = ["ucall-tests", "ucall-host"];

/// Every build for a VM turns the runner's feature on, so that the host crate is built once per
/// architecture for the runner, the tests and the benchmark alike.
const FEATURES: [&str; 2] = ["--features", "ucall-host/runner"];

/// The programs every VM of an architecture may run besides the tests.
#[derive(Debug, Clone)]
pub struct StaticPrograms {
    /// PID 1 (`xtask/qemu-init`).
    pub init: PathBuf,
    /// The KVM check (`cargo xtask kvm-check`).
    pub kvm_check: PathBuf,
    /// `ucall-run`.
    pub runner: PathBuf,
}

/// The packages of `/init` and the KVM check, and of `ucall-run`.
const PROGRAM_PACKAGES: [&str; 2] = ["ucall-qemu-init", "ucall-host"];

/// Every package [`build_static_with_tests`] builds: what this machine tests from that build.
pub const HOST_SIDE_PACKAGES: [&str; 3] = ["ucall-host", "ucall-qemu-init", "ucall-tests"];

/// Builds `/init`, the KVM check and `ucall-run` as static executables for `arch`, `vm`
/// profile, in one cargo run.
pub fn build_static(arch: Arch) -> Result<StaticPrograms> {
    let mut args = cargo_args("build", &PROGRAM_PACKAGES);
    args.push("--bins");
    let built = cargo_static(arch, &args, Optimised::ForTests)?;
    StaticPrograms::among(&built)
}

/// [`build_static`] and the test harness executables of [`TEST_PACKAGES`] (unit tests of the
/// libs and bins, and integration tests) in one cargo run, so with one resolution of the
/// dependencies' features (tests turn on their dev-dependencies' features), each built once.
/// Run the tests in the VM like any command, e.g. with `--test-threads=1` or a test-name
/// filter.
pub fn build_static_with_tests(arch: Arch) -> Result<(StaticPrograms, Vec<PathBuf>)> {
    let mut args = cargo_args("build", &HOST_SIDE_PACKAGES);
    args.extend(["--bins", "--tests"]);
    let built = cargo_static(arch, &args, Optimised::ForTests)?;
    let tests: Vec<PathBuf> = built
        .iter()
        .filter(|a| a.profile.test)
        .map(|a| a.executable.clone())
        .collect();
    if tests.is_empty() {
        bail!(
            "cargo built no test binary for {}",
            TEST_PACKAGES.join(", ")
        );
    }
    Ok((StaticPrograms::among(&built)?, tests))
}

/// `ucall-run` for this machine, from the build its tests use ([`build_static_with_tests`]
/// for this machine's architecture): the runner the Markdown's help block, the external guest
/// and the example guest tests are checked with, beside the tests that run it as a process.
pub fn runner_here() -> Result<PathBuf> {
    let arch = crate::machines::native()?.arch;
    Ok(build_static_with_tests(arch)?.0.runner)
}

/// `PATH` with [`runner_here`]'s folder first, as after `cargo install`: for crates whose
/// cargo config names `ucall-run` as the runner.
pub fn path_with_runner() -> Result<std::ffi::OsString> {
    let runner = runner_here()?;
    let folder = runner.parent().map(PathBuf::from).unwrap_or_default();
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::iter::once(folder).chain(std::env::split_paths(&path)))
        .context("cannot put ucall-run's folder on PATH")
}

/// `<command> -p <each of packages>` with [`FEATURES`].
fn cargo_args<'a>(command: &'a str, packages: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![command];
    for package in packages {
        args.extend(["-p", package]);
    }
    args.extend(FEATURES);
    args
}

impl StaticPrograms {
    /// The programs among what cargo built.
    fn among(built: &[Artifact]) -> Result<StaticPrograms> {
        let find = |bin: &str| {
            built
                .iter()
                .find(|a| !a.profile.test && a.executable.file_name().is_some_and(|f| f == bin))
                .map(|a| a.executable.clone())
                .ok_or_else(|| anyhow!("cargo reported no executable named {bin}"))
        };
        Ok(StaticPrograms {
            init: find("ucall-qemu-init")?,
            kvm_check: find("ucall-kvm-check")?,
            runner: find("ucall-run")?,
        })
    }
}

/// Builds the benchmark `bench` of `package` (a `harness = false` bench, release profile) as a
/// static executable for `arch` and returns its path.
pub fn build_static_bench(package: &str, bench: &str, arch: Arch) -> Result<PathBuf> {
    let args = ["build", "--package", package, "--bench", bench];
    cargo_static(
        arch,
        &[&args[..], &FEATURES].concat(),
        Optimised::ForMeasuring,
    )?
    .into_iter()
    .map(|a| a.executable)
    .find(|path| {
        path.file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.rsplit_once('-'))
            .is_some_and(|(target, _)| target == bench)
    })
    .ok_or_else(|| anyhow!("cargo reported no executable for bench {bench} in {package}"))
}

/// An executable cargo built.
#[derive(Debug)]
struct Artifact {
    executable: PathBuf,
    profile: Profile,
}

#[derive(Debug, Deserialize)]
struct Profile {
    /// Built with the test harness. (The message's `target` has a `test` field too, meaning
    /// "testable"; this one is the profile's.)
    test: bool,
}

/// One line of cargo's `--message-format=json` output; other reasons are skipped.
#[derive(Debug, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
enum Message {
    CompilerArtifact {
        /// Absent (null) for libraries.
        executable: Option<PathBuf>,
        profile: Profile,
    },
    #[serde(other)]
    Other,
}

/// The executables among the artifacts in cargo's JSON output.
fn executables(json_lines: &str) -> Vec<Artifact> {
    json_lines
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .filter_map(|message| match message {
            Message::CompilerArtifact {
                executable: Some(executable),
                profile,
            } => Some(Artifact {
                executable,
                profile,
            }),
            _ => None,
        })
        .collect()
}

/// How a static build is optimised.
#[derive(Debug, Clone, Copy)]
enum Optimised {
    /// The dev profile without debug info: what the QEMU machines run, and this machine's
    /// host-side tests. Debug info would make the initramfs 10x bigger (the emulated kernel
    /// unpacks every byte of it on each boot). Unoptimised, because a fresh machine builds it
    /// once per architecture and its CPU is the scarcer: in a whole `cargo xtask test` from
    /// scratch at 5d7a7ae on this project's 2-core machine, opt-level 0 took 1038 CPU seconds
    /// and 518 s, opt-level 1 1248 and 624 s (its VMs ran faster, its builds took longer). Still
    /// the dev profile, so its proc macros are those of every other build.
    ForTests,
    /// Release, as measured: the benchmark.
    ForMeasuring,
}

/// Runs `cargo <args>` as [`static_cargo`] sets it up and returns the executables it built.
fn cargo_static(arch: Arch, args: &[&str], optimised: Optimised) -> Result<Vec<Artifact>> {
    crate::install::ensure_targets(&[arch.linux_target()])?;
    let mut cmd = static_cargo(arch, args, optimised);
    cmd.arg("--message-format=json-render-diagnostics");
    // Several lanes build at once: only their own progress lines then.
    if crate::shell::in_lane() {
        cmd.arg("--quiet");
    }
    // Diagnostics go to our stderr as usual; stdout carries the JSON we parse.
    let shown = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    if !out.status.success() {
        bail!(
            "{shown} failed ({}); see the compiler output above",
            out.status
        );
    }
    Ok(executables(&String::from_utf8_lossy(&out.stdout)))
}

/// `cargo test` of [`build_static_with_tests`]'s packages, run here: on a machine of `arch`,
/// the static build the VMs of `arch` run is this machine's test build too (one build of the
/// host side for both). Every test binary gets `test_args`.
pub fn test_here(arch: Arch, test_args: &[String]) -> Command {
    let mut cmd = static_cargo(
        arch,
        &cargo_args("test", &HOST_SIDE_PACKAGES),
        Optimised::ForTests,
    );
    cmd.arg("--").args(test_args);
    cmd
}

/// `cargo <args> --target <arch's Linux target>` with the profile of `optimised`, in the
/// workspace.
///
/// The linker and static linking come from [`Arch::linux_target_config`]. The paths are taken
/// from cargo's JSON messages, so a custom `CARGO_TARGET_DIR` or `build.target-dir` just works.
/// Note that `RUSTFLAGS` from the environment applies to these builds too (and replaces the
/// target's `rustflags`, which riscv64's static linking uses).
fn static_cargo(arch: Arch, args: &[&str], optimised: Optimised) -> Command {
    // Under `cargo run -p xtask`, CARGO is the cargo that runs us: same toolchain.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args)
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        // Only xtask builds for these targets, and mostly from scratch, where incremental
        // compilation is pure cost: the workspace's crates of one architecture's build took 29
        // CPU seconds with it, 19 without.
        .env("CARGO_INCREMENTAL", "0");
    match optimised {
        Optimised::ForTests => cmd.args(["--config", "profile.dev.debug=false"]),
        // No debug info, as for the tests.
        Optimised::ForMeasuring => {
            cmd.args(["--release", "--config", "profile.release.debug=false"])
        }
    };
    cmd.args(["--target", arch.linux_target()]);
    for config in arch.linux_target_config() {
        cmd.args(["--config", config]);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::{HOST_SIDE_PACKAGES, PROGRAM_PACKAGES, TEST_PACKAGES, executables};
    use std::path::Path;

    #[test]
    fn host_side_packages_are_those_of_the_programs_and_the_tests_in_name_order() {
        let mut both = [&PROGRAM_PACKAGES[..], &TEST_PACKAGES[..]].concat();
        both.sort_unstable();
        both.dedup();
        assert_eq!(both, HOST_SIDE_PACKAGES);
    }

    #[test]
    fn test_executables_are_told_from_binaries_by_the_profile_not_the_target() {
        let json = concat!(
            r#"{"reason":"compiler-artifact","target":{"test":true},"profile":{"test":false},"#,
            r#""executable":"/t/a\\b\"c","fresh":true}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"test":false},"profile":{"test":true},"#,
            r#""executable":"/t/tests-0123","fresh":true}"#,
            "\n",
            r#"{"reason":"compiler-artifact","profile":{"test":false},"executable":null}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        let found: Vec<_> = executables(json)
            .into_iter()
            .map(|a| (a.executable, a.profile.test))
            .collect();
        assert_eq!(
            found,
            [
                (Path::new("/t/a\\b\"c").to_path_buf(), false),
                (Path::new("/t/tests-0123").to_path_buf(), true),
            ]
        );
    }
}
