//! CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary,
//! ListStreams and ListShards.

use serde_json::{json, Map, Value};

use crate::front::error::{err, ApiError, Code};
use crate::kinesis::actions::settings::check_tags;
use crate::kinesis::iterator::*;
use crate::kinesis::names::*;
use crate::kinesis::request::*;
use crate::kinesis::state::*;
use crate::kinesis::{ApiResult, Engine, ACCOUNT};
use crate::store::codec::encode_meta;

impl Engine {
    // ---- streams ---------------------------------------------------------

    pub(crate) async fn create_stream(&self, r: CreateStream, region: &str) -> ApiResult {
        let name = r.stream_name.as_str();
        let on_demand = r
            .stream_mode_details
            .as_ref()
            .is_some_and(|m| m.stream_mode == "ON_DEMAND");
        let count = match r.shard_count {
            Some(n) => n as u32,
            None if on_demand => self.config.on_demand_shard_count.max(1),
            None => {
                return Err(err(
                    Code::ValidationException,
                    "1 validation error detected: Value null at 'shardCount' failed to satisfy constraint: Member must not be null",
                ))
            }
        };
        let tags = check_tags(tag_map(r.tags), name)?;
        let rx = {
            let mut st = self.lock();
            if st.streams.contains_key(name) {
                return Err(err(
                    Code::ResourceInUseException,
                    format!("Stream {name} under account {ACCOUNT} already exists."),
                ));
            }
            let open: usize = st.streams.values().map(Stream::open_count).sum();
            if open + count as usize > self.config.shard_limit as usize {
                return Err(crate::kinesis::actions::reshard::shard_limit_error(
                    open,
                    self.config.shard_limit,
                    count as usize,
                    region,
                ));
            }
            let now = self.now();
            let incarnation = st.next_incarnation;
            let meta = StreamMeta {
                name: name.to_string(),
                incarnation,
                arn: format!("arn:aws:kinesis:{region}:{ACCOUNT}:stream/{name}"),
                created_ms: now,
                active_at_ms: now + self.config.stream_activation_delay.as_millis() as u64,
                on_demand,
                retention_hours: 24,
                tags,
                shards: uniform_ranges(count)
                    .into_iter()
                    .map(|(start, end)| ShardMeta {
                        start: start.to_string(),
                        end: end.to_string(),
                        parent: None,
                        adjacent: None,
                        created_ms: now,
                        closed_end: None,
                    })
                    .collect(),
                consumers: Vec::new(),
                settings: Box::new(StreamSettings {
                    max_record_size_kib: r.max_record_size_kib.map(|k| k as u32),
                    warm_throughput_mibps: r.warm_throughput_mibps.map(|w| w as u32),
                    ..StreamSettings::default()
                }),
            };
            let rx = self.queue_meta(&meta)?;
            st.apply_meta(MetaOp::Upsert(meta));
            rx
        };
        Self::durable(rx).await?;
        Ok(json!({}))
    }

    pub(crate) async fn delete_stream(&self, r: OnStream) -> ApiResult {
        let name = r.stream.name()?;
        let rx = {
            let mut st = self.lock();
            let s = self.stream_mut(&mut st, &name)?;
            if !s.meta.consumers.is_empty() && r.enforce_consumer_deletion != Some(true) {
                return Err(err(
                    Code::ResourceInUseException,
                    format!("Stream {name} under account {ACCOUNT} has registered consumers. Deregister them first, or set EnforceConsumerDeletion."),
                ));
            }
            let incarnation = s.meta.incarnation;
            let delay = self.config.stream_activation_delay.as_millis() as u64;
            if delay > 0 {
                // Shown as DELETING by the describe actions until the delay passed.
                let until = self.now() + delay;
                self.lock_deleting()
                    .insert(name.clone(), (s.meta.clone(), until));
            }
            let op = MetaOp::Delete {
                name: name.clone(),
                incarnation,
            };
            let rx = self.queue(&encode_meta(&op), None);
            st.apply_meta(op);
            rx
        };
        Self::durable(rx).await?;
        Ok(json!({}))
    }

    /// What a description shows of the shards while a reshard is still
    /// UPDATING the stream: as the service, the shards from before it (the
    /// ones it closed still open), not the new ones. Writes already go to the
    /// new shards (which GetRecords' ChildShards name); only the description
    /// waits for the state delay.
    pub(crate) fn settled(&self, s: &Stream) -> Settled {
        let total = s.meta.shards.len();
        let until = s.meta.settings.updating_until_ms;
        if self.now() >= until {
            return Settled {
                shown: total,
                reopened: Vec::new(),
            };
        }
        let delay = self.config.stream_activation_delay.as_millis() as u64;
        let started = until.saturating_sub(delay);
        // Shards a reshard added are appended, so the new ones are the last.
        let shown = s
            .meta
            .shards
            .iter()
            .position(|m| m.parent.is_some() && m.created_ms >= started)
            .unwrap_or(total);
        let reopened = s.meta.shards[shown..]
            .iter()
            .flat_map(|m| [m.parent, m.adjacent])
            .flatten()
            .map(|p| p as usize)
            .collect();
        Settled { shown, reopened }
    }

    pub(crate) fn shard_json(&self, s: &Stream, idx: usize, settled: &Settled) -> Value {
        let m = &s.meta.shards[idx];
        let mut o = Map::new();
        o.insert("ShardId".into(), json!(shard_id(idx)));
        if let Some(p) = m.parent {
            o.insert("ParentShardId".into(), json!(shard_id(p as usize)));
        }
        if let Some(p) = m.adjacent {
            o.insert("AdjacentParentShardId".into(), json!(shard_id(p as usize)));
        }
        o.insert(
            "HashKeyRange".into(),
            json!({"StartingHashKey": m.start, "EndingHashKey": m.end}),
        );
        let mut range = Map::new();
        range.insert("StartingSequenceNumber".into(), json!(seq(idx, 0)));
        if let Some(end) = m.closed_end.filter(|_| !settled.reopened.contains(&idx)) {
            range.insert("EndingSequenceNumber".into(), json!(seq(idx, end)));
        }
        o.insert("SequenceNumberRange".into(), Value::Object(range));
        Value::Object(o)
    }

    pub(crate) fn describe_stream(&self, r: DescribeStream) -> ApiResult {
        let name = r.stream.name()?;
        // Up to 10,000 is valid; the service answers 100 shards at most.
        let limit = r.limit.map_or(100, |n| n as usize).min(100);
        let start = r.exclusive_start_shard_id.as_deref();
        if let Some(out) = self.deleting_description(&name, "StreamDescription") {
            return Ok(out);
        }
        let mut st = self.lock();
        let s = self.stream_mut(&mut st, &name)?;
        let first = match start {
            Some(id) => parse_shard_id(id).map_or(0, |i| i + 1),
            None => 0,
        };
        // A stream being created has no shards yet.
        let settled = self.settled(s);
        let total = if self.status(s) == "CREATING" {
            0
        } else {
            settled.shown
        };
        let shards: Vec<Value> = (first.min(total)..total)
            .take(limit)
            .map(|i| self.shard_json(s, i, &settled))
            .collect();
        let has_more = first + shards.len() < total;
        let mut out = json!({"StreamDescription": {
            "StreamName": s.meta.name,
            "StreamARN": s.meta.arn,
            "StreamStatus": self.status(s),
            "StreamModeDetails": {"StreamMode": if s.meta.on_demand {"ON_DEMAND"} else {"PROVISIONED"}},
            "Shards": shards,
            "HasMoreShards": has_more,
            "RetentionPeriodHours": s.meta.retention_hours,
            "StreamCreationTimestamp": ts(s.meta.created_ms),
        }});
        describe_settings(&mut out["StreamDescription"], &s.meta, false);
        Ok(out)
    }

    pub(crate) fn describe_stream_summary(&self, r: OnStream) -> ApiResult {
        let name = r.stream.name()?;
        if let Some(out) = self.deleting_description(&name, "StreamDescriptionSummary") {
            return Ok(out);
        }
        let mut st = self.lock();
        let s = self.stream_mut(&mut st, &name)?;
        let mut out = json!({"StreamDescriptionSummary": {
            "StreamName": s.meta.name,
            "StreamARN": s.meta.arn,
            "StreamStatus": self.status(s),
            "StreamModeDetails": {"StreamMode": if s.meta.on_demand {"ON_DEMAND"} else {"PROVISIONED"}},
            "RetentionPeriodHours": s.meta.retention_hours,
            "StreamCreationTimestamp": ts(s.meta.created_ms),
            "OpenShardCount": self.settled(s).open_count(s),
            "ConsumerCount": s.meta.consumers.len(),
        }});
        describe_settings(&mut out["StreamDescriptionSummary"], &s.meta, true);
        Ok(out)
    }

    pub(crate) fn list_streams(&self, r: ListStreams) -> ApiResult {
        // Up to 10,000 is valid; the service answers 100 streams at most.
        let limit = r.limit.map_or(100, |n| n as usize).min(100);
        let after = match r.next_token.as_deref() {
            Some(t) => Some(
                decode_token(t)
                    .and_then(|p| p.into_iter().next())
                    .ok_or_else(bad_token)?,
            ),
            None => r.exclusive_start_stream_name,
        };
        let st = self.lock();
        let all: Vec<&Stream> = st
            .streams
            .values()
            .filter(|s| after.as_deref().is_none_or(|a| s.meta.name.as_str() > a))
            .collect();
        let page = &all[..all.len().min(limit)];
        let more = all.len() > page.len();
        let mut out = json!({
            "StreamNames": page.iter().map(|s| s.meta.name.clone()).collect::<Vec<_>>(),
            "HasMoreStreams": more,
            "StreamSummaries": page.iter().map(|s| json!({
                "StreamName": s.meta.name,
                "StreamARN": s.meta.arn,
                "StreamStatus": self.status(s),
                "StreamModeDetails": {"StreamMode": if s.meta.on_demand {"ON_DEMAND"} else {"PROVISIONED"}},
                "StreamCreationTimestamp": ts(s.meta.created_ms),
            })).collect::<Vec<_>>(),
        });
        if more {
            if let Some(last) = page.last() {
                out["NextToken"] = json!(encode_token(&[&last.meta.name]));
            }
        }
        Ok(out)
    }

    pub(crate) fn list_shards(&self, r: ListShards) -> ApiResult {
        let max = r.max_results.map_or(1000, |n| n as usize);
        let now = self.now();
        let (name, first, filter) = match r.next_token.as_deref() {
            Some(t) => {
                // A token carries the stream, the position and the filter of
                // the listing it continues (the service's wording for
                // StreamName, the same pattern for the others).
                let with = [
                    (
                        "StreamName",
                        r.stream.stream_name.is_some() || r.stream.stream_arn.is_some(),
                    ),
                    (
                        "ExclusiveStartShardId",
                        r.exclusive_start_shard_id.is_some(),
                    ),
                    ("ShardFilter", r.shard_filter.is_some()),
                ];
                if let Some((member, _)) = with.iter().find(|(_, given)| *given) {
                    return Err(err(
                        Code::InvalidArgumentException,
                        format!("NextToken and {member} cannot be provided together."),
                    ));
                }
                let page = Page::decode(t).ok_or_else(bad_token)?;
                if now.saturating_sub(page.issued_ms) > TOKEN_LIFETIME_MS {
                    return Err(err(
                        Code::ExpiredNextTokenException,
                        "The pagination token passed to the operation is expired.",
                    ));
                }
                (page.stream, page.next, page.filter)
            }
            None if r.stream.stream_name.is_none() && r.stream.stream_arn.is_none() => {
                return Err(err(
                    Code::InvalidArgumentException,
                    "Either NextToken or StreamName should be provided.",
                ))
            }
            None => {
                let first = r
                    .exclusive_start_shard_id
                    .as_deref()
                    .and_then(parse_shard_id)
                    .map_or(0, |i| i + 1);
                (r.stream.name()?, first, r.shard_filter.map(Filter::from))
            }
        };
        let mut st = self.lock();
        let s = self.stream_mut(&mut st, &name)?;
        let settled = self.settled(s);
        let total = settled.shown;
        let open =
            |i: usize| s.meta.shards[i].closed_end.is_none() || settled.reopened.contains(&i);
        // A closed shard ended when the shards that replaced it began.
        let mut ends = vec![u64::MAX; total];
        for child in &s.meta.shards[..total] {
            for parent in [child.parent, child.adjacent].into_iter().flatten() {
                if let Some(end) = ends.get_mut(parent as usize) {
                    *end = (*end).min(child.created_ms);
                }
            }
        }
        let ended = |i: usize| match ends[i] {
            u64::MAX => 0,
            end => end,
        };
        // Open at `t`: started by then, not ended before.
        let open_at = |i: usize, t: u64| {
            s.meta.shards[i].created_ms <= t.max(s.meta.created_ms) && (open(i) || ended(i) >= t)
        };
        let trim_horizon = now
            .saturating_sub(u64::from(s.meta.retention_hours) * 3_600_000)
            .max(s.meta.created_ms);
        let keep = |i: usize| -> Result<bool, ApiError> {
            let Some(f) = &filter else { return Ok(true) };
            let time = || {
                f.timestamp.ok_or_else(|| {
                    err(
                        Code::InvalidArgumentException,
                        "ShardFilter type needs a Timestamp.",
                    )
                })
            };
            Ok(match f.kind.as_str() {
                "AT_TRIM_HORIZON" => open_at(i, trim_horizon),
                "FROM_TRIM_HORIZON" => open(i) || ended(i) >= trim_horizon,
                "AFTER_SHARD_ID" => {
                    let after = f.shard_id.as_deref().and_then(parse_shard_id).ok_or_else(|| {
                        err(
                            Code::InvalidArgumentException,
                            "ShardFilter type AFTER_SHARD_ID needs a valid ShardId.",
                        )
                    })?;
                    i > after
                }
                "AT_LATEST" => open(i),
                "AT_TIMESTAMP" => open_at(i, time()?),
                "FROM_TIMESTAMP" => {
                    let t = time()?;
                    open(i) || ended(i) >= t
                }
                other => {
                    return Err(err(Code::ValidationException,
                        format!("1 validation error detected: Value '{other}' at 'shardFilter.type' failed to satisfy constraint: Member must satisfy enum value set"),
                    ))
                }
            })
        };
        let mut shards = Vec::new();
        let mut next = total;
        for i in first.min(total)..total {
            if !keep(i)? {
                continue;
            }
            if shards.len() == max {
                next = i;
                break;
            }
            shards.push(self.shard_json(s, i, &settled));
        }
        let mut out = json!({ "Shards": shards });
        if next < total {
            let page = Page {
                stream: name,
                next,
                issued_ms: now,
                filter,
            };
            out["NextToken"] = json!(page.encode());
        }
        Ok(out)
    }
}

/// How long a ListShards NextToken can be used (the service's 300 seconds).
const TOKEN_LIFETIME_MS: u64 = 300_000;

/// A ListShards filter, as a request gives it and a NextToken carries it.
#[derive(Debug, Clone)]
struct Filter {
    kind: String,
    shard_id: Option<String>,
    timestamp: Option<u64>,
}

impl From<ShardFilter> for Filter {
    fn from(f: ShardFilter) -> Filter {
        Filter {
            kind: f.kind,
            shard_id: f.shard_id,
            timestamp: f.timestamp,
        }
    }
}

/// What a ListShards NextToken holds: the stream, the next shard, when it
/// was handed out and the listing's filter.
struct Page {
    stream: String,
    next: usize,
    issued_ms: u64,
    filter: Option<Filter>,
}

impl Page {
    fn encode(&self) -> String {
        let (next, issued) = (self.next.to_string(), self.issued_ms.to_string());
        let mut parts = vec![self.stream.as_str(), next.as_str(), issued.as_str()];
        let time;
        if let Some(f) = &self.filter {
            time = f.timestamp.map(|t| t.to_string()).unwrap_or_default();
            parts.extend([
                f.kind.as_str(),
                f.shard_id.as_deref().unwrap_or(""),
                time.as_str(),
            ]);
        }
        encode_token(&parts)
    }

    fn decode(token: &str) -> Option<Page> {
        let parts = decode_token(token)?;
        let (stream, next, issued) = match &parts[..] {
            [stream, next, issued, ..] => {
                (stream.clone(), next.parse().ok()?, issued.parse().ok()?)
            }
            _ => return None,
        };
        let filter = match &parts[3..] {
            [] => None,
            [kind, shard, time] => Some(Filter {
                kind: kind.clone(),
                shard_id: Some(shard.clone()).filter(|s| !s.is_empty()),
                timestamp: if time.is_empty() {
                    None
                } else {
                    Some(time.parse().ok()?)
                },
            }),
            _ => return None,
        };
        Some(Page {
            stream,
            next,
            issued_ms: issued,
            filter,
        })
    }
}

/// The stored settings a stream description reports.
/// The settings' members of a StreamDescription (`summary` false) or a
/// StreamDescriptionSummary: warm throughput and the largest record size are
/// members of the summary only, as in the service's model.
fn describe_settings(out: &mut Value, meta: &StreamMeta, summary: bool) {
    let set = &meta.settings;
    out["EnhancedMonitoring"] = json!([{"ShardLevelMetrics": set.shard_level_metrics}]);
    match &set.kms_key_id {
        Some(key) => {
            out["EncryptionType"] = json!("KMS");
            out["KeyId"] = json!(key);
        }
        None => out["EncryptionType"] = json!("NONE"),
    }
    if !summary {
        return;
    }
    if let Some(w) = set.warm_throughput_mibps {
        out["WarmThroughput"] = json!({"TargetMiBps": w, "CurrentMiBps": w});
    }
    out["MaxRecordSizeInKiB"] = json!(set.max_record_size_kib.unwrap_or(1024));
}

impl Engine {
    fn lock_deleting(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, (StreamMeta, u64)>> {
        let mut ghosts = self.deleting.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.now();
        ghosts.retain(|_, (_, until)| *until > now);
        ghosts
    }

    /// The description of a stream still DELETING (the engine's state delay
    /// after DeleteStream), under `key`.
    fn deleting_description(&self, name: &str, key: &str) -> Option<Value> {
        let ghosts = self.lock_deleting();
        let (meta, _) = ghosts.get(name)?;
        let mut d = json!({
            "StreamName": meta.name,
            "StreamARN": meta.arn,
            "StreamStatus": "DELETING",
            "StreamModeDetails": {"StreamMode": if meta.on_demand {"ON_DEMAND"} else {"PROVISIONED"}},
            "RetentionPeriodHours": meta.retention_hours,
            "StreamCreationTimestamp": ts(meta.created_ms),
        });
        if key == "StreamDescription" {
            d["Shards"] = json!([]);
            d["HasMoreShards"] = json!(false);
        } else {
            d["OpenShardCount"] = json!(0);
            d["ConsumerCount"] = json!(0);
        }
        describe_settings(&mut d, meta, key != "StreamDescription");
        Some(json!({ key: d }))
    }
}

/// The shards a description shows (see [`Engine::settled`]): the first
/// `shown`, with the ones in `reopened` shown open.
pub(crate) struct Settled {
    pub(crate) shown: usize,
    pub(crate) reopened: Vec<usize>,
}

impl Settled {
    /// Open shards among those shown.
    fn open_count(&self, s: &Stream) -> usize {
        s.meta.shards[..self.shown]
            .iter()
            .enumerate()
            .filter(|(i, m)| m.closed_end.is_none() || self.reopened.contains(i))
            .count()
    }
}
