//! How a test's VM ended, and what that means for the test (`ucall_abi::test_table`'s outcome
//! table): the host decides, so Rust and C guests are judged alike.

use crate::decode::{Abort, Unhandled};
use crate::vm::RunError;
use std::time::Duration;

/// How one vCPU of a test's VM ended.
#[derive(Debug)]
pub(crate) enum End {
    /// DONE: the test returned.
    Done,
    /// ABORT: a failed assertion or a panic.
    Abort(Abort),
    /// An exception the guest had no handler for.
    Unhandled(Unhandled),
    /// The test's time ran out.
    TimedOut,
    /// Any other way the run stopped.
    Error(RunError),
    /// The host's thread that ran the vCPU panicked (a bug in the host).
    Panicked,
}

/// A test's result: passed, or failed with a reason of one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It passed.
    Passed,
    /// It failed, for this reason (guest text in it is as the guest sent it).
    Failed(String),
}

impl Verdict {
    /// The verdict on a test that ended with `end`: `should_panic` as in
    /// [`TestCase`](crate::vm::TestCase), `timeout` the time it had.
    pub(crate) fn of(
        end: &End,
        should_panic: Option<&Option<String>>,
        timeout: Duration,
    ) -> Verdict {
        let failed = |reason: String| Verdict::Failed(reason);
        match (end, should_panic) {
            (End::Done, None) => Verdict::Passed,
            (End::Done, Some(_)) => failed("test did not panic as expected".into()),
            (End::Abort(abort), None) => failed(abort.to_string()),
            (End::Abort(_), Some(None)) => Verdict::Passed,
            (End::Abort(abort), Some(Some(expected))) if abort.message.contains(expected) => {
                Verdict::Passed
            }
            (End::Abort(abort), Some(Some(expected))) => failed(format!(
                "panic did not contain expected string: panic message {:?}, expected substring {expected:?}",
                abort.message
            )),
            (End::Unhandled(unhandled), _) => failed(format!("unhandled exception {unhandled}")),
            (End::TimedOut, _) => failed(format!("timed out after {}", seconds(timeout))),
            (End::Error(error), _) => failed(error.to_string()),
            (End::Panicked, _) => failed("the host's vCPU thread panicked".into()),
        }
    }

    /// Whether the test passed.
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Passed)
    }
}

/// `2 s`, or `250 ms` when not whole seconds.
fn seconds(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abort(message: &str) -> End {
        End::Abort(Abort {
            message: message.into(),
            file: Some("src/main.rs".into()),
            line: 12,
            column: Some(5),
        })
    }

    #[test]
    fn done_passes() {
        assert!(Verdict::of(&End::Done, None, Duration::ZERO).passed());
    }

    #[test]
    fn done_fails_a_should_panic_test() {
        assert_eq!(
            Verdict::of(&End::Done, Some(&None), Duration::ZERO),
            Verdict::Failed("test did not panic as expected".into())
        );
    }

    #[test]
    fn abort_fails_with_its_location_and_message() {
        assert_eq!(
            Verdict::of(&abort("assertion failed: 1 == 2"), None, Duration::ZERO),
            Verdict::Failed("src/main.rs:12:5: assertion failed: 1 == 2".into())
        );
    }

    #[test]
    fn abort_passes_a_should_panic_test() {
        assert!(Verdict::of(&abort("boom"), Some(&None), Duration::ZERO).passed());
    }

    #[test]
    fn abort_with_the_expected_text_passes() {
        let expected = Some("overflow".to_string());
        let end = abort("attempt to add with overflow");
        assert!(Verdict::of(&end, Some(&expected), Duration::ZERO).passed());
    }

    #[test]
    fn abort_without_the_expected_text_fails_naming_both() {
        let expected = Some("overflow".to_string());
        assert_eq!(
            Verdict::of(&abort("boom"), Some(&expected), Duration::ZERO),
            Verdict::Failed(
                "panic did not contain expected string: panic message \"boom\", expected substring \"overflow\"".into()
            )
        );
    }

    #[test]
    fn timeout_in_whole_seconds_says_so() {
        assert_eq!(
            Verdict::of(&End::TimedOut, None, Duration::from_secs(2)),
            Verdict::Failed("timed out after 2 s".into())
        );
    }

    #[test]
    fn timeout_in_milliseconds_says_so() {
        assert_eq!(
            Verdict::of(&End::TimedOut, None, Duration::from_millis(250)),
            Verdict::Failed("timed out after 250 ms".into())
        );
    }

    #[test]
    fn timeout_fails_a_should_panic_test_too() {
        assert!(!Verdict::of(&End::TimedOut, Some(&None), Duration::from_secs(1)).passed());
    }
}
