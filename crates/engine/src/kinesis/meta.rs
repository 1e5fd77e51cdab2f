//! The persistent description of streams, shards and consumers: what the log
//! records as stream changes and snapshots (encoded by `store::codec`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Persistent description of a shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShardMeta {
    pub(crate) start: String,
    pub(crate) end: String,
    pub(crate) parent: Option<u32>,
    pub(crate) adjacent: Option<u32>,
    pub(crate) created_ms: u64,
    /// Position after the last record once the shard is closed.
    pub(crate) closed_end: Option<u64>,
}

/// Persistent description of a stream (everything but its records).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StreamMeta {
    pub(crate) name: String,
    pub(crate) incarnation: u64,
    pub(crate) arn: String,
    pub(crate) created_ms: u64,
    pub(crate) active_at_ms: u64,
    pub(crate) on_demand: bool,
    pub(crate) retention_hours: u32,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) shards: Vec<ShardMeta>,
    /// Registered enhanced fan-out consumers (RegisterStreamConsumer).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) consumers: Vec<ConsumerMeta>,
    /// Settings of the stream that change nothing locally but are stored and
    /// reported (encryption, monitoring, resource policy, warm throughput...).
    #[serde(default)]
    pub(crate) settings: Box<StreamSettings>,
}

/// Stored stream settings (see [`StreamMeta::settings`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StreamSettings {
    /// `KMS` key id of StartStreamEncryption (records are not encrypted locally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) kms_key_id: Option<String>,
    /// Shard-level metrics of EnableEnhancedMonitoring.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) shard_level_metrics: Vec<String>,
    /// PutResourcePolicy's document (stored and returned, not enforced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) warm_throughput_mibps: Option<u32>,
    /// Largest record accepted, in KiB (1024 unless UpdateMaxRecordSize).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_record_size_kib: Option<u32>,
    /// The stream is UPDATING until then (resharding, mode or encryption changes).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) updating_until_ms: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Persistent description of an enhanced fan-out consumer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ConsumerMeta {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) created_ms: u64,
    /// CREATING until then (RegisterStreamConsumer and the state delay);
    /// 0 in consumers registered before consumers had states.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) active_at_ms: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) policy: Option<String>,
}

/// A metadata log entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum MetaOp {
    Upsert(StreamMeta),
    Delete { name: String, incarnation: u64 },
}

/// Stream metadata and shard ends written at the start of every log segment
/// after the first, so older segments can be deleted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) next_incarnation: u64,
    pub(crate) streams: Vec<SnapStream>,
    /// The sealed segments live when it was written (absent before the
    /// format-2 log): recovery checks that none is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) segments: Option<Vec<u32>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SnapStream {
    pub(crate) meta: StreamMeta,
    /// Position after the last durable record of each shard.
    pub(crate) tails: Vec<u64>,
}
