//! What `cargo xtask test` runs on this machine: the checks (formatting, lints for every
//! target of the machine list, the minimum Rust version, docs with docs.rs's settings, the
//! packages), then the native machine's [`Work`].

use crate::machines::{self, Machine, Work};
use crate::qemu::static_build;
use crate::shell::{Run, cargo, workspace_root};
use crate::{docs, ecosystem, guest_tests, guests, install, timing, toolchains};
use anyhow::Result;

/// The lane of the checks.
const CHECKS: &str = "checks";

/// Formatting, lints, the minimum Rust version, docs and packaging: every step, in order, each
/// timed in the lane `checks`.
pub fn checks(native: &Machine) -> Result<()> {
    timing::step(CHECKS, "cargo fmt --check", fmt)?;
    timing::step(CHECKS, "cargo clippy -D warnings (host)", clippy_host)?;
    timing::step(
        CHECKS,
        "cargo clippy -D warnings (guest crate, each arch)",
        clippy_guests,
    )?;
    timing::step(
        CHECKS,
        "cargo clippy -D warnings (host, each VM's arch)",
        || clippy_cross(native),
    )?;
    timing::step(
        CHECKS,
        "library crates on their rust-version",
        toolchains::msrv,
    )?;
    timing::step(CHECKS, "docs with docs.rs's settings", toolchains::docs_rs)?;
    timing::step(
        CHECKS,
        "cargo package (ucall-abi, -guest, -host)",
        ecosystem::package,
    )?;
    timing::step(
        CHECKS,
        "docs: Markdown paths exist, Rust blocks build",
        docs::check,
    )
}

fn fmt() -> Result<()> {
    let root = workspace_root();
    cargo().args(["fmt", "--all", "--check"]).run()?;
    // The crates with workspaces of their own: the guests, the fuzz targets, the external guest.
    for manifest in [
        "tests/guests/Cargo.toml",
        "fuzz/Cargo.toml",
        "examples/external-guest/Cargo.toml",
    ] {
        cargo()
            .args(["fmt", "--check", "--manifest-path"])
            .arg(root.join(manifest))
            .run()?;
    }
    Ok(())
}

fn clippy_host() -> Result<()> {
    cargo()
        .args(["clippy", "--quiet", "--workspace", "--all-targets"])
        // The runner binary and its dependencies are behind the `runner` feature.
        .args(["--all-features", "--", "-D", "warnings"])
        .run()?;
    // The host without its `vm` part, as a decode-only VMM builds it.
    cargo()
        .args(["clippy", "--quiet", "-p", "ucall-host", "--all-targets"])
        .args(["--no-default-features", "--", "-D", "warnings"])
        .run()
}

fn clippy_guests() -> Result<()> {
    for arch in machines::arches() {
        install::ensure_targets(&[arch.guest_target()])?;
        // The guest crate with and without `pool`, which replaces its exits.
        for features in [&[][..], &["--features", "pool"]] {
            cargo()
                .args(["clippy", "--quiet", "-p", "ucall-guest", "--target"])
                .arg(arch.guest_target())
                .args(features)
                .args(["--", "-D", "warnings"])
                .run()?;
        }
    }
    Ok(())
}

/// The host as it is built for the VMs of other architectures: its arch modules only compile
/// there. On the glibc targets, with every feature, as the docs of the host crate are built
/// for them ([`toolchains::docs_rs`]): the docs then reuse what this checked.
fn clippy_cross(native: &Machine) -> Result<()> {
    for arch in machines::arches().into_iter().filter(|a| *a != native.arch) {
        install::ensure_targets(&[arch.linux_gnu_target()])?;
        cargo()
            .args(["clippy", "--quiet", "-p", "ucall-host", "-p", "ucall-tests"])
            // The bench runs in the VMs too (`cargo xtask bench`); examples drive x86_64 KVM
            // directly and are built for x86_64 only.
            .args(["--lib", "--bins", "--tests", "--benches", "--all-features"])
            .args(["--target", arch.linux_gnu_target()])
            .args(["--", "-D", "warnings"])
            .run()?;
    }
    Ok(())
}

/// Runs `work` on this machine, as a timed step of its lane; `test_args` go to every test
/// binary.
pub fn run_work(machine: &Machine, work: Work, test_args: &[String]) -> Result<()> {
    let lane = machine.name;
    match work {
        Work::Tests => timing::step(lane, "cargo test (unit tests, real guests)", || {
            let guest_dir = guests::build(machine.arch)?;
            // tests/tests/core_dump.rs opens cores with gdb (natively only).
            install::ensure_packages(&[install::DebianPackage::program("gdb", "gdb")])?;
            // The host crate (with the runner) and the integration tests as the VMs of this
            // architecture run them: one static build for both, built once. The hostile-guest
            // tests run the runner as a process (`ucall_tests::ucall_run`).
            let (programs, _) = static_build::build_static_with_tests(machine.arch)?;
            static_build::test_here(machine.arch, test_args)
                .env("UCALL_GUEST_DIR", &guest_dir)
                .env("UCALL_RUN", &programs.runner)
                .run()?;
            // The rest of the workspace on this host's own target: the ABI, the guest crate and
            // its macros (their host-side tests), xtask.
            let mut rest = cargo();
            rest.args(["test", "--workspace"]);
            for package in static_build::HOST_SIDE_PACKAGES {
                rest.args(["--exclude", package]);
            }
            rest.env("UCALL_GUEST_DIR", &guest_dir)
                .arg("--")
                .args(test_args)
                .run()
        }),
        Work::DecodeOnly => timing::step(lane, "ucall-host decode only: build, tests", || {
            let no_vm = ["-p", "ucall-host", "--no-default-features"];
            cargo().args(["build", "--quiet"]).args(no_vm).run()?;
            cargo().arg("test").args(no_vm).run()
        }),
        Work::ForeignVmm => timing::step(lane, "examples/foreign_vmm.rs (exit 0, 1, 2)", || {
            ecosystem::foreign_vmm(&guests::build(machine.arch)?)
        }),
        Work::ExternalGuest => timing::step(lane, "examples/external-guest: cargo run", || {
            ecosystem::external_guest(machine.arch.guest_target())
        }),
        Work::GuestTests => timing::step(lane, "examples/guest-tests: cargo test", || {
            guest_tests::native(machine.arch.guest_target())
        }),
    }
}
