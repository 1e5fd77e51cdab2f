//! Shell completions and man pages come from the real binaries: a bash
//! completion script loads without error and completes the flags; the man
//! pages render for every subcommand; `--version` names the commit.

use std::process::Command;

mod common;

use common::workspace_bin;

fn stdout_of(bin: &str, args: &[&str]) -> String {
    let out = Command::new(workspace_bin(bin))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{bin} {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn has_bash() -> bool {
    Command::new("bash")
        .arg("-c")
        .arg("true")
        .status()
        .is_ok_and(|s| s.success())
}

/// Loads `script` into bash and asks it to complete `line` (words split on
/// spaces, the cursor at the end); returns the candidates.
fn bash_complete(script: &str, line: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("completion.bash");
    std::fs::write(&path, script).unwrap();
    let words: Vec<&str> = line.split(' ').collect();
    let program = format!(
        r#"set -e
source {path}
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_LINE="{line}"
COMP_POINT=${{#COMP_LINE}}
func=$(complete -p {bin} | sed -E 's/.*-F ([^ ]+).*/\1/')
"$func" {bin} "{cur}" "{prev}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        path = path.display(),
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
        bin = words[0],
        cur = words[words.len() - 1],
        prev = words[words.len() - 2],
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(program)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completions_load_and_complete_the_flags() {
    if !has_bash() {
        eprintln!("note: bash not found; skipped");
        return;
    }
    let script = stdout_of("wildrydes", &["completions", "bash"]);
    let candidates = bash_complete(&script, "wildrydes up --");
    for flag in ["--port", "--data-dir", "--window", "--in-memory"] {
        assert!(
            candidates.iter().any(|c| c == flag),
            "{flag} not in {candidates:?}"
        );
    }
    let subcommands = bash_complete(&script, "wildrydes ");
    for sub in ["up", "demo", "serve", "aggregate", "process", "load"] {
        assert!(
            subcommands.iter().any(|c| c == sub),
            "{sub} not in {subcommands:?}"
        );
    }
    for bin in ["producer", "consumer"] {
        let script = stdout_of(bin, &["--completions", "bash"]);
        let candidates = bash_complete(&script, &format!("{bin} --"));
        for flag in ["--stream", "--endpoint", "--region"] {
            assert!(
                candidates.iter().any(|c| c == flag),
                "{bin}: {flag} not in {candidates:?}"
            );
        }
    }
}

#[test]
fn other_shells_get_a_script_naming_the_flags() {
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let script = stdout_of("consumer", &["--completions", shell]);
        assert!(script.contains("until-caught-up"), "{shell}: {script}");
    }
}

#[test]
fn man_pages_for_every_subcommand() {
    let page = stdout_of("producer", &["--man"]);
    assert!(
        page.starts_with(".ie") || page.contains(".TH producer 1"),
        "{page}"
    );
    assert!(page.contains("unicorns"), "{page}");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man");
    stdout_of("wildrydes", &["man", "--out", out.to_str().unwrap()]);
    for name in [
        "wildrydes",
        "wildrydes-up",
        "wildrydes-serve",
        "wildrydes-load",
    ] {
        let page = std::fs::read_to_string(out.join(format!("{name}.1"))).unwrap();
        assert!(page.contains(&format!(".TH {name} 1")), "{name}: {page}");
    }
}

#[test]
fn version_names_the_commit() {
    for bin in ["producer", "consumer", "wildrydes"] {
        let version = stdout_of(bin, &["--version"]);
        assert!(version.starts_with(&format!("{bin} 0.")), "{version}");
        assert!(
            version.contains("commit") && version.contains('('),
            "{version}"
        );
    }
}
