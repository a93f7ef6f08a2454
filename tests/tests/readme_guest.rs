//! The guest program the READMEs and the guest crate's docs show is the test guest
//! `tests/guests/src/bin/readme.rs`, which `tests/ucalls.rs` runs under KVM. A bare-metal
//! program cannot be a doc test, so these tests keep the shown text and that guest the same.

// Included at build time, not read at run time: the suite also runs in QEMU VMs, which hold
// the test binaries and only some source folders.
const WORKSPACE_README: &str = include_str!("../../README.md");
const GUEST_README: &str = include_str!("../../guest/README.md");
const GUEST_LIB: &str = include_str!("../../guest/src/lib.rs");
const README_GUEST: &str = include_str!("../guests/src/bin/readme.rs");

/// The program as the guest file has it, without the file's own `//!` header.
fn readme_guest() -> String {
    README_GUEST
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
    assert_eq!(first_block(WORKSPACE_README, "rust,guest"), readme_guest());
}

#[test]
fn the_guest_crate_readme_shows_the_readme_guest() {
    assert_eq!(first_block(GUEST_README, "rust,guest"), readme_guest());
}

#[test]
fn the_guest_crate_docs_show_the_readme_guest() {
    let docs = crate_docs(GUEST_LIB);
    assert_eq!(first_block(&docs, "text"), readme_guest());
}
