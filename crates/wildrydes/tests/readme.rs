//! The README cannot rot: every command line of its `sh` blocks that runs one
//! of our binaries is parsed by that binary (with `WILDRYDES_PARSE_ONLY` set,
//! it checks its flags and exits), and the lint and test commands it shows
//! are the ones `.ci/run` runs. What the commands do is tested elsewhere
//! (`stack.rs` runs the workshop flow for real).

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

use common::workspace_bin;

const BINARIES: [&str; 3] = ["producer", "consumer", "wildrydes"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// (line number, text) of every line inside a ```sh block.
fn sh_lines(readme: &str) -> Vec<(usize, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for (i, line) in readme.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            inside = !inside && trimmed == "```sh";
            continue;
        }
        if inside && !trimmed.is_empty() {
            out.push((i + 1, trimmed.to_owned()));
        }
    }
    out
}

/// Drops a trailing `# comment` (a `#` after whitespace, outside quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev_space => return line[..i].trim_end(),
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// Our binary and its arguments, if `words` runs one of them.
fn our_command(words: &[String]) -> Option<(&'static str, Vec<String>)> {
    let mut words = words
        .iter()
        .skip_while(|w| w.as_str() == "export" || w.contains('='))
        .cloned()
        .collect::<Vec<_>>();
    if words.first().map(String::as_str) == Some("cargo") {
        let bin_at = words.iter().position(|w| w == "--bin")?;
        let dashes = words.iter().position(|w| w == "--")?;
        let name = words.get(bin_at + 1)?.clone();
        words = std::iter::once(name)
            .chain(words[dashes + 1..].iter().cloned())
            .collect();
    }
    let program = words.first()?;
    let name = program.rsplit('/').next()?;
    let ours = BINARIES.into_iter().find(|b| *b == name)?;
    Some((ours, words[1..].to_vec()))
}

#[test]
fn every_readme_command_line_of_our_binaries_parses() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let mut checked = 0;
    for (number, line) in sh_lines(&readme) {
        let line = strip_comment(&line);
        let words = shlex::split(line)
            .unwrap_or_else(|| panic!("README.md:{number}: cannot split {line:?}"));
        let separators = ["|", "||", "&&", ";", "&"];
        for words in words.split(|w| separators.contains(&w.as_str())) {
            let segment = words.join(" ");
            let Some((name, args)) = our_command(words) else {
                continue;
            };
            let out = Command::new(workspace_bin(name))
                .args(&args)
                .env("WILDRYDES_PARSE_ONLY", "1")
                .output()
                .expect("run");
            assert!(
                out.status.success(),
                "README.md:{number}: `{segment}` is not accepted by {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 15,
        "only {checked} command lines found in README.md"
    );
}

#[test]
fn a_wrong_flag_is_caught_by_the_parse_only_check() {
    for name in BINARIES {
        let out = Command::new(workspace_bin(name))
            .arg("-no-such-flag")
            .env("WILDRYDES_PARSE_ONLY", "1")
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{name}");
    }
}

#[test]
fn the_readme_test_and_lint_commands_are_the_ones_ci_runs() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let ci = std::fs::read_to_string(root().join(".ci/run")).expect(".ci/run");
    let ci_commands: Vec<&str> = ci
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("cargo "))
        .collect();
    for wanted in [
        "cargo test --workspace",
        "cargo fmt --all -- --check",
        "cargo clippy --workspace --all-targets --locked -- -D warnings",
    ] {
        assert!(readme.contains(wanted), "README.md shows `{wanted}`");
        assert!(
            ci_commands.iter().any(|c| c.starts_with(wanted)),
            ".ci/run runs `{wanted}`: {ci_commands:?}"
        );
    }
}
