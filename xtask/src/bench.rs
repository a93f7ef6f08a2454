//! `cargo xtask bench`: the ucall benchmarks (`tests/benches/ucalls`), release build, against
//! freshly built guests: natively on x86_64, then inside each QEMU machine of the list with a
//! benchmark run (each architecture's KVM), all into one `target/bench/results.json`.

use crate::machines::{self, Machine};
use crate::shell::{Run, cargo, workspace_root};
use crate::{guests, qemu, timing};
use anyhow::{Context, Result};
use serde_json::Value;

/// Rounds inside the VMs, where every exit is emulated: fewer, since the figures kept are
/// counts and ratios.
const ROUNDS_IN_VMS: &str = "21";

/// Builds the guests, runs the benchmark binary natively (it prints its table and writes
/// `target/bench/results.json`), then in each VM of the machine list that has a benchmark run,
/// and adds those reports to the JSON: each whole under `architectures`, and its figures named
/// for the architecture to the top-level `figures`.
pub fn run() -> Result<()> {
    timing::start();
    let result = run_all();
    eprint!("\n{}", timing::table());
    result
}

fn run_all() -> Result<()> {
    let results = workspace_root().join("target/bench/results.json");
    let mut report = None;
    let mut summary = Vec::new();
    for machine in machines::MACHINES {
        let Some(run) = &machine.bench else {
            continue;
        };
        let step = format!("the benchmarks ({})", run.label);
        let measured = timing::step(machine.name, &step, || measure(machine, &results));
        match (measured, &mut report) {
            (Ok(None), _) => {
                let read = std::fs::read_to_string(&results)
                    .with_context(|| format!("cannot read {}", results.display()))?;
                report = Some(
                    serde_json::from_str::<Value>(&read)
                        .with_context(|| results.display().to_string())?,
                );
            }
            (Ok(Some(arch_report)), Some(report)) => {
                add_arch(report, run.label, arch_report, &mut summary)
            }
            (Ok(Some(_)), None) => {
                anyhow::bail!("the machine list must start with this machine's own benchmark")
            }
            (Err(e), _) if !run.required => {
                eprintln!("    WARNING: no figures from {machine}: {e:#}");
            }
            (Err(e), _) => return Err(e),
        }
    }
    let report = report.context("no machine wrote the benchmark's report")?;
    let text = serde_json::to_string_pretty(&report)? + "\n";
    std::fs::write(&results, text).with_context(|| results.display().to_string())?;
    println!("\nfigures of the other architectures (median, min, max):");
    for line in summary {
        println!("{line}");
    }
    println!("results: {}", results.display());
    crate::performance_doc::write(&report)
}

/// Writes docs/performance.md and the README's figures from the results of an earlier run.
pub fn write_pages() -> Result<()> {
    let results = workspace_root().join("target/bench/results.json");
    let read = std::fs::read_to_string(&results).with_context(|| {
        format!(
            "cannot read {}: run `cargo xtask bench` first",
            results.display()
        )
    })?;
    let report: Value =
        serde_json::from_str(&read).with_context(|| results.display().to_string())?;
    crate::performance_doc::write(&report)
}

/// Runs the benchmark on `machine` with freshly built guests: natively into `results` (then
/// `None`), or in its VM, returning the VM's report.
fn measure(machine: &'static Machine, results: &std::path::Path) -> Result<Option<Value>> {
    let guest_dir = guests::build(machine.arch)?;
    let Some(run) = machine.bench.as_ref().filter(|_| machine.qemu.is_some()) else {
        cargo()
            .args(["bench", "--quiet", "-p", "ucall-tests", "--bench", "ucalls"])
            .env("UCALL_GUEST_DIR", &guest_dir)
            .env("UCALL_BENCH_JSON", results)
            .run()?;
        return Ok(None);
    };
    let env = vec![
        ("UCALL_BENCH_ARCH".into(), run.label.into()),
        ("UCALL_BENCH_ROUNDS".into(), ROUNDS_IN_VMS.into()),
    ];
    let json = qemu::bench::bench(machine, &guest_dir, env)?;
    let report = serde_json::from_str::<Value>(&json)
        .with_context(|| format!("the benchmark's JSON from {machine}"))?;
    Ok(Some(report))
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
