//! What a run prints and writes: the machine, the table, the JSON.

use crate::figure::Figure;
use serde_json::{Value, json};
use std::fmt::Write as _;

/// The machine, as far as the figures depend on it.
pub(crate) fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        // arm64's and riscv64's /proc/cpuinfo name no model.
        .map(|model| format!(", {model}"))
        .unwrap_or_default();
    let cores = match std::thread::available_parallelism().map_or(0, usize::from) {
        1 => "1 core".to_owned(),
        n => format!("{n} cores"),
    };
    let kvm = if std::path::Path::new("/sys/module/kvm_pvm").exists() {
        "kvm_pvm (software hypervisor)"
    } else if std::path::Path::new("/sys/module/kvm_intel").exists() {
        "kvm_intel"
    } else if std::path::Path::new("/sys/module/kvm_amd").exists() {
        "kvm_amd"
    } else {
        // Built into the kernel, as arm64's is: no module to name it.
        "KVM"
    };
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let arch = std::env::consts::ARCH;
    format!("{arch} {kvm}, {cores}{cpu}, Linux {kernel}")
}

/// `value` in `unit` as people read it; the JSON carries it too (`shown`), so that the pages
/// `cargo xtask bench` writes show the figures as this table does.
fn human(value: f64, unit: &str) -> String {
    match unit {
        "ns" if value >= 1e6 => format!("{:.2} ms", value / 1e6),
        "ns" if value >= 1e3 => format!("{:.2} us", value / 1e3),
        "ns" => format!("{value:.1} ns"),
        "ratio" => format!("{value:.2}x"),
        "count" if value.fract() == 0.0 => format!("{value:.0}"),
        "ucalls/s" | "tests/s" | "lines/s" => format!("{value:.0}/s"),
        _ => format!("{value:.2}"),
    }
}

pub(crate) fn table(figures: &[Figure], machine: &str, rounds: usize) -> String {
    let mut out = format!(
        "ucall benchmarks on {machine}\n{rounds} interleaved rounds; median, then min and max\n\n"
    );
    let _ = writeln!(
        out,
        "{:<52} {:>11} {:>11} {:>11}",
        "figure", "median", "min", "max"
    );
    for figure in figures {
        let _ = writeln!(
            out,
            "{:<52} {:>11} {:>11} {:>11}",
            figure.name,
            human(figure.median(), figure.unit),
            human(figure.min(), figure.unit),
            human(figure.max(), figure.unit),
        );
    }
    out
}

/// The figures as JSON: the machine, the rounds, and each figure's name, unit, median, min, max,
/// number of rounds, and the three values as the table shows them.
pub(crate) fn json(figures: &[Figure], machine: &str, rounds: usize) -> String {
    let figures: Vec<Value> = figures
        .iter()
        .map(|figure| {
            json!({
                "name": figure.name,
                "unit": figure.unit,
                "median": figure.median(),
                "min": figure.min(),
                "max": figure.max(),
                "rounds": figure.samples.len(),
                "shown": {
                    "median": human(figure.median(), figure.unit),
                    "min": human(figure.min(), figure.unit),
                    "max": human(figure.max(), figure.unit),
                },
            })
        })
        .collect();
    let report = json!({ "machine": machine, "rounds": rounds, "figures": figures });
    // A Value of strings and numbers always serialises.
    serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
}
