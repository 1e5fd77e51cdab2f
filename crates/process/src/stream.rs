//! The process stage, shaped like the Lambda function it becomes on AWS: a
//! Kinesis event batch of summaries in, a partial batch response out
//! (`batchItemFailures` lists the sequence numbers of records whose item
//! could not be written, so Lambda — or [`crate::runner`] locally — retries
//! from the first of them).
//!
//! A record that is not a valid summary is not a failure: it is counted,
//! logged once with its shard and sequence number, sent to the dead-letter
//! stream when there is one, and skipped. Only a dead-letter put that fails
//! makes it a batch item failure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_lambda_events::kinesis::{KinesisEvent, KinesisEventRecord, KinesisRecord};
use aws_lambda_events::streams::KinesisEventResponse;
use kinesis::writer::{BatchWriter, Record as PutRecord};

use crate::item::{key_of, summary_record_item, Key};
use crate::writer::{ItemWriter, WriteError};

/// Totals over every event handled.
#[derive(Debug, Default)]
pub struct Counters {
    pub records: AtomicU64,
    pub items_written: AtomicU64,
    pub invalid: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub failed: AtomicU64,
}

/// The result of one event, with what a Lambda response cannot carry.
#[derive(Debug, Default)]
pub struct Outcome {
    pub response: KinesisEventResponse,
    /// Index in the event of the first failed record (records before it
    /// are done).
    pub first_failure: Option<usize>,
    /// Why items were not written, if they were not.
    pub error: Option<WriteError>,
    /// Why invalid records could not be dead-lettered, if they could not.
    pub dead_letter_error: Option<String>,
    pub items_written: usize,
    pub invalid: usize,
}

/// The handler: summaries into items of the table.
#[derive(Debug, Clone)]
pub struct Processor {
    writer: ItemWriter,
    dead_letter: Option<BatchWriter>,
    counters: Arc<Counters>,
}

impl Processor {
    pub fn new(writer: ItemWriter) -> Self {
        Self {
            writer,
            dead_letter: None,
            counters: Arc::default(),
        }
    }

    /// Invalid records are also put on this stream (data and partition key
    /// unchanged).
    pub fn with_dead_letter(mut self, writer: BatchWriter) -> Self {
        self.dead_letter = Some(writer);
        self
    }

    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    pub fn writer(&self) -> &ItemWriter {
        &self.writer
    }

    /// The Lambda entry point.
    pub async fn handle(&self, event: KinesisEvent) -> KinesisEventResponse {
        self.process(event).await.response
    }

    /// [`Processor::handle`] with the details a local driver needs.
    pub async fn process(&self, event: KinesisEvent) -> Outcome {
        let records = &event.records;
        let mut items = Vec::with_capacity(records.len());
        // Which records each key came from (a replay can repeat a summary).
        let mut sources: HashMap<Key, Vec<usize>> = HashMap::with_capacity(records.len());
        let mut invalid = Vec::new();
        for (i, record) in records.iter().enumerate() {
            match summary_record_item(&record.kinesis.data.0) {
                Ok(item) => {
                    if let Some(key) = key_of(&item) {
                        sources.entry(key).or_default().push(i);
                    }
                    items.push(item);
                }
                Err(err) => {
                    tracing::warn!(
                        shard = %shard_of(record),
                        sequence_number = %record.kinesis.sequence_number,
                        error = %err,
                        "skipping a record that is not a valid summary"
                    );
                    invalid.push(i);
                }
            }
        }
        let c = &self.counters;
        c.records.fetch_add(records.len() as u64, Ordering::Relaxed);
        c.invalid.fetch_add(invalid.len() as u64, Ordering::Relaxed);
        let mut failed: Vec<usize> = Vec::new();
        let mut outcome = Outcome {
            invalid: invalid.len(),
            ..Outcome::default()
        };
        match self.writer.write_all(items).await {
            Ok(n) => outcome.items_written = n,
            Err(err) => {
                for key in err.unwritten() {
                    failed.extend(sources.get(key).into_iter().flatten().copied());
                }
                tracing::warn!(error = %err, "items not written; their records are reported as failed");
                outcome.error = Some(err);
            }
        }
        if let (Some(dlq), false) = (&self.dead_letter, invalid.is_empty()) {
            let puts = invalid
                .iter()
                .map(|&i| {
                    let k = &records[i].kinesis;
                    PutRecord::new(k.partition_key.clone(), k.data.0.clone())
                })
                .collect();
            match dlq.put_records(puts).await {
                Ok(_) => {
                    c.dead_lettered
                        .fetch_add(invalid.len() as u64, Ordering::Relaxed);
                }
                Err(err) => {
                    tracing::warn!(stream = dlq.stream(), error = %err, "invalid records not dead-lettered; reported as failed");
                    outcome.dead_letter_error = Some(err.to_string());
                    failed.extend(&invalid);
                }
            }
        }
        failed.sort_unstable();
        failed.dedup();
        c.items_written
            .fetch_add(outcome.items_written as u64, Ordering::Relaxed);
        c.failed.fetch_add(failed.len() as u64, Ordering::Relaxed);
        if outcome.error.is_some() && failed.is_empty() && !records.is_empty() {
            // Keys are always known for valid items; fail safe all the same.
            failed = (0..records.len())
                .filter(|i| !invalid.contains(i))
                .collect();
        }
        outcome.first_failure = failed.first().copied();
        outcome.response.set_failures(
            failed
                .iter()
                .map(|&i| records[i].kinesis.sequence_number.clone()),
        );
        outcome
    }
}

/// The shard id of a record, from its `eventID` (`shardId-...:SEQUENCE`).
pub fn shard_of(record: &KinesisEventRecord) -> &str {
    record
        .event_id
        .as_deref()
        .and_then(|id| id.split_once(':'))
        .map_or("unknown", |(shard, _)| shard)
}

/// Where the records of an event come from.
#[derive(Debug, Clone)]
pub struct EventSource {
    /// The stream's ARN.
    pub arn: String,
    pub region: String,
}

/// The event Lambda would deliver for these records of `shard`.
pub fn to_event(source: &EventSource, shard: &str, records: &[kinesis::Record]) -> KinesisEvent {
    let mut event = KinesisEvent::default();
    event.records = records
        .iter()
        .map(|r| {
            let mut k = KinesisRecord::default();
            k.approximate_arrival_timestamp.0 = r.arrival.unwrap_or_default();
            k.data.0 = r.data.to_vec();
            k.partition_key = r.partition_key.clone();
            k.sequence_number = r.sequence_number.clone();
            k.kinesis_schema_version = Some("1.0".into());
            let mut e = KinesisEventRecord::default();
            e.aws_region = Some(source.region.clone());
            e.event_id = Some(format!("{shard}:{}", r.sequence_number));
            e.event_name = Some("aws:kinesis:record".into());
            e.event_source = Some("aws:kinesis".into());
            e.event_source_arn = Some(source.arn.clone());
            e.event_version = Some("1.0".into());
            e.kinesis = k;
            e
        })
        .collect();
    event
}
