//! Running commands, with the progress lines and errors a person wants to see.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// The workspace's root folder (xtask lives one below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The cargo arguments that select the `ucall-run` runner binary.
pub const RUNNER_BIN: [&str; 6] = [
    "-p",
    "ucall-host",
    "--features",
    "runner",
    "--bin",
    "ucall-run",
];

/// `cargo`, as the one running xtask, in the workspace root.
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// Running a command to completion, failing on a non-zero exit.
pub trait Run {
    /// Runs it with inherited stdio; an error names the command and its status.
    fn run(&mut self) -> Result<(), String>;
    /// Runs it without input and returns its stdout; an error names the command and shows the
    /// end of its output, which is where apt and cargo put the reason.
    fn output_text(&mut self) -> Result<String, String>;
}

impl Run for Command {
    fn run(&mut self) -> Result<(), String> {
        // Say what runs, so a long step is never a silent terminal.
        eprintln!("    $ {}", describe(self));
        let status = self
            .status()
            .map_err(|e| format!("cannot start {}: {e}", describe(self)))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{} failed ({status})", describe(self)))
        }
    }

    fn output_text(&mut self) -> Result<String, String> {
        let output = self
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot start {} (is it installed?): {e}", describe(self)))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            return Err(format!(
                "{} failed ({}):\n{}{}",
                describe(self),
                output.status,
                tail(&stdout, 20),
                tail(&String::from_utf8_lossy(&output.stderr), 20)
            ));
        }
        Ok(stdout)
    }
}

/// The last `n` lines of `text`, each followed by a newline.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(n);
    lines[start..].iter().map(|l| format!("{l}\n")).collect()
}

/// The command as a shell line, to show what runs.
pub fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Numbered progress lines for the steps of a long task.
pub struct Step {
    total: usize,
    done: usize,
    started: Instant,
}

impl Step {
    pub fn new(total: usize) -> Self {
        Step {
            total,
            done: 0,
            started: Instant::now(),
        }
    }

    pub fn start(&mut self, what: &str) {
        self.done += 1;
        eprintln!(
            "==> [{}/{}] {what} (at {:.0}s)",
            self.done,
            self.total,
            self.started.elapsed().as_secs_f64()
        );
    }

    /// The closing line: every step passed, and how long it all took.
    pub fn finish(&self) {
        eprintln!(
            "==> all {} steps passed in {:.0?}",
            self.done,
            self.started.elapsed()
        );
    }
}
