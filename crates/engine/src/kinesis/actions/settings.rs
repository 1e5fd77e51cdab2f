//! Retention periods, tags (by stream and by resource ARN), resource
//! policies, encryption, enhanced monitoring, stream mode, warm throughput,
//! maximum record size, limits and account settings.
//!
//! Encryption, monitoring, policies and warm throughput are stored and
//! reported as the service reports them, but change nothing locally: records
//! are not encrypted, metrics are not published and policies are not
//! enforced.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::front::error::{err, ApiError, Code};
use crate::kinesis::names::not_found;
use crate::kinesis::request::{
    stream_of_arn, tag_map, AddTagsToStream, Encryption, ListTagsForStream, Monitoring, OnResource,
    RemoveTagsFromStream, Retention, UpdateAccountSettings, UpdateMaxRecordSize, UpdateStreamMode,
    UpdateStreamWarmThroughput,
};
use crate::kinesis::state::{MetaOp, Stream, StreamMeta};
use crate::kinesis::{ApiResult, Engine, ACCOUNT};

/// Metrics EnableEnhancedMonitoring knows (`ALL` stands for all of them).
const METRICS: [&str; 7] = [
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
];

/// Tags per stream at most.
const MAX_TAGS: usize = 50;

/// Whether a tag key or value uses only the characters the service allows:
/// letters and digits (ASCII, and U+00C0..U+1FFF, U+2C00..U+D7FF), space and
/// `_ . / = + - % @`.
fn tag_chars_ok(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || " _./=+-%@".contains(c)
            || ('\u{00C0}'..='\u{1FFF}').contains(&c)
            || ('\u{2C00}'..='\u{D7FF}').contains(&c)
    })
}

/// Checks tag keys or values for the characters the service allows, in its
/// order: any character outside the set first, then `%` (listed as valid by
/// the first message, refused by the second, as the service does).
/// `verb` is "add tags to" or "remove tags from".
fn check_tag_strings<'a>(
    all: impl Iterator<Item = &'a str> + Clone,
    verb: &str,
    stream: &str,
) -> Result<(), ApiError> {
    if all.clone().any(|s| !tag_chars_ok(s)) {
        return Err(err(
            Code::InvalidArgumentException,
            "Some tags contain invalid characters. Valid characters: Unicode letters, digits, white space, _ . / = + - % @.",
        ));
    }
    if all.into_iter().any(|s| s.contains('%')) {
        return Err(err(
            Code::InvalidArgumentException,
            format!("Failed to {verb} stream {stream} under account {ACCOUNT} because some tags contained illegal characters. The allowed characters are Unicode letters, white-spaces, '_',',','/','=','+','-','@'."),
        ));
    }
    Ok(())
}

/// Checks tags given with a new resource (CreateStream, RegisterStreamConsumer, TagResource).
pub(crate) fn check_tags(
    tags: BTreeMap<String, String>,
    stream: &str,
) -> Result<BTreeMap<String, String>, ApiError> {
    check_tag_strings(
        tags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]),
        "add tags to",
        stream,
    )?;
    Ok(tags)
}

/// What a resource ARN names: a stream, or a consumer of a stream.
enum Resource {
    Stream(String),
    Consumer { stream: String, arn: String },
}

fn resource(arn: &str) -> Result<Resource, ApiError> {
    if let Some((stream_arn, _)) = arn.split_once("/consumer/") {
        if let Some(stream) = stream_of_arn(stream_arn) {
            return Ok(Resource::Consumer {
                stream: stream.to_string(),
                arn: arn.to_string(),
            });
        }
    } else if let Some(stream) = stream_of_arn(arn) {
        return Ok(Resource::Stream(stream.to_string()));
    }
    Err(err(
        Code::InvalidArgumentException,
        format!(
            "Invalid ResourceARN {arn}: it names neither a Kinesis stream nor a stream consumer."
        ),
    ))
}

impl Engine {
    /// Changes a stream's metadata as one durable change.
    pub(crate) async fn update_meta(
        &self,
        name: &str,
        change: impl FnOnce(&mut StreamMeta) -> Result<(), ApiError>,
    ) -> ApiResult {
        self.change_meta(name, false, false, change).await
    }

    /// Changes the metadata of a stream that must be ACTIVE; with `updating`
    /// the stream is UPDATING for the engine's state delay afterwards.
    pub(crate) async fn change_meta(
        &self,
        name: &str,
        need_active: bool,
        updating: bool,
        change: impl FnOnce(&mut StreamMeta) -> Result<(), ApiError>,
    ) -> ApiResult {
        let rx = {
            let mut st = self.lock();
            let s = if need_active {
                self.active_mut(&mut st, name)?
            } else {
                self.stream_mut(&mut st, name)?
            };
            let mut meta = s.meta.clone();
            change(&mut meta)?;
            if updating {
                meta.settings.updating_until_ms =
                    self.now() + self.config.stream_activation_delay.as_millis() as u64;
            }
            let rx = self.queue_meta(&meta)?;
            st.apply_meta(MetaOp::Upsert(meta));
            rx
        };
        Self::durable(rx).await?;
        Ok(json!({}))
    }

    pub(crate) async fn retention(&self, r: Retention, increase: bool) -> ApiResult {
        let name = r.stream.name()?;
        let hours = r.retention_period_hours;
        self.change_meta(&name, true, false, |m| {
            let cur = i64::from(m.retention_hours);
            if !(24..=8760).contains(&hours) {
                let which = if hours < 24 { "Minimum" } else { "Maximum" };
                return Err(err(
                    Code::InvalidArgumentException,
                    format!("{which} allowed retention period is {} hours. Requested retention period ({hours} hours) is too {}.", if hours < 24 { 24 } else { 8760 }, if hours < 24 { "short" } else { "long" }),
                ));
            }
            if increase && hours < cur {
                return Err(err(Code::InvalidArgumentException, format!("Requested retention period ({hours} hours) for stream {name} can not be shorter than existing retention period ({cur} hours). Use DecreaseRetentionPeriod API.")));
            }
            if !increase && hours > cur {
                return Err(err(Code::InvalidArgumentException, format!("Requested retention period ({hours} hours) for stream {name} can not be longer than existing retention period ({cur} hours). Use IncreaseRetentionPeriod API.")));
            }
            m.retention_hours = hours as u32;
            Ok(())
        })
        .await
    }

    pub(crate) async fn add_tags(&self, r: AddTagsToStream) -> ApiResult {
        let name = r.stream.name()?;
        let tags = tag_map(Some(r.tags));
        self.update_meta(&name, |m| {
            let tags = check_tags(tags, &name)?;
            let mut all = m.tags.clone();
            all.extend(tags);
            if all.len() > MAX_TAGS {
                return Err(err(
                    Code::InvalidArgumentException,
                    format!("Failed to add tags to stream {name} under account {ACCOUNT} because a given stream cannot have more than 10 tags associated with it."),
                ));
            }
            m.tags = all;
            Ok(())
        })
        .await
    }

    pub(crate) async fn remove_tags(&self, r: RemoveTagsFromStream) -> ApiResult {
        let name = r.stream.name()?;
        let keys = r.tag_keys;
        self.update_meta(&name, |m| {
            check_tag_strings(keys.iter().map(String::as_str), "remove tags from", &name)?;
            for k in &keys {
                m.tags.remove(k);
            }
            Ok(())
        })
        .await
    }

    pub(crate) fn list_tags(&self, r: ListTagsForStream) -> ApiResult {
        let name = r.stream.name()?;
        // Without a Limit every tag comes back (a stream has at most 50).
        let limit = r.limit.map_or(MAX_TAGS, |n| n as usize);
        let start = r.exclusive_start_tag_key;
        let mut st = self.lock();
        let s = self.stream_mut(&mut st, &name)?;
        let all: Vec<(&String, &String)> = s
            .meta
            .tags
            .iter()
            .filter(|(k, _)| start.as_deref().is_none_or(|st| k.as_str() > st))
            .collect();
        let tags: Vec<Value> = all
            .iter()
            .take(limit)
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        Ok(json!({"Tags": tags, "HasMoreTags": all.len() > limit}))
    }

    /// TagResource, UntagResource, ListTagsForResource, Put/Get/DeleteResourcePolicy.
    pub(crate) async fn on_resource(&self, action: &str, r: OnResource) -> ApiResult {
        let target = resource(&r.resource_arn)?;
        let stream = match &target {
            Resource::Stream(s) | Resource::Consumer { stream: s, .. } => s.clone(),
        };
        let consumer_arn = match &target {
            Resource::Consumer { arn, .. } => Some(arn.clone()),
            Resource::Stream(_) => None,
        };
        let missing_consumer = || {
            err(
                Code::ResourceNotFoundException,
                format!(
                    "Consumer {} under account {ACCOUNT} not found.",
                    r.resource_arn
                ),
            )
        };
        if matches!(action, "ListTagsForResource" | "GetResourcePolicy") {
            let st = self.lock();
            let s = st.streams.get(&stream).ok_or_else(|| not_found(&stream))?;
            let (tags, policy) = match &consumer_arn {
                None => (&s.meta.tags, &s.meta.settings.policy),
                Some(arn) => {
                    let c = s
                        .meta
                        .consumers
                        .iter()
                        .find(|c| &c.arn == arn)
                        .ok_or_else(missing_consumer)?;
                    (&c.tags, &c.policy)
                }
            };
            return Ok(if action == "GetResourcePolicy" {
                json!({"Policy": policy.clone().unwrap_or_else(|| "{}".into())})
            } else {
                json!({"Tags": tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>()})
            });
        }
        if action == "PutResourcePolicy" {
            let policy = r.policy.clone().unwrap_or_default();
            if serde_json::from_str::<serde_json::Map<String, Value>>(&policy).is_err() {
                return Err(err(
                    Code::InvalidArgumentException,
                    "The resource policy is not a valid JSON policy document.",
                ));
            }
        }
        let tags = check_tags(tag_map(r.tags), &stream)?;
        let keys = r.tag_keys.unwrap_or_default();
        let policy = r.policy;
        self.update_meta(&stream, |m| {
            let (m_tags, m_policy) = match &consumer_arn {
                None => (&mut m.tags, &mut m.settings.policy),
                Some(arn) => {
                    let c = m
                        .consumers
                        .iter_mut()
                        .find(|c| &c.arn == arn)
                        .ok_or_else(missing_consumer)?;
                    (&mut c.tags, &mut c.policy)
                }
            };
            match action {
                "TagResource" => {
                    m_tags.extend(tags);
                    if m_tags.len() > MAX_TAGS {
                        return Err(err(
                            Code::LimitExceededException,
                            format!("A resource cannot have more than {MAX_TAGS} tags."),
                        ));
                    }
                }
                "UntagResource" => {
                    for k in &keys {
                        m_tags.remove(k);
                    }
                }
                "PutResourcePolicy" => *m_policy = policy,
                _ => *m_policy = None,
            }
            Ok(())
        })
        .await
    }

    /// Enable/DisableEnhancedMonitoring: the shard-level metrics are stored.
    pub(crate) async fn monitoring(&self, r: Monitoring, enable: bool) -> ApiResult {
        let name = r.stream.name()?;
        let asked: Vec<&str> = if r.shard_level_metrics.iter().any(|m| m == "ALL") {
            METRICS.to_vec()
        } else {
            r.shard_level_metrics.iter().map(String::as_str).collect()
        };
        let mut before = Vec::new();
        let mut after = Vec::new();
        let arn = self.stream_arn(&name)?;
        self.change_meta(&name, true, false, |m| {
            before = m.settings.shard_level_metrics.clone();
            let mut now: Vec<String> = before.clone();
            if enable {
                for a in &asked {
                    if !now.iter().any(|m| m == a) {
                        now.push((*a).to_string());
                    }
                }
            } else {
                now.retain(|m| !asked.contains(&m.as_str()));
            }
            now.sort_by_key(|m| METRICS.iter().position(|k| k == m));
            m.settings.shard_level_metrics = now.clone();
            after = now;
            Ok(())
        })
        .await?;
        Ok(json!({
            "StreamName": name,
            "StreamARN": arn,
            "CurrentShardLevelMetrics": before,
            "DesiredShardLevelMetrics": after,
        }))
    }

    /// Start/StopStreamEncryption: the key id is stored and reported, and
    /// records read say `KMS` if they arrived while the stream was encrypted.
    pub(crate) async fn encryption(&self, r: Encryption, start: bool) -> ApiResult {
        let name = r.stream.name()?;
        let key = r.key_id;
        let now = self.now();
        self.change_meta(&name, true, true, |m| {
            let keep_after = now.saturating_sub(u64::from(m.retention_hours) * 3_600_000);
            if start {
                m.settings.set_encryption(Some(key), now, keep_after);
            } else if m.settings.kms_key_id.as_deref() == Some(key.as_str()) {
                m.settings.set_encryption(None, now, keep_after);
            } else {
                return Err(err(
                    Code::InvalidArgumentException,
                    format!("The stream {name} under account {ACCOUNT} is not encrypted with key {key}."),
                ));
            }
            Ok(())
        })
        .await
    }

    /// UpdateStreamMode: on-demand streams get the engine's on-demand shard
    /// count when they have fewer open shards.
    pub(crate) async fn update_stream_mode(&self, r: UpdateStreamMode) -> ApiResult {
        let name = stream_of_arn(&r.stream_arn)
            .ok_or_else(|| {
                err(
                    Code::InvalidArgumentException,
                    format!("StreamARN {} is not a Kinesis stream ARN.", r.stream_arn),
                )
            })?
            .to_string();
        let on_demand = r.stream_mode_details.stream_mode == "ON_DEMAND";
        let warm = r.warm_throughput_mibps.map(|w| w as u32);
        self.change_meta(&name, true, true, |m| {
            if m.on_demand == on_demand {
                return Err(err(
                    Code::InvalidArgumentException,
                    format!(
                        "Stream {name} under account {ACCOUNT} is already in {} mode.",
                        r.stream_mode_details.stream_mode
                    ),
                ));
            }
            m.on_demand = on_demand;
            if warm.is_some() {
                m.settings.warm_throughput_mibps = warm;
            }
            Ok(())
        })
        .await
    }

    pub(crate) async fn update_warm_throughput(&self, r: UpdateStreamWarmThroughput) -> ApiResult {
        let name = r.stream.name()?;
        let mibps = r.warm_throughput_mibps as u32;
        let arn = self.stream_arn(&name)?;
        self.change_meta(&name, true, true, |m| {
            if !m.on_demand {
                return Err(err(
                    Code::InvalidArgumentException,
                    format!("Warm throughput can only be set on streams in ON_DEMAND mode; stream {name} under account {ACCOUNT} is PROVISIONED."),
                ));
            }
            m.settings.warm_throughput_mibps = Some(mibps);
            Ok(())
        })
        .await?;
        Ok(json!({
            "StreamARN": arn,
            "StreamName": name,
            "WarmThroughput": {"TargetMiBps": mibps, "CurrentMiBps": mibps},
        }))
    }

    pub(crate) async fn update_max_record_size(&self, r: UpdateMaxRecordSize) -> ApiResult {
        let name = r.stream.name()?;
        let kib = r.max_record_size_kib as u32;
        self.change_meta(&name, true, true, |m| {
            m.settings.max_record_size_kib = Some(kib);
            Ok(())
        })
        .await
    }

    fn stream_arn(&self, name: &str) -> Result<String, ApiError> {
        let st = self.lock();
        st.streams
            .get(name)
            .map(|s| s.meta.arn.clone())
            .ok_or_else(|| not_found(name))
    }

    pub(crate) fn describe_limits(&self) -> ApiResult {
        let st = self.lock();
        let open: usize = st.streams.values().map(Stream::open_count).sum();
        let on_demand = st.streams.values().filter(|s| s.meta.on_demand).count();
        Ok(json!({
            "ShardLimit": self.config.shard_limit,
            "OpenShardCount": open,
            "OnDemandStreamCount": on_demand,
            "OnDemandStreamCountLimit": 50,
        }))
    }

    /// DescribeAccountSettings / UpdateAccountSettings (kept in memory).
    pub(crate) fn account_settings(&self, update: Option<UpdateAccountSettings>) -> ApiResult {
        let mut commitment = self.account.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(u) = update {
            let status = u.minimum_throughput_billing_commitment.status;
            *commitment = Some(status);
        }
        Ok(match commitment.as_deref() {
            Some(status) => json!({"MinimumThroughputBillingCommitment": {"Status": status}}),
            None => json!({}),
        })
    }
}
