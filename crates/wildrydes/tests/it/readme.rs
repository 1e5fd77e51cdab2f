//! The README cannot rot: every command line of its `sh` blocks that runs one
//! of our binaries is parsed by that binary (with `WILDRYDES_PARSE_ONLY` set,
//! it checks its flags and exits), and the lint and test commands it shows
//! are the ones `.ci/run` runs. What the commands do is tested elsewhere
//! (`stack.rs` runs the workshop flow for real). Its jq recipes run on what
//! the consumer prints, when jq is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

use common::workspace_bin;

const BINARIES: [&str; 5] = [
    "producer",
    "consumer",
    "wildrydes",
    "wildrydes-query",
    "wildrydes-bench",
];

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
        // `--bin NAME`, or `-p NAME` for a package whose binary has its name.
        let bin_at = words
            .iter()
            .position(|w| ["--bin", "-p", "--package"].contains(&w.as_str()))?;
        let dashes = words.iter().position(|w| w == "--")?;
        let name = words.get(bin_at + 1)?.clone();
        words = std::iter::once(name)
            .chain(words[dashes + 1..].iter().cloned())
            .collect();
    }
    let program = words.first()?;
    let mut name = program.rsplit('/').next()?;
    let mut args = &words[1..];
    // `wildrydes query ARGS` runs `wildrydes-query ARGS`: that one checks them.
    if name == "wildrydes" && args.first().map(String::as_str) == Some("query") {
        (name, args) = ("wildrydes-query", &args[1..]);
    }
    let ours = BINARIES.into_iter().find(|b| *b == name)?;
    Some((ours, args.to_vec()))
}

#[test]
fn every_readme_command_line_of_our_binaries_parses() {
    let mut checked = 0;
    for doc in ["README.md", "docs/benchmarks.md"] {
        checked += check_command_lines(doc);
    }
    assert!(
        checked >= 15,
        "only {checked} command lines found in README.md"
    );
}

/// Runs every command line of our binaries in `doc`'s `sh` blocks with
/// `WILDRYDES_PARSE_ONLY`; returns how many were checked.
fn check_command_lines(doc: &str) -> usize {
    let readme = std::fs::read_to_string(root().join(doc)).expect(doc);
    let mut checked = 0;
    for (number, line) in sh_lines(&readme) {
        let line = strip_comment(&line);
        let words =
            shlex::split(line).unwrap_or_else(|| panic!("{doc}:{number}: cannot split {line:?}"));
        let separators = ["|", "||", "&&", ";", "&"];
        for words in words.split(|w| separators.contains(&w.as_str())) {
            // A redirection (`> FILE`, `2>&1`) ends the command's arguments.
            let redirect = |w: &String| w.starts_with('>') || w.starts_with("2>") || w == "<";
            let words = &words[..words.iter().position(redirect).unwrap_or(words.len())];
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
                "{doc}:{number}: `{segment}` is not accepted by {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    checked
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

/// What the consumer prints for a few status records in `format`.
fn consumer_output(format: consumer::Format) -> Vec<u8> {
    let mut out = Vec::new();
    let mut printer = consumer::Printer::new(format);
    let mut ride = sensor::Ride::new("Shadowfax", 1);
    for i in 0..5 {
        let status = ride.step(sensor::StatusTime::from_millis(
            1_764_000_000_000 + i * 1000,
        ));
        let record = kinesis::Record {
            sequence_number: format!("{:056}", i + 1),
            partition_key: status.name.clone(),
            arrival: None,
            data: status.to_json_line().into(),
        };
        for user in consumer::decode(&record) {
            printer
                .write(&mut out, "shardId-000000000000", &record, &user)
                .expect("write to memory");
        }
    }
    out
}

#[test]
fn every_readme_jq_recipe_runs_on_the_consumers_output() {
    if Command::new("jq").arg("--version").output().is_err() {
        eprintln!("note: jq is not installed; the README's jq recipes are not checked");
        return;
    }
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let mut checked = 0;
    for (number, line) in sh_lines(&readme) {
        let words = shlex::split(strip_comment(&line)).expect("split");
        let mut segments = words.split(|w| w == "|");
        let Some(first) = segments.next() else {
            continue;
        };
        let Some(("consumer", args)) = our_command(first) else {
            continue;
        };
        let format = match args
            .iter()
            .position(|a| a.trim_start_matches('-') == "format")
        {
            Some(i) if args.get(i + 1).map(String::as_str) == Some("envelope") => {
                consumer::Format::Envelope
            }
            Some(i) if args.get(i + 1).map(String::as_str) == Some("compact") => {
                consumer::Format::Compact
            }
            _ => consumer::Format::Pretty,
        };
        for jq in segments.filter(|s| s.first().map(String::as_str) == Some("jq")) {
            let mut child = Command::new("jq")
                .args(&jq[1..])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("start jq");
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(&consumer_output(format))
                .unwrap();
            let out = child.wait_with_output().expect("jq");
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "README.md:{number}: `{}` fails on the consumer's output: {}",
                jq.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} jq recipes found in README.md");
}
