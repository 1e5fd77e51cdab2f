//! Enhanced fan-out: SubscribeToShard (the consumers it needs are in
//! [`super::consumers`]), which pushes records over an event stream
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
use super::consumers::{consumer_not_found, ConsumerStatus, Found};
use super::iterator::Iter;
use super::names::{seq, shard_id};
use super::request::{GetShardIterator, OnConsumer, StreamRef, SubscribeToShard};
use super::{Engine, Reply, ACCOUNT};
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

/// The last subscription of one consumer to one shard.
pub(crate) struct Slot {
    started: Instant,
    cancel: CancellationToken,
}

/// Subscriptions by (consumer ARN, shard index).
pub(crate) type Slots = HashMap<(String, usize), Slot>;

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

    /// Forgets the subscriptions of a deregistered consumer.
    pub(crate) fn forget_subscriptions(&self, consumer_arn: &str) {
        self.lock_slots().retain(|(arn, _), _| arn != consumer_arn);
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
        let on = OnConsumer {
            stream_arn: None,
            consumer_name: None,
            consumer_arn: Some(consumer_arn.clone()),
            tags: None,
        };
        let Found {
            stream,
            consumer,
            status,
        } = self.find_consumer(&on, true)?;
        if status != ConsumerStatus::Active {
            // The service's words, recorded: the consumer's name, not its ARN.
            return Err(err(Code::ResourceInUseException,
                format!("Consumer {} with creation timestamp {} under stream: {stream} , account {ACCOUNT} is not in ACTIVE status.", consumer.name, consumer.created_ms / 1000),
            ));
        }
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
