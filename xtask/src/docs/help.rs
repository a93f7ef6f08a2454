//! Blocks that show a program's `--help`: a fenced block whose info string is
//! `text,<program> --help` must be, line for line, what that program prints today, so that the
//! options the docs list are the options there are.

use crate::qemu::static_build::runner_here;
use crate::shell::Run;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds a program and gives its path.
type Build = fn() -> Result<PathBuf>;

/// The programs whose help the docs may show, each with what builds it.
const PROGRAMS: [(&str, Build); 1] = [("ucall-run", runner_here)];

/// Checks every help block of `text` (the Markdown file `name`) against its program's help.
pub(super) fn check_help_blocks(root: &Path, name: &str, text: &str) -> Result<()> {
    for block in help_blocks(text) {
        let Some((_, built)) = PROGRAMS
            .iter()
            .find(|(program, _)| *program == block.program)
        else {
            bail!(
                "{name}:{}: no program {:?} to take a help text from (known: {})",
                block.line,
                block.program,
                PROGRAMS.map(|(program, _)| program).join(", ")
            );
        };
        let help = Command::new(built()?)
            .current_dir(root)
            .arg("--help")
            .output_text()?;
        if let Some(difference) = first_difference(&block.body, &help) {
            bail!(
                "{name}:{}: the block is not what `{} --help` prints now ({difference}); paste \
                 the program's output there",
                block.line,
                block.program
            );
        }
    }
    Ok(())
}

/// A fenced help block: where it starts, whose help, and its lines.
#[derive(Debug, PartialEq)]
struct HelpBlock {
    line: usize,
    program: String,
    body: Vec<String>,
}

fn help_blocks(text: &str) -> Vec<HelpBlock> {
    let mut blocks = Vec::new();
    let mut open: Option<HelpBlock> = None;
    let mut in_other_fence = false;
    for (index, line) in text.lines().enumerate() {
        let fence = line.trim_start().starts_with("```");
        let info = line.trim_start().trim_start_matches('`').trim();
        match (&mut open, fence) {
            (Some(_), true) => blocks.extend(open.take()),
            (Some(block), false) => block.body.push(line.to_string()),
            (None, true) if in_other_fence => in_other_fence = false,
            (None, true) => match info
                .strip_prefix("text,")
                .and_then(|rest| rest.strip_suffix(" --help"))
            {
                Some(program) => {
                    open = Some(HelpBlock {
                        line: index + 1,
                        program: program.to_string(),
                        body: Vec::new(),
                    })
                }
                None => in_other_fence = true,
            },
            (None, false) => {}
        }
    }
    blocks
}

/// Where `shown` and `printed` first differ (trailing spaces aside), if they do.
fn first_difference(shown: &[String], printed: &str) -> Option<String> {
    let printed: Vec<&str> = printed.trim_end().lines().map(str::trim_end).collect();
    let shown: Vec<&str> = shown.iter().map(|line| line.trim_end()).collect();
    let at = (0..shown.len().max(printed.len())).find(|&i| shown.get(i) != printed.get(i))?;
    Some(format!(
        "line {} of the block is {:?}, the program prints {:?}",
        at + 1,
        shown.get(at).copied().unwrap_or("<nothing>"),
        printed.get(at).copied().unwrap_or("<nothing>")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_help_block_is_found_by_its_info_string_and_other_blocks_are_not() {
        let text = "```text\nnot help\n```\n```text,ucall-run --help\nUsage: x\n\nOptions:\n```\n";
        assert_eq!(
            help_blocks(text),
            [HelpBlock {
                line: 4,
                program: "ucall-run".into(),
                body: vec!["Usage: x".into(), String::new(), "Options:".into()],
            }]
        );
    }

    #[test]
    fn a_block_that_matches_the_help_but_for_trailing_spaces_has_no_difference() {
        let shown = vec!["Usage: x  ".to_string(), "Options:".to_string()];
        assert_eq!(first_difference(&shown, "Usage: x\nOptions:\n\n"), None);
    }

    #[test]
    fn an_option_missing_from_the_block_is_named_with_its_line() {
        let shown = vec!["Usage: x".to_string()];
        assert_eq!(
            first_difference(&shown, "Usage: x\n  --json  Print JSON\n").as_deref(),
            Some(
                "line 2 of the block is \"<nothing>\", the program prints \"  --json  Print JSON\""
            )
        );
    }
}
