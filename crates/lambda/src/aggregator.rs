//! The aggregate function: Lambda's Kinesis tumbling windows over
//! [`aggregate::window::handle`], the code `wildrydes aggregate` runs.
//!
//! The event source mapping on `wildrydes` has `TumblingWindowInSeconds: 60`:
//! Lambda cuts the shard's records into windows by arrival time and calls
//! the function once or more per window, each time with the `state` the
//! previous call returned, then once more with `isFinalInvokeForWindow`.
//! The function keeps the open window ([`aggregate::AggregatorState`], as
//! JSON) under the state key [`STATE_KEY`] and, on the final invocation,
//! writes the window's summaries to the summary stream (PutRecords,
//! partition key Name, one JSON line each: exactly what the local stage
//! writes).
//!
//! Every response carries `state`, as the contract requires. A record that
//! is not a valid status is counted and skipped (not a failure), as locally.
//! When the summaries cannot be written, the function reports every record
//! of the batch in `batchItemFailures` and returns the state it was given,
//! so that Lambda retries those records without counting them twice; a
//! final invocation without records (the usual case) returns an error
//! instead, and Lambda retries it until it succeeds.

use std::time::Duration;

use aggregate::window::{handle, InputRecord, Invocation};
use aggregate::{AggregatorConfig, AggregatorState, TimeMode};
use aws_lambda_events::kinesis::KinesisEventRecord;
use aws_lambda_events::streams::KinesisBatchItemFailure;
use chrono::{DateTime, Utc};
use kinesis::writer::{BatchWriter, Record as PutRecord, WriteError};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::env::{self, ConfigError};

/// The key of the function's entry in the window state.
pub const STATE_KEY: &str = "wildrydes";

/// The window Lambda assigned the batch to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A Kinesis batch with the tumbling-window fields, as Lambda sends it.
///
/// `state` is read as any JSON (AWS's documented example holds numbers;
/// this function only ever returns strings).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TumblingWindowEvent {
    #[serde(rename = "Records", default, deserialize_with = "nullish")]
    pub records: Vec<KinesisEventRecord>,
    #[serde(default)]
    pub window: Option<Window>,
    #[serde(default, deserialize_with = "nullish")]
    pub state: Map<String, Value>,
    #[serde(default)]
    pub shard_id: Option<String>,
    #[serde(default, rename = "eventSourceARN")]
    pub event_source_arn: Option<String>,
    #[serde(default)]
    pub is_final_invoke_for_window: bool,
    #[serde(default)]
    pub is_window_terminated_early: bool,
}

/// The response: the state to hand to the next invocation and the records
/// to retry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TumblingWindowResponse {
    pub state: Map<String, Value>,
    pub batch_item_failures: Vec<KinesisBatchItemFailure>,
}

/// Why an invocation failed as a whole (Lambda retries it).
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    #[error("the event has no tumbling window (window.start and window.end); set TumblingWindowInSeconds on the event source mapping")]
    NoWindow,
    #[error("the event's window ends at {end} before it starts at {start}")]
    BadWindow {
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error("the window state under {STATE_KEY:?} is not this function's: {detail}; was the state written by another version of the function?")]
    BadState { detail: String },
    #[error("writing {count} summaries to stream {stream:?}: {error}; Lambda retries the window's final invocation")]
    Write {
        stream: String,
        count: usize,
        #[source]
        error: WriteError,
    },
    #[error("writing {count} summaries to stream {stream:?} did not finish before the function's deadline; Lambda retries the window's final invocation")]
    TimedOut { stream: String, count: usize },
}

/// The handler, with its summary writer.
#[derive(Debug, Clone)]
pub struct Aggregate {
    writer: BatchWriter,
}

impl Aggregate {
    pub fn new(writer: BatchWriter) -> Self {
        Self { writer }
    }

    /// Writes to the stream named by `SUMMARY_STREAM`, with the client the
    /// local tools build (region and credentials from the function's
    /// environment, `AWS_ENDPOINT_URL` honoured).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let stream = env::required(env::SUMMARY_STREAM)?;
        let conn = kinesis::connect(&kinesis::ConnectOptions::default())
            .await
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        Ok(Self::new(BatchWriter::new(conn, stream)))
    }

    pub fn writer(&self) -> &BatchWriter {
        &self.writer
    }

    /// One invocation. `budget` is the time left for writing (the
    /// function's deadline less a margin); without one, writing is bounded
    /// by the writer's own retries only.
    pub async fn handle(
        &self,
        event: TumblingWindowEvent,
        budget: Option<Duration>,
    ) -> Result<TumblingWindowResponse, AggregateError> {
        let window = event.window.ok_or(AggregateError::NoWindow)?;
        let (start, end) = (
            window.start.timestamp_millis(),
            window.end.timestamp_millis(),
        );
        if end <= start {
            return Err(AggregateError::BadWindow {
                start: window.start,
                end: window.end,
            });
        }
        let state = read_state(&event.state)?;
        let config = AggregatorConfig {
            window: Duration::from_millis((end - start).unsigned_abs()),
            time: TimeMode::Processing,
        };
        // Lambda decides the window; a record's arrival is kept inside it so
        // that the window's summaries carry its start as StatusTime.
        let records = event
            .records
            .iter()
            .map(|r| InputRecord {
                data: r.kinesis.data.0.clone(),
                arrival_millis: Some(
                    r.kinesis
                        .approximate_arrival_timestamp
                        .timestamp_millis()
                        .clamp(start, end - 1),
                ),
            })
            .collect();
        let is_final = event.is_final_invoke_for_window;
        let out = handle(
            config,
            Invocation {
                state,
                records,
                watermark_millis: None,
                is_final,
            },
        );
        let shard = event.shard_id.as_deref().unwrap_or("unknown");
        if event.is_window_terminated_early {
            tracing::warn!(shard, %window.start, "Lambda ended the window early (its state passed 1 MB): its summaries cover part of the window");
        }
        let response = TumblingWindowResponse {
            state: state_map(&out.state)?,
            batch_item_failures: Vec::new(),
        };
        if out.summaries.is_empty() {
            return Ok(response);
        }
        let count = out.summaries.len();
        let puts = out
            .summaries
            .iter()
            .map(|s| PutRecord::new(s.name.clone(), s.to_json_line()))
            .collect();
        let stream = self.writer.stream().to_owned();
        let written = match budget {
            Some(budget) => tokio::time::timeout(budget, self.writer.put_records(puts))
                .await
                .map_err(|_| AggregateError::TimedOut {
                    stream: stream.clone(),
                    count,
                })
                .and_then(|r| {
                    r.map_err(|error| AggregateError::Write {
                        stream: stream.clone(),
                        count,
                        error,
                    })
                }),
            None => self
                .writer
                .put_records(puts)
                .await
                .map_err(|error| AggregateError::Write {
                    stream: stream.clone(),
                    count,
                    error,
                }),
        };
        match written {
            Ok(_) => {
                let c = out.state.counters;
                tracing::info!(
                    shard,
                    %window.start,
                    summaries = count,
                    accepted = c.accepted,
                    invalid = c.invalid,
                    "window closed"
                );
                Ok(response)
            }
            Err(err) if event.records.is_empty() => Err(err),
            Err(err) => {
                tracing::warn!(shard, error = %err, "summaries not written; every record of the batch is reported as failed");
                let mut failures = Vec::with_capacity(event.records.len());
                for record in &event.records {
                    let mut failure = KinesisBatchItemFailure::default();
                    failure.item_identifier = Some(record.kinesis.sequence_number.clone());
                    failures.push(failure);
                }
                Ok(TumblingWindowResponse {
                    state: event.state,
                    batch_item_failures: failures,
                })
            }
        }
    }
}

/// The function's entry of the state, if there is one.
pub fn read_state(state: &Map<String, Value>) -> Result<Option<AggregatorState>, AggregateError> {
    match state.get(STATE_KEY) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(json)) => {
            serde_json::from_str(json)
                .map(Some)
                .map_err(|e| AggregateError::BadState {
                    detail: e.to_string(),
                })
        }
        Some(other) => Err(AggregateError::BadState {
            detail: format!("expected a JSON string, found {other}"),
        }),
    }
}

/// The state map a response carries: the aggregator's state as one JSON
/// string (Lambda keeps state values as strings).
pub fn state_map(state: &AggregatorState) -> Result<Map<String, Value>, AggregateError> {
    let json = serde_json::to_string(state).map_err(|e| AggregateError::BadState {
        detail: e.to_string(),
    })?;
    let mut map = Map::new();
    map.insert(STATE_KEY.to_owned(), Value::String(json));
    Ok(map)
}

/// `null` reads as the default (Lambda sends `"state": null` at times).
fn nullish<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
