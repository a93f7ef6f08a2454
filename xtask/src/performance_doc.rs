//! `docs/performance.md`, written by `cargo xtask bench` from the report it wrote
//! (`target/bench/results.json`): every figure on that page comes from a measurement, none is
//! typed by hand.

use crate::shell::workspace_root;
use serde_json::Value;
use std::fmt::Write as _;

/// The page, relative to the workspace root.
pub const PAGE: &str = "docs/performance.md";

/// The columns of the table of every architecture: the report's label and what it ran on.
const COLUMNS: [(&str, &str); 4] = [
    ("x86_64", "x86_64 (native)"),
    ("aarch64", "aarch64 (arm64 KVM, VHE, in QEMU)"),
    ("riscv64", "riscv64 (riscv64 KVM in QEMU)"),
    ("x86_64 kvm_amd", "x86_64 (kvm_amd in QEMU)"),
];

/// The rows of that table: what a row says, the figure's name, and whether the name ends in
/// `, <label>` (else it is the name as it is in that architecture's own report).
const ROWS: [(&str, &str, bool); 9] = [
    (
        "vCPU ioctls per SYNC ucall (`ucall-guest`)",
        "vCPU ioctls per SYNC ucall",
        true,
    ),
    ("SYNC ucall / raw exit", "SYNC ucall / raw exit", true),
    (
        "vCPU ioctls per plain SYNC ucall (seed's conventions)",
        "vCPU ioctls per plain SYNC ucall",
        true,
    ),
    (
        "plain SYNC ucall / raw exit",
        "plain SYNC ucall / raw exit",
        true,
    ),
    (
        "VM creation to first ucall (MMIO)",
        "VM creation to first ucall",
        true,
    ),
    (
        "guest tests per second (200 passing tests, a VM each, default threads)",
        "guest tests per second",
        true,
    ),
    ("log lines/s through the ring", "log lines/s, ring", false),
    ("log lines/s through PRINTF", "log lines/s, PRINTF", false),
    (
        "exits per 1000 log lines, ring (PRINTF: 1000)",
        "exits per 1000 log lines, ring",
        false,
    ),
];

/// How to read the native figures: what each comparison isolates, without numbers (the table
/// under it has them).
const READING: &str = "\
- `SYNC ucall, PIO / same guest, host only re-enters` (and MMIO): the same guest, the host \
  decoding every ucall (exit, page walk, record, watchdog) against only re-entering: what the \
  host's own work adds. `decode ... (host only)` is the decoding alone.
- `SYNC ucall + KVM_GET_REGS / raw PIO exit` and `SYNC ucall + complete-I/O KVM_RUN / raw PIO \
  exit`: what a register read per ucall, or re-entering to complete the I/O as the seed does, \
  would add; reading `rdi` and CR3 from KVM's synced registers saves both.
- `SYNC ucall, PIO / (record stores + raw PIO exit)`: against the floor of a ucall where guest \
  instructions are emulated (kvm_pvm): the record's stores and the bare exit. The `probe:` \
  figures measure single guest instructions the same way; `fixed transport` is a guest that \
  does not test `ucall_exit_mmio_addr` to choose its transport.
- `heap allocations per SYNC ucall`: what the host allocates per ucall.

";

/// The README's share of the figures: between these lines, rewritten with the page.
const README_START: &str = "<!-- figures: written by `cargo xtask bench`, do not edit -->";
const README_END: &str = "<!-- end of figures -->";

/// The rows of the README's short table (indexes into [`ROWS`]): the headline figures.
const README_ROWS: [usize; 4] = [0, 1, 4, 5];

/// Writes the page and the README's figures from `report` (the whole `results.json`).
pub fn write(report: &Value) -> anyhow::Result<()> {
    let path = workspace_root().join(PAGE);
    std::fs::write(&path, page(report)).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    println!("wrote {PAGE}");
    let readme = workspace_root().join("README.md");
    let text = std::fs::read_to_string(&readme)
        .map_err(|e| anyhow::anyhow!("{}: {e}", readme.display()))?;
    let with_figures =
        readme_with_figures(&text, &table(report, &README_ROWS)).ok_or_else(|| {
            anyhow::anyhow!("README.md lacks the lines {README_START} and {README_END}")
        })?;
    std::fs::write(&readme, with_figures)
        .map_err(|e| anyhow::anyhow!("{}: {e}", readme.display()))?;
    println!("wrote the figures of README.md");
    Ok(())
}

/// `readme` with the lines between its figure markers replaced by `figures`.
fn readme_with_figures(readme: &str, figures: &str) -> Option<String> {
    let (before, rest) = readme.split_once(README_START)?;
    let (_, after) = rest.split_once(README_END)?;
    Some(format!(
        "{before}{README_START}\n{figures}{README_END}{after}"
    ))
}

/// The table of every architecture with the rows `rows` of [`ROWS`].
fn table(report: &Value, rows: &[usize]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| figure: median (min-max) of the rounds | {} |",
        COLUMNS.map(|(_, title)| title).join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(COLUMNS.len()));
    for &(title, name, per_arch) in rows.iter().filter_map(|&row| ROWS.get(row)) {
        let cells: Vec<String> = COLUMNS
            .iter()
            .map(|&(label, _)| {
                let figures = arch_figures(report, label);
                let wanted = if per_arch {
                    format!("{name}, {label}")
                } else {
                    name.to_owned()
                };
                find(figures, &wanted).map_or_else(|| "-".to_owned(), range)
            })
            .collect();
        let _ = writeln!(out, "| {title} | {} |", cells.join(" | "));
    }
    out
}

/// The page's Markdown.
fn page(report: &Value) -> String {
    let mut out = String::from(
        "<!-- Generated by `cargo xtask bench` from target/bench/results.json \
         (xtask/src/performance_doc.rs): do not edit by hand, run the bench. -->\n\
         # Performance\n\n\
         `cargo xtask bench` runs the benchmark `tests/benches/ucalls/` natively (x86_64) and \
         inside the QEMU machines of [architectures.md](architectures.md), each with the guests \
         built for it, and writes every figure to `target/bench/results.json`; this page is \
         generated from that file by the same command. Exit figures are measured in \
         interleaved rounds (a batch of exits of each kind per round, in a rotating order, so \
         that load from the rest of the machine hits all alike); a figure is the median of its \
         rounds, shown with the lowest and highest round. Inside QEMU (TCG) every exit is \
         emulated and costs tens of microseconds, so read the counts and the ratios there, not \
         the times.\n\n\
         ## Every architecture\n\n",
    );
    let every_row: Vec<usize> = (0..ROWS.len()).collect();
    out.push_str(&table(report, &every_row));
    out.push_str(
        "\nThe raw exit is the same guest's MMIO store without a record, re-entered by the host \
         alone. A plain ucall (a guest in the seed's conventions: the record's address alone) \
         costs a register read where KVM syncs no registers (aarch64, riscv64); `ucall-guest`'s \
         rooted ucall brings the table root with the exit instead. The count of vCPU ioctls is \
         the figure that carries over to hardware KVM; `tests/tests/cost.rs` asserts it on every \
         architecture. Guest tests per second: the wall time of `ucall_host::harness` running \
         `bench_tests_200` (200 tests that pass at once, each in a VM of its own, as many at \
         a time as the machine has cores), against the time of one VM's creation above. A `-` \
         is a figure that run did not measure (the log-ring figures come from x86_64 hosts \
         only).\n",
    );
    if COLUMNS
        .iter()
        .any(|&(label, _)| arch_report(report, label).is_some())
    {
        out.push_str("\nMachines:\n\n");
    }
    for &(label, title) in &COLUMNS {
        if let Some(arch) = arch_report(report, label) {
            let _ = writeln!(
                out,
                "- {title}: {}, {} rounds",
                arch["machine"].as_str().unwrap_or("unknown machine"),
                arch["rounds"]
            );
        }
    }
    let native = arch_figures(report, "x86_64");
    out.push_str("\n## Every figure of the native run\n\n");
    if native.is_empty() {
        out.push_str("No results yet: run `cargo xtask bench`.\n");
        return out;
    }
    out.push_str(READING);
    out.push_str("| figure | median | min | max |\n|---|---|---|---|\n");
    for figure in native {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            figure["name"].as_str().unwrap_or_default(),
            shown(figure, "median"),
            shown(figure, "min"),
            shown(figure, "max")
        );
    }
    out
}

/// The report of the architecture `label`: the top level for the native run, else its entry
/// under `architectures`.
fn arch_report<'a>(report: &'a Value, label: &str) -> Option<&'a Value> {
    let arch = if label == "x86_64" {
        report
    } else {
        &report["architectures"][label]
    };
    arch["figures"].is_array().then_some(arch)
}

fn arch_figures<'a>(report: &'a Value, label: &str) -> &'a [Value] {
    arch_report(report, label)
        .and_then(|arch| arch["figures"].as_array())
        .map_or(&[], Vec::as_slice)
}

fn find<'a>(figures: &'a [Value], name: &str) -> Option<&'a Value> {
    figures.iter().find(|figure| figure["name"] == name)
}

/// "median (min-max)", or the median alone in bold when the three agree (a count).
fn range(figure: &Value) -> String {
    let value = |key: &str| figure[key].as_f64().unwrap_or(f64::NAN);
    if value("min") == value("max") {
        return format!("**{}**", shown(figure, "median"));
    }
    format!(
        "{} ({}-{})",
        shown(figure, "median"),
        shown(figure, "min"),
        shown(figure, "max")
    )
}

/// The figure's `key` value as the benchmark's own table shows it (written beside the number).
fn shown<'a>(figure: &'a Value, key: &str) -> &'a str {
    figure["shown"][key].as_str().unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn figure(name: &str, unit: &str, (median, min, max): (f64, f64, f64)) -> Value {
        let shown = |value: f64| match unit {
            "ratio" => format!("{value:.2}x"),
            _ => format!("{value:.0}"),
        };
        json!({
            "name": name, "unit": unit, "median": median, "min": min, "max": max, "rounds": 3,
            "shown": { "median": shown(median), "min": shown(min), "max": shown(max) },
        })
    }

    #[test]
    fn each_architecture_fills_its_column_from_its_own_report() {
        let report = json!({
            "machine": "x86_64 test machine", "rounds": 3,
            "figures": [figure("SYNC ucall / raw exit, x86_64", "ratio", (2.0, 1.5, 2.5))],
            "architectures": { "aarch64": {
                "machine": "aarch64 test machine", "rounds": 3,
                "figures": [figure("SYNC ucall / raw exit, aarch64", "ratio", (1.14, 1.13, 1.15))],
            } },
        });
        let page = page(&report);
        assert!(
            page.contains(
                "| SYNC ucall / raw exit | 2.00x (1.50x-2.50x) | 1.14x (1.13x-1.15x) | - | - |"
            ),
            "{page}"
        );
        assert!(page.contains("- x86_64 (native): x86_64 test machine, 3 rounds"));
    }

    #[test]
    fn a_count_that_never_varies_is_shown_once_in_bold() {
        let ioctls = figure(
            "vCPU ioctls per SYNC ucall, x86_64",
            "count",
            (1.0, 1.0, 1.0),
        );
        assert_eq!(range(&ioctls), "**1**");
    }

    #[test]
    fn the_readme_figures_replace_what_stands_between_the_markers_and_nothing_else() {
        let readme = format!("# ucall\n{README_START}\nold\n{README_END}\nrest\n");
        assert_eq!(
            readme_with_figures(&readme, "new\n").as_deref(),
            Some(format!("# ucall\n{README_START}\nnew\n{README_END}\nrest\n").as_str())
        );
        assert_eq!(readme_with_figures("# no markers\n", "new\n"), None);
    }

    #[test]
    fn without_results_the_page_says_how_to_get_them() {
        assert!(page(&json!({})).ends_with("No results yet: run `cargo xtask bench`.\n"));
    }
}
