//! `ucall-run` on one ELF inside a VM: `cargo xtask run --arch <arch>`.

use super::image::{self, GUEST_DIR, VmParts};
use crate::machines::Machine;
use anyhow::{Result, anyhow};
use std::path::Path;
use ucall_init_protocol::{Marker, Outcome};

/// Runs the runner on `elf` in `machine` with `runner_args` before the ELF and `after_elf`
/// after it, printing what it prints; returns its exit status.
pub fn run_elf(
    machine: &'static Machine,
    elf: &Path,
    runner_args: &[String],
    after_elf: &[String],
) -> Result<i32> {
    let parts = VmParts::prepare(machine)?;
    let mut args = runner_args.to_vec();
    args.push(format!("{GUEST_DIR}/{}", image::file_name(elf)?));
    args.extend_from_slice(after_elf);
    let run = image::command("ucall-run", args, Vec::new());
    let initrd = image::image_path(&format!("run-{machine}"));
    image::pack(
        &parts,
        &[elf.to_path_buf()],
        &[(parts.programs.runner.clone(), run)],
        &initrd,
    )?;
    let options =
        super::BootOptions::new(machine, &parts.kernel.image, &initrd, image::BOOT_TIMEOUT)?;
    crate::shell::say(&format!("booting {machine}"));
    // Only the runner's own lines: between its BEGIN and END markers.
    let mut inside = false;
    let report = super::run(&options, &["ucall-run"], &mut |line: &str| {
        match Marker::find(line) {
            Some((_, Marker::Begin(_))) => inside = true,
            Some((_, Marker::End { .. })) => inside = false,
            // (/init starts each marker on a new line, which leaves a blank one behind.)
            _ if inside && !line.trim_end().is_empty() => println!("{}", line.trim_end()),
            _ => {}
        }
    })?;
    match report.commands.first().map(|c| &c.outcome) {
        Some(Some(Outcome::Exited(code))) => Ok(*code),
        _ => Err(report
            .check()
            .err()
            .unwrap_or_else(|| anyhow!("the runner did not finish"))),
    }
}
