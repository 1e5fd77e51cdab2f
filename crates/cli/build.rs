//! Names the git commit in `--version` (`0.1.0 (commit 1a2b3c4d5e6f)`), or
//! "unknown commit" when built outside a git checkout (a source archive).

use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn watch(name: &str) {
    if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", name]) {
        if Path::new(&path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    let text = commit.map_or_else(|| "unknown commit".to_owned(), |c| format!("commit {c}"));
    println!("cargo:rustc-env=WILDRYDES_COMMIT={text}");
    // Rebuild when HEAD moves (a commit, a checkout); paths are asked of git
    // so that worktrees (where .git is a file) work too.
    watch("HEAD");
    watch("packed-refs");
    if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watch(&head);
    }
}
