//! The ucall benchmark (`tests/benches/ucalls`) inside a VM: its architecture's KVM.

use super::image::{self, VmParts};
use crate::machines::Machine;
use anyhow::{Context, Result, anyhow};
use std::path::Path;

/// The name of the benchmark command in the VM.
const BENCH_COMMAND: &str = "ucall-bench";

/// What the benchmark prints before its JSON when `UCALL_BENCH_JSON` is `-`
/// (`tests/benches/ucalls/main.rs`).
const BENCH_JSON_MARKER: &str = "ucall-bench-json:";

/// Runs the benchmark of `machine`'s architecture inside it, with the guests in `guest_dir` and
/// the environment variables `env` (say, `UCALL_BENCH_ROUNDS`), printing its table; returns its
/// JSON report.
pub fn bench(
    machine: &'static Machine,
    guest_dir: &Path,
    env: Vec<(String, String)>,
) -> Result<String> {
    let parts = VmParts::prepare(machine)?;
    let binary = super::static_build::build_static_bench("ucall-tests", "ucalls", machine.arch)?;
    let env = [("UCALL_BENCH_JSON".into(), "-".into())]
        .into_iter()
        .chain(env)
        .collect();
    let command = image::command(BENCH_COMMAND, Vec::new(), env);
    let initrd = image::image_path(&format!("bench-{machine}"));
    let guests = image::files_in(guest_dir)?;
    image::pack(&parts, &guests, &[(binary, command)], &initrd)?;
    let report = image::boot(
        machine,
        &parts.kernel.image,
        &initrd,
        &[BENCH_COMMAND],
        false,
    )?;
    report
        .check()
        .with_context(|| format!("the {} benchmark failed in {machine}", machine.arch))?;
    let output = report
        .commands
        .iter()
        .find(|c| c.name == BENCH_COMMAND)
        .map(|c| c.output.as_str())
        .unwrap_or_default();
    let mut json = None;
    for line in output.lines() {
        match line.trim_end().split_once(BENCH_JSON_MARKER) {
            Some((_, report)) => json = Some(report.trim().to_string()),
            // The progress line redraws itself with carriage returns: show its last state.
            None if !line.trim().is_empty() => {
                let shown = line.trim_end().rsplit('\r').next().unwrap_or_default();
                println!("    [{machine}] {shown}");
            }
            None => {}
        }
    }
    json.ok_or_else(|| {
        anyhow!(
            "the {} benchmark in {machine} printed no results",
            machine.arch
        )
    })
}
