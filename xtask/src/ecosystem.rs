//! The checks that users' paths into the crates work: docs build cleanly, the library crates
//! package, a VMM of its own serves ucalls with the host crate's pieces, and a guest crate of
//! another project runs under `cargo run` with `ucall-run` as its runner.

use crate::shell::{Run, cargo, workspace_root};
use std::path::Path;

/// The crates published to crates.io.
pub const LIBRARY_CRATES: [&str; 3] = ["ucall-abi", "ucall-guest", "ucall-host"];

/// `cargo doc --no-deps` for the workspace with every rustdoc warning (broken links, bad
/// markup, missing docs) an error.
pub fn docs() -> Result<(), String> {
    cargo()
        .args(["doc", "--no-deps", "--workspace", "--all-features"])
        .env("RUSTDOCFLAGS", "-D warnings")
        .run()
}

/// `cargo package` for the library crates: metadata complete, files included, each crate built
/// from its packaged sources against the others packaged alongside (cargo's local overlay for
/// unpublished workspace siblings), with no warnings.
pub fn package() -> Result<(), String> {
    let mut command = cargo();
    command.arg("package");
    for name in LIBRARY_CRATES {
        command.args(["-p", name]);
    }
    // Packaging a work in progress: the checks are about the crates, not about a clean checkout.
    command.arg("--allow-dirty");
    eprintln!(
        "    $ cargo package -p {} --allow-dirty",
        LIBRARY_CRATES.join(" -p ")
    );
    let output = command
        .output()
        .map_err(|e| format!("cannot start cargo package: {e}"))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!("cargo package failed:\n{stderr}"));
    }
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.trim_start().starts_with("warning"))
        .collect();
    if !warnings.is_empty() {
        return Err(format!(
            "cargo package warned:\n{}\n{stderr}",
            warnings.join("\n")
        ));
    }
    Ok(())
}

/// The lines `examples/foreign_vmm.rs` prints for the demo guest.
const DEMO_UCALLS: &str = "\
PRINTF hello from vCPU 0
SYNC [1, 1, 0, 0, 0, 0]
SYNC [2, 1, 0, 0, 0, 0]
SYNC [3, 2, 0, 0, 0, 0]
SYNC [4, 3, 0, 0, 0, 0]
PRINTF fib(4) = 3, as expected
DONE
";

/// Runs the host crate's foreign-VMM example on the demo guest over each transport, and checks
/// that it printed exactly the demo's ucalls and exited with 0 (DONE).
pub fn foreign_vmm(guest_dir: &Path) -> Result<(), String> {
    let demo = guest_dir.join("demo");
    for transport in ["--pio", "--mmio"] {
        eprintln!("    foreign_vmm {transport} {}", demo.display());
        let printed = cargo()
            .args([
                "run",
                "--quiet",
                "-p",
                "ucall-host",
                "--example",
                "foreign_vmm",
                "--",
                transport,
            ])
            .arg(&demo)
            .output_text()?;
        if printed != DEMO_UCALLS {
            return Err(format!(
                "foreign_vmm {transport} printed\n{printed}\ninstead of\n{DEMO_UCALLS}"
            ));
        }
    }
    Ok(())
}

/// Builds `ucall-run`, then runs `examples/external-guest` with plain
/// `cargo run --target <target>` from its own folder (so that its `.cargo/config.toml` names
/// `ucall-run` as the runner), with the runner found on `PATH` as after `cargo install`.
/// Checks the exit status (0, DONE) and the ucalls printed.
pub fn external_guest(target: &str) -> Result<(), String> {
    let root = workspace_root();
    eprintln!("    building ucall-run");
    cargo()
        .args([
            "build",
            "--quiet",
            "-p",
            "ucall-host",
            "--features",
            "runner",
            "--bin",
            "ucall-run",
        ])
        .run()?;
    let bin_dir = root.join("target/debug");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(&path)))
        .map_err(|e| format!("cannot put target/debug on PATH: {e}"))?;
    let crate_dir = root.join("examples/external-guest");
    eprintln!(
        "    cargo run --target {target}   (in {})",
        crate_dir.display()
    );
    let printed = cargo()
        .current_dir(&crate_dir)
        .args(["run", "--quiet", "--target", target])
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", root.join("target/guests/external"))
        // The crate's own config sets the linker flags; a RUSTFLAGS from outside would replace them.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .output_text()?;
    let expected = [
        "vcpu 0: PRINTF external guest on vCPU 0",
        "vcpu 0: SYNC [1, 4, 9, 0, 0, 0]",
        "vcpu 0: DONE",
    ];
    let lines: Vec<&str> = printed.lines().collect();
    let summary_ok = lines
        .last()
        .is_some_and(|line| line.starts_with("DONE: 3 ucalls from 1 vCPU(s) in "));
    if lines.len() != expected.len() + 1 || lines[..expected.len()] != expected || !summary_ok {
        return Err(format!(
            "the external guest printed\n{printed}\ninstead of\n{}\nDONE: 3 ucalls from 1 vCPU(s) in ...",
            expected.join("\n")
        ));
    }
    Ok(())
}
