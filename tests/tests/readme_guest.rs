//! The guest program the READMEs and the guest crate's docs show is the test guest
//! `tests/guests/src/bin/readme.rs`, which `tests/ucalls.rs` runs under KVM. A bare-metal
//! program cannot be a doc test, so these tests keep the shown text and that guest the same.

use std::fs;
use std::path::Path;

/// A file of the repository, by its path from the repository root.
fn repository_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path);
    fs::read_to_string(&full).unwrap_or_else(|e| panic!("{} is unreadable: {e}", full.display()))
}

/// The program as the guest file has it, without the file's own `//!` header.
fn readme_guest() -> String {
    let source = repository_file("tests/guests/src/bin/readme.rs");
    source
        .lines()
        .skip_while(|line| line.starts_with("//!"))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// The body of the first fenced block opened with exactly "```{info}".
fn first_block<'a>(markdown: &'a str, info: &str) -> &'a str {
    let opening = format!("```{info}\n");
    let start = markdown
        .find(&opening)
        .unwrap_or_else(|| panic!("no block opened with {opening:?}"))
        + opening.len();
    let length = markdown[start..]
        .find("```")
        .unwrap_or_else(|| panic!("the {opening:?} block is not closed"));
    &markdown[start..start + length]
}

/// The text of a file's `//!` docs, without the comment markers.
fn crate_docs(source: &str) -> String {
    source
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| format!("{}\n", line.strip_prefix(' ').unwrap_or(line)))
        .collect()
}

#[test]
fn the_workspace_readme_shows_the_readme_guest() {
    let readme = repository_file("README.md");
    assert_eq!(first_block(&readme, "rust,ignore"), readme_guest());
}

#[test]
fn the_guest_crate_readme_shows_the_readme_guest() {
    let readme = repository_file("guest/README.md");
    assert_eq!(first_block(&readme, "rust,ignore"), readme_guest());
}

#[test]
fn the_guest_crate_docs_show_the_readme_guest() {
    let docs = crate_docs(&repository_file("guest/src/lib.rs"));
    assert_eq!(first_block(&docs, "text"), readme_guest());
}
