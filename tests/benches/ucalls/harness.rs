//! Guest tests per second: the 200 trivial passing tests of `bench_tests_200`, each in a fresh
//! VM (`ucall_host::harness`, what `ucall-run` runs a test program with), on as many threads as
//! the machine has cores (the runner's default `--test-threads`); the wall time of the whole
//! run, once per round.

use crate::Result;
use crate::figure::Figure;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use ucall_host::harness::{TestOptions, TestProgram};
use ucall_tests::guest;

/// Runs the whole program `rounds` times after a warm-up and returns the figure.
pub(crate) fn tests_per_second(arch: &str, rounds: usize, timeout: Duration) -> Result<Figure> {
    let elf = guest("bench_tests_200");
    let program = TestProgram::parse(&elf)
        .map_err(|e| format!("bench_tests_200: {e}"))?
        .ok_or("bench_tests_200 has no test table")?;
    let tests = program.tests();
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let options = TestOptions {
        default_timeout: timeout,
        ..TestOptions::default()
    };
    let mut figure = Figure::new(format!("guest tests per second, {arch}"), "tests/s");
    for round in 0..=rounds {
        let (next, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let started = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    while let Some(test) = tests.get(next.fetch_add(1, Ordering::Relaxed)) {
                        if !program.run(test, &options, &|_, _| {}).verdict.passed() {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        let elapsed = started.elapsed();
        let failed = failed.into_inner();
        if failed != 0 {
            return Err(format!("{failed} of bench_tests_200's tests failed"));
        }
        if round > 0 {
            figure
                .samples
                .push(tests.len() as f64 / elapsed.as_secs_f64());
        }
    }
    Ok(figure)
}
