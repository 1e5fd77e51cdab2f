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
    /// While `kms_key_id` is set: since when (0 for streams encrypted before
    /// this was kept: all their records count as encrypted).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) encrypted_since_ms: u64,
    /// Earlier encrypted spells `[start, end)` whose records may still be
    /// retained (StopStreamEncryption ended them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) encrypted_spells: Vec<(u64, u64)>,
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

/// Encrypted spells kept per stream.
const MAX_SPELLS: usize = 32;

impl StreamSettings {
    /// What the records' `EncryptionType` says (see [`RecordEncryption`]).
    pub(crate) fn record_encryption(&self) -> RecordEncryption {
        RecordEncryption {
            since: self.kms_key_id.as_ref().map(|_| self.encrypted_since_ms),
            spells: self.encrypted_spells.clone(),
        }
    }

    /// Start/StopStreamEncryption at `now`: the encrypted spell begins or
    /// ends; ended spells older than `keep_after` (retention) are forgotten.
    pub(crate) fn set_encryption(&mut self, key: Option<String>, now: u64, keep_after: u64) {
        match (&self.kms_key_id, &key) {
            (None, Some(_)) => self.encrypted_since_ms = now,
            (Some(_), None) => {
                self.encrypted_spells.push((self.encrypted_since_ms, now));
                self.encrypted_since_ms = 0;
            }
            _ => {}
        }
        self.encrypted_spells.retain(|(_, end)| *end > keep_after);
        // Bounded however often encryption is toggled: the two oldest spells
        // merge (records between them then read as encrypted).
        while self.encrypted_spells.len() > MAX_SPELLS {
            let (start, _) = self.encrypted_spells.remove(0);
            self.encrypted_spells[0].0 = start;
        }
        self.kms_key_id = key;
    }
}

/// Whether records read from a stream were written encrypted: by their
/// arrival time, against the stream's encrypted spells (only metadata: the
/// records themselves are stored as they always were).
#[derive(Debug, Clone, Default)]
pub(crate) struct RecordEncryption {
    /// The current spell's start, while the stream is encrypted.
    since: Option<u64>,
    spells: Vec<(u64, u64)>,
}

impl RecordEncryption {
    /// `EncryptionType` of a record that arrived at `ts_ms`: `KMS` or
    /// `NONE`, or nothing (as the service) when the stream never was
    /// encrypted while its retained records arrived.
    pub(crate) fn of(&self, ts_ms: u64) -> Option<&'static str> {
        if self.since.is_none() && self.spells.is_empty() {
            return None;
        }
        let encrypted = self.since.is_some_and(|s| ts_ms >= s)
            || self.spells.iter().any(|&(a, b)| a <= ts_ms && ts_ms < b);
        Some(if encrypted { "KMS" } else { "NONE" })
    }
}

#[cfg(test)]
mod tests {
    use super::StreamSettings;

    #[test]
    fn records_are_kms_when_they_arrived_while_the_stream_was_encrypted() {
        let mut s = StreamSettings::default();
        assert_eq!(s.record_encryption().of(5), None);
        s.set_encryption(Some("k".into()), 10, 0);
        let e = s.record_encryption();
        assert_eq!(
            (e.of(9), e.of(10), e.of(99)),
            (Some("NONE"), Some("KMS"), Some("KMS"))
        );
        s.set_encryption(None, 20, 0);
        let e = s.record_encryption();
        assert_eq!(
            (e.of(9), e.of(15), e.of(20)),
            (Some("NONE"), Some("KMS"), Some("NONE"))
        );
        // Spells whose records are all past retention are forgotten.
        s.set_encryption(Some("k".into()), 30, 0);
        s.set_encryption(None, 40, 25);
        let e = s.record_encryption();
        assert_eq!((e.of(15), e.of(35)), (Some("NONE"), Some("KMS")));
        s.set_encryption(None, 50, 45);
        assert_eq!(s.record_encryption().of(35), None);
        // However often encryption is toggled, the spells kept are bounded.
        let mut busy = StreamSettings::default();
        for t in 0..200u64 {
            let key = (t % 2 == 0).then(|| "k".to_string());
            busy.set_encryption(key, 100 + t, 0);
        }
        assert!(busy.encrypted_spells.len() <= super::MAX_SPELLS);
        assert_eq!(busy.encrypted_spells[0].0, 100);
        // Streams encrypted before spells were kept: every record.
        let old = StreamSettings {
            kms_key_id: Some("k".into()),
            ..StreamSettings::default()
        };
        assert_eq!(old.record_encryption().of(0), Some("KMS"));
    }
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
