//! Where the time goes: every step of a command is timed, in its lane (this machine's checks,
//! an architecture's builds, a machine's boot), and the table is printed at the end.

use anyhow::Result;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One timed step.
#[derive(Debug, Clone)]
struct Row {
    lane: String,
    step: String,
    /// Seconds from the start of the command.
    start: f64,
    seconds: f64,
    /// What else there is to say: a failure, what a boot spent on its commands.
    note: String,
}

static ROWS: Mutex<Vec<Row>> = Mutex::new(Vec::new());

/// When the command started: the first time anything asked.
fn started() -> Instant {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

/// Starts the clock.
pub fn start() {
    started();
}

/// Runs the step `step` of `lane` with its start announced, and records how long it took
/// (also when it failed). The lane prefixes every line the step prints (see
/// [`crate::shell::say`]).
pub fn step<T>(lane: &str, step: &str, run: impl FnOnce() -> Result<T>) -> Result<T> {
    let at = started().elapsed();
    crate::shell::with_lane(lane, || {
        eprintln!("==> [{lane}] {step} (at {:.0}s)", at.as_secs_f64());
        let begun = Instant::now();
        let result = run();
        let note = match &result {
            Ok(_) => String::new(),
            Err(_) => "FAILED".to_string(),
        };
        record(lane, step, at, begun.elapsed(), note);
        result
    })
}

/// Records a step that was timed elsewhere (a QEMU boot), ending now.
pub fn note(lane: &str, step: &str, took: Duration, note: &str) {
    let at = started().elapsed().saturating_sub(took);
    record(lane, step, at, took, note.to_string());
}

fn record(lane: &str, step: &str, at: Duration, took: Duration, note: String) {
    let row = Row {
        lane: lane.into(),
        step: step.into(),
        start: at.as_secs_f64(),
        seconds: took.as_secs_f64(),
        note,
    };
    if let Ok(mut rows) = ROWS.lock() {
        rows.push(row);
    }
}

/// The table of every step, in the order they started, and the wall time.
pub fn table() -> String {
    let mut rows = ROWS.lock().map(|rows| rows.clone()).unwrap_or_default();
    rows.sort_by(|a, b| a.start.total_cmp(&b.start));
    render(&rows, started().elapsed())
}

fn render(rows: &[Row], wall: Duration) -> String {
    let lane_width = rows.iter().map(|r| r.lane.len()).max().unwrap_or(0).max(4);
    let step_width = rows.iter().map(|r| r.step.len()).max().unwrap_or(0).max(4);
    let mut text = format!(
        "{:<lane_width$}  {:<step_width$}  {:>7}  {:>7}\n",
        "lane", "step", "start s", "took s"
    );
    for row in rows {
        let line = format!(
            "{:<lane_width$}  {:<step_width$}  {:>7.0}  {:>7.1}  {}",
            row.lane, row.step, row.start, row.seconds, row.note
        );
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text.push_str(&format!("wall time: {:.0} s\n", wall.as_secs_f64()));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_line_per_step_with_lane_step_start_and_seconds() {
        let rows = [Row {
            lane: "aarch64-vhe".into(),
            step: "QEMU".into(),
            start: 12.0,
            seconds: 38.14,
            note: "30.0 s of it the commands".into(),
        }];
        assert_eq!(
            render(&rows, Duration::from_secs(61)),
            "lane         step  start s   took s\n\
             aarch64-vhe  QEMU       12     38.1  30.0 s of it the commands\n\
             wall time: 61 s\n"
        );
    }
}
