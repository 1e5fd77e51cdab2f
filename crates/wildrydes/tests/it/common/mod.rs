//! Helpers shared by the process-level tests.

#![allow(dead_code)]

use std::path::PathBuf;

/// The `wildrydes` binary under test.
pub const WILDRYDES: &str = env!("CARGO_BIN_EXE_wildrydes");

/// A binary of another package of the workspace (`producer`, `consumer`),
/// found next to `wildrydes`, where `cargo test --workspace` builds them.
pub fn workspace_bin(name: &str) -> PathBuf {
    testkit::workspace_bin(name, Some(WILDRYDES))
}

#[cfg(unix)]
#[allow(unused_imports)]
pub use testkit::ctrl_c;
