//! One typed request per action, parsed once from the request body.
//!
//! The body has already passed the service model's checks
//! ([`crate::front::validate`]): member types (SerializationException) and
//! every constraint of every member (ValidationException). What is left to
//! the actions is what the model cannot say: existence, state and limits.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::front::error::{err, ApiError, Code};

/// Parses the typed request of an action.
pub(crate) fn parse<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| {
        err(
            Code::SerializationException,
            format!("the request body does not fit the action's input: {e}"),
        )
    })
}

/// A blob: a base64 string in JSON.
fn blob<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s = String::deserialize(d)?;
    STANDARD
        .decode(s.as_bytes())
        .map_err(|_| serde::de::Error::custom("invalid base64"))
}

/// A timestamp: epoch seconds (fractions allowed), kept in milliseconds.
fn opt_time_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let t = Option::<f64>::deserialize(d)?;
    Ok(t.map(|s| {
        if s.is_finite() && s > 0.0 {
            (s * 1000.0) as u64
        } else {
            0
        }
    }))
}

/// The stream a request names: by StreamName, or by StreamARN.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamRef {
    pub(crate) stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    pub(crate) stream_arn: Option<String>,
}

/// The stream name of a Kinesis stream ARN
/// (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME`).
pub(crate) fn stream_of_arn(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(5, ':');
    let (_partition, service, _region, _account) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let name = parts.next()?.strip_prefix("stream/")?;
    (service == "kinesis" && !name.is_empty() && !name.contains('/')).then_some(name)
}

impl StreamRef {
    /// The stream's name (StreamName wins when both are given).
    pub(crate) fn name(&self) -> Result<String, ApiError> {
        if let Some(name) = &self.stream_name {
            return Ok(name.clone());
        }
        if let Some(arn) = &self.stream_arn {
            return stream_of_arn(arn).map(str::to_string).ok_or_else(|| {
                err(
                    Code::InvalidArgumentException,
                    format!("StreamARN {arn} is not a Kinesis stream ARN."),
                )
            });
        }
        Err(err(
            Code::ValidationException,
            "Neither StreamName nor StreamARN was provided.",
        ))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StreamModeDetails {
    pub(crate) stream_mode: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct CreateStream {
    pub(crate) stream_name: String,
    pub(crate) shard_count: Option<i64>,
    pub(crate) stream_mode_details: Option<StreamModeDetails>,
    #[serde(default)]
    pub(crate) tags: Option<BTreeMap<String, Option<String>>>,
    #[serde(rename = "MaxRecordSizeInKiB")]
    pub(crate) max_record_size_kib: Option<i64>,
    #[serde(rename = "WarmThroughputMiBps")]
    pub(crate) warm_throughput_mibps: Option<i64>,
}

/// Actions that name a stream and nothing else (DeleteStream's
/// EnforceConsumerDeletion included).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OnStream {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) enforce_consumer_deletion: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct DescribeStream {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) limit: Option<i64>,
    pub(crate) exclusive_start_shard_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListStreams {
    pub(crate) limit: Option<i64>,
    pub(crate) exclusive_start_stream_name: Option<String>,
    pub(crate) next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ShardFilter {
    #[serde(rename = "Type")]
    pub(crate) kind: String,
    pub(crate) shard_id: Option<String>,
    #[serde(default, deserialize_with = "opt_time_ms")]
    pub(crate) timestamp: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListShards {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) next_token: Option<String>,
    pub(crate) exclusive_start_shard_id: Option<String>,
    pub(crate) max_results: Option<i64>,
    pub(crate) shard_filter: Option<ShardFilter>,
}

/// One record to put (PutRecord, or an entry of PutRecords).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutEntryIn {
    #[serde(deserialize_with = "blob")]
    pub(crate) data: Vec<u8>,
    pub(crate) partition_key: String,
    pub(crate) explicit_hash_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
// The two put requests name their members instead of flattening StreamRef and
// PutEntryIn into them: serde's `flatten` buffers the whole request (every
// record's data) once more before reading it, on the engine's busiest path.
pub(crate) struct PutRecord {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    #[serde(deserialize_with = "blob")]
    data: Vec<u8>,
    partition_key: String,
    explicit_hash_key: Option<String>,
    pub(crate) sequence_number_for_ordering: Option<String>,
}

impl PutRecord {
    /// The stream it names and the record it puts.
    pub(crate) fn into_parts(self) -> (StreamRef, PutEntryIn, Option<String>) {
        let stream = StreamRef {
            stream_name: self.stream_name,
            stream_arn: self.stream_arn,
        };
        let entry = PutEntryIn {
            data: self.data,
            partition_key: self.partition_key,
            explicit_hash_key: self.explicit_hash_key,
        };
        (stream, entry, self.sequence_number_for_ordering)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct PutRecords {
    stream_name: Option<String>,
    #[serde(rename = "StreamARN")]
    stream_arn: Option<String>,
    pub(crate) records: Vec<PutEntryIn>,
}

impl PutRecords {
    /// The stream it names.
    pub(crate) fn stream(&self) -> StreamRef {
        StreamRef {
            stream_name: self.stream_name.clone(),
            stream_arn: self.stream_arn.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetShardIterator {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) shard_id: String,
    pub(crate) shard_iterator_type: String,
    pub(crate) starting_sequence_number: Option<String>,
    #[serde(default, deserialize_with = "opt_time_ms")]
    pub(crate) timestamp: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct GetRecords {
    pub(crate) shard_iterator: String,
    pub(crate) limit: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SplitShard {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) shard_to_split: String,
    pub(crate) new_starting_hash_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct MergeShards {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) shard_to_merge: String,
    pub(crate) adjacent_shard_to_merge: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateShardCount {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) target_shard_count: i64,
    /// Only UNIFORM_SCALING exists (the model's enum checks it).
    #[allow(dead_code)]
    pub(crate) scaling_type: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Retention {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) retention_period_hours: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct AddTagsToStream {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) tags: BTreeMap<String, Option<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct RemoveTagsFromStream {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) tag_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListTagsForStream {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) exclusive_start_tag_key: Option<String>,
    pub(crate) limit: Option<i64>,
}

/// Actions on a resource by ARN: a stream or a consumer (tags, policies).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OnResource {
    #[serde(rename = "ResourceARN")]
    pub(crate) resource_arn: String,
    pub(crate) tags: Option<BTreeMap<String, Option<String>>>,
    pub(crate) tag_keys: Option<Vec<String>>,
    pub(crate) policy: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Monitoring {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    pub(crate) shard_level_metrics: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Encryption {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    /// Only KMS exists (the model's enum checks it).
    #[allow(dead_code)]
    pub(crate) encryption_type: String,
    pub(crate) key_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateStreamMode {
    #[serde(rename = "StreamARN")]
    pub(crate) stream_arn: String,
    pub(crate) stream_mode_details: StreamModeDetails,
    #[serde(rename = "WarmThroughputMiBps")]
    pub(crate) warm_throughput_mibps: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateStreamWarmThroughput {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    #[serde(rename = "WarmThroughputMiBps")]
    pub(crate) warm_throughput_mibps: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateMaxRecordSize {
    #[serde(flatten)]
    pub(crate) stream: StreamRef,
    #[serde(rename = "MaxRecordSizeInKiB")]
    pub(crate) max_record_size_kib: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BillingCommitment {
    pub(crate) status: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct UpdateAccountSettings {
    pub(crate) minimum_throughput_billing_commitment: BillingCommitment,
}

/// Consumer actions: by ConsumerARN, or by StreamARN and ConsumerName.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct OnConsumer {
    #[serde(rename = "StreamARN")]
    pub(crate) stream_arn: Option<String>,
    pub(crate) consumer_name: Option<String>,
    #[serde(rename = "ConsumerARN")]
    pub(crate) consumer_arn: Option<String>,
    pub(crate) tags: Option<BTreeMap<String, Option<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ListStreamConsumers {
    #[serde(rename = "StreamARN")]
    pub(crate) stream_arn: String,
    pub(crate) next_token: Option<String>,
    pub(crate) max_results: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct StartingPosition {
    #[serde(rename = "Type")]
    pub(crate) kind: String,
    pub(crate) sequence_number: Option<String>,
    #[serde(default, deserialize_with = "opt_time_ms")]
    pub(crate) timestamp: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct SubscribeToShard {
    #[serde(rename = "ConsumerARN")]
    pub(crate) consumer_arn: String,
    pub(crate) shard_id: String,
    pub(crate) starting_position: StartingPosition,
}

/// Tags as sent (a null value is an empty string).
pub(crate) fn tag_map(tags: Option<BTreeMap<String, Option<String>>>) -> BTreeMap<String, String> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_arns_name_their_stream() {
        assert_eq!(
            stream_of_arn("arn:aws:kinesis:us-east-1:000000000000:stream/rides"),
            Some("rides")
        );
        assert_eq!(stream_of_arn("arn:aws:sqs:us-east-1:0:stream/rides"), None);
        assert_eq!(
            stream_of_arn("arn:aws:kinesis:us-east-1:0:stream/rides/consumer/c:1"),
            None
        );
    }

    #[test]
    fn a_typed_request_takes_blobs_and_timestamps() {
        let p: PutRecord = parse(serde_json::json!({
            "StreamName": "s", "PartitionKey": "k", "Data": "aGk=", "Unknown": 1
        }))
        .unwrap();
        let (stream, entry, _) = p.into_parts();
        assert_eq!(entry.data, b"hi");
        assert_eq!(stream.name().unwrap(), "s");
        let g: GetShardIterator = parse(serde_json::json!({
            "StreamName": "s", "ShardId": "shardId-000000000000",
            "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": 1.5
        }))
        .unwrap();
        assert_eq!(g.timestamp, Some(1500));
        let bad = parse::<PutRecord>(
            serde_json::json!({"StreamName": "s", "PartitionKey": "k", "Data": "!!"}),
        );
        assert_eq!(bad.unwrap_err().code, Code::SerializationException);
    }
}
