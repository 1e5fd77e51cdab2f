//! CreateStream, DeleteStream, DescribeStream, DescribeStreamSummary,
//! ListStreams and ListShards.

use serde_json::{json, Map, Value};

use crate::front::error::{err, ApiError, Code};
use crate::kinesis::actions::settings::parse_tag_map;
use crate::kinesis::iterator::*;
use crate::kinesis::names::*;
use crate::kinesis::request::*;
use crate::kinesis::state::*;
use crate::kinesis::{ApiResult, Engine, ACCOUNT};
use crate::store::codec::encode_meta;

impl Engine {
    // ---- streams ---------------------------------------------------------

    pub(crate) async fn create_stream(&self, v: &Value, region: &str) -> ApiResult {
        let name = req_str(v, "StreamName")?;
        check_stream_name(name)?;
        let on_demand = match v.get("StreamModeDetails").map(|m| opt_str(m, "StreamMode")) {
            None => false,
            Some(Ok(Some("ON_DEMAND"))) => true,
            Some(Ok(Some("PROVISIONED"))) => false,
            Some(Ok(other)) => {
                return Err(err(Code::ValidationException,
                    format!("1 validation error detected: Value '{}' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]", other.unwrap_or("null")),
                ))
            }
            Some(Err(e)) => return Err(e),
        };
        let count = match opt_int(v, "ShardCount")? {
            Some(n) => range_check("shardCount", n, 1, 100_000)? as u32,
            None if on_demand => self.config.on_demand_shard_count.max(1),
            None => {
                return Err(err(Code::ValidationException,
                    "1 validation error detected: Value null at 'shardCount' failed to satisfy constraint: Member must not be null",
                ))
            }
        };
        let tags = parse_tag_map(v)?;
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
                return Err(err(Code::LimitExceededException,
                    format!(
                        "This request would exceed the shard limit for the account {ACCOUNT} in {region}. Current shard count for the account: {open}. Limit: {}. Number of additional shards that would have resulted from this request: {count}.",
                        self.config.shard_limit
                    ),
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
            };
            let rx = self.queue_meta(&meta)?;
            st.apply_meta(MetaOp::Upsert(meta));
            rx
        };
        Self::durable(rx).await?;
        Ok(json!({}))
    }

    pub(crate) async fn delete_stream(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let rx = {
            let mut st = self.lock();
            let incarnation = self.stream_mut(&mut st, &name)?.meta.incarnation;
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

    pub(crate) fn shard_json(&self, s: &Stream, idx: usize) -> Value {
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
        if let Some(end) = m.closed_end {
            range.insert("EndingSequenceNumber".into(), json!(seq(idx, end)));
        }
        o.insert("SequenceNumberRange".into(), Value::Object(range));
        Value::Object(o)
    }

    pub(crate) fn describe_stream(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let limit = match opt_int(v, "Limit")? {
            Some(n) => range_check("limit", n, 1, 10_000)? as usize,
            None => 100,
        };
        let start = opt_str(v, "ExclusiveStartShardId")?;
        let mut st = self.lock();
        let s = self.stream_mut(&mut st, &name)?;
        let first = match start {
            Some(id) => parse_shard_id(id).map_or(0, |i| i + 1),
            None => 0,
        };
        let total = s.meta.shards.len();
        let shards: Vec<Value> = (first.min(total)..total)
            .take(limit)
            .map(|i| self.shard_json(s, i))
            .collect();
        let has_more = first + shards.len() < total;
        Ok(json!({"StreamDescription": {
            "StreamName": s.meta.name,
            "StreamARN": s.meta.arn,
            "StreamStatus": self.status(s),
            "StreamModeDetails": {"StreamMode": if s.meta.on_demand {"ON_DEMAND"} else {"PROVISIONED"}},
            "Shards": shards,
            "HasMoreShards": has_more,
            "RetentionPeriodHours": s.meta.retention_hours,
            "StreamCreationTimestamp": ts(s.meta.created_ms),
            "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
            "EncryptionType": "NONE",
        }}))
    }

    pub(crate) fn describe_stream_summary(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let mut st = self.lock();
        let s = self.stream_mut(&mut st, &name)?;
        Ok(json!({"StreamDescriptionSummary": {
            "StreamName": s.meta.name,
            "StreamARN": s.meta.arn,
            "StreamStatus": self.status(s),
            "StreamModeDetails": {"StreamMode": if s.meta.on_demand {"ON_DEMAND"} else {"PROVISIONED"}},
            "RetentionPeriodHours": s.meta.retention_hours,
            "StreamCreationTimestamp": ts(s.meta.created_ms),
            "EnhancedMonitoring": [{"ShardLevelMetrics": []}],
            "EncryptionType": "NONE",
            "OpenShardCount": s.open_count(),
            "ConsumerCount": s.meta.consumers.len(),
        }}))
    }

    pub(crate) fn list_streams(&self, v: &Value) -> ApiResult {
        let limit = match opt_int(v, "Limit")? {
            Some(n) => range_check("limit", n, 1, 10_000)? as usize,
            None => 100,
        };
        let after = match opt_str(v, "NextToken")? {
            Some(t) => Some(
                decode_token(t)
                    .and_then(|p| p.into_iter().next())
                    .ok_or_else(bad_token)?,
            ),
            None => opt_str(v, "ExclusiveStartStreamName")?.map(str::to_string),
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

    pub(crate) fn list_shards(&self, v: &Value) -> ApiResult {
        let max = match opt_int(v, "MaxResults")? {
            Some(n) => range_check("maxResults", n, 1, 10_000)? as usize,
            None => 1000,
        };
        let token = opt_str(v, "NextToken")?;
        let (name, mut first) = match token {
            Some(t) => {
                if v.get("StreamName").is_some_and(|x| !x.is_null())
                    || v.get("StreamARN").is_some_and(|x| !x.is_null())
                {
                    return Err(err(
                        Code::InvalidArgumentException,
                        "NextToken and StreamName cannot be provided together.",
                    ));
                }
                let p = decode_token(t).ok_or_else(bad_token)?;
                match p.as_slice() {
                    [name, next] => (
                        name.clone(),
                        next.parse::<usize>().map_err(|_| bad_token())?,
                    ),
                    _ => return Err(bad_token()),
                }
            }
            None => (stream_name(v)?, 0),
        };
        if let Some(id) = opt_str(v, "ExclusiveStartShardId")? {
            first = first.max(parse_shard_id(id).map_or(0, |i| i + 1));
        }
        let filter = v.get("ShardFilter");
        let (ftype, fshard, ftime) = match filter {
            Some(f) if !f.is_null() => (
                Some(req_str(f, "Type")?.to_string()),
                opt_str(f, "ShardId")?.map(str::to_string),
                opt_time_ms(f, "Timestamp")?,
            ),
            _ => (None, None, None),
        };
        let mut st = self.lock();
        let s = self.stream_mut(&mut st, &name)?;
        let total = s.meta.shards.len();
        let keep = |i: usize| -> Result<bool, ApiError> {
            let m = &s.meta.shards[i];
            Ok(match ftype.as_deref() {
                None | Some("FROM_TRIM_HORIZON") | Some("AT_TRIM_HORIZON") => true,
                Some("AFTER_SHARD_ID") => {
                    let after = fshard
                        .as_deref()
                        .and_then(parse_shard_id)
                        .ok_or_else(|| err(Code::InvalidArgumentException, "ShardFilter type AFTER_SHARD_ID needs a valid ShardId."))?;
                    i > after
                }
                Some("AT_LATEST") => m.closed_end.is_none(),
                Some("AT_TIMESTAMP") | Some("FROM_TIMESTAMP") => {
                    let t = ftime.ok_or_else(|| {
                        err(Code::InvalidArgumentException, "ShardFilter type needs a Timestamp.")
                    })?;
                    ftype.as_deref() == Some("FROM_TIMESTAMP") || m.created_ms <= t
                }
                Some(other) => {
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
            shards.push(self.shard_json(s, i));
        }
        let mut out = json!({ "Shards": shards });
        if next < total {
            out["NextToken"] = json!(encode_token(&[&name, &next.to_string()]));
        }
        Ok(out)
    }
}
