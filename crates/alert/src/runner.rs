//! The local driver of the alert stage (`wildrydes alert`, and the alert
//! stage of `wildrydes up`): reads every shard of the raw stream with the
//! shared [`kinesis::Reader`], hands each batch to the Lambda-shaped
//! [`AlertHandler`] as a Kinesis event, retries from the first failed record
//! as Lambda does with `ReportBatchItemFailures`, and saves the detector's
//! state and the reader's positions together, atomically, in one state file
//! once a batch's alerts are sent.
//!
//! A kill -9 resumes from the last save: the records read since are read
//! again from the saved state, so their crossings are raised again (at
//! least once); a clean stop or a restart never repeats or forgets one.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kinesis::client::StreamError;
use kinesis::retry::Backoff;
use kinesis::writer::BatchWriter;
use kinesis::{ConnectError, ConnectOptions, Positions, ReadError, Reader, ReaderOptions};
use process::stream::{to_event, EventSource};
use serde::{Deserialize, Serialize};

use crate::detector::{DetectorState, DEFAULT_THRESHOLD};
use crate::handler::AlertHandler;
use crate::sink::{AlertSink, KinesisSink, SinkError};

pub use kinesis::StartPosition;

/// Everything `wildrydes alert` passes in.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Region and endpoint (`--region`, `--endpoint`).
    pub connect: ConnectOptions,
    /// `--source` (default `wildrydes`).
    pub source: String,
    /// `--destination` (default `wildrydes-alerts`).
    pub destination: String,
    /// `--threshold` (default 50): alert when MagicPoints fall below it.
    pub threshold: i64,
    /// `--state FILE`: which unicorns are below and the source positions;
    /// without it nothing survives a restart.
    pub state_file: Option<PathBuf>,
    /// Where a first run (no state file yet) starts reading.
    pub start: StartPosition,
    /// Reader tuning; `stream`, `start` and `positions` are overwritten.
    pub reader: Option<ReaderOptions>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            connect: ConnectOptions::default(),
            source: "wildrydes".into(),
            destination: crate::ALERT_STREAM.into(),
            threshold: DEFAULT_THRESHOLD,
            state_file: None,
            start: StartPosition::Latest,
            reader: None,
        }
    }
}

/// Figures of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub records: u64,
    pub alerts: u64,
    pub invalid: u64,
    /// Times part of a batch was handled again after a failure.
    pub retries: u64,
    pub saves: u64,
}

/// Why the alert stage stopped.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("cannot connect to kinesis: {0}")]
    Connect(#[from] ConnectError),
    #[error("reading the source stream failed: {0}")]
    Read(#[from] ReadError),
    #[error("alert destination: {0}")]
    Destination(StreamError),
    #[error("sending alerts failed: {0}")]
    Send(#[from] SinkError),
    #[error("cannot read state file {path}: {detail}; fix or delete it to start afresh")]
    LoadState { path: PathBuf, detail: String },
    #[error("cannot save state file {path}: {source}; check the directory is writable")]
    SaveState {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Checkpoint(#[from] kinesis::checkpoint::CheckpointError),
}

/// The state file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedState {
    pub version: u32,
    pub source: String,
    pub detector: DetectorState,
    pub positions: Positions,
}

/// Reads a state file; `Ok(None)` when it does not exist.
pub fn load_state(path: &Path) -> Result<Option<SavedState>, AlertError> {
    kinesis::state_file::load(path).map_err(|err| AlertError::LoadState {
        path: path.to_owned(),
        detail: err.to_string(),
    })
}

/// Writes a state file atomically (see [`kinesis::state_file::save`]).
pub fn save_state(path: &Path, state: &SavedState) -> Result<(), AlertError> {
    kinesis::state_file::save(path, state).map_err(|source| AlertError::SaveState {
        path: path.to_owned(),
        source,
    })
}

/// Runs until `shutdown` completes or an error no retry can fix occurs.
pub async fn run(
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunStats, AlertError> {
    let saved = match &options.state_file {
        Some(path) => load_state(path)?,
        None => None,
    };
    let (mut detector, mut positions) = match saved {
        Some(saved) => (saved.detector, saved.positions),
        None => (DetectorState::new(options.threshold), Positions::default()),
    };
    if detector.threshold != options.threshold {
        tracing::info!(
            saved = detector.threshold,
            threshold = options.threshold,
            "threshold changed since the state was saved; unicorns re-arm or alert on their next record"
        );
        detector.threshold = options.threshold;
    }
    let conn = kinesis::connect(&options.connect).await?;
    let source = conn
        .describe_stream(&options.source)
        .await
        .map_err(ReadError::from)?;
    if let Some(path) = &options.state_file {
        kinesis::checkpoint::bind(path, &mut positions, &source)?;
    }
    conn.check_stream(&options.destination)
        .await
        .map_err(AlertError::Destination)?;
    let sink: Arc<dyn AlertSink> = Arc::new(KinesisSink::new(BatchWriter::new(
        conn.clone(),
        &options.destination,
    )));
    let handler = AlertHandler::with_state(detector, sink);
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
            let outcome = handler.process(event).await;
            stats.alerts += outcome.alerts_sent as u64;
            stats.invalid += outcome.invalid as u64;
            let Some(first) = outcome.first_failure else {
                break;
            };
            if let Some(err) = outcome.error.filter(|e| !e.retryable) {
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
                () = &mut shutdown => return Ok(stats),
                () = backoff.wait() => {}
            }
        }
        if let Some(path) = &options.state_file {
            if !batch.records.is_empty() || batch.shard_ended {
                let state = SavedState {
                    version: 1,
                    source: options.source.clone(),
                    detector: handler.state().await,
                    positions: reader.positions(),
                };
                save_state(path, &state)?;
                stats.saves += 1;
            }
        }
    }
    Ok(stats)
}
