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

/// The items of a DynamoDB table (a paginated `Select: COUNT` scan).
pub async fn count_items(client: &aws_sdk_dynamodb::Client, table: &str) -> i32 {
    use aws_sdk_dynamodb::types::Select;
    let mut total = 0;
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(table)
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        total += out.count();
        start = out.last_evaluated_key().cloned();
        if start.is_none() {
            return total;
        }
    }
}
