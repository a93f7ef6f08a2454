use super::blocks::program;
use super::*;

#[test]
fn a_backticked_word_with_a_slash_or_a_known_extension_is_a_path() {
    let parsed = parse("See `host/src/lib.rs`, `ucall.h`, `x86_64` and `cargo xtask run`.\n");
    let paths: Vec<&str> = parsed.paths.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(paths, ["host/src/lib.rs", "ucall.h"]);
}

#[test]
fn urls_build_outputs_globs_and_placeholders_are_not_paths() {
    let text = "`https://x.org/a`, `target/guests/x86_64/demo`, `fuzz/*.rs`, \
                `target/guests/<arch>/`, `path/to/guest.elf`, `/dev/kvm`, `--json`, \
                `tests/...`, `ucall_abi::rooted`\n";
    assert_eq!(parse(text).paths, []);
}

#[test]
fn link_targets_are_paths_without_their_anchor() {
    let parsed = parse("[the runner](docs/runner.md#exit-status), [web](https://a.b/c)\n");
    assert_eq!(
        parsed.paths,
        [NamedPath {
            path: "docs/runner.md".into(),
            line: 1
        }]
    );
}

#[test]
fn a_readme_without_the_commands_up_front_is_refused() {
    let late = format!("{}cargo xtask run\ncargo xtask test\n", "text\n".repeat(60));
    assert!(readme_is_short(&late).is_err());
    assert!(readme_is_short("cargo xtask run\ncargo xtask test\n").is_ok());
    assert!(readme_is_short(&"cargo xtask run, cargo xtask test\n".repeat(301)).is_err());
}

#[test]
fn a_headings_anchor_is_githubs() {
    let parsed = parse("# The runner: `ucall-run`\n## Exit status\n```sh\n# not a heading\n```\n");
    assert_eq!(parsed.headings, ["the-runner-ucall-run", "exit-status"]);
}

#[test]
fn links_to_headings_keep_their_file_and_anchor() {
    let parsed = parse("[a](runner.md#exit-status), [b](#options), [c](host/src/lib.rs#L3)\n");
    let anchors: Vec<(&str, &str)> = parsed
        .anchors
        .iter()
        .map(|a| (a.file.as_str(), a.anchor.as_str()))
        .collect();
    assert_eq!(anchors, [("runner.md", "exit-status"), ("", "options")]);
}

#[test]
fn paths_inside_fenced_blocks_are_not_named_paths() {
    let parsed = parse("```sh\ncat `host/nothing.rs`\n```\n");
    assert_eq!(parsed.paths, []);
}

#[test]
fn a_rust_block_gets_the_configuration_its_info_string_names() {
    let text = "```rust,decode-only\nlet a = 1;\n```\n```rust,guest\nsync(&[]);\n```\n\
                ```rust,no_run\nfn main() {}\n```\n```text\nnot rust\n```\n";
    let blocks = parse(text).blocks;
    let configs: Vec<(usize, Config, bool)> =
        blocks.iter().map(|b| (b.line, b.config, b.run)).collect();
    assert_eq!(
        configs,
        [
            (1, Config::DecodeOnly, true),
            (4, Config::Guest, false),
            (7, Config::Host, false)
        ]
    );
}

#[test]
fn an_ignored_rust_block_cannot_build() {
    let blocks = parse("```rust,ignore\nfn main() {}\n```\n").blocks;
    assert!(blocks[0].code.starts_with("compile_error!"), "{blocks:?}");
}

#[test]
fn hidden_lines_are_compiled() {
    let blocks = parse("```rust\n# let hidden = 1;\n#\nlet shown = hidden;\n```\n").blocks;
    assert_eq!(blocks[0].code, "let hidden = 1;\n\nlet shown = hidden;\n");
}

#[test]
fn a_fragment_is_wrapped_in_a_main_and_a_program_is_not() {
    assert!(program(Config::Host, "let a = 1;\n").starts_with("fn main() -> Result<"));
    assert_eq!(program(Config::Abi, "fn main() {}\n"), "fn main() {}\n");
    assert!(program(Config::Guest, "sync(&[]);\n").contains("ucall_guest::entry!(main);"));
}
