//! Enhanced fan-out for the [`Reader`](super::Reader): records pushed by
//! SubscribeToShard instead of polled with GetRecords.
//!
//! The stream consumer named in [`ReaderOptions::fan_out`](super::ReaderOptions)
//! is reused if it exists and registered otherwise (then the reader waits
//! until it is ACTIVE). Each shard task subscribes, turns every event into a
//! [`Batch`] and subscribes again from the last `ContinuationSequenceNumber`
//! when a subscription ends (after five minutes on AWS), so nothing is
//! skipped or read twice. An event without a continuation ends the shard
//! (closed by a split or merge), like a GetRecords answer without a next
//! iterator. The 5 GetRecords/s per shard rule does not apply: each consumer
//! gets its own pipe, which is why the latency is lower.

use std::time::Duration;

use aws_sdk_kinesis::types::{
    ConsumerStatus, ShardIteratorType, StartingPosition, SubscribeToShardEventStream,
};
use tokio::sync::mpsc;

use super::poll::{convert, refused_start};
use super::{fatal, Batch, Begin, Msg, ReadError};
use crate::client::{is_loopback, Connection, StreamError};
use crate::retry::{classify, classify_code, describe, Backoff, ErrorKind};

/// Registered consumers per stream allowed by Kinesis.
const MAX_CONSUMERS: usize = 20;

/// Kinesis allows one SubscribeToShard call per second per consumer and shard.
const SUBSCRIBE_INTERVAL: Duration = Duration::from_secs(1);

/// A live subscription sends an event at least every 5 seconds; after this
/// long without one the connection is presumed dead (a dropped NAT mapping,
/// a laptop that slept) and the shard is subscribed to again.
const SILENCE: Duration = Duration::from_secs(30);

/// The ARN of the stream consumer `name`, registering it if needed, once it
/// is ACTIVE.
pub(super) async fn ensure_consumer(
    conn: &Connection,
    stream: &str,
    name: &str,
) -> Result<String, ReadError> {
    let mut errors = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let stream_arn = conn.check_stream(stream).await?;
    // Waiting for CREATING (or DELETING) to pass: AWS takes seconds.
    let mut pending = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        let described = conn
            .client
            .describe_stream_consumer()
            .stream_arn(&stream_arn)
            .consumer_name(name)
            .send()
            .await;
        match described {
            Ok(out) => {
                let Some(consumer) = out.consumer_description else {
                    pending.wait().await;
                    continue;
                };
                if consumer.consumer_status == ConsumerStatus::Active {
                    return Ok(consumer.consumer_arn);
                }
                tracing::info!(consumer = name, status = %consumer.consumer_status, "waiting for the enhanced fan-out consumer to become ACTIVE");
                pending.wait().await;
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                register(conn, stream, &stream_arn, name).await?;
            }
            Err(err) if classify(&err).is_retryable() => {
                tracing::warn!(consumer = name, error = %describe(&err), "describing the consumer, retrying");
                errors.wait().await;
            }
            Err(err) => return Err(fatal(conn, stream, &err)),
        }
    }
}

/// Registers consumer `name`; Ok also when someone else just did.
async fn register(
    conn: &Connection,
    stream: &str,
    stream_arn: &str,
    name: &str,
) -> Result<(), ReadError> {
    let mut errors = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    loop {
        let result = conn
            .client
            .register_stream_consumer()
            .stream_arn(stream_arn)
            .consumer_name(name)
            .send()
            .await;
        let err = match result {
            Ok(_) => {
                let local = conn.endpoint.as_deref().is_some_and(is_loopback);
                if local {
                    tracing::info!(
                        consumer = name,
                        stream,
                        "registered the enhanced fan-out consumer"
                    );
                } else {
                    // A new billed resource: say so once, by default.
                    tracing::warn!(
                        consumer = name,
                        stream,
                        "registered the enhanced fan-out consumer; it is billed per shard-hour while registered (aws kinesis deregister-stream-consumer removes it); activating takes a few seconds"
                    );
                }
                return Ok(());
            }
            Err(err) => err,
        };
        let service = err.as_service_error();
        if service.is_some_and(|e| e.is_resource_in_use_exception()) {
            return Ok(()); // registered meanwhile (or being deleted): describe again
        }
        if service.is_some_and(|e| e.is_limit_exceeded_exception())
            && consumer_count(conn, stream_arn).await >= MAX_CONSUMERS
        {
            return Err(ReadError::Stream(StreamError::Other {
                stream: stream.to_owned(),
                detail: format!("it already has {MAX_CONSUMERS} enhanced fan-out consumers, the most Kinesis allows; deregister one or reuse its name with -efo"),
            }));
        }
        if classify(&err).is_retryable() {
            tracing::warn!(consumer = name, error = %describe(&err), "registering the consumer, retrying");
            errors.wait().await;
        } else {
            return Err(fatal(conn, stream, &err));
        }
    }
}

/// How many consumers the stream has (0 when that cannot be told).
async fn consumer_count(conn: &Connection, stream_arn: &str) -> usize {
    conn.client
        .list_stream_consumers()
        .stream_arn(stream_arn)
        .send()
        .await
        .map_or(0, |out| out.consumers().len())
}

fn starting_position(begin: &Begin, shard: &str) -> Result<StartingPosition, ReadError> {
    let position = match begin {
        Begin::Type(t) => StartingPosition::builder().r#type(t.clone()),
        Begin::Timestamp(t) => StartingPosition::builder()
            .r#type(ShardIteratorType::AtTimestamp)
            .timestamp(aws_smithy_types::DateTime::from_millis(
                t.timestamp_millis(),
            )),
        Begin::At(s) => StartingPosition::builder()
            .r#type(ShardIteratorType::AtSequenceNumber)
            .sequence_number(s),
        Begin::After(s) => StartingPosition::builder()
            .r#type(ShardIteratorType::AfterSequenceNumber)
            .sequence_number(s),
    };
    position.build().map_err(|e| ReadError::Shard {
        shard: shard.to_owned(),
        detail: format!("starting position: {e}"),
    })
}

pub(super) async fn shard_loop(
    conn: Connection,
    stream: String,
    consumer: String,
    shard: String,
    start: Begin,
    tx: mpsc::Sender<Msg>,
) {
    if let Err(err) = subscribe_shard(&conn, &stream, &consumer, &shard, start, &tx).await {
        let _ = tx.send(Msg::Error(err)).await;
    }
}

async fn subscribe_shard(
    conn: &Connection,
    stream: &str,
    consumer: &str,
    shard: &str,
    mut begin: Begin,
    tx: &mpsc::Sender<Msg>,
) -> Result<(), ReadError> {
    let mut errors = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    let mut last_call: Option<tokio::time::Instant> = None;
    // `latest` means "from now": until an event gives a continuation, a new
    // subscription starts at this time rather than at a later "latest".
    let since = chrono::Utc::now();
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) && matches!(begin, Begin::Type(ShardIteratorType::Latest)) {
            begin = Begin::Timestamp(since);
        }
        if let Some(t) = last_call {
            tokio::time::sleep_until(t + SUBSCRIBE_INTERVAL).await;
        }
        last_call = Some(tokio::time::Instant::now());
        let subscribed = conn
            .client
            .subscribe_to_shard()
            .consumer_arn(consumer)
            .shard_id(shard)
            .starting_position(starting_position(&begin, shard)?)
            .send()
            .await;
        let mut subscription = match subscribed {
            Ok(out) => out,
            Err(err) => {
                let service = err.as_service_error();
                if service.is_some_and(|e| e.is_resource_in_use_exception()) {
                    // Our previous subscription (before a restart, say) is
                    // younger than the 5 seconds Kinesis requires.
                    tracing::debug!(shard, "shard subscribed less than 5 s ago, waiting");
                    errors.wait().await;
                    continue;
                }
                if service.is_some_and(|e| e.is_resource_not_found_exception()) {
                    return Err(gone(conn, stream, consumer, shard, describe(&err)).await);
                }
                let invalid = service.is_some_and(|e| e.is_invalid_argument_exception());
                if let Some(instead) = invalid
                    .then(|| refused_start(&begin, shard, &describe(&err)))
                    .flatten()
                {
                    begin = instead;
                    continue;
                }
                if classify(&err).is_retryable() {
                    tracing::warn!(shard, error = %describe(&err), "subscribing to the shard, retrying");
                    errors.wait().await;
                    continue;
                }
                return Err(fatal(conn, stream, &err));
            }
        };
        loop {
            let Ok(received) =
                tokio::time::timeout(SILENCE, subscription.event_stream.recv()).await
            else {
                tracing::warn!(
                    shard,
                    "no event for {} s, subscribing again",
                    SILENCE.as_secs()
                );
                break;
            };
            match received {
                Ok(Some(SubscribeToShardEventStream::SubscribeToShardEvent(event))) => {
                    errors.reset();
                    let continuation = event.continuation_sequence_number;
                    let ended = continuation.is_empty();
                    if !ended {
                        begin = Begin::After(continuation);
                    }
                    let batch = Batch {
                        shard_id: shard.to_owned(),
                        records: event.records.into_iter().map(convert).collect(),
                        millis_behind_latest: event.millis_behind_latest,
                        shard_ended: ended,
                        caught_up: false,
                    };
                    if tx.send(Msg::Batch(batch)).await.is_err() || ended {
                        return Ok(());
                    }
                }
                Ok(Some(other)) => tracing::debug!(shard, event = ?other, "unknown event ignored"),
                // The subscription's time is up: subscribe again from the
                // continuation.
                Ok(None) => {
                    tracing::debug!(
                        shard,
                        "subscription ended (Kinesis ends each after 5 minutes); subscribing again from its continuation"
                    );
                    break;
                }
                Err(_) if tx.is_closed() => {
                    // The reader is gone: the program is ending, and its
                    // runtime drops the HTTP connection tasks in any order,
                    // so a subscription still being read may see its
                    // connection closed ("connection closed before message
                    // completed"). Nothing failed: stop quietly.
                    return Ok(());
                }
                Err(err) => {
                    let kind = err
                        .as_service_error()
                        .and_then(aws_sdk_kinesis::error::ProvideErrorMetadata::code)
                        .map_or(ErrorKind::Transient, classify_code);
                    let detail = describe(&err);
                    if kind == ErrorKind::NotFound {
                        return Err(gone(conn, stream, consumer, shard, detail).await);
                    }
                    if !kind.is_retryable() {
                        return Err(ReadError::Shard {
                            shard: shard.to_owned(),
                            detail,
                        });
                    }
                    tracing::warn!(shard, error = %detail, "subscription failed, subscribing again");
                    errors.wait().await;
                    break;
                }
            }
        }
    }
}

/// The error for a subscription refused or ended as not found: the stream is
/// gone, or else its consumer was deregistered.
async fn gone(
    conn: &Connection,
    stream: &str,
    consumer: &str,
    shard: &str,
    detail: String,
) -> ReadError {
    if let Err(err) = conn.check_stream(stream).await {
        return err.into();
    }
    ReadError::Shard {
        shard: shard.to_owned(),
        detail: format!("the enhanced fan-out consumer {consumer} is no longer registered ({detail}); run again to register it anew"),
    }
}
