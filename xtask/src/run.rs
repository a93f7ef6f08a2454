//! `cargo xtask run`: one guest ELF (the demo guest if none is given) under `ucall-run`, on this
//! machine's KVM or inside the VM of the machine list that runs the architecture's ELFs.

use crate::arch::Arch;
use crate::shell::{cargo, say};
use crate::{guests, machines, qemu};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// What `ucall-run` is asked to do.
#[derive(Debug)]
pub struct RunRequest {
    /// `--timeout`, when given (else the runner's default).
    pub timeout: Option<u64>,
    /// `--transport`, when given (else the runner's default, `auto`).
    pub transport: Option<String>,
    /// The guest's architecture.
    pub arch: Arch,
    /// The ELF; `None`: the demo guest.
    pub elf: Option<PathBuf>,
    /// Passed to `ucall-run` as they are, after the ELF.
    pub runner_args: Vec<String>,
}

/// Runs the request and returns the runner's exit status. A cold run builds only the runner
/// and (without an ELF) the demo guest, with cargo's progress shown.
pub fn run(request: RunRequest) -> Result<i32> {
    let machine = machines::runner_for(request.arch)?;
    let elf = match request.elf {
        Some(elf) => elf,
        None => guests::demo(request.arch)?,
    };
    let mut args = Vec::new();
    if let Some(timeout) = request.timeout {
        args.extend(["--timeout".to_string(), timeout.to_string()]);
    }
    if let Some(transport) = request.transport {
        args.extend(["--transport".to_string(), transport]);
    }
    if machine.qemu.is_some() {
        return qemu::runner::run_elf(machine, &elf, &args, &request.runner_args);
    }
    say("building ucall-run");
    let status = cargo()
        .args(["run", "--release"])
        .args(crate::shell::RUNNER_BIN)
        .arg("--")
        .args(&args)
        .arg(&elf)
        .args(&request.runner_args)
        .status()
        .context("cannot start cargo")?;
    Ok(status.code().unwrap_or(2))
}
