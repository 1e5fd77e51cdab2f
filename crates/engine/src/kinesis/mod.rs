//! The Kinesis actions over the in-memory state and the durable log.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use self::state::{MetaOp, State, Stream, StreamMeta};
use crate::error::EngineError;
use crate::store::codec::{encode_meta, RecordBatch};
use crate::store::log::frame;
use crate::store::recovery::recover;
use crate::store::writer::{writer, Job};
use crate::{Config, StorageStats};

pub(crate) mod actions;
mod consumers;
mod fanout;
pub(crate) mod iterator;
pub(crate) mod meta;
pub(crate) mod names;
pub(crate) mod request;
mod scaling;
pub(crate) mod state;

use crate::front::error::{err, internal, ApiError, Code};
use crate::front::validate::Invalid;
use iterator::IteratorKey;
use names::*;
use request::parse;

pub(crate) const ACCOUNT: &str = "000000000000";
pub(crate) const MAX_RECORD: usize = 1 << 20;
pub(crate) const MAX_PUT_RECORDS_BYTES: usize = 5 << 20;
pub(crate) const MAX_GET_BYTES: usize = 10 << 20;

pub(crate) type ApiResult = Result<Value, ApiError>;

/// A successful answer: a JSON value, or a body already encoded (GetRecords,
/// whose records are serialised straight from typed structs).
#[derive(Debug)]
pub(crate) enum Reply {
    /// An action without output: an empty body.
    Empty,
    Json(Value),
    Encoded(Vec<u8>),
    /// A PutRecords answer, encoded by the front in the caller's protocol
    /// straight from its typed form.
    PutRecords(actions::put::PutRecordsOut),
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
    /// Deregistered consumers shown as DELETING until the state delay passed.
    leaving_consumers: Mutex<Vec<consumers::Leaving>>,
    /// Signs and checks shard iterators.
    pub(crate) iterators: IteratorKey,
    /// UpdateAccountSettings' billing commitment status (kept in memory).
    pub(crate) account: Mutex<Option<String>>,
    /// Deleted streams shown as DELETING until the state delay passed.
    pub(crate) deleting: Mutex<std::collections::BTreeMap<String, (StreamMeta, u64)>>,
    /// The data dir's frame salt (see `store::log`).
    salt: u32,
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
        let iterators = match &config.data_dir {
            Some(path) => IteratorKey::load_or_create(path)?,
            None => IteratorKey::random(),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let salt = dir.as_ref().map_or(0, |d| d.salt);
        let engine = Arc::new(Engine {
            state: Mutex::new(state),
            config,
            tx,
            pending_meta: AtomicU64::new(0),
            changed: tokio::sync::watch::Sender::new(0),
            closing: tokio_util::sync::CancellationToken::new(),
            subscriptions: Mutex::new(fanout::Slots::new()),
            leaving_consumers: Mutex::default(),
            iterators,
            account: Mutex::new(None),
            deleting: Mutex::default(),
            salt,
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
    pub(crate) fn queue(
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

    pub(crate) async fn durable(rx: oneshot::Receiver<Result<(), String>>) -> Result<(), ApiError> {
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(internal(format!("storage failure: {e}"))),
            Err(_) => Err(internal("the engine is shutting down")),
        }
    }

    /// Queues a stream change (refused when its metadata would not fit in
    /// one log frame: too many shards ever created).
    pub(crate) fn queue_meta(
        &self,
        meta: &StreamMeta,
    ) -> Result<oneshot::Receiver<Result<(), String>>, ApiError> {
        let payload = encode_meta(&MetaOp::Upsert(meta.clone()));
        if !crate::store::log::fits(payload.len()) {
            return Err(err(Code::LimitExceededException,
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
        validate(action, &body)?;
        // The two busiest answers are encoded from typed structures, without
        // a JSON tree in between.
        if action == "GetRecords" {
            let out = self.get_records(parse(body)?).await?;
            return out
                .to_json()
                .map(Reply::Encoded)
                .map_err(|e| internal(format!("encoding the response: {e}")));
        }
        if action == "PutRecords" {
            return Ok(Reply::PutRecords(self.put_records(parse(body)?).await?));
        }
        if action == "SubscribeToShard" {
            return self.subscribe_to_shard(parse(body)?).await;
        }
        let result = match action {
            "CreateStream" => self.create_stream(parse(body)?, region).await,
            "DeleteStream" => self.delete_stream(parse(body)?).await,
            "DescribeStream" => self.describe_stream(parse(body)?),
            "DescribeStreamSummary" => self.describe_stream_summary(parse(body)?),
            "ListStreams" => self.list_streams(parse(body)?),
            "ListShards" => self.list_shards(parse(body)?),
            "PutRecord" => self.put_record(parse(body)?).await,
            "GetShardIterator" => {
                self.get_shard_iterator(parse(body)?, "GetShardIterator")
                    .await
            }
            "SplitShard" => self.split_shard(parse(body)?).await,
            "MergeShards" => self.merge_shards(parse(body)?).await,
            "UpdateShardCount" => self.update_shard_count(parse(body)?).await,
            "IncreaseStreamRetentionPeriod" => self.retention(parse(body)?, true).await,
            "DecreaseStreamRetentionPeriod" => self.retention(parse(body)?, false).await,
            "AddTagsToStream" => self.add_tags(parse(body)?).await,
            "ListTagsForStream" => self.list_tags(parse(body)?),
            "RemoveTagsFromStream" => self.remove_tags(parse(body)?).await,
            "RegisterStreamConsumer" => self.register_stream_consumer(parse(body)?).await,
            "DescribeStreamConsumer" => self.describe_stream_consumer(parse(body)?),
            "ListStreamConsumers" => self.list_stream_consumers(parse(body)?),
            "DeregisterStreamConsumer" => self.deregister_stream_consumer(parse(body)?).await,
            "TagResource"
            | "UntagResource"
            | "ListTagsForResource"
            | "PutResourcePolicy"
            | "GetResourcePolicy"
            | "DeleteResourcePolicy" => self.on_resource(action, parse(body)?).await,
            "EnableEnhancedMonitoring" => self.monitoring(parse(body)?, true).await,
            "DisableEnhancedMonitoring" => self.monitoring(parse(body)?, false).await,
            "StartStreamEncryption" => self.encryption(parse(body)?, true).await,
            "StopStreamEncryption" => self.encryption(parse(body)?, false).await,
            "UpdateStreamMode" => self.update_stream_mode(parse(body)?).await,
            "UpdateStreamWarmThroughput" => self.update_warm_throughput(parse(body)?).await,
            "UpdateMaxRecordSize" => self.update_max_record_size(parse(body)?).await,
            "DescribeLimits" => self.describe_limits(),
            "DescribeAccountSettings" => self.account_settings(None),
            "UpdateAccountSettings" => self.account_settings(Some(parse(body)?)),
            _ => Err(err(
                Code::UnknownOperationException,
                format!("Operation {action} is not supported."),
            )),
        };
        // Actions whose model has no output answer an empty body.
        const NO_OUTPUT: [&str; 16] = [
            "AddTagsToStream",
            "CreateStream",
            "DecreaseStreamRetentionPeriod",
            "DeleteResourcePolicy",
            "DeleteStream",
            "DeregisterStreamConsumer",
            "IncreaseStreamRetentionPeriod",
            "MergeShards",
            "PutResourcePolicy",
            "RemoveTagsFromStream",
            "SplitShard",
            "StartStreamEncryption",
            "StopStreamEncryption",
            "TagResource",
            "UntagResource",
            "UpdateStreamMode",
        ];
        result.map(|v| {
            if NO_OUTPUT.contains(&action) || action == "UpdateMaxRecordSize" {
                Reply::Empty
            } else {
                Reply::Json(v)
            }
        })
    }

    /// CREATING, UPDATING or ACTIVE (DELETING streams are gone from `streams`).
    pub(crate) fn status(&self, s: &Stream) -> &'static str {
        let now = self.now();
        if now < s.meta.active_at_ms {
            "CREATING"
        } else if now < s.meta.settings.updating_until_ms {
            "UPDATING"
        } else {
            "ACTIVE"
        }
    }

    pub(crate) fn stream_mut<'a>(
        &self,
        st: &'a mut State,
        name: &str,
    ) -> Result<&'a mut Stream, ApiError> {
        st.streams.get_mut(name).ok_or_else(|| not_found(name))
    }

    pub(crate) fn active_mut<'a>(
        &self,
        st: &'a mut State,
        name: &str,
    ) -> Result<&'a mut Stream, ApiError> {
        let s = self.stream_mut(st, name)?;
        let status = self.status(s);
        if status != "ACTIVE" {
            return Err(err(
                Code::ResourceInUseException,
                format!(
                    "Stream {name} under account {ACCOUNT} not ACTIVE, instead in state {status}"
                ),
            ));
        }
        Ok(s)
    }
}

/// Checks a request against the service model (types, then every
/// constraint). A request naming its stream by neither StreamName nor
/// StreamARN (both optional since stream ARNs exist) gets the `streamName`
/// violation the service reports with the others.
fn validate(action: &str, body: &Value) -> Result<(), ApiError> {
    let model = crate::front::validate::kinesis();
    let missing_stream = action != "ListShards"
        && model.has_member(action, "StreamName")
        && model.has_member(action, "StreamARN")
        && ["StreamName", "StreamARN"]
            .iter()
            .all(|m| body.get(m).is_none_or(Value::is_null));
    let result = crate::front::validate::check(model, action, body);
    let invalid = match (result, missing_stream) {
        (Ok(()), false) => return Ok(()),
        (Ok(()), true) => Invalid::Validation(Vec::new()),
        (Err(e), _) => e,
    };
    Err(match invalid {
        Invalid::Serialization(message) => err(Code::SerializationException, message),
        Invalid::Validation(mut violations) => {
            if missing_stream && violations.len() < 10 {
                violations.push(
                    "Value null at 'streamName' failed to satisfy constraint: Member must not be null"
                        .into(),
                );
            }
            err(
                Code::ValidationException,
                Invalid::Validation(violations).message(),
            )
        }
    })
}
