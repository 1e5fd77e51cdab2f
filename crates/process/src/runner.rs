//! The local driver of the process stage (`wildrydes process`, and the
//! processor inside `wildrydes up`): reads every shard of the summary stream
//! with the shared [`kinesis::Reader`], hands each batch to the
//! Lambda-shaped [`Processor`] as a [`KinesisEvent`](aws_lambda_events::kinesis::KinesisEvent),
//! retries from the first failed record as Lambda does with
//! `ReportBatchItemFailures`, and saves the reader's positions (atomically,
//! see [`kinesis::checkpoint`]) only once a batch's items are written.
//!
//! A kill -9 resumes from the last save: the batch in hand is read and
//! written again, which is harmless (items are put by key).

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use kinesis::checkpoint::CheckpointError;
use kinesis::client::StreamError;
use kinesis::retry::Backoff;
use kinesis::writer::BatchWriter;
use kinesis::{ConnectError, ConnectOptions, Positions, ReadError, Reader, ReaderOptions};

use crate::aws::AwsOptions;
use crate::stream::{to_event, EventSource, Processor};
use crate::writer::{ItemWriter, WriteError};

pub use kinesis::StartPosition;

/// Everything `wildrydes process` passes in.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Region and endpoint, for Kinesis and DynamoDB alike.
    pub connect: ConnectOptions,
    /// `--source` (default `wildrydes-summary`).
    pub source: String,
    /// `--table` (default `UnicornSensorData`).
    pub table: String,
    /// `--state FILE`: the source positions; without it nothing survives a
    /// restart.
    pub state_file: Option<PathBuf>,
    /// Where a first run (no state file yet) starts reading.
    pub start: StartPosition,
    /// `--dead-letter STREAM` for records that are not summaries.
    pub dead_letter: Option<String>,
    /// BatchWriteItem calls in flight.
    pub in_flight: usize,
    /// Reader tuning; `stream`, `start` and `positions` are overwritten.
    pub reader: Option<ReaderOptions>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            connect: ConnectOptions::default(),
            source: "wildrydes-summary".into(),
            table: crate::item::TABLE.into(),
            state_file: None,
            start: StartPosition::Latest,
            dead_letter: None,
            in_flight: 8,
            reader: None,
        }
    }
}

/// Figures of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub records: u64,
    pub items_written: u64,
    pub invalid: u64,
    pub dead_lettered: u64,
    /// Times part of a batch was handled again after a failure.
    pub retries: u64,
    pub saves: u64,
}

/// Why the processor stopped.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot connect: {0}")]
    Connect(#[from] ConnectError),
    #[error("reading the source stream failed: {0}")]
    Read(#[from] ReadError),
    #[error("dead-letter stream: {0}")]
    DeadLetter(StreamError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Runs until `shutdown` completes or an error no retry can fix occurs.
pub async fn run(
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunStats, ProcessError> {
    let mut positions = match &options.state_file {
        Some(path) => kinesis::checkpoint::load(path)?.unwrap_or_default(),
        None => Positions::default(),
    };
    let conn = kinesis::connect(&options.connect).await?;
    let source = conn
        .describe_stream(&options.source)
        .await
        .map_err(ReadError::from)?;
    if let Some(path) = &options.state_file {
        if kinesis::checkpoint::bind(path, &mut positions, &source)? {
            kinesis::checkpoint::save(path, &positions)?;
        }
    }
    let clients = crate::aws::connect(&AwsOptions {
        region: options.connect.region.clone(),
        endpoint: options.connect.endpoint.clone(),
    })
    .await?;
    crate::table::check_table(&clients, &options.table).await?;
    let writer = ItemWriter::new(clients.dynamodb.clone(), &options.table)
        .with_location(clients.dynamodb_location())
        .with_max_in_flight(options.in_flight);
    let mut processor = Processor::new(writer);
    if let Some(stream) = &options.dead_letter {
        conn.check_stream(stream)
            .await
            .map_err(ProcessError::DeadLetter)?;
        processor = processor.with_dead_letter(BatchWriter::new(conn.clone(), stream));
    }
    let event_source = EventSource {
        arn: source.arn.clone(),
        region: conn.region.clone(),
    };
    let mut reader_options = options
        .reader
        .clone()
        .unwrap_or_else(|| ReaderOptions::new(&options.source, options.start.clone()));
    reader_options.stream = options.source.clone();
    reader_options.start = options.start.clone();
    reader_options.positions = positions;
    let mut reader = Reader::start(conn, reader_options);
    let mut stats = RunStats::default();
    let shutdown = shutdown;
    tokio::pin!(shutdown);
    loop {
        let batch = tokio::select! {
            biased;
            () = &mut shutdown => break,
            batch = reader.next() => batch?,
        };
        stats.records += batch.records.len() as u64;
        let mut done = 0;
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
        while done < batch.records.len() {
            let event = to_event(&event_source, &batch.shard_id, &batch.records[done..]);
            let outcome = processor.process(event).await;
            let Some(first) = outcome.first_failure else {
                break;
            };
            if let Some(err) = outcome.error.filter(|e| !e.is_retryable()) {
                return Err(err.into());
            }
            done += first;
            stats.retries += 1;
            tracing::warn!(
                shard = %batch.shard_id,
                from = %batch.records[done].sequence_number,
                "retrying the batch from its first failed record"
            );
            tokio::select! {
                biased;
                // Not saved: the batch is read again on the next start.
                () = &mut shutdown => return Ok(finish(stats, &processor)),
                () = backoff.wait() => {}
            }
        }
        if let Some(path) = &options.state_file {
            if !batch.records.is_empty() || batch.shard_ended {
                kinesis::checkpoint::save(path, &reader.positions())?;
                stats.saves += 1;
            }
        }
    }
    Ok(finish(stats, &processor))
}

fn finish(mut stats: RunStats, processor: &Processor) -> RunStats {
    let c = processor.counters();
    stats.items_written = c.items_written.load(Ordering::Relaxed);
    stats.invalid = c.invalid.load(Ordering::Relaxed);
    stats.dead_lettered = c.dead_lettered.load(Ordering::Relaxed);
    stats
}
