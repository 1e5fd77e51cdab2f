//! DynamoDB, the engine's second service (`X-Amz-Target:
//! DynamoDB_20120810.<Action>` on the same port as Kinesis): its data model
//! ([`value`], [`number`]), its expression language ([`expr`]), its storage
//! ([`store`], redb) and its actions ([`service`] and the files beside it).

// Parts of the pure core (printing, some accessors) are only used by tests so far.
#![allow(dead_code)]

mod batch;
mod capacity;
pub mod expr;
pub(crate) mod http;
mod index;
mod items;
mod keypaths;
mod legacy;
mod meta;
pub mod number;
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
