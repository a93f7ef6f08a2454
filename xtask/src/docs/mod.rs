//! The Markdown files checked as code: every repository path they name exists, and every Rust
//! block builds in the configuration it describes (and runs, for host programs).
//!
//! **Paths.** Outside fenced blocks, a link target (`[text](target)`, `[label]: target`) or an
//! inline code span that is one word with a `/` or a [known extension](EXTENSIONS) is a
//! repository path. Skipped: URLs (`scheme://`, `mailto:`), anchors alone, absolute paths (the
//! machine's, such as `/dev/kvm`), build outputs (`target/...`), globs (`*?[]{}`), placeholders
//! (`<arch>`, `...`, `path/to/...`) and options (`--json`). A path resolves from the Markdown
//! file's folder, as a link does, or from the repository root; a bare file name (`ucall.h`)
//! must be some file of the repository.
//!
//! **No unpublished address.** No file but `CHANGELOG.md` names the repository address the
//! crates would have once published ([`UNPUBLISHED`]): nothing is there yet.
//!
//! **The README** has at most 300 lines, and both commands in its first 60.
//!
//! **Help texts.** A block with the info string `text,<program> --help` is what the program
//! prints for `--help` now ([`help`]).
//!
//! **Rust blocks.** A block whose info string starts with `rust` is compiled; the words after it
//! say how (anything else, `ignore` included, is refused: a block that is not Rust to compile
//! is `text` or `console`):
//!
//! | info string | built as |
//! |---|---|
//! | `rust` | a program depending on `ucall-host` alone (default features), then run |
//! | `rust,no_run` | the same, built only (it needs a guest file, say) |
//! | `rust,decode-only` | a program depending on `ucall-host` with `default-features = false`, then run |
//! | `rust,abi` | a program depending on `ucall-abi` alone, then run |
//! | `rust,guest` | a bare-metal guest depending on `ucall-guest` alone, for each guest target |
//!
//! A block without `fn main` is wrapped in one, as rustdoc does (a guest fragment in a guest
//! `main`); lines hidden with `# ` are kept. Each block becomes a binary of a generated crate
//! under `target/doc-examples/`, named for its file and line, with the workspace's `Cargo.lock`,
//! and builds with warnings denied (`#![deny(warnings)]`); host programs build into the
//! workspace's own target folder, where its dependencies are built already.

mod blocks;
mod help;

use crate::shell::{Run, cargo, workspace_root};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Extensions that make a one-word code span a file path.
const EXTENSIONS: [&str; 9] = ["rs", "md", "toml", "c", "h", "json", "lock", "py", "sh"];

/// Folders never searched for Markdown files or file names.
const SKIPPED_FOLDERS: [&str; 3] = ["target", ".git", "node_modules"];

/// The whole check: paths, then the code blocks of every configuration.
pub fn check() -> Result<()> {
    let root = workspace_root();
    let files = markdown_files(&root);
    let mut missing = Vec::new();
    let mut blocks = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        let name = relative(&root, file);
        let parsed = parse(&text);
        for named in parsed.paths {
            if !path_exists(&root, file, &named.path) {
                missing.push(format!(
                    "{name}:{}: `{}` does not exist",
                    named.line, named.path
                ));
            }
        }
        for link in &parsed.anchors {
            if let Some(why) = missing_anchor(file, &text, link) {
                missing.push(format!("{name}:{}: {why}", link.line));
            }
        }
        for block in parsed.blocks {
            blocks.push((name.clone(), block));
        }
        help::check_help_blocks(&root, &name, &text)?;
    }
    if !missing.is_empty() {
        bail!(
            "Markdown names paths that are not in the repository:\n  {}",
            missing.join("\n  ")
        );
    }
    eprintln!(
        "    {} Markdown files: every named path exists; {} Rust blocks to build",
        files.len(),
        blocks.len()
    );
    no_unpublished_address(&root)?;
    readme_is_short(&std::fs::read_to_string(root.join("README.md")).unwrap_or_default())?;
    blocks::build_blocks(&root, &blocks)?;
    decode_only_has_no_libc()
}

/// The README's budget: this many lines at most, the two commands within the first
/// [`COMMANDS_WITHIN`] (the rest of the documentation is `docs/`).
const README_LINES: usize = 300;
const COMMANDS_WITHIN: usize = 60;

/// The README keeps to [`README_LINES`] and shows both commands early.
fn readme_is_short(readme: &str) -> Result<()> {
    let lines = readme.lines().count();
    if lines > README_LINES {
        bail!("README.md has {lines} lines, more than {README_LINES}: move some to docs/");
    }
    let start: Vec<&str> = readme.lines().take(COMMANDS_WITHIN).collect();
    for command in ["cargo xtask run", "cargo xtask test"] {
        if !start.iter().any(|line| line.contains(command)) {
            bail!("README.md does not show `{command}` in its first {COMMANDS_WITHIN} lines");
        }
    }
    Ok(())
}

/// Where the crates would live once published: no repository exists there yet, so no file
/// may give it as the project's address (the CHANGELOG says it is not published).
const UNPUBLISHED: &str = concat!("github.com/", "ucall-rs");

/// No file of the repository but the CHANGELOG names [`UNPUBLISHED`].
fn no_unpublished_address(root: &Path) -> Result<()> {
    let naming: Vec<String> = all_files(root)
        .into_iter()
        .filter(|file| file.file_name().is_none_or(|name| name != "CHANGELOG.md"))
        .filter(|file| std::fs::read_to_string(file).is_ok_and(|text| text.contains(UNPUBLISHED)))
        .map(|file| relative(root, &file))
        .collect();
    if naming.is_empty() {
        return Ok(());
    }
    bail!(
        "{UNPUBLISHED} is not where the project lives (nothing is published yet), but these \
         files say so: {}",
        naming.join(", ")
    )
}

/// A repository path named in Markdown, and the line that names it.
#[derive(Debug, PartialEq)]
struct NamedPath {
    path: String,
    line: usize,
}

/// A fenced Rust block: where it starts, its configuration, and its code.
#[derive(Debug, PartialEq)]
struct Block {
    line: usize,
    config: Config,
    run: bool,
    code: String,
}

/// How a Rust block is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    Host,
    DecodeOnly,
    Abi,
    Guest,
}

impl Config {
    const ALL: [Config; 4] = [Config::Host, Config::DecodeOnly, Config::Abi, Config::Guest];

    fn name(self) -> &'static str {
        match self {
            Config::Host => "host",
            Config::DecodeOnly => "decode-only",
            Config::Abi => "abi",
            Config::Guest => "guest",
        }
    }

    /// The generated crate's one dependency.
    fn dependency(self, root: &Path) -> String {
        let path = |folder: &str| root.join(folder).display().to_string();
        match self {
            Config::Host => format!("ucall-host = {{ path = {:?} }}", path("host")),
            Config::DecodeOnly => format!(
                "ucall-host = {{ path = {:?}, default-features = false }}",
                path("host")
            ),
            Config::Abi => format!("ucall-abi = {{ path = {:?} }}", path("abi")),
            Config::Guest => format!("ucall-guest = {{ path = {:?} }}", path("guest")),
        }
    }
}

/// A link to a heading: `[text](file.md#anchor)` or `[text](#anchor)`.
#[derive(Debug, PartialEq)]
struct AnchorLink {
    /// The Markdown file, relative to the linking file; empty for the linking file itself.
    file: String,
    anchor: String,
    line: usize,
}

/// What one Markdown file holds for the check.
#[derive(Debug, Default)]
struct Parsed {
    paths: Vec<NamedPath>,
    anchors: Vec<AnchorLink>,
    blocks: Vec<Block>,
    /// The anchors of its headings, as GitHub makes them.
    headings: Vec<String>,
}

/// Every `.md` file under `root`, outside [`SKIPPED_FOLDERS`], sorted.
fn markdown_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = all_files(root)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    files.sort();
    files
}

/// Every file under `root`, outside [`SKIPPED_FOLDERS`].
fn all_files(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !SKIPPED_FOLDERS.iter().any(|skipped| name == *skipped) {
                    folders.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The paths and Rust blocks of one Markdown text.
fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    // Prose, line by line with line numbers, between the fenced blocks.
    let mut prose: Vec<(usize, &str)> = Vec::new();
    let mut fence: Option<(usize, String, Vec<&str>)> = None;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim_start();
        match &mut fence {
            None if trimmed.starts_with("```") => {
                let info = trimmed.trim_start_matches('`').trim().to_owned();
                fence = Some((number, info, Vec::new()));
            }
            None => {
                if let Some(heading) = trimmed.strip_prefix('#') {
                    let title = heading.trim_start_matches('#');
                    if title.starts_with(' ') {
                        parsed.headings.push(slug(title));
                    }
                }
                prose.push((number, line));
            }
            Some((start, info, body)) => {
                if trimmed.starts_with("```") && trimmed.trim_start_matches('`').trim().is_empty() {
                    if let Some(block) = rust_block(*start, info, body) {
                        parsed.blocks.push(block);
                    }
                    fence = None;
                } else {
                    body.push(line);
                }
            }
        }
    }
    parsed.paths = named_paths(&prose);
    parsed.anchors = anchor_links(&prose);
    parsed
}

/// A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces as hyphens.
fn slug(title: &str) -> String {
    title
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The links of the prose lines that name a heading of a Markdown file.
fn anchor_links(prose: &[(usize, &str)]) -> Vec<AnchorLink> {
    let mut found = Vec::new();
    for &(line, text) in prose {
        for target in link_targets(text) {
            let Some((file, anchor)) = target.split_once('#') else {
                continue;
            };
            if is_url(target) || !(file.is_empty() || file.ends_with(".md")) {
                continue;
            }
            found.push(AnchorLink {
                file: file.to_owned(),
                anchor: anchor.to_owned(),
                line,
            });
        }
    }
    found
}

/// Why `link`, in `file` (whose text is `text`), names no heading, if it does not.
fn missing_anchor(file: &Path, text: &str, link: &AnchorLink) -> Option<String> {
    let target = if link.file.is_empty() {
        text.to_owned()
    } else {
        let path = file.parent().unwrap_or(Path::new(".")).join(&link.file);
        // A missing file is reported as a missing path.
        std::fs::read_to_string(path).ok()?
    };
    let headings = parse(&target).headings;
    (!headings.contains(&link.anchor)).then(|| {
        format!(
            "`{}#{}` names no heading (there are: {})",
            link.file,
            link.anchor,
            headings.join(", ")
        )
    })
}

/// The Rust block opened at `line` with `info`, if it is one. A refused info string becomes a
/// block that cannot build, so that the build names it.
fn rust_block(line: usize, info: &str, body: &[&str]) -> Option<Block> {
    let mut words = info.split(',').map(str::trim);
    if words.next() != Some("rust") {
        return None;
    }
    let mut config = Config::Host;
    let mut run = true;
    let mut code = String::new();
    for word in words {
        match word {
            "no_run" => run = false,
            "decode-only" => config = Config::DecodeOnly,
            "abi" => config = Config::Abi,
            "guest" => config = Config::Guest,
            other => code.push_str(&format!(
                "compile_error!(\"info string word `{other}`: give a configuration (abi, \
                 decode-only, guest, no_run) or mark the block text\");\n"
            )),
        }
    }
    for line in body {
        // rustdoc's hidden lines: `# code` and a lone `#`, but not `#[attr]` or `#![attr]`.
        let unhidden = match line.trim_start() {
            "#" => "",
            hidden if hidden.starts_with("# ") => &hidden[2..],
            _ => line,
        };
        code.push_str(unhidden);
        code.push('\n');
    }
    Some(Block {
        line,
        config,
        run: run && config != Config::Guest,
        code,
    })
}

/// The repository paths that the prose lines name, by line.
fn named_paths(prose: &[(usize, &str)]) -> Vec<NamedPath> {
    let mut found = Vec::new();
    for &(line, text) in prose {
        for span in code_spans(text) {
            if is_path_like(span) {
                found.push(NamedPath {
                    path: span.to_owned(),
                    line,
                });
            }
        }
        for target in link_targets(text) {
            let target = target.split('#').next().unwrap_or_default();
            if !target.is_empty() && !is_url(target) {
                found.push(NamedPath {
                    path: target.to_owned(),
                    line,
                });
            }
        }
    }
    found.retain(|named| !skipped(&named.path));
    found
}

/// The contents of the inline code spans of one line (a span never needs to cross lines
/// here: one that does is not a one-word path).
fn code_spans(line: &str) -> Vec<&str> {
    let mut spans = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('`') {
        let ticks = rest[open..].len() - rest[open..].trim_start_matches('`').len();
        let after = &rest[open + ticks..];
        let delimiter = &rest[open..open + ticks];
        let Some(close) = after.find(delimiter) else {
            break;
        };
        spans.push(after[..close].trim());
        rest = &after[close + ticks..];
    }
    spans
}

/// The targets of the links of one line: `](target)` and `[label]: target`.
fn link_targets(line: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        let target = after[..end].split_whitespace().next().unwrap_or_default();
        targets.push(target);
        rest = &after[end..];
    }
    let definition = line.trim_start().strip_prefix('[');
    if let Some((_, target)) = definition.and_then(|rest| rest.split_once("]: ")) {
        targets.push(target.split_whitespace().next().unwrap_or_default());
    }
    targets
}

fn is_url(target: &str) -> bool {
    target.contains("://") || target.starts_with("mailto:")
}

/// Whether a code span reads as a file path: one word with a `/`, or a file name with one of
/// the [`EXTENSIONS`].
fn is_path_like(span: &str) -> bool {
    if span.is_empty() || span.contains(char::is_whitespace) || span.starts_with('-') {
        return false;
    }
    let file_name = span.rsplit('/').next().unwrap_or(span);
    let extension = file_name.rsplit_once('.').map(|(_, e)| e);
    span.contains('/') || extension.is_some_and(|e| EXTENSIONS.contains(&e))
}

/// Paths that are not the repository's: URLs, absolute paths, build outputs, globs,
/// placeholders.
fn skipped(path: &str) -> bool {
    is_url(path)
        || path.starts_with('/')
        || path.starts_with('~')
        || path.starts_with("target/")
        || path.starts_with("path/to/")
        || path.contains(['*', '?', '[', ']', '{', '}', '<', '>', '|', '$', '='])
        || path.contains("...")
        || path.contains("::")
}

/// Whether `path`, named in `file`, is in the repository.
fn path_exists(root: &Path, file: &Path, path: &str) -> bool {
    let folder = file.parent().unwrap_or(root);
    let path = path.trim_end_matches('/');
    if folder.join(path).exists() || root.join(path).exists() {
        return true;
    }
    // A bare file name: any file of that name.
    !path.contains('/')
        && all_files(root)
            .iter()
            .any(|file| file.file_name().is_some_and(|name| name == path))
}

/// `cargo tree` of the decode-only host has no `libc`: decode-only means small.
fn decode_only_has_no_libc() -> Result<()> {
    let tree = cargo()
        .args(["tree", "-p", "ucall-host", "--no-default-features"])
        .args(["--prefix", "none", "--format", "{p}"])
        .output_text()?;
    if let Some(line) = tree.lines().find(|line| line.starts_with("libc ")) {
        bail!(
            "cargo tree -p ucall-host --no-default-features has {line}: decode-only builds \
             must not pull libc (vm-memory's mmap backend belongs to the `vm` feature)"
        );
    }
    eprintln!("    cargo tree -p ucall-host --no-default-features: no libc");
    Ok(())
}

#[cfg(test)]
mod tests;
