//! The runner's two output streams, and what a write that fails does: never a panic, the same
//! in every mode and on both streams.
//!
//! - A reader that went away (a broken pipe, as `ucall-run --json guest | head -c 100` leaves)
//!   ends the run at once and quietly: with the exit status of the guests' outcome if it was
//!   already decided (the summary was being written), else 2. Nobody is left to read a message.
//! - Any other failure (a full disk) is reported once, on the other stream, and the run goes
//!   on; its summary counts it as an error (exit status 2), since its output is incomplete.

use anstream::AutoStream;
use std::fmt;
use std::io::{Stderr, Stdout, Write};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};

/// stdout, colored or not as decided once, at its first line (`anstream::println!` asks the
/// terminal at every line: an ioctl per ucall). JSON lines hold no escape sequences (JSON
/// writes control characters as `\u` escapes), so they go through it unchanged.
static STDOUT: LazyLock<Mutex<AutoStream<Stdout>>> =
    LazyLock::new(|| Mutex::new(AutoStream::auto(std::io::stdout())));
/// stderr, likewise.
static STDERR: LazyLock<Mutex<AutoStream<Stderr>>> =
    LazyLock::new(|| Mutex::new(AutoStream::auto(std::io::stderr())));

/// No exit status decided yet.
const UNDECIDED: u8 = u8::MAX;
/// The exit status of the guests' outcome, once the summary knows it.
static DECIDED: AtomicU8 = AtomicU8::new(UNDECIDED);
/// Whether a failure of stdout, and of stderr, was reported already.
static REPORTED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];
/// The first failure other than a broken pipe, for the summary.
static LOST: Mutex<Option<String>> = Mutex::new(None);

/// One of the two streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl fmt::Display for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        })
    }
}

/// Writes one line to `stream`; a failure is handled as the module says.
pub fn line(stream: Stream, text: fmt::Arguments<'_>) {
    let written = match stream {
        Stream::Stdout => writeln!(
            STDOUT.lock().unwrap_or_else(PoisonError::into_inner),
            "{text}"
        ),
        Stream::Stderr => writeln!(
            STDERR.lock().unwrap_or_else(PoisonError::into_inner),
            "{text}"
        ),
    };
    if let Err(error) = written {
        failed(stream, &error);
    }
}

/// Notes the exit status the guests' outcome gives, before the summary is written.
pub fn decided(code: u8) {
    DECIDED.store(code, Ordering::Relaxed);
}

/// The first failure other than a broken pipe, if any: output that was lost.
pub fn lost() -> Option<String> {
    LOST.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn failed(stream: Stream, error: &std::io::Error) {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        let code = match DECIDED.load(Ordering::Relaxed) {
            UNDECIDED => 2,
            code => code,
        };
        std::process::exit(code.into());
    }
    if REPORTED[stream as usize].swap(true, Ordering::Relaxed) {
        return;
    }
    let message = format!("cannot write to {stream}: {error}");
    LOST.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(|| message.clone());
    let other = match stream {
        Stream::Stdout => Stream::Stderr,
        Stream::Stderr => Stream::Stdout,
    };
    // If that fails too, its own report stops here: this stream's is marked done.
    line(other, format_args!("ucall-run: {message}; the run goes on"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_named_as_people_know_them() {
        assert_eq!(
            [Stream::Stdout.to_string(), Stream::Stderr.to_string()],
            ["stdout", "stderr"]
        );
    }
}
