//! Enhanced fan-out: stream consumers (RegisterStreamConsumer and friends)
//! and SubscribeToShard, which pushes records over an event stream
//! (`application/vnd.amazon.eventstream`) as soon as they are durable.
//!
//! A subscription is a task that reads the shard like GetRecords does (but
//! without the 5 calls/s limit: fan-out has its own pipe) each time records
//! land anywhere in the engine, and sends one `SubscribeToShardEvent` per
//! read that found records, or a heartbeat after [`HEARTBEAT`] without any.
//! It ends after [`crate::Config::subscription_ttl`] (the client subscribes
//! again from its `ContinuationSequenceNumber`), when the shard is closed and
//! fully read (the last event carries `ChildShards`), when a newer
//! subscription of the same consumer to the same shard replaces it, when the
//! client hangs up, or when the server shuts down. When the stream is deleted
//! or the consumer deregistered it ends with a `ResourceNotFoundException`
//! event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_eventstream::frame::write_message_to;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::actions::get::{GetRecordsOut, ReadLimits, RecordOut};
use super::iterator::{bad_token, decode_token, encode_token, Iter};
use super::names::{not_found, seq, shard_id, ts};
use super::request::{
    stream_of_arn, GetShardIterator, ListStreamConsumers, OnConsumer, StreamRef, SubscribeToShard,
};
use super::state::ConsumerMeta;
use super::{ApiResult, Engine, Reply, ACCOUNT};
use crate::front::error::{err, internal, ApiError, Code};

/// Longest quiet spell on a subscription: an event without records (with the
/// current `MillisBehindLatest`) is sent after this long without one.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);

/// What one event carries at most: like a GetRecords answer, but about 1 MiB
/// of data, so events stay small for every SDK's decoder.
const EVENT_LIMITS: ReadLimits = ReadLimits {
    records: 10_000,
    bytes: 1 << 20,
    rate_limited: false,
};

/// Registered consumers per stream (the real service's limit).
const MAX_CONSUMERS: usize = 20;

/// The last subscription of one consumer to one shard.
pub(crate) struct Slot {
    started: Instant,
    cancel: CancellationToken,
}

/// Subscriptions by (consumer ARN, shard index).
pub(crate) type Slots = HashMap<(String, usize), Slot>;

fn consumer_not_found(arn: &str) -> ApiError {
    err(
        Code::ResourceNotFoundException,
        format!("Consumer {arn} under account {ACCOUNT} not found."),
    )
}

/// The stream name inside a consumer ARN
/// (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME/consumer/CONSUMER:SECONDS`).
fn stream_of_consumer(arn: &str) -> Result<String, ApiError> {
    let invalid = || {
        err(Code::InvalidArgumentException,
            format!("Invalid ConsumerARN {arn}: expected arn:aws:kinesis:REGION:ACCOUNT:stream/STREAM/consumer/NAME:TIMESTAMP"),
        )
    };
    let (stream_arn, _) = arn.split_once("/consumer/").ok_or_else(invalid)?;
    stream_of_arn(stream_arn)
        .map(str::to_string)
        .ok_or_else(invalid)
}

fn consumer_json(c: &ConsumerMeta, status: &str) -> Value {
    json!({
        "ConsumerName": c.name,
        "ConsumerARN": c.arn,
        "ConsumerStatus": status,
        "ConsumerCreationTimestamp": ts(c.created_ms),
    })
}

/// One event-stream frame.
fn frame(headers: Vec<Header>, payload: Vec<u8>) -> Bytes {
    let message = Message::new_from_parts(headers, payload);
    let mut out = Vec::new();
    // Our headers and payloads are far below the format's size limits.
    if let Err(e) = write_message_to(&message, &mut out) {
        tracing::error!(error = %e, "encoding an event-stream frame");
    }
    Bytes::from(out)
}

fn header(name: &'static str, value: &'static str) -> Header {
    Header::new(name, HeaderValue::String(value.into()))
}

fn event_frame(event_type: &'static str, payload: Vec<u8>) -> Bytes {
    frame(
        vec![
            header(":message-type", "event"),
            header(":event-type", event_type),
            header(":content-type", "application/json"),
        ],
        payload,
    )
}

fn exception_frame(e: &ApiError) -> Bytes {
    let payload = serde_json::to_vec(&json!({ "message": e.message })).unwrap_or_default();
    // The event stream's model names this one differently from HTTP errors.
    let kind = match e.code {
        Code::InternalFailure => "InternalFailureException",
        other => other.as_str(),
    };
    frame(
        vec![
            header(":message-type", "exception"),
            header(":exception-type", kind),
            header(":content-type", "application/json"),
        ],
        payload,
    )
}

/// A `SubscribeToShardEvent` made of a read's answer.
fn records_event(shard: usize, out: GetRecordsOut) -> Bytes {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Event {
        records: Vec<RecordOut>,
        #[serde(skip_serializing_if = "Option::is_none")]
        continuation_sequence_number: Option<String>,
        millis_behind_latest: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        child_shards: Option<Vec<Value>>,
    }
    let ended = out.child_shards.is_some();
    let event = Event {
        records: out.records,
        continuation_sequence_number: (!ended).then(|| seq(shard, out.next_pos)),
        millis_behind_latest: out.millis_behind_latest,
        child_shards: out.child_shards,
    };
    event_frame(
        "SubscribeToShardEvent",
        serde_json::to_vec(&event).unwrap_or_default(),
    )
}

impl Engine {
    /// Ends every subscription (the server is shutting down; a streaming
    /// answer would otherwise hold the graceful shutdown forever).
    pub(crate) fn close_subscriptions(&self) {
        self.closing.cancel();
    }

    /// Completes once [`Engine::close_subscriptions`] was called.
    pub(crate) async fn closed(&self) {
        self.closing.cancelled().await;
    }

    fn find_consumer(&self, r: &OnConsumer) -> Result<(String, ConsumerMeta), ApiError> {
        let by_arn = r.consumer_arn.clone();
        let name = match &by_arn {
            Some(arn) => stream_of_consumer(arn)?,
            None => StreamRef {
                stream_name: None,
                stream_arn: r.stream_arn.clone(),
            }
            .name()?,
        };
        let by_name = match &by_arn {
            Some(_) => None,
            None => Some(r.consumer_name.clone().ok_or_else(|| {
                err(
                    Code::InvalidArgumentException,
                    "Either ConsumerARN or both StreamARN and ConsumerName must be provided.",
                )
            })?),
        };
        let st = self.lock();
        let s = st.streams.get(&name).ok_or_else(|| not_found(&name))?;
        let found = s.meta.consumers.iter().find(|c| match (&by_arn, &by_name) {
            (Some(arn), _) => &c.arn == arn,
            (None, Some(n)) => &c.name == n,
            (None, None) => false,
        });
        match found {
            Some(c) => Ok((name, c.clone())),
            None => Err(consumer_not_found(
                by_arn.as_deref().or(by_name.as_deref()).unwrap_or_default(),
            )),
        }
    }

    pub(super) async fn register_stream_consumer(&self, r: OnConsumer) -> ApiResult {
        let name = StreamRef {
            stream_name: None,
            stream_arn: r.stream_arn.clone(),
        }
        .name()?;
        let consumer = r.consumer_name.clone().unwrap_or_default();
        let tags = crate::kinesis::actions::settings::check_tags(
            crate::kinesis::request::tag_map(r.tags),
            &name,
        )?;
        let now = self.now();
        let mut created = None;
        self.update_meta(&name, |m| {
            if m.consumers.iter().any(|c| c.name == consumer) {
                return Err(err(Code::ResourceInUseException,
                    format!("Consumer {consumer} under stream {name} under account {ACCOUNT} already exists."),
                ));
            }
            if m.consumers.len() >= MAX_CONSUMERS {
                return Err(err(Code::LimitExceededException,
                    format!("Stream {name} under account {ACCOUNT} already has {MAX_CONSUMERS} consumers, the maximum."),
                ));
            }
            let c = ConsumerMeta {
                arn: format!("{}/consumer/{consumer}:{}", m.arn, now / 1000),
                name: consumer.clone(),
                created_ms: now,
                tags,
                policy: None,
            };
            created = Some(c.clone());
            m.consumers.push(c);
            Ok(())
        })
        .await?;
        let c = created.ok_or_else(|| internal("consumer not registered"))?;
        // Like the real service, the answer says CREATING; Describe and List
        // report ACTIVE from then on.
        Ok(json!({ "Consumer": consumer_json(&c, "CREATING") }))
    }

    pub(super) fn describe_stream_consumer(&self, r: OnConsumer) -> ApiResult {
        let (name, c) = self.find_consumer(&r)?;
        let st = self.lock();
        let s = st.streams.get(&name).ok_or_else(|| not_found(&name))?;
        let mut description = consumer_json(&c, "ACTIVE");
        description["StreamARN"] = json!(s.meta.arn);
        Ok(json!({ "ConsumerDescription": description }))
    }

    pub(super) fn list_stream_consumers(&self, r: ListStreamConsumers) -> ApiResult {
        let name = StreamRef {
            stream_name: None,
            stream_arn: Some(r.stream_arn.clone()),
        }
        .name()?;
        // Up to 10,000 is valid; the service answers 100 at most (a stream
        // has 20 consumers at most, so this cannot show).
        let max = r.max_results.map_or(100, |n| n as usize).min(100);
        let start = match r.next_token.as_deref() {
            Some(t) => decode_token(t)
                .and_then(|p| p.first().and_then(|n| n.parse::<usize>().ok()))
                .filter(|n| *n <= MAX_CONSUMERS)
                .ok_or_else(bad_token)?,
            None => 0,
        };
        let st = self.lock();
        let s = st.streams.get(&name).ok_or_else(|| not_found(&name))?;
        let consumers: Vec<Value> = s
            .meta
            .consumers
            .iter()
            .skip(start)
            .take(max)
            .map(|c| consumer_json(c, "ACTIVE"))
            .collect();
        let mut out = json!({ "Consumers": consumers });
        let next = start.saturating_add(max);
        if next < s.meta.consumers.len() {
            out["NextToken"] = json!(encode_token(&[&next.to_string()]));
        }
        Ok(out)
    }

    pub(super) async fn deregister_stream_consumer(&self, r: OnConsumer) -> ApiResult {
        let (name, c) = self.find_consumer(&r)?;
        self.update_meta(&name, |m| {
            m.consumers.retain(|x| x.arn != c.arn);
            Ok(())
        })
        .await?;
        // Its subscriptions wake up with the change, find the consumer gone
        // and end with a ResourceNotFoundException event.
        self.lock_slots().retain(|(arn, _), _| arn != &c.arn);
        Ok(json!({}))
    }

    /// Whether the consumer is still registered on the stream.
    fn consumer_registered(&self, stream: &str, consumer_arn: &str) -> bool {
        self.lock()
            .streams
            .get(stream)
            .is_some_and(|s| s.meta.consumers.iter().any(|c| c.arn == consumer_arn))
    }

    fn lock_slots(&self) -> std::sync::MutexGuard<'_, Slots> {
        self.subscriptions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// SubscribeToShard: checks the request, then answers with an event
    /// stream fed by a subscription task.
    pub(super) async fn subscribe_to_shard(
        self: &Arc<Self>,
        r: SubscribeToShard,
    ) -> Result<Reply, ApiError> {
        let consumer_arn = r.consumer_arn.clone();
        let (stream, _) = self.find_consumer(&OnConsumer {
            stream_arn: None,
            consumer_name: None,
            consumer_arn: Some(consumer_arn.clone()),
            tags: None,
        })?;
        // Where to start, exactly as GetShardIterator would.
        let request = GetShardIterator {
            stream: StreamRef {
                stream_name: Some(stream),
                stream_arn: None,
            },
            shard_id: r.shard_id,
            shard_iterator_type: r.starting_position.kind,
            starting_sequence_number: r.starting_position.sequence_number,
            timestamp: r.starting_position.timestamp,
        };
        let answer = self.get_shard_iterator(request, "SubscribeToShard").await?;
        let it = answer
            .get("ShardIterator")
            .and_then(Value::as_str)
            .and_then(|it| self.iterators.decode(it))
            .ok_or_else(|| internal("could not start the subscription"))?;
        let cancel = self.closing.child_token();
        {
            let mut slots = self.lock_slots();
            // Forget ended subscriptions once the 5-second rule is past.
            let cooldown = self.config.subscribe_cooldown;
            slots.retain(|_, s| !s.cancel.is_cancelled() || s.started.elapsed() < cooldown);
            let key = (consumer_arn.clone(), it.shard);
            if let Some(old) = slots.get(&key) {
                if old.started.elapsed() < self.config.subscribe_cooldown {
                    return Err(err(Code::ResourceInUseException,
                        format!("Another active subscription exists for this consumer: {consumer_arn} on shard {}", shard_id(it.shard)),
                    ));
                }
                old.cancel.cancel();
            }
            slots.insert(
                key,
                Slot {
                    started: Instant::now(),
                    cancel: cancel.clone(),
                },
            );
        }
        let (tx, rx) = mpsc::channel(2);
        // The SDKs wait for this before handing out the stream.
        let _ = tx.try_send(event_frame("initial-response", b"{}".to_vec()));
        let engine = self.clone();
        // The slot stays after the task ends (the 5-second rule counts calls,
        // whether or not their subscription is still open), marked ended.
        tokio::spawn(async move {
            let _ended = cancel.clone().drop_guard();
            engine
                .run_subscription(it, &consumer_arn, tx, &cancel)
                .await
        });
        Ok(Reply::Events(rx))
    }

    /// Pushes the shard's records to `tx` until the subscription ends (see
    /// the module documentation).
    async fn run_subscription(
        &self,
        mut it: Iter,
        consumer_arn: &str,
        tx: mpsc::Sender<Bytes>,
        cancel: &CancellationToken,
    ) {
        let deadline = Instant::now() + self.config.subscription_ttl;
        let mut changed = self.changed.subscribe();
        // The first read is always sent: it tells the client where it is.
        let mut last_event: Option<Instant> = None;
        loop {
            changed.borrow_and_update();
            if cancel.is_cancelled() || Instant::now() >= deadline {
                return;
            }
            let read = match self.consumer_registered(&it.name, consumer_arn) {
                true => self.read(&it, EVENT_LIMITS).await,
                false => Err(consumer_not_found(consumer_arn)),
            };
            let out = match read {
                Ok(out) => out,
                Err(e) => {
                    tokio::select! {
                        _ = tx.send(exception_frame(&e)) => {}
                        () = cancel.cancelled() => {}
                        () = tokio::time::sleep_until(deadline) => {}
                    }
                    return;
                }
            };
            let found = !out.records.is_empty();
            let ended = out.child_shards.is_some();
            // A read can skip records past retention without returning any:
            // then more may be waiting too.
            let advanced = out.next_pos != it.pos;
            it.pos = out.next_pos;
            let due = last_event.is_none_or(|t| t.elapsed() >= HEARTBEAT);
            if found || ended || due {
                // A client that stops reading does not hold the task past
                // its lifetime or the shutdown.
                tokio::select! {
                    sent = tx.send(records_event(it.shard, out)) => if sent.is_err() {
                        return; // the client hung up
                    },
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep_until(deadline) => return,
                }
                last_event = Some(Instant::now());
            }
            if ended {
                return;
            }
            if found || advanced {
                continue; // more may be waiting
            }
            let quiet_until = last_event.map_or(deadline, |t| t + HEARTBEAT).min(deadline);
            tokio::select! {
                _ = changed.changed() => {}
                () = tokio::time::sleep_until(quiet_until) => {}
                () = cancel.cancelled() => return,
            }
        }
    }
}
