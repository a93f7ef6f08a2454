//! Running commands, with the progress lines and errors a person wants to see.

use anyhow::{Context, Result, bail};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    fn run(&mut self) -> Result<()>;
    /// Runs it without input and returns its stdout; an error names the command and shows the
    /// end of its output, which is where apt and cargo put the reason.
    fn output_text(&mut self) -> Result<String>;
}

impl Run for Command {
    fn run(&mut self) -> Result<()> {
        // Say what runs, so a long step is never a silent terminal.
        say(&format!("$ {}", describe(self)));
        let status = self
            .status()
            .with_context(|| format!("cannot start {}", describe(self)))?;
        if !status.success() {
            bail!("{} failed ({status})", describe(self));
        }
        Ok(())
    }

    fn output_text(&mut self) -> Result<String> {
        let output = self
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot start {} (is it installed?)", describe(self)))?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "{} failed ({}):\n{}{}",
                describe(self),
                output.status,
                tail(&stdout, 20),
                tail(&String::from_utf8_lossy(&output.stderr), 20)
            );
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

thread_local! {
    /// The lane this thread works for (see [`crate::timing`]); its lines carry its name.
    static LANE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `work` with this thread's lines prefixed with `[lane]`.
pub fn with_lane<T>(lane: &str, work: impl FnOnce() -> T) -> T {
    let outer = LANE.with(|current| current.replace(Some(lane.to_string())));
    let result = work();
    LANE.with(|current| *current.borrow_mut() = outer);
    result
}

/// Whether this thread works in a lane: several run at once, so cargo is asked to be quiet.
pub fn in_lane() -> bool {
    LANE.with(|current| current.borrow().is_some())
}

/// A progress line on stderr (never mixed with a command's stdout), indented, with the lane's
/// name when there is one.
pub fn say(line: &str) {
    LANE.with(|current| match current.borrow().as_deref() {
        Some(lane) => eprintln!("    [{lane}] {line}"),
        None => eprintln!("    {line}"),
    });
}
