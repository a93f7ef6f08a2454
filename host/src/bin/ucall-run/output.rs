//! What the runner prints: for people, one line per ucall (colored when stdout is a terminal)
//! with the guest's text made visible, so that every line is a whole ucall line or the
//! runner's own; for machines (`--json`), one exact JSON object per line.

use anstream::AutoStream;
use anstyle::{AnsiColor, Style};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::io::{Stderr, Stdout};
use std::process::ExitCode;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;
use ucall_host::Ucall;
use ucall_host::vm::RunError;

/// stdout for people, colored or not as decided once, at its first line (`anstream::println!`
/// asks the terminal at every line: an ioctl per ucall).
pub static STDOUT: LazyLock<Mutex<AutoStream<Stdout>>> =
    LazyLock::new(|| Mutex::new(AutoStream::auto(std::io::stdout())));
/// stderr for people, likewise.
pub static STDERR: LazyLock<Mutex<AutoStream<Stderr>>> =
    LazyLock::new(|| Mutex::new(AutoStream::auto(std::io::stderr())));

/// `println!` to [`STDOUT`]. A closed stdout does not stop the guests: the exit status still
/// tells how they ended.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(
            $crate::output::STDOUT
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            $($arg)*
        );
    }};
}

/// `eprintln!` to [`STDERR`].
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(
            $crate::output::STDERR
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
            $($arg)*
        );
    }};
}
pub(crate) use err;

const DIM: Style = Style::new().dimmed();
const GOOD: Style = AnsiColor::Green.on_default().bold();
const BAD: Style = AnsiColor::Red.on_default().bold();
const SYNC: Style = AnsiColor::Cyan.on_default();
const PRINTF: Style = AnsiColor::Yellow.on_default();
const LOG: Style = PRINTF.dimmed();
const CALL: Style = AnsiColor::Blue.on_default();

/// How one vCPU's run ended.
pub enum Outcome {
    Done(usize),
    Abort(usize),
    /// The vCPU took an exception it had no handler for.
    Unhandled(usize),
    Failed(usize, RunError),
    /// The vCPU's thread panicked (a bug in this runner, reported like an error).
    Panicked,
}

/// Where lines go: people or machines.
#[derive(Clone, Copy)]
pub enum Output {
    Human,
    Json,
}

/// `text` dimmed (when stdout is a terminal).
pub fn dim(text: &str) -> String {
    format!("{DIM}{text}{DIM:#}")
}

/// `text` with every control character written out: `\n`, `\r`, `\t`, `\e` for escape and
/// `\u{..}` for the other C0 and C1 controls and the Unicode line and paragraph separators,
/// so that guest text can neither start a line nor move the cursor.
pub fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x1b' => out.push_str("\\e"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

impl Output {
    /// Prints one ucall of vCPU `vcpu`.
    pub fn ucall(self, vcpu: usize, ucall: &Ucall) {
        match self {
            Output::Human => {
                let style = match ucall {
                    Ucall::Sync { .. } => SYNC,
                    Ucall::Printf(_) => PRINTF,
                    Ucall::Log(_) => LOG,
                    Ucall::Abort(_) | Ucall::Unhandled(_) => BAD,
                    Ucall::Done => GOOD,
                    Ucall::Call { .. } => CALL,
                    // A command this runner does not know yet prints plain.
                    _ => PRINTF,
                };
                let text = visible(&ucall.to_string());
                out!("{DIM}vcpu {vcpu}:{DIM:#} {style}{text}{style:#}");
            }
            Output::Json => println!("{}", ucall_json(vcpu, ucall)),
        }
    }

    /// Prints an error as it happens, on stderr, one line.
    pub fn error(self, message: &str) {
        let message = visible(message);
        match self {
            Output::Human => err!("{BAD}ucall-run:{BAD:#} {message}"),
            Output::Json => eprintln!("ucall-run: {message}"),
        }
    }

    /// Prints the summary and returns the exit status: the worst outcome of any vCPU. Errors
    /// were printed when they happened; the JSON summary lists them again.
    pub fn summary(self, outcomes: &[Outcome], started: Instant) -> ExitCode {
        let elapsed = started.elapsed();
        let mut ucalls = 0;
        let mut code = 0u8;
        let mut errors = Vec::new();
        let mut unhandled = false;
        for (vcpu, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Outcome::Done(n) => ucalls += n,
                Outcome::Abort(n) => {
                    ucalls += n;
                    code = code.max(1);
                }
                Outcome::Unhandled(n) => {
                    ucalls += n;
                    code = 2;
                    unhandled = true;
                }
                Outcome::Failed(n, e) => {
                    ucalls += n;
                    code = 2;
                    errors.push((vcpu, e.to_string()));
                }
                Outcome::Panicked => {
                    code = 2;
                    let message = format!("vCPU {vcpu}'s thread panicked");
                    self.error(&message);
                    errors.push((vcpu, message));
                }
            }
        }
        let verdict = match ["DONE", "ABORT", "ERROR"][usize::from(code)] {
            "ERROR" if unhandled && errors.is_empty() => "UNHANDLED",
            verdict => verdict,
        };
        match self {
            Output::Human => {
                let style = if code == 0 { GOOD } else { BAD };
                out!(
                    "{style}{verdict}{style:#}: {ucalls} ucalls from {} vCPU(s) in {elapsed:.1?}",
                    outcomes.len(),
                );
            }
            Output::Json => {
                let errors: Vec<Value> = errors
                    .iter()
                    .map(|(vcpu, message)| json!({ "vcpu": vcpu, "message": message }))
                    .collect();
                println!(
                    "{}",
                    json!({
                        "kind": "summary",
                        "outcome": verdict,
                        "ucalls": ucalls,
                        "vcpus": outcomes.len(),
                        "seconds": elapsed.as_secs_f64(),
                        "errors": errors,
                    })
                );
            }
        }
        ExitCode::from(code)
    }

    /// Reports an error that stops the run before any vCPU ran; exit status 2.
    pub fn fatal(self, reason: &str, started: Instant) -> ExitCode {
        self.error(reason);
        if let Output::Json = self {
            let summary = json!({
                "kind": "summary",
                "outcome": "ERROR",
                "ucalls": 0,
                "vcpus": 0,
                "seconds": started.elapsed().as_secs_f64(),
                "errors": [{ "vcpu": null, "message": reason }],
            });
            println!("{summary}");
        }
        ExitCode::from(2)
    }
}

/// One ucall as a JSON object: `kind`, `vcpu`, `command`, and the command's own fields.
fn ucall_json(vcpu: usize, ucall: &Ucall) -> Value {
    let mut object = json!({ "kind": "ucall", "vcpu": vcpu });
    let fields = match ucall {
        Ucall::Sync { args } => json!({ "command": "SYNC", "args": args }),
        Ucall::Printf(text) => json!({ "command": "PRINTF", "text": text }),
        Ucall::Log(text) => json!({ "command": "LOG", "text": text }),
        Ucall::Abort(abort) => json!({
            "command": "ABORT",
            "message": abort.message,
            "file": abort.file,
            "line": abort.line,
            "column": abort.column,
        }),
        Ucall::Done => json!({ "command": "DONE" }),
        Ucall::Call { number, args } => json!({
            "command": "CALL",
            "number": number,
            "args": args,
        }),
        Ucall::Unhandled(exception) => json!({
            "command": "UNHANDLED",
            "exception": exception.name(),
            "vector": exception.vector,
            "instruction_address": exception.instruction_address,
            "error_code": exception.error_code,
            "fault_address": exception.fault_address,
        }),
        // A command this runner does not know yet: its one-line form.
        other => json!({ "command": "OTHER", "text": other.to_string() }),
    };
    if let (Some(object), Value::Object(fields)) = (object.as_object_mut(), fields) {
        object.extend(fields);
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_carriage_returns_are_written_out() {
        assert_eq!(
            visible("x\nDONE: 7 ucalls from 1 vCPU(s)\r"),
            "x\\nDONE: 7 ucalls from 1 vCPU(s)\\r"
        );
    }

    #[test]
    fn escape_sequences_lose_their_escape() {
        assert_eq!(visible("\x1b[2K\x1b[1A"), "\\e[2K\\e[1A");
    }

    #[test]
    fn other_controls_are_written_as_code_points() {
        assert_eq!(
            visible("\x07\x08\x7f\u{9b}\u{2028}"),
            "\\u{7}\\u{8}\\u{7f}\\u{9b}\\u{2028}"
        );
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        let text = "hello host from 0xc0ffee, ünïcode and \\n as two characters";
        assert_eq!(visible(text), text);
    }

    #[test]
    fn json_keeps_the_text_exact() {
        let ucall = Ucall::Printf("a\nb\x1b".into());
        let line = ucall_json(0, &ucall).to_string();
        assert!(!line.contains('\n'));
        let parsed: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(parsed["text"], "a\nb\x1b");
    }
}
