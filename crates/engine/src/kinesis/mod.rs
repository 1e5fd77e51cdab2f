//! The Kinesis actions over the in-memory state and the durable log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use md5::{Digest, Md5};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};

use self::state::{
    parse_hash, MetaOp, Rec, ShardMeta, State, Stream, StreamMeta, READ_BYTES_PER_SEC,
};
use crate::error::EngineError;
use crate::store::codec::{encode_meta, encode_records, RecordBatch};
use crate::store::log::frame;
use crate::store::read::{read_disk, DiskPlan, ReadError};
use crate::store::recovery::recover;
use crate::store::writer::{writer, Job};
use crate::{Config, StorageStats};

mod fanout;
pub(crate) mod state;

const ACCOUNT: &str = "000000000000";
const ITERATOR_TTL_MS: u64 = 5 * 60 * 1000;
const MAX_RECORD: usize = 1 << 20;
const MAX_PUT_RECORDS_BYTES: usize = 5 << 20;
const MAX_GET_BYTES: usize = 10 << 20;

/// An error answered to the client.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: u16,
    pub(crate) kind: &'static str,
    pub(crate) message: String,
}

pub(crate) fn err(kind: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status: 400,
        kind,
        message: message.into(),
    }
}

fn internal(message: impl Into<String>) -> ApiError {
    ApiError {
        status: 500,
        kind: "InternalFailure",
        message: message.into(),
    }
}

type ApiResult = Result<Value, ApiError>;

/// A successful answer: a JSON value, or a body already encoded (GetRecords,
/// whose records are serialised straight from typed structs).
#[derive(Debug)]
pub(crate) enum Reply {
    Json(Value),
    Encoded(Vec<u8>),
    /// An event stream (SubscribeToShard): encoded frames as they come.
    Events(mpsc::Receiver<Bytes>),
}

/// The engine shared by all connections.
pub(crate) struct Engine {
    state: Mutex<State>,
    pub(crate) config: Config,
    tx: mpsc::UnboundedSender<Job>,
    /// Stream changes queued for the log but not yet durable. They are
    /// applied in memory, under the state lock, as they are queued; the
    /// writer snapshots the state or deletes segments only while this is 0,
    /// when memory matches the durable log.
    pub(crate) pending_meta: AtomicU64,
    /// Bumped each time the writer applied a batch (new records or stream
    /// changes are visible): wakes fan-out subscriptions.
    pub(crate) changed: tokio::sync::watch::Sender<u64>,
    /// Cancelled when the server shuts down: ends every subscription.
    closing: tokio_util::sync::CancellationToken,
    subscriptions: Mutex<fanout::Slots>,
    /// The data dir's frame salt (see `store::log`).
    salt: u32,
}

fn not_found(name: &str) -> ApiError {
    err(
        "ResourceNotFoundException",
        format!("Stream {name} under account {ACCOUNT} not found."),
    )
}

fn shard_id(idx: usize) -> String {
    format!("shardId-{idx:012}")
}

fn parse_shard_id(s: &str) -> Option<usize> {
    let digits = s.strip_prefix("shardId-").unwrap_or(s);
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `491`, the shard index in 11 digits and a counter in 42 digits: 56 digits
/// like the real service's. Counter `n` sits between the records at
/// positions `n - 1` and `n`: 0 is the shard's StartingSequenceNumber (below
/// every record, as in the real service) and `n` is also "after the record at
/// `n - 1`" (the ContinuationSequenceNumber of SubscribeToShard). The `1`
/// marks this format: numbers handed out before it (`490`, the record's
/// position instead of a counter) still parse, see [`parse_seq`]. Written by
/// hand because `format!` pads one character at a time and this runs for
/// every record read.
fn seq(idx: usize, n: u64) -> String {
    let mut digits = [b'0'; 56];
    digits[1] = b'9';
    for (range, mut n) in [(3..14, idx as u64), (14..56, n)] {
        for d in digits[range].iter_mut().rev() {
            *d = b'0' + (n % 10) as u8;
            n /= 10;
        }
    }
    digits[0] = b'4';
    digits[2] = b'1';
    String::from_utf8_lossy(&digits).into_owned()
}

/// The sequence number of the record at `pos` of shard `idx`.
fn record_seq(idx: usize, pos: u64) -> String {
    seq(idx, pos.saturating_add(1))
}

/// Shard index and counter of a sequence number (see [`seq`]). A number of
/// the earlier format (`490`, in checkpoints saved before) names the record
/// at its position, whose counter is one more.
fn parse_seq(s: &str) -> Option<(usize, u64)> {
    if s.len() != 56 || !s.starts_with("49") || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let idx = s[3..14].parse().ok()?;
    let n: u64 = s[14..].parse().ok()?;
    match s.as_bytes()[2] {
        b'1' => Some((idx, n)),
        b'0' => Some((idx, n.checked_add(1)?)),
        _ => None,
    }
}

fn ts(ms: u64) -> Value {
    json!(ms as f64 / 1000.0)
}

fn uniform_ranges(n: u32) -> Vec<(u128, u128)> {
    let n = u128::from(n.max(1));
    if n == 1 {
        return vec![(0, u128::MAX)];
    }
    let step = u128::MAX / n + (u128::MAX % n + 1) / n;
    (0..n)
        .map(|i| {
            let start = step * i;
            let end = if i + 1 == n {
                u128::MAX
            } else {
                step * (i + 1) - 1
            };
            (start, end)
        })
        .collect()
}

// ---- request field access -------------------------------------------------

fn ser(field: &str, want: &str) -> ApiError {
    err(
        "SerializationException",
        format!("field {field} must be {want}"),
    )
}

fn opt_str<'a>(v: &'a Value, key: &str) -> Result<Option<&'a str>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ser(key, "a string")),
    }
}

fn req_str<'a>(v: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    opt_str(v, key)?.ok_or_else(|| {
        err(
            "ValidationException",
            format!("1 validation error detected: Value null at '{key}' failed to satisfy constraint: Member must not be null"),
        )
    })
}

fn opt_int(v: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| ser(key, "an integer")),
        Some(_) => Err(ser(key, "an integer")),
    }
}

fn opt_time_ms(v: &Value, key: &str) -> Result<Option<u64>, ApiError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| Some((f * 1000.0) as u64))
            .ok_or_else(|| ser(key, "a timestamp")),
        Some(_) => Err(ser(key, "a timestamp")),
    }
}

fn range_check(key: &str, value: i64, min: i64, max: i64) -> Result<i64, ApiError> {
    if value < min || value > max {
        return Err(err(
            "ValidationException",
            format!("1 validation error detected: Value '{value}' at '{key}' failed to satisfy constraint: Member must have value between {min} and {max}"),
        ));
    }
    Ok(value)
}

fn check_stream_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(err(
            "ValidationException",
            format!("1 validation error detected: Value '{name}' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and have length between 1 and 128"),
        ))
    }
}

/// The stream a request names, by StreamName or StreamARN.
fn stream_name(v: &Value) -> Result<String, ApiError> {
    if let Some(name) = opt_str(v, "StreamName")? {
        check_stream_name(name)?;
        return Ok(name.to_string());
    }
    if let Some(arn) = opt_str(v, "StreamARN")? {
        let name = arn
            .strip_prefix("arn:")
            .filter(|_| arn.contains(":kinesis:"))
            .and_then(|rest| rest.rsplit_once(":stream/"))
            .map(|(_, name)| name)
            .ok_or_else(|| {
                err(
                    "ValidationException",
                    format!("1 validation error detected: Value '{arn}' at 'streamARN' failed to satisfy constraint: Member must be a Kinesis stream ARN"),
                )
            })?;
        check_stream_name(name)?;
        return Ok(name.to_string());
    }
    Err(err(
        "ValidationException",
        "Neither StreamName nor StreamARN was provided.",
    ))
}

// ---- iterators and tokens -------------------------------------------------

struct Iter {
    name: String,
    incarnation: u64,
    shard: usize,
    pos: u64,
    issued_ms: u64,
}

fn encode_iter(it: &Iter) -> String {
    let raw = format!(
        "v1/{}/{}/{}/{}/{}",
        it.incarnation, it.shard, it.pos, it.issued_ms, it.name
    );
    let check = crc32fast::hash(raw.as_bytes());
    URL_SAFE_NO_PAD.encode(format!("{raw}/{check:08x}"))
}

fn decode_iter(s: &str) -> Option<Iter> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
    let (body, check) = raw.rsplit_once('/')?;
    if format!("{:08x}", crc32fast::hash(body.as_bytes())) != check {
        return None;
    }
    let mut parts = body.splitn(6, '/');
    if parts.next()? != "v1" {
        return None;
    }
    Some(Iter {
        incarnation: parts.next()?.parse().ok()?,
        shard: parts.next()?.parse().ok()?,
        pos: parts.next()?.parse().ok()?,
        issued_ms: parts.next()?.parse().ok()?,
        name: parts.next()?.to_string(),
    })
}

fn encode_token(parts: &[&str]) -> String {
    URL_SAFE_NO_PAD.encode(parts.join("/"))
}

fn decode_token(s: &str) -> Option<Vec<String>> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
    Some(raw.split('/').map(str::to_string).collect())
}

fn bad_token() -> ApiError {
    err("InvalidArgumentException", "NextToken is invalid.")
}

impl Engine {
    /// Opens storage (recovering the log) and starts the writer task.
    pub(crate) async fn open(
        config: Config,
    ) -> Result<
        (
            Arc<Engine>,
            tokio::task::JoinHandle<Result<(), EngineError>>,
        ),
        EngineError,
    > {
        let (state, dir) = match config.data_dir.clone() {
            None => (State::default(), None),
            Some(path) => {
                let (cache, now) = (config.cache_bytes, config.clock.now_millis());
                tokio::task::spawn_blocking(move || recover(&path, cache, now))
                    .await
                    .map_err(|e| EngineError::Task(e.to_string()))??
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let salt = dir.as_ref().map_or(0, |d| d.salt);
        let engine = Arc::new(Engine {
            salt,
            state: Mutex::new(state),
            config,
            tx,
            pending_meta: AtomicU64::new(0),
            changed: tokio::sync::watch::Sender::new(0),
            closing: tokio_util::sync::CancellationToken::new(),
            subscriptions: Mutex::new(fanout::Slots::new()),
        });
        let writer = tokio::spawn(writer(engine.clone(), dir, rx));
        Ok((engine, writer))
    }

    pub(crate) fn stats(&self) -> StorageStats {
        let st = self.lock();
        let shards = st.streams.values().flat_map(|s| s.shards.iter());
        let (mut records, mut entries) = (0u64, 0u64);
        for sh in shards {
            records += sh.cache.len() as u64;
            entries += sh.index.len() as u64;
        }
        StorageStats {
            cached_bytes: st.cached_bytes,
            cached_records: records,
            index_entries: entries,
            segments: st.store.as_ref().map_or(0, |s| s.segs.len() as u64),
        }
    }

    pub(crate) fn stop_writer(&self) {
        let _ = self.tx.send(Job::Stop);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn now(&self) -> u64 {
        self.config.clock.now_millis()
    }

    /// Queues an append; must be called with the state lock held so the log
    /// order is the order of state changes.
    fn queue(
        &self,
        payload: &[u8],
        apply: Option<RecordBatch>,
    ) -> oneshot::Receiver<Result<(), String>> {
        if apply.is_none() {
            // A stream change; callers hold the state lock (see `pending_meta`).
            self.pending_meta.fetch_add(1, Ordering::SeqCst);
        }
        let mut bytes = Vec::with_capacity(payload.len() + 16);
        frame(payload, self.salt, &mut bytes);
        let (reply, rx) = oneshot::channel();
        let _ = self.tx.send(Job::Append {
            bytes,
            apply,
            reply,
        });
        rx
    }

    async fn durable(rx: oneshot::Receiver<Result<(), String>>) -> Result<(), ApiError> {
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(internal(format!("storage failure: {e}"))),
            Err(_) => Err(internal("the engine is shutting down")),
        }
    }

    /// Queues a stream change (refused when its metadata would not fit in
    /// one log frame: too many shards ever created).
    fn queue_meta(
        &self,
        meta: &StreamMeta,
    ) -> Result<oneshot::Receiver<Result<(), String>>, ApiError> {
        let payload = encode_meta(&MetaOp::Upsert(meta.clone()));
        if !crate::store::log::fits(payload.len()) {
            return Err(err(
                "LimitExceededException",
                format!(
                    "Stream {} under account {ACCOUNT} would need {} bytes of metadata, more than the engine's log can hold in one frame: it has too many shards ({}, closed ones included).",
                    meta.name,
                    payload.len(),
                    meta.shards.len()
                ),
            ));
        }
        Ok(self.queue(&payload, None))
    }

    /// Runs one action.
    pub(crate) async fn call(
        self: &Arc<Self>,
        action: &str,
        body: Value,
        region: &str,
    ) -> Result<Reply, ApiError> {
        if self.config.fail_call_ratio > 0.0 && rand::random::<f64>() < self.config.fail_call_ratio
        {
            return Err(internal("Injected internal failure."));
        }
        if action == "GetRecords" {
            let out = self.get_records(&body).await?;
            return serde_json::to_vec(&out)
                .map(Reply::Encoded)
                .map_err(|e| internal(format!("encoding the response: {e}")));
        }
        if action == "SubscribeToShard" {
            return self.subscribe_to_shard(&body).await;
        }
        let result = match action {
            "CreateStream" => self.create_stream(&body, region).await,
            "DeleteStream" => self.delete_stream(&body).await,
            "DescribeStream" => self.describe_stream(&body),
            "DescribeStreamSummary" => self.describe_stream_summary(&body),
            "ListStreams" => self.list_streams(&body),
            "ListShards" => self.list_shards(&body),
            "PutRecord" => self.put_record(&body).await,
            "PutRecords" => self.put_records(&body).await,
            "GetShardIterator" => self.get_shard_iterator(&body, "GetShardIterator").await,
            "SplitShard" => self.split_shard(&body).await,
            "MergeShards" => self.merge_shards(&body).await,
            "UpdateShardCount" => self.update_shard_count(&body).await,
            "IncreaseStreamRetentionPeriod" => self.retention(&body, true).await,
            "DecreaseStreamRetentionPeriod" => self.retention(&body, false).await,
            "AddTagsToStream" => self.add_tags(&body).await,
            "ListTagsForStream" => self.list_tags(&body),
            "RemoveTagsFromStream" => self.remove_tags(&body).await,
            "RegisterStreamConsumer" => self.register_stream_consumer(&body).await,
            "DescribeStreamConsumer" => self.describe_stream_consumer(&body),
            "ListStreamConsumers" => self.list_stream_consumers(&body),
            "DeregisterStreamConsumer" => self.deregister_stream_consumer(&body).await,
            _ => Err(err(
                "UnknownOperationException",
                format!("Operation {action} is not supported."),
            )),
        };
        result.map(Reply::Json)
    }

    fn status(&self, s: &Stream) -> &'static str {
        if self.now() < s.meta.active_at_ms {
            "CREATING"
        } else {
            "ACTIVE"
        }
    }

    fn stream_mut<'a>(&self, st: &'a mut State, name: &str) -> Result<&'a mut Stream, ApiError> {
        st.streams.get_mut(name).ok_or_else(|| not_found(name))
    }

    fn active_mut<'a>(&self, st: &'a mut State, name: &str) -> Result<&'a mut Stream, ApiError> {
        let now = self.now();
        let s = self.stream_mut(st, name)?;
        if now < s.meta.active_at_ms {
            return Err(err(
                "ResourceInUseException",
                format!(
                    "Stream {name} under account {ACCOUNT} not ACTIVE, instead in state CREATING"
                ),
            ));
        }
        Ok(s)
    }

    // ---- streams ---------------------------------------------------------

    async fn create_stream(&self, v: &Value, region: &str) -> ApiResult {
        let name = req_str(v, "StreamName")?;
        check_stream_name(name)?;
        let on_demand = match v.get("StreamModeDetails").map(|m| opt_str(m, "StreamMode")) {
            None => false,
            Some(Ok(Some("ON_DEMAND"))) => true,
            Some(Ok(Some("PROVISIONED"))) => false,
            Some(Ok(other)) => {
                return Err(err(
                    "ValidationException",
                    format!("1 validation error detected: Value '{}' at 'streamModeDetails.streamMode' failed to satisfy constraint: Member must satisfy enum value set: [ON_DEMAND, PROVISIONED]", other.unwrap_or("null")),
                ))
            }
            Some(Err(e)) => return Err(e),
        };
        let count = match opt_int(v, "ShardCount")? {
            Some(n) => range_check("shardCount", n, 1, 100_000)? as u32,
            None if on_demand => self.config.on_demand_shard_count.max(1),
            None => {
                return Err(err(
                    "ValidationException",
                    "1 validation error detected: Value null at 'shardCount' failed to satisfy constraint: Member must not be null",
                ))
            }
        };
        let tags = parse_tag_map(v)?;
        let rx = {
            let mut st = self.lock();
            if st.streams.contains_key(name) {
                return Err(err(
                    "ResourceInUseException",
                    format!("Stream {name} under account {ACCOUNT} already exists."),
                ));
            }
            let open: usize = st.streams.values().map(Stream::open_count).sum();
            if open + count as usize > self.config.shard_limit as usize {
                return Err(err(
                    "LimitExceededException",
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

    async fn delete_stream(&self, v: &Value) -> ApiResult {
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

    fn shard_json(&self, s: &Stream, idx: usize) -> Value {
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

    fn describe_stream(&self, v: &Value) -> ApiResult {
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

    fn describe_stream_summary(&self, v: &Value) -> ApiResult {
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

    fn list_streams(&self, v: &Value) -> ApiResult {
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

    fn list_shards(&self, v: &Value) -> ApiResult {
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
                        "InvalidArgumentException",
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
                        .ok_or_else(|| err("InvalidArgumentException", "ShardFilter type AFTER_SHARD_ID needs a valid ShardId."))?;
                    i > after
                }
                Some("AT_LATEST") => m.closed_end.is_none(),
                Some("AT_TIMESTAMP") | Some("FROM_TIMESTAMP") => {
                    let t = ftime.ok_or_else(|| {
                        err("InvalidArgumentException", "ShardFilter type needs a Timestamp.")
                    })?;
                    ftype.as_deref() == Some("FROM_TIMESTAMP") || m.created_ms <= t
                }
                Some(other) => {
                    return Err(err(
                        "ValidationException",
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

    // ---- writes ----------------------------------------------------------

    async fn put_record(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let entry = parse_entry(v, "")?;
        let out = self.put(&name, vec![entry], true).await?;
        match out.into_iter().next() {
            Some(Ok((shard, seq))) => Ok(json!({
                "ShardId": shard,
                "SequenceNumber": seq,
                "EncryptionType": "NONE",
            })),
            Some(Err(e)) => Err(e),
            None => Err(internal("no result")),
        }
    }

    async fn put_records(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let records = match v.get("Records") {
            Some(Value::Array(a)) => a,
            None | Some(Value::Null) => {
                return Err(err(
                    "ValidationException",
                    "1 validation error detected: Value null at 'records' failed to satisfy constraint: Member must not be null",
                ))
            }
            Some(_) => return Err(ser("Records", "a list")),
        };
        if records.is_empty() || records.len() > 500 {
            return Err(err(
                "ValidationException",
                format!("1 validation error detected: Value '{}' at 'records' failed to satisfy constraint: Member must have length less than or equal to 500 and greater than or equal to 1", records.len()),
            ));
        }
        let mut entries = Vec::with_capacity(records.len());
        let mut total = 0usize;
        for (i, r) in records.iter().enumerate() {
            let e = parse_entry(r, &format!("records.{}.member.", i + 1))?;
            total += e.data.len() + e.pk.len();
            entries.push(e);
        }
        if total > MAX_PUT_RECORDS_BYTES {
            return Err(err(
                "InvalidArgumentException",
                format!("Records size exceeds 5 MB limit: {total} bytes"),
            ));
        }
        let out = self.put(&name, entries, false).await?;
        let failed = out.iter().filter(|r| r.is_err()).count();
        let results: Vec<Value> = out
            .into_iter()
            .map(|r| match r {
                Ok((shard, seq)) => json!({"SequenceNumber": seq, "ShardId": shard}),
                Err(e) => json!({"ErrorCode": e.kind, "ErrorMessage": e.message}),
            })
            .collect();
        Ok(json!({
            "FailedRecordCount": failed,
            "Records": results,
            "EncryptionType": "NONE",
        }))
    }

    /// Appends entries; per-entry results in request order.
    async fn put(
        &self,
        name: &str,
        entries: Vec<PutEntry>,
        single: bool,
    ) -> Result<Vec<Result<(String, String), ApiError>>, ApiError> {
        let (rx, results) = {
            let mut st = self.lock();
            let now = self.now();
            st.trim(name, now);
            let s = st.streams.get_mut(name).ok_or_else(|| not_found(name))?;
            if now < s.meta.active_at_ms {
                return Err(err(
                    "ResourceNotFoundException",
                    format!("Stream {name} under account {ACCOUNT} not ACTIVE, instead in state CREATING"),
                ));
            }
            let mut batch = RecordBatch {
                incarnation: s.meta.incarnation,
                recs: Vec::with_capacity(entries.len()),
            };
            let mut results = Vec::with_capacity(entries.len());
            for e in entries {
                if !single
                    && self.config.fail_entry_ratio > 0.0
                    && rand::random::<f64>() < self.config.fail_entry_ratio
                {
                    results.push(Err(internal("Internal service failure.")));
                    continue;
                }
                let Some(idx) = s.route(e.hash) else {
                    results.push(Err(internal("no open shard owns the hash key")));
                    continue;
                };
                let shard = &mut s.shards[idx];
                if self.config.enforce_limits {
                    let size = (e.data.len() + e.pk.len()) as u64;
                    let w = shard.window.at(now);
                    if w.put_records + 1 > 1000 || w.put_bytes + size > 1 << 20 {
                        let pe = err(
                            "ProvisionedThroughputExceededException",
                            format!("Rate exceeded for shard {} in stream {name} under account {ACCOUNT}.", shard_id(idx)),
                        );
                        if single {
                            return Err(pe);
                        }
                        results.push(Err(pe));
                        continue;
                    }
                    w.put_records += 1;
                    w.put_bytes += size;
                }
                let pos = shard.reserved;
                shard.reserved += 1;
                results.push(Ok((shard_id(idx), record_seq(idx, pos))));
                batch.recs.push((
                    idx as u32,
                    pos,
                    Rec {
                        ts_ms: now,
                        pk: e.pk,
                        data: e.data,
                    },
                ));
            }
            if batch.recs.is_empty() {
                return Ok(results);
            }
            let payload = encode_records(&batch);
            (self.queue(&payload, Some(batch)), results)
        };
        Self::durable(rx).await?;
        Ok(results)
    }

    // ---- reads -----------------------------------------------------------

    /// What reading `shard` of `s` from disk between `from` and `upto` needs.
    fn disk_plan(
        st: &State,
        s: &Stream,
        shard: usize,
        from: u64,
        upto: u64,
        limit: usize,
        min_ts: u64,
    ) -> Option<DiskPlan> {
        let store = st.store.as_ref()?;
        let sh = s.shards.get(shard)?;
        if from >= upto || sh.index.is_empty() {
            return None;
        }
        let (entries, next) = sh.entries_from(from, limit.saturating_add(2).min(1024));
        let upto = next.map_or(upto, |n| n.min(upto));
        let files = entries
            .iter()
            .filter_map(|e| {
                let seg = store.segs.get(&e.seg)?;
                Some((e.seg, (seg.file.clone(), seg.len)))
            })
            .collect();
        Some(DiskPlan {
            files,
            entries,
            incarnation: s.meta.incarnation,
            shard: shard as u32,
            from,
            upto,
            limit,
            max_bytes: MAX_GET_BYTES,
            min_ts,
        })
    }

    /// Reads from disk. A damaged frame is a non-retryable 400 for that
    /// position (it stays unreadable until a repair) and an ERROR log.
    async fn read_disk(plan: DiskPlan) -> Result<(Vec<(u64, Rec)>, u64), ApiError> {
        let (shard, from) = (plan.shard as usize, plan.from);
        tokio::task::spawn_blocking(move || read_disk(&plan))
            .await
            .map_err(|e| internal(format!("read task failed: {e}")))?
            .map_err(|e| match e {
                ReadError::Damaged {
                    path,
                    offset,
                    reason,
                } => {
                    tracing::error!(
                        path = %path.display(),
                        offset,
                        reason,
                        shard = %shard_id(shard),
                        position = from,
                        "a damaged frame on disk makes records unreadable; stop the engine and run `wildrydes repair` on its data dir"
                    );
                    err(
                        "InvalidArgumentException",
                        format!(
                            "Records of shard {} from sequence number {} cannot be read: the engine's log file {} is damaged at offset {offset} ({reason}). Reading this position fails until the data dir is repaired (`wildrydes repair`); read from a later position to skip it.",
                            shard_id(shard),
                            record_seq(shard, from),
                            path.display()
                        ),
                    )
                }
                ReadError::Io(e) => internal(format!("storage failure: {e}")),
            })
    }

    /// GetShardIterator, or the starting position of `action` (errors name it).
    async fn get_shard_iterator(&self, v: &Value, action: &str) -> ApiResult {
        let name = stream_name(v)?;
        let sid = req_str(v, "ShardId")?;
        let kind = req_str(v, "ShardIteratorType")?;
        let start_seq = opt_str(v, "StartingSequenceNumber")?;
        let at = opt_time_ms(v, "Timestamp")?;
        let now = self.now();
        let (pos, plan, incarnation, idx) = {
            let mut st = self.lock();
            st.trim(&name, now);
            self.active_mut(&mut st, &name)?;
            let st = &*st;
            let s = st.streams.get(&name).ok_or_else(|| not_found(&name))?;
            let shard_not_found = || {
                err(
                    "ResourceNotFoundException",
                    format!("Shard {sid} in stream {name} under account {ACCOUNT} does not exist"),
                )
            };
            let idx = parse_shard_id(sid)
                .filter(|i| *i < s.shards.len())
                .ok_or_else(shard_not_found)?;
            let closed_end = s.meta.shards[idx].closed_end;
            let shard = &s.shards[idx];
            let by_seq = |after: bool| -> Result<u64, ApiError> {
                let sq = start_seq.ok_or_else(|| {
                    err(
                        "InvalidArgumentException",
                        format!("StartingSequenceNumber is required for {kind}"),
                    )
                })?;
                let (i, n) = parse_seq(sq).ok_or_else(|| {
                    err(
                        "InvalidArgumentException",
                        format!("StartingSequenceNumber {sq} used in {action} on shard {sid} in stream {name} under account {ACCOUNT} is invalid."),
                    )
                })?;
                if i != idx {
                    return Err(err(
                        "InvalidArgumentException",
                        format!("Invalid StartingSequenceNumber. It encodes {}, while it was used in a call to a shard with {sid}", shard_id(i)),
                    ));
                }
                // Counter n is "after the record at n - 1" and the record at n - 1.
                Ok(if after { n } else { n.saturating_sub(1) })
            };
            let latest = closed_end.unwrap_or_else(|| shard.visible_end());
            let mut plan = None;
            let pos = match kind {
                "TRIM_HORIZON" => shard.base,
                "LATEST" => latest,
                "AT_SEQUENCE_NUMBER" => by_seq(false)?,
                "AFTER_SEQUENCE_NUMBER" => by_seq(true)?,
                "AT_TIMESTAMP" => {
                    let t = at.ok_or_else(|| {
                        err(
                            "InvalidArgumentException",
                            "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP.",
                        )
                    })?;
                    if t > now {
                        return Err(err(
                            "InvalidArgumentException",
                            format!("The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: {t}, currentTimestampInMillis: {now}"),
                        ));
                    }
                    let first = shard.first_cached();
                    let skip = shard
                        .cache
                        .iter()
                        .skip((first - shard.cache_base()) as usize)
                        .take_while(|r| r.ts_ms < t)
                        .count() as u64;
                    if skip == 0 {
                        // Records before the cache may be at or after `t`: find the
                        // first one on disk.
                        let k = shard.index.partition_point(|e| e.first_ts < t);
                        let from = match k.checked_sub(1) {
                            Some(k) => shard.index[k].first_pos,
                            None => shard.base,
                        };
                        let min_ts = t.max(s.keep_after(now));
                        plan = Self::disk_plan(st, s, idx, from.max(shard.base), first, 1, min_ts);
                    }
                    first + skip
                }
                other => {
                    return Err(err(
                        "ValidationException",
                        format!("1 validation error detected: Value '{other}' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST]"),
                    ))
                }
            };
            let pos = pos.max(shard.base).min(latest.max(shard.visible_end()));
            (pos, plan, s.meta.incarnation, idx)
        };
        let pos = match plan {
            Some(plan) => match Self::read_disk(plan).await?.0.first() {
                Some((found, _)) => *found,
                None => pos,
            },
            None => pos,
        };
        Ok(json!({"ShardIterator": encode_iter(&Iter {
            name: name.clone(),
            incarnation,
            shard: idx,
            pos,
            issued_ms: now,
        })}))
    }

    async fn get_records(&self, v: &Value) -> Result<GetRecordsOut, ApiError> {
        let raw = req_str(v, "ShardIterator")?;
        let limit = match opt_int(v, "Limit")? {
            Some(n) => range_check("limit", n, 1, 10_000)? as usize,
            None => 10_000,
        };
        let it = decode_iter(raw)
            .ok_or_else(|| err("InvalidArgumentException", "Invalid ShardIterator."))?;
        let now = self.now();
        if now.saturating_sub(it.issued_ms) > ITERATOR_TTL_MS {
            return Err(err(
                "ExpiredIteratorException",
                format!("Iterator expired. The iterator was created at time {} while right now it is {} which is further in the future than the tolerated delay of 300000 milliseconds.", it.issued_ms, now),
            ));
        }
        let limits = ReadLimits {
            records: limit,
            bytes: MAX_GET_BYTES,
            rate_limited: self.config.enforce_limits,
        };
        self.read(&it, limits).await
    }

    /// Reads at `it` within `limits`. The answer's `next_pos` is where the
    /// next read starts.
    async fn read(&self, it: &Iter, limits: ReadLimits) -> Result<GetRecordsOut, ApiError> {
        let ReadLimits {
            records: limit,
            bytes: max_bytes,
            rate_limited,
        } = limits;
        let now = self.now();
        let plan = {
            let mut st = self.lock();
            st.trim(&it.name, now);
            let s = st
                .streams
                .get_mut(&it.name)
                .filter(|s| s.meta.incarnation == it.incarnation)
                .ok_or_else(|| not_found(&it.name))?;
            if it.shard >= s.shards.len() {
                return Err(err("InvalidArgumentException", "Invalid ShardIterator."));
            }
            let shard = &mut s.shards[it.shard];
            if rate_limited {
                let w = shard.window.at(now);
                // 5 calls/s, and 2 MiB/s: reads wait until at most one second of
                // bandwidth is owed for bytes already returned.
                let owed_ms = shard.read_busy_until_ms.saturating_sub(now);
                if w.reads >= 5 || owed_ms >= 1000 {
                    return Err(err(
                        "ProvisionedThroughputExceededException",
                        format!(
                            "Rate exceeded for shard {} in stream {} under account {ACCOUNT}.",
                            shard_id(it.shard),
                            it.name
                        ),
                    ));
                }
                w.reads += 1;
            }
            let s = st
                .streams
                .get(&it.name)
                .ok_or_else(|| not_found(&it.name))?;
            let shard = &s.shards[it.shard];
            let first = shard.first_cached();
            let pos = it.pos.max(shard.base);
            match Self::disk_plan(&st, s, it.shard, pos, first, limit, s.keep_after(now)) {
                Some(plan) => DiskPlan { max_bytes, ..plan },
                None => {
                    let s = st
                        .streams
                        .get_mut(&it.name)
                        .ok_or_else(|| not_found(&it.name))?;
                    let shard = &s.shards[it.shard];
                    let mut pos = pos.max(first);
                    let mut bytes = 0usize;
                    let mut records = Vec::new();
                    while records.len() < limit {
                        let Some(r) = shard.cached(pos) else {
                            break;
                        };
                        let size = r.data.len() + r.pk.len();
                        if !records.is_empty() && bytes + size > max_bytes {
                            break;
                        }
                        bytes += size;
                        records.push(record_out(it.shard, pos, r));
                        pos += 1;
                    }
                    return Ok(self.finish_read(s, it, pos, records, bytes, now, rate_limited));
                }
            }
        };
        let (found, pos) = Self::read_disk(plan).await?;
        let bytes = found.iter().map(|(_, r)| r.data.len() + r.pk.len()).sum();
        let records = found
            .into_iter()
            .map(|(p, r)| RecordOut {
                seq: record_seq(it.shard, p),
                ts_ms: r.ts_ms,
                data: r.data,
                pk: r.pk,
            })
            .collect();
        let mut st = self.lock();
        let s = st
            .streams
            .get_mut(&it.name)
            .filter(|s| s.meta.incarnation == it.incarnation)
            .ok_or_else(|| not_found(&it.name))?;
        Ok(self.finish_read(s, it, pos, records, bytes, now, rate_limited))
    }

    /// The GetRecords answer once `records` (ending before `pos`) are read.
    #[allow(clippy::too_many_arguments)]
    fn finish_read(
        &self,
        s: &mut Stream,
        it: &Iter,
        pos: u64,
        records: Vec<RecordOut>,
        bytes: usize,
        now: u64,
        rate_limited: bool,
    ) -> GetRecordsOut {
        let closed_end = s.meta.shards[it.shard].closed_end;
        let shard = &mut s.shards[it.shard];
        if rate_limited {
            let start = shard.read_busy_until_ms.max(now);
            shard.read_busy_until_ms = start + bytes as u64 * 1000 / READ_BYTES_PER_SEC;
        }
        let next_ts = match shard.cached(pos) {
            Some(r) => Some(r.ts_ms),
            None if pos < shard.visible_end() => {
                let k = shard.index.partition_point(|e| e.first_pos <= pos);
                k.checked_sub(1).map(|k| shard.index[k].first_ts)
            }
            None => None,
        };
        let behind = next_ts.map_or(0, |t| now.saturating_sub(t));
        let mut out = GetRecordsOut {
            records,
            millis_behind_latest: behind,
            next_shard_iterator: None,
            child_shards: None,
            next_pos: pos,
        };
        match closed_end {
            Some(end) if pos >= end => {
                let children: Vec<Value> = s
                    .meta
                    .shards
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| {
                        m.parent == Some(it.shard as u32) || m.adjacent == Some(it.shard as u32)
                    })
                    .map(|(i, m)| {
                        let mut parents = vec![];
                        for p in [m.parent, m.adjacent].into_iter().flatten() {
                            parents.push(shard_id(p as usize));
                        }
                        json!({
                            "ShardId": shard_id(i),
                            "ParentShards": parents,
                            "HashKeyRange": {"StartingHashKey": m.start, "EndingHashKey": m.end},
                        })
                    })
                    .collect();
                out.child_shards = Some(children);
            }
            _ => {
                out.next_shard_iterator = Some(encode_iter(&Iter {
                    name: it.name.clone(),
                    incarnation: it.incarnation,
                    shard: it.shard,
                    pos,
                    issued_ms: now,
                }));
            }
        }
        out
    }

    // ---- resharding ------------------------------------------------------

    fn open_shard(s: &Stream, v: &Value, key: &str) -> Result<usize, ApiError> {
        let sid = req_str(v, key)?;
        parse_shard_id(sid)
            .filter(|i| *i < s.shards.len())
            .ok_or_else(|| {
                err(
                    "ResourceNotFoundException",
                    format!("Could not find shard {sid} in stream {} under account {ACCOUNT}.", s.meta.name),
                )
            })
            .and_then(|i| {
                if s.is_open(i) {
                    Ok(i)
                } else {
                    Err(err(
                        "InvalidArgumentException",
                        format!("Shard {sid} in stream {} under account {ACCOUNT} has already been merged or split, and thus is not eligible for merging or splitting.", s.meta.name),
                    ))
                }
            })
    }

    fn check_shard_limit(&self, st: &State, extra: usize) -> Result<(), ApiError> {
        let open: usize = st.streams.values().map(Stream::open_count).sum();
        if open + extra > self.config.shard_limit as usize {
            return Err(err(
                "LimitExceededException",
                format!("This request would exceed the shard limit for the account {ACCOUNT}. Limit: {}.", self.config.shard_limit),
            ));
        }
        Ok(())
    }

    /// Closes `parents` and adds `children` as one durable metadata change.
    fn reshard(
        &self,
        st: &mut State,
        name: &str,
        parents: &[usize],
        children: Vec<(u128, u128, Option<u32>, Option<u32>)>,
    ) -> Result<oneshot::Receiver<Result<(), String>>, ApiError> {
        let now = self.now();
        let s = self.stream_mut(st, name)?;
        let mut meta = s.meta.clone();
        for &p in parents {
            meta.shards[p].closed_end = Some(s.shards[p].reserved);
        }
        for (start, end, parent, adjacent) in children {
            meta.shards.push(ShardMeta {
                start: start.to_string(),
                end: end.to_string(),
                parent,
                adjacent,
                created_ms: now,
                closed_end: None,
            });
        }
        let rx = self.queue_meta(&meta)?;
        st.apply_meta(MetaOp::Upsert(meta));
        Ok(rx)
    }

    async fn split_shard(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let key = req_str(v, "NewStartingHashKey")?;
        let rx = {
            let mut st = self.lock();
            self.check_shard_limit(&st, 1)?;
            let s = self.active_mut(&mut st, &name)?;
            let idx = Self::open_shard(s, v, "ShardToSplit")?;
            let sh = &s.shards[idx];
            let new_start = parse_hash(key)
                .filter(|k| *k > sh.start && *k <= sh.end)
                .ok_or_else(|| {
                    err(
                        "InvalidArgumentException",
                        format!("NewStartingHashKey {key} used in SplitShard() on shard {} in stream {name} under account {ACCOUNT} is not both greater than one plus the shard's StartingHashKey {} and less than the shard's EndingHashKey {}.", shard_id(idx), sh.start, sh.end),
                    )
                })?;
            let (start, end) = (sh.start, sh.end);
            let p = Some(idx as u32);
            self.reshard(
                &mut st,
                &name,
                &[idx],
                vec![(start, new_start - 1, p, None), (new_start, end, p, None)],
            )?
        };
        Self::durable(rx).await?;
        Ok(json!({}))
    }

    async fn merge_shards(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let rx = {
            let mut st = self.lock();
            let s = self.active_mut(&mut st, &name)?;
            let a = Self::open_shard(s, v, "ShardToMerge")?;
            let b = Self::open_shard(s, v, "AdjacentShardToMerge")?;
            let (sa, sb) = (&s.shards[a], &s.shards[b]);
            let adjacent =
                sa.end.checked_add(1) == Some(sb.start) || sb.end.checked_add(1) == Some(sa.start);
            if a == b || !adjacent {
                return Err(err(
                    "InvalidArgumentException",
                    format!("Shards {} and {} in stream {name} under account {ACCOUNT} are not an adjacent pair of shards eligible for merging", shard_id(a), shard_id(b)),
                ));
            }
            let (start, end) = (sa.start.min(sb.start), sa.end.max(sb.end));
            self.reshard(
                &mut st,
                &name,
                &[a, b],
                vec![(start, end, Some(a as u32), Some(b as u32))],
            )?
        };
        Self::durable(rx).await?;
        Ok(json!({}))
    }

    async fn update_shard_count(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let target = range_check(
            "targetShardCount",
            opt_int(v, "TargetShardCount")?.unwrap_or(0),
            1,
            100_000,
        )? as usize;
        match opt_str(v, "ScalingType")? {
            Some("UNIFORM_SCALING") => {}
            other => {
                return Err(err(
                    "ValidationException",
                    format!("1 validation error detected: Value '{}' at 'scalingType' failed to satisfy constraint: Member must satisfy enum value set: [UNIFORM_SCALING]", other.unwrap_or("null")),
                ))
            }
        }
        let (rx, current, arn) = {
            let mut st = self.lock();
            let s = self.active_mut(&mut st, &name)?;
            let open: Vec<usize> = (0..s.shards.len()).filter(|i| s.is_open(*i)).collect();
            let current = open.len();
            let arn = s.meta.arn.clone();
            if target > current * 2 || target * 2 < current {
                return Err(err(
                    "LimitExceededException",
                    format!("UpdateShardCount can scale between half and double the current open shard count ({current}); requested {target}."),
                ));
            }
            if target == current {
                return Ok(
                    json!({"StreamName": name, "StreamARN": arn, "CurrentShardCount": current, "TargetShardCount": target}),
                );
            }
            let children: Vec<_> = uniform_ranges(target as u32)
                .into_iter()
                .map(|(start, end)| {
                    let mut over = open
                        .iter()
                        .filter(|&&i| s.shards[i].start <= end && start <= s.shards[i].end)
                        .map(|&i| i as u32);
                    let parent = over.next();
                    let adjacent = over.next();
                    (start, end, parent, adjacent)
                })
                .collect();
            let parents = open.clone();
            self.check_shard_limit(&st, target.saturating_sub(current))?;
            (
                self.reshard(&mut st, &name, &parents, children)?,
                current,
                arn,
            )
        };
        Self::durable(rx).await?;
        Ok(
            json!({"StreamName": name, "StreamARN": arn, "CurrentShardCount": current, "TargetShardCount": target}),
        )
    }

    // ---- retention and tags ---------------------------------------------

    async fn update_meta(
        &self,
        name: &str,
        change: impl FnOnce(&mut StreamMeta) -> Result<(), ApiError>,
    ) -> ApiResult {
        let rx = {
            let mut st = self.lock();
            let s = self.stream_mut(&mut st, name)?;
            let mut meta = s.meta.clone();
            change(&mut meta)?;
            let rx = self.queue_meta(&meta)?;
            st.apply_meta(MetaOp::Upsert(meta));
            rx
        };
        Self::durable(rx).await?;
        Ok(json!({}))
    }

    async fn retention(&self, v: &Value, increase: bool) -> ApiResult {
        let name = stream_name(v)?;
        let hours = opt_int(v, "RetentionPeriodHours")?.ok_or_else(|| {
            err("ValidationException", "1 validation error detected: Value null at 'retentionPeriodHours' failed to satisfy constraint: Member must not be null")
        })?;
        let hours = range_check("retentionPeriodHours", hours, 1, 100_000)?;
        self.update_meta(&name, |m| {
            let cur = i64::from(m.retention_hours);
            if !(24..=8760).contains(&hours) {
                return Err(err(
                    "InvalidArgumentException",
                    format!("Minimum allowed retention period is 24 hours and maximum is 8760 hours. Requested retention period ({hours} hours) is out of range."),
                ));
            }
            if increase && hours < cur {
                return Err(err("InvalidArgumentException", format!("Requested retention period ({hours} hours) for stream {name} can not be shorter than existing retention period ({cur} hours). Use DecreaseRetentionPeriod API.")));
            }
            if !increase && hours > cur {
                return Err(err("InvalidArgumentException", format!("Requested retention period ({hours} hours) for stream {name} can not be longer than existing retention period ({cur} hours). Use IncreaseRetentionPeriod API.")));
            }
            m.retention_hours = hours as u32;
            Ok(())
        })
        .await
    }

    async fn add_tags(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let tags = parse_tag_map(v)?;
        if tags.is_empty() || tags.len() > 10 {
            return Err(err(
                "ValidationException",
                "1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have between 1 and 10 entries",
            ));
        }
        self.update_meta(&name, |m| {
            let mut all = m.tags.clone();
            all.extend(tags);
            if all.len() > 50 {
                return Err(err(
                    "LimitExceededException",
                    format!("Failed to add tags to stream {name} under account {ACCOUNT} because a given stream cannot have more than 50 tags."),
                ));
            }
            m.tags = all;
            Ok(())
        })
        .await
    }

    async fn remove_tags(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let keys: Vec<String> = match v.get("TagKeys") {
            Some(Value::Array(a)) => a
                .iter()
                .map(|k| k.as_str().map(str::to_string).ok_or_else(|| ser("TagKeys", "a list of strings")))
                .collect::<Result<_, _>>()?,
            None | Some(Value::Null) => {
                return Err(err("ValidationException", "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null"))
            }
            Some(_) => return Err(ser("TagKeys", "a list of strings")),
        };
        if keys.is_empty() || keys.len() > 50 {
            return Err(err("ValidationException", "1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length between 1 and 50"));
        }
        self.update_meta(&name, |m| {
            for k in &keys {
                m.tags.remove(k);
            }
            Ok(())
        })
        .await
    }

    fn list_tags(&self, v: &Value) -> ApiResult {
        let name = stream_name(v)?;
        let limit = match opt_int(v, "Limit")? {
            Some(n) => range_check("limit", n, 1, 50)? as usize,
            None => 50,
        };
        let start = opt_str(v, "ExclusiveStartTagKey")?;
        let mut st = self.lock();
        let s = self.stream_mut(&mut st, &name)?;
        let all: Vec<(&String, &String)> = s
            .meta
            .tags
            .iter()
            .filter(|(k, _)| start.is_none_or(|st| k.as_str() > st))
            .collect();
        let tags: Vec<Value> = all
            .iter()
            .take(limit)
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        Ok(json!({"Tags": tags, "HasMoreTags": all.len() > limit}))
    }
}

fn parse_tag_map(v: &Value) -> Result<BTreeMap<String, String>, ApiError> {
    match v.get("Tags") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, val)| {
                let val = match val {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    _ => return Err(ser("Tags", "a map of strings")),
                };
                if k.is_empty() || k.chars().count() > 128 || val.chars().count() > 256 {
                    return Err(err(
                        "InvalidArgumentException",
                        "Tag keys must be 1..128 characters and values at most 256 characters.",
                    ));
                }
                Ok((k.clone(), val))
            })
            .collect(),
        Some(_) => Err(ser("Tags", "a map of strings")),
    }
}

/// One parsed record to put.
struct PutEntry {
    pk: String,
    data: Bytes,
    hash: u128,
}

fn parse_entry(v: &Value, prefix: &str) -> Result<PutEntry, ApiError> {
    let pk = req_str(v, "PartitionKey")?;
    let pk_len = pk.chars().count();
    if !(1..=256).contains(&pk_len) {
        return Err(err(
            "ValidationException",
            format!("1 validation error detected: Value at '{prefix}partitionKey' failed to satisfy constraint: Member must have length less than or equal to 256 and greater than or equal to 1"),
        ));
    }
    let b64 = req_str(v, "Data")?;
    let data = STANDARD.decode(b64).map_err(|_| {
        err(
            "SerializationException",
            format!("field {prefix}Data is not valid base64"),
        )
    })?;
    if data.len() > MAX_RECORD {
        return Err(err(
            "ValidationException",
            format!("1 validation error detected: Value at '{prefix}data' failed to satisfy constraint: Member must have length less than or equal to 1048576"),
        ));
    }
    let hash = match opt_str(v, "ExplicitHashKey")? {
        Some(k) => parse_hash(k).ok_or_else(|| {
            err(
                "InvalidArgumentException",
                format!("Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was {k}"),
            )
        })?,
        None => u128::from_be_bytes(Md5::digest(pk.as_bytes()).into()),
    };
    // SequenceNumberForOrdering is accepted: sequence numbers always increase.
    if let Some(s) = opt_str(v, "SequenceNumberForOrdering")? {
        if parse_seq(s).is_none() && !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(
                "InvalidArgumentException",
                format!("SequenceNumberForOrdering {s} is invalid."),
            ));
        }
    }
    Ok(PutEntry {
        pk: pk.to_string(),
        data: Bytes::from(data),
        hash,
    })
}

/// One record of a GetRecords answer, serialised without an intermediate
/// `serde_json::Value` (this runs for every record read).
#[derive(Debug)]
struct RecordOut {
    seq: String,
    ts_ms: u64,
    data: Bytes,
    pk: String,
}

impl serde::Serialize for RecordOut {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = serializer.serialize_struct("Record", 4)?;
        out.serialize_field("SequenceNumber", &self.seq)?;
        out.serialize_field("ApproximateArrivalTimestamp", &(self.ts_ms as f64 / 1000.0))?;
        out.serialize_field("Data", &STANDARD.encode(&self.data))?;
        out.serialize_field("PartitionKey", &self.pk)?;
        out.end()
    }
}

/// How much one read may return.
#[derive(Debug, Clone, Copy)]
struct ReadLimits {
    records: usize,
    /// Keys and data; the first record is returned whatever its size.
    bytes: usize,
    /// Apply the shard's 5 calls/s and 2 MiB/s read limits (GetRecords;
    /// enhanced fan-out has its own pipe).
    rate_limited: bool,
}

/// The GetRecords answer.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
struct GetRecordsOut {
    records: Vec<RecordOut>,
    millis_behind_latest: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_shard_iterator: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    child_shards: Option<Vec<Value>>,
    /// Where the next read starts (in the iterator; not sent).
    #[serde(skip)]
    next_pos: u64,
}

fn record_out(shard: usize, pos: u64, r: &Rec) -> RecordOut {
    RecordOut {
        seq: record_seq(shard, pos),
        ts_ms: r.ts_ms,
        data: r.data.clone(),
        pk: r.pk.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_seq, record_seq, seq};

    #[test]
    fn record_sequence_numbers_sit_above_the_shard_start() {
        // StartingSequenceNumber (counter 0) < first record < second record,
        // and "after the record at p" is counter p + 1.
        assert!(seq(3, 0) < record_seq(3, 0));
        assert!(record_seq(3, 0) < record_seq(3, 1));
        assert_eq!(parse_seq(&record_seq(3, 41)), Some((3, 42)));
    }

    #[test]
    fn numbers_of_the_earlier_format_name_the_same_records() {
        // Before the counter, the record at position p of shard i was
        // "490", i in 11 digits and p in 42: it parses as that record.
        let legacy = format!("490{:011}{:042}", 3, 41);
        assert_eq!(parse_seq(&legacy), Some((3, 42)));
        assert_eq!(parse_seq(&legacy), parse_seq(&record_seq(3, 41)));
        assert_eq!(parse_seq(&format!("492{:053}", 0)), None);
    }

    #[test]
    fn sequence_numbers_are_56_digits_and_parse_back() {
        for (idx, pos) in [(0, 0), (3, 7), (12, 1_234_567), (999, u64::MAX)] {
            let s = seq(idx, pos);
            assert_eq!(s, format!("491{idx:011}{pos:042}"));
            assert_eq!(parse_seq(&s), Some((idx, pos)));
        }
    }
}
