//! The results of a boot: the markers `/init` printed, read back into pass or fail per
//! command, with the console tail when the run did not finish.

use super::BootOptions;
use super::boot::{BootOutput, boot};
use crate::shell::tail;
use anyhow::{Result, anyhow};
use ucall_init_protocol::{Marker, Outcome};

/// How one command ran.
#[derive(Debug, Clone)]
pub struct CommandResult {
    /// Its name in the config.
    pub name: String,
    /// How it ended; `None`: BEGIN without END, the VM died or timed out while it ran.
    pub outcome: Option<Outcome>,
    /// Run time measured inside the VM (absent if unfinished).
    pub guest_ms: Option<u64>,
    /// The console lines between BEGIN and END (the command's output, plus any kernel lines).
    pub output: String,
    /// The exit status that counts as passing.
    pub expected_status: i32,
}

impl CommandResult {
    fn unfinished(name: String) -> CommandResult {
        CommandResult {
            name,
            outcome: None,
            guest_ms: None,
            output: String::new(),
            expected_status: 0,
        }
    }

    /// It exited with its expected status (0 unless [`RunReport::expect_status`] said else).
    pub fn passed(&self) -> bool {
        self.outcome == Some(Outcome::Exited(self.expected_status))
    }

    /// It ended (whatever its status): it was not cut off by a crash or the timeout.
    pub fn finished(&self) -> bool {
        self.outcome.is_some()
    }
}
/// Everything learned from one run.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub boot: BootOutput,
    /// `uname -r` seen by `/init` (None: `/init` never started).
    pub kernel_release: Option<String>,
    pub setup_error: Option<String>,
    pub commands: Vec<CommandResult>,
    /// The DONE marker was seen.
    pub done: bool,
    /// Commands named in the config that never printed BEGIN.
    pub not_started: Vec<String>,
}

impl RunReport {
    /// Parses the console of `boot`; `expected` are the command names in the config.
    pub fn parse(boot: BootOutput, expected: &[&str]) -> RunReport {
        let mut report = RunReport {
            kernel_release: None,
            setup_error: None,
            commands: Vec::new(),
            done: false,
            not_started: Vec::new(),
            boot,
        };
        let mut current: Option<CommandResult> = None;
        for line in report.boot.console.lines() {
            let Some((before, marker)) = Marker::find(line) else {
                if let Some(cmd) = current.as_mut() {
                    cmd.output.push_str(line);
                    cmd.output.push('\n');
                }
                continue;
            };
            // Output that preceded the marker on the same line belongs to the command.
            if let Some(cmd) = current.as_mut().filter(|_| !before.is_empty()) {
                cmd.output.push_str(before);
                cmd.output.push('\n');
            }
            match marker {
                Marker::Start { kernel, .. } => report.kernel_release = Some(kernel),
                Marker::SetupError(why) => report.setup_error = Some(why),
                Marker::Begin(name) => {
                    // A BEGIN while another command is open: that one never ended.
                    report.commands.extend(current.take());
                    current = Some(CommandResult::unfinished(name));
                }
                Marker::End { name, outcome, ms } => {
                    let mut cmd = match current.take() {
                        Some(c) if c.name == name => c,
                        other => {
                            report.commands.extend(other);
                            CommandResult::unfinished(name)
                        }
                    };
                    cmd.outcome = Some(outcome);
                    cmd.guest_ms = Some(ms);
                    report.commands.push(cmd);
                }
                Marker::Done { .. } => report.done = true,
                Marker::Module { .. } | Marker::Warning(_) => {} // informational
            }
        }
        report.commands.extend(current);
        report.not_started = expected
            .iter()
            .filter(|name| !report.commands.iter().any(|c| c.name == **name))
            .map(|name| name.to_string())
            .collect();
        report
    }

    /// Makes `status` the passing exit status of the command `name` (a test program whose
    /// tests fail on purpose, checked by its output instead).
    pub fn expect_status(&mut self, name: &str, status: i32) {
        for c in self.commands.iter_mut().filter(|c| c.name == name) {
            c.expected_status = status;
        }
    }

    /// One line per problem; empty if the run passed.
    pub fn failures(&self) -> Vec<String> {
        let m = self.boot.machine;
        let mut out = Vec::new();
        if let Some(e) = &self.setup_error {
            out.push(format!("{m}: /init setup failed: {e}"));
        }
        for c in &self.commands {
            match &c.outcome {
                Some(Outcome::Exited(code)) if *code == c.expected_status => {}
                Some(Outcome::Exited(code)) => {
                    out.push(format!("{m}: {} exited with status {code}", c.name))
                }
                Some(Outcome::Signaled(sig)) => {
                    out.push(format!("{m}: {} killed by signal {sig}", c.name))
                }
                Some(Outcome::SpawnError(e)) => {
                    out.push(format!("{m}: {} could not start: {e}", c.name))
                }
                None => out.push(format!("{m}: {} never finished", c.name)),
            }
        }
        for name in &self.not_started {
            if self.setup_error.is_none() {
                out.push(format!("{m}: {name} never started"));
            }
        }
        if !self.done && self.setup_error.is_none() {
            let why = if self.boot.timed_out {
                format!("timed out after {:.1?}; QEMU killed", self.boot.elapsed)
            } else if self.kernel_release.is_none() {
                "the kernel never started /init (boot failure or kernel panic?)".to_string()
            } else {
                "/init did not print DONE (crash or kernel panic?)".to_string()
            };
            out.push(format!("{m}: {why}"));
        }
        if let Some(status) = self.boot.status.filter(|s| !self.done && !s.success()) {
            out.push(format!("{m}: QEMU exited with {status}"));
        }
        if !self.done && !self.boot.qemu_stderr.trim().is_empty() {
            out.push(format!(
                "{m}: QEMU stderr: {}",
                self.boot.qemu_stderr.trim()
            ));
        }
        out
    }

    /// Ok if every command passed; otherwise an error listing the failures, then the output of
    /// each failed command, then (if the run did not finish) the end of the console, which
    /// usually shows the panic or the test's last words.
    pub fn check(&self) -> Result<()> {
        let failures = self.failures();
        if failures.is_empty() {
            return Ok(());
        }
        let m = self.boot.machine;
        let mut msg = failures.join("\n");
        for c in self.commands.iter().filter(|c| !c.passed() && c.finished()) {
            msg.push_str(&format!(
                "\n--- output of {} ({m}) ---\n{}",
                c.name,
                tail(&c.output, 30)
            ));
        }
        if !self.done {
            // The blank lines /init prints before each marker only waste room here.
            let console: String = self
                .boot
                .console
                .lines()
                .filter(|l| !l.is_empty())
                .map(|l| format!("{l}\n"))
                .collect();
            let shown = if console.is_empty() {
                "(nothing)\n".to_string()
            } else {
                tail(&console, 40)
            };
            msg.push_str(&format!("\n--- last console lines ({m}) ---\n{shown}"));
        }
        Err(anyhow!(msg))
    }
}

/// Boots `initrd` and parses the result: [`boot`] plus [`RunReport::parse`]. `expected` are the
/// command names in the initramfs's config, so that commands that never started are reported.
pub fn run(
    options: &BootOptions,
    expected: &[&str],
    on_line: &mut dyn FnMut(&str),
) -> Result<RunReport> {
    Ok(RunReport::parse(boot(options, on_line)?, expected))
}

// ---------------------------------------------------------------------------------------------
// Tests (host only; the VM path is exercised by the demo / xtask)
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use crate::machines;
    use std::time::Duration;

    fn fake_boot(console: &str) -> BootOutput {
        BootOutput {
            machine: machines::by_name("x86_64-kvm-amd").unwrap(),
            console: console.to_string(),
            qemu_stderr: String::new(),
            status: None,
            timed_out: false,
            killed_after_done: false,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn a_run_with_every_marker_and_status_0_passes_with_the_commands_output() {
        let console = "boot noise\nUCALL-INIT: START kernel=6.1.0-x machine=x86_64\n\
                       UCALL-INIT: BEGIN a\nhello\nno newline UCALL-INIT: END a status=0 ms=5\n\
                       UCALL-INIT: DONE total=1 failed=0\n";
        let r = RunReport::parse(fake_boot(console), &["a"]);
        assert_eq!(r.failures(), Vec::<String>::new());
        assert_eq!(r.kernel_release.as_deref(), Some("6.1.0-x"));
        assert_eq!(r.commands.len(), 1);
        assert_eq!(r.commands[0].outcome, Some(Outcome::Exited(0)));
        assert_eq!(r.commands[0].output, "hello\nno newline \n");
        assert_eq!(r.commands[0].guest_ms, Some(5));
    }

    #[test]
    fn a_run_cut_off_in_a_command_fails_with_the_console_tail() {
        let console = "UCALL-INIT: START kernel=k machine=m\nUCALL-INIT: BEGIN a\nKernel panic\n";
        let r = RunReport::parse(fake_boot(console), &["a", "b"]);
        assert_eq!(
            r.failures(),
            [
                "x86_64-kvm-amd: a never finished",
                "x86_64-kvm-amd: b never started",
                "x86_64-kvm-amd: /init did not print DONE (crash or kernel panic?)",
            ]
        );
        assert!(r.check().is_err_and(|e| e.to_string().ends_with(
            "--- last console lines (x86_64-kvm-amd) ---\n\
             UCALL-INIT: START kernel=k machine=m\nUCALL-INIT: BEGIN a\nKernel panic\n"
        )));
    }

    #[test]
    fn a_command_killed_by_a_signal_fails() {
        let console = "UCALL-INIT: BEGIN a\nUCALL-INIT: END a signal=11 ms=1\n\
                       UCALL-INIT: DONE total=1 failed=1\n";
        let r = RunReport::parse(fake_boot(console), &["a"]);
        assert_eq!(r.failures(), ["x86_64-kvm-amd: a killed by signal 11"]);
    }

    /// The failures of a run of one command `a`, expected to exit with 101, that exits with
    /// `status` (which /init counts as failed unless it is 0).
    fn failures_when_101_is_expected(status: i32) -> Vec<String> {
        let console = format!(
            "UCALL-INIT: BEGIN a\nUCALL-INIT: END a status={status} ms=1\n\
             UCALL-INIT: DONE total=1 failed={}\n",
            u8::from(status != 0)
        );
        let mut r = RunReport::parse(fake_boot(&console), &["a"]);
        r.expect_status("a", 101);
        r.failures()
    }

    #[test]
    fn a_command_that_exits_with_its_expected_nonzero_status_passes() {
        assert_eq!(failures_when_101_is_expected(101), Vec::<String>::new());
    }

    #[test]
    fn a_command_that_exits_with_0_instead_of_its_expected_status_fails() {
        assert_eq!(
            failures_when_101_is_expected(0),
            ["x86_64-kvm-amd: a exited with status 0"]
        );
    }

    #[test]
    fn a_setup_error_is_the_only_failure() {
        let console = "UCALL-INIT: SETUP-ERROR required path /dev/kvm does not exist\n";
        let r = RunReport::parse(fake_boot(console), &["a"]);
        assert_eq!(
            r.failures(),
            ["x86_64-kvm-amd: /init setup failed: required path /dev/kvm does not exist"]
        );
    }
}
