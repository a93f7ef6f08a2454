//! The runner as a libtest harness, for a guest with a test table (`ucall_host::harness`): the
//! arguments after the ELF are libtest's (a name filter, `--exact`, `--skip`, `--list`,
//! `--format terse`, `--ignored`, `--include-ignored`, `--test-threads`, `--nocapture`, `-q`),
//! parsed, printed and summed up by `libtest-mimic`; each test runs in a fresh VM on one of
//! `--test-threads` threads (default: the machine's cores).
//!
//! A failed test's reason is its last line under `---- name ----`, after what it printed (all
//! guest text made visible, so that it cannot forge a line); with `--core-dir DIR` it leaves
//! `DIR/<name>.core`. Exit status: libtest's, 101 when a test failed.

use crate::output::visible;
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use ucall_host::Ucall;
use ucall_host::harness::{TestOptions, TestProgram, Verdict};
use ucall_host::vm::TestCase;

/// Runs the tests of `program` that libtest's arguments `args` select.
pub fn main(
    program: TestProgram<'static>,
    args: &[OsString],
    options: TestOptions,
    core_dir: Option<PathBuf>,
) -> ExitCode {
    let arguments = Arguments::from_iter(
        std::iter::once(OsString::from("ucall-run")).chain(args.iter().cloned()),
    );
    let nocapture = arguments.nocapture;
    let program = Arc::new(program);
    let core_dir = Arc::new(core_dir);
    let trials = program
        .tests()
        .iter()
        .map(|test| {
            let (program, core_dir, test) =
                (Arc::clone(&program), Arc::clone(&core_dir), test.clone());
            // libtest-mimic prints a reason only for a test that ignores itself as it runs:
            // when ignored tests are not to run, one with a reason does so, at once.
            if let (Some(Some(reason)), false, false) =
                (&test.ignore, arguments.ignored, arguments.include_ignored)
            {
                let reason = visible(reason);
                return Trial::ignorable_test(test.name.clone(), move || {
                    Ok(Completion::ignored_with(reason))
                });
            }
            let ignored = test.ignore.is_some();
            Trial::test(test.name.clone(), move || {
                run(&program, &test, &options, nocapture, core_dir.as_deref())
            })
            .with_ignored_flag(ignored)
        })
        .collect();
    libtest_mimic::run(&arguments, trials).exit_code()
}

/// Runs one test; its failure message is what it printed, then the reason.
fn run(
    program: &TestProgram<'_>,
    test: &TestCase,
    options: &TestOptions,
    nocapture: bool,
    core_dir: Option<&Path>,
) -> Result<(), Failed> {
    let live = |_vcpu: usize, ucall: &Ucall| {
        if let (true, Ucall::Printf(text) | Ucall::Log(text)) = (nocapture, ucall) {
            println!("{}", visible(text));
        }
    };
    let options = TestOptions {
        core: core_dir.is_some(),
        ..*options
    };
    let run = program.run(test, &options, &live);
    let Verdict::Failed(reason) = &run.verdict else {
        return Ok(());
    };
    let mut message = String::new();
    if !nocapture {
        for line in &run.output {
            message.push_str(&visible(line));
            message.push('\n');
        }
    }
    message.push_str(&visible(reason));
    if let Some(dir) = core_dir {
        let path = dir.join(format!("{}.core", file_name(&test.name)));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::File::create(&path))
            .map_err(|e| e.to_string())
            .and_then(|file| {
                run.write_core(std::io::BufWriter::new(file))
                    .map_err(|e| e.to_string())
            });
        match written {
            Ok(_) => message.push_str(&format!("\ncore written to {}", path.display())),
            Err(e) => message.push_str(&format!(
                "\ncannot write the core to {}: {e}",
                path.display()
            )),
        }
    }
    Err(message.into())
}

/// `name` as a file name: ASCII letters, digits, `-` and `_` kept, anything else `_`
/// (`tests::adds` is `tests__adds`), so that no name reaches outside the folder.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn test_path_becomes_a_file_name() {
        assert_eq!(file_name("tests::adds"), "tests__adds");
    }

    #[test]
    fn name_cannot_climb_out_of_the_core_folder() {
        assert_eq!(file_name("../../etc/passwd"), "______etc_passwd");
    }
}
