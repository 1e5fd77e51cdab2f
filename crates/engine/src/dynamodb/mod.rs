//! DynamoDB, the engine's second service (`X-Amz-Target:
//! DynamoDB_20120810.<Action>` on the same port as Kinesis): its data model
//! ([`value`], [`number`]), its expression language ([`expr`]), its storage
//! ([`store`], redb) and its actions ([`service`] and the files beside it).

// Parts of the pure core (printing, some accessors) are only used by tests so far.
#![allow(dead_code)]

mod arns;
mod backups;
mod batch;
mod capacity;
pub mod expr;
pub(crate) mod http;
mod idempotency;
mod index;
mod items;
mod keypaths;
mod legacy;
mod meta;
pub mod number;
mod options;
mod partition;
mod query;
mod query_keys;
pub(crate) mod service;
mod store;
mod stored;
mod tables;
mod tags;
mod transact;
mod ttl;
mod typed;
mod updating;
pub mod value;

use std::sync::Arc;

pub(crate) use service::Service;

/// Opens the DynamoDB service of an engine configured with `config`.
pub(crate) fn open(config: &crate::Config) -> Result<Arc<Service>, crate::EngineError> {
    let settings = service::Settings {
        fail_entry_ratio: config.fail_entry_ratio,
        clock: config.clock.clone(),
        region: "us-east-1".into(),
        auth: config.auth.clone(),
        fail_call_ratio: config.fail_call_ratio,
        state_delay: config.stream_activation_delay,
        enforce_limits: config.enforce_limits,
    };
    let service = Service::open(config.data_dir.as_deref(), settings)
        .map(Arc::new)
        .map_err(|e| crate::EngineError::Io {
            context: e.to_string(),
            source: std::io::ErrorKind::InvalidData.into(),
        })?;
    ttl::spawn_sweeper(&service);
    Ok(service)
}

/// Closes the tables once the engine stops: waits (at most `grace`) until
/// nothing else holds the service (a group's committer finishing on a
/// blocking thread, a TTL sweep), then drops it on a blocking thread, so
/// that its store is checkpointed and its files closed when the engine's
/// shutdown returns.
pub(crate) async fn close(service: Arc<Service>, grace: std::time::Duration) {
    let deadline = tokio::time::Instant::now() + grace;
    while Arc::strong_count(&service) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    let _ = tokio::task::spawn_blocking(move || drop(service)).await;
}

/// The DynamoDB side of `engine::repair`: repairs the write journal in
/// `DATA_DIR/dynamodb` ([`store::repair`]) and adds what it dropped to the
/// Kinesis log's `report` (the damaged bytes and a report in the same
/// `repair-*` folder).
pub(crate) fn repair(
    dir: &std::path::Path,
    report: &mut crate::RepairReport,
) -> Result<(), crate::EngineError> {
    use crate::store::log::io;
    let _lock = crate::store::dir::lock_dir(dir)?;
    let journal = dir.join("dynamodb");
    let saved = report
        .saved
        .clone()
        .unwrap_or_else(|| crate::store::repair::saved_folder(dir));
    let dropped = store::repair::repair(&journal, || {
        std::fs::create_dir_all(&saved).map(|()| saved.clone())
    })
    .map_err(io(format!(
        "repairing the DynamoDB journal in {}",
        journal.display()
    )))?;
    if dropped.lines.is_empty() {
        return Ok(());
    }
    // The Kinesis log's "nothing changed" no longer holds.
    report
        .lines
        .retain(|l| !l.starts_with("repair: no damage found"));
    report.lines.extend(dropped.lines);
    report.lines.push(format!(
        "repair: DynamoDB journal: {} bytes dropped, every intact write kept; damaged bytes saved in {}",
        dropped.lost_bytes,
        saved.display()
    ));
    report.lost_bytes += dropped.lost_bytes;
    let file = saved.join("dynamodb-report.txt");
    std::fs::write(&file, report.to_string()).map_err(io(format!("writing {}", file.display())))?;
    report.saved = Some(saved);
    Ok(())
}
