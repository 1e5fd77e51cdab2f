//! Helpers shared by the process-level tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The `wildrydes` binary under test.
pub const WILDRYDES: &str = env!("CARGO_BIN_EXE_wildrydes");

/// A binary of another package of the workspace (`producer`, `consumer`),
/// found next to `wildrydes`, where `cargo test --workspace` builds them.
pub fn workspace_bin(name: &str) -> PathBuf {
    let path =
        Path::new(WILDRYDES).with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build --workspace` first)",
        path.display()
    );
    path
}

/// Sends SIGINT, as Ctrl-C in a terminal does.
#[cfg(unix)]
pub fn ctrl_c(child: &tokio::process::Child) {
    let pid = child.id().expect("still running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(sent.success(), "kill -INT {pid}");
}
