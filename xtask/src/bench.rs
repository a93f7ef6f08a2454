//! `cargo xtask bench`: the ucall benchmarks (`tests/benches/ucalls`), release build, against
//! freshly built guests: natively on x86_64, then inside the aarch64, riscv64 and kvm_amd QEMU
//! machines (each architecture's KVM), all into one `target/bench/results.json`.

use crate::arch::{Arch, RISCV64_HOST_READY};
use crate::guests;
use crate::in_qemu;
use crate::qemu::Machine;
use crate::shell::{Run, Step, cargo, workspace_root};
use serde_json::Value;

/// A benchmark run inside a QEMU machine.
struct InVm {
    machine: Machine,
    /// What its figures are named for.
    label: &'static str,
    /// Whether a failure fails the whole command.
    required: bool,
}

/// The runs inside QEMU: aarch64 and riscv64 on the machines their runners use, and x86_64 on
/// kvm_amd (the KVM users run on AMD hardware), which is optional because QEMU 7.2's TCG
/// occasionally hangs that machine (see `in_qemu`).
fn runs_in_vms() -> Vec<InVm> {
    let mut runs = vec![InVm {
        machine: Machine::Aarch64Vhe,
        label: "aarch64",
        required: true,
    }];
    if RISCV64_HOST_READY {
        runs.push(InVm {
            machine: Machine::Riscv64,
            label: "riscv64",
            required: true,
        });
    }
    runs.push(InVm {
        machine: Machine::X86_64KvmAmd,
        label: "x86_64 kvm_amd",
        required: false,
    });
    runs
}

/// Rounds inside the VMs, where every exit is emulated: fewer, since the figures kept are
/// counts and ratios.
const ROUNDS_IN_VMS: &str = "21";

/// Builds the guests, runs the benchmark binary natively (it prints its table and writes
/// `target/bench/results.json`), then in each emulated architecture's machine, and adds those
/// reports to the JSON: each whole under `architectures`, and its figures named for the
/// architecture to the top-level `figures`.
pub fn run() -> Result<(), String> {
    let in_vms = runs_in_vms();
    let mut step = Step::new(2 + in_vms.len());
    step.start("building the guests");
    let guest_dir = guests::build(Arch::X86_64)?;

    step.start("running the benchmarks (release build; about a minute of measuring)");
    let results = workspace_root().join("target/bench/results.json");
    cargo()
        .args(["bench", "--quiet", "-p", "ucall-tests", "--bench", "ucalls"])
        .env("UCALL_GUEST_DIR", &guest_dir)
        .env("UCALL_BENCH_JSON", &results)
        .run()?;

    let read = std::fs::read_to_string(&results)
        .map_err(|e| format!("cannot read {}: {e}", results.display()))?;
    let mut report: Value =
        serde_json::from_str(&read).map_err(|e| format!("{}: {e}", results.display()))?;
    let mut summary = Vec::new();
    for run in in_vms {
        let machine = run.machine;
        step.start(&format!("running the benchmarks inside {machine} (TCG)"));
        let result = guests::build(machine.arch()).and_then(|guest_dir| {
            let env = vec![
                ("UCALL_BENCH_ARCH".into(), run.label.into()),
                ("UCALL_BENCH_ROUNDS".into(), ROUNDS_IN_VMS.into()),
            ];
            let json = in_qemu::bench(machine, &guest_dir, env)?;
            serde_json::from_str::<Value>(&json)
                .map_err(|e| format!("the benchmark's JSON from {machine}: {e}"))
        });
        match result {
            Ok(arch_report) => add_arch(&mut report, run.label, arch_report, &mut summary),
            Err(e) if !run.required => {
                eprintln!("    WARNING: no figures from {machine}: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    let text = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())? + "\n";
    std::fs::write(&results, text).map_err(|e| format!("{}: {e}", results.display()))?;
    println!("\nfigures of the other architectures (median, min, max):");
    for line in summary {
        println!("{line}");
    }
    println!("results: {}", results.display());
    Ok(())
}

/// Adds `arch_report` to `report`: whole under `architectures.<arch>`, and the figures whose
/// names end in `, <arch>` to `figures`, each also as a line of `summary`.
fn add_arch(report: &mut Value, arch: &str, arch_report: Value, summary: &mut Vec<String>) {
    let suffix = format!(", {arch}");
    let named: Vec<Value> = arch_report["figures"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|figure| {
            figure["name"]
                .as_str()
                .is_some_and(|n| n.ends_with(&suffix))
        })
        .cloned()
        .collect();
    for figure in &named {
        let unit = figure["unit"].as_str().unwrap_or_default();
        let value = |key: &str| human(figure[key].as_f64().unwrap_or(f64::NAN), unit);
        summary.push(format!(
            "{:<52} {:>11} {:>11} {:>11}",
            figure["name"].as_str().unwrap_or_default(),
            value("median"),
            value("min"),
            value("max"),
        ));
    }
    if let Some(figures) = report["figures"].as_array_mut() {
        figures.extend(named);
    }
    if !report["architectures"].is_object() {
        report["architectures"] = Value::Object(Default::default());
    }
    report["architectures"][arch] = arch_report;
}

/// `value` in `unit` as the benchmark's table shows it.
fn human(value: f64, unit: &str) -> String {
    match unit {
        "ns" => format!("{:.2} ms", value / 1e6),
        "ratio" => format!("{value:.2}x"),
        "tests/s" => format!("{value:.0}/s"),
        _ => format!("{value:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_architectures_named_figures_join_the_top_level_and_its_report_is_kept_whole() {
        let mut report = json!({ "figures": [{ "name": "SYNC ucall, MMIO" }] });
        let aarch64 = json!({ "figures": [
            { "name": "vCPU ioctls per SYNC ucall, aarch64", "unit": "count", "median": 1.0, "min": 1.0, "max": 1.0 },
            { "name": "SYNC ucall, MMIO", "unit": "ns", "median": 9.0, "min": 9.0, "max": 9.0 },
        ] });
        let mut summary = Vec::new();
        add_arch(&mut report, "aarch64", aarch64.clone(), &mut summary);
        let names: Vec<&str> = report["figures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["SYNC ucall, MMIO", "vCPU ioctls per SYNC ucall, aarch64"]
        );
        assert_eq!(report["architectures"]["aarch64"], aarch64);
        assert_eq!(summary.len(), 1);
    }
}
