//! `cargo xtask bench`: the ucall benchmarks (`tests/benches/ucalls.rs`), release build, against
//! freshly built guests.

use crate::arch::Arch;
use crate::guests;
use crate::shell::{Run, Step, cargo, workspace_root};

/// Builds the guests, then runs the benchmark binary, which prints its table and writes
/// `target/bench/results.json`.
pub fn run() -> Result<(), String> {
    let mut step = Step::new(2);
    step.start("building the guests");
    let guest_dir = guests::build(Arch::X86_64)?;

    step.start("running the benchmarks (release build; about a minute of measuring)");
    let results = workspace_root().join("target/bench/results.json");
    cargo()
        .args(["bench", "--quiet", "-p", "ucall-tests", "--bench", "ucalls"])
        .env("UCALL_GUEST_DIR", &guest_dir)
        .env("UCALL_BENCH_JSON", &results)
        .run()
}
