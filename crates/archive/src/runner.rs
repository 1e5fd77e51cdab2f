//! `wildrydes archive`: reads every shard of a stream with the shared
//! [`kinesis::Reader`], buffers records in a [`Batcher`], writes each closed
//! buffer as one object (several uploads in flight, completed in order) and
//! saves the reader's positions (`--state`, atomically) only once every
//! object holding the records up to them is durable.
//!
//! After a kill -9 the restart reads again from the last save: records of
//! an upload that completed after the save are written a second time, in a
//! new object. Nothing is lost; a record may be in two objects.

use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::stream::{FuturesOrdered, StreamExt};
use kinesis::checkpoint::CheckpointError;
use kinesis::retry::Backoff;
use kinesis::{
    Batch, ConnectError, ConnectOptions, Positions, ReadError, Reader, ReaderOptions, StartPosition,
};

use crate::batcher::{Batcher, Chunk, Entry, Hints};
use crate::dest::{Location, LocationError, S3Options, Store};
use crate::encode::{encode, Compression, EncodeError, Format};
use crate::key::{self, Kind};

/// Everything `wildrydes archive` passes in.
#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// Region and endpoint of the source stream.
    pub connect: ConnectOptions,
    /// `--source` (default `wildrydes`).
    pub source: String,
    /// `--destination`.
    pub destination: Location,
    /// Region and endpoint of S3.
    pub s3: S3Options,
    pub settings: Settings,
    /// `--state FILE`; without it nothing survives a restart.
    pub state_file: Option<PathBuf>,
    /// Where a first run (no state file yet) starts reading.
    pub start: StartPosition,
    /// Reader tuning; `stream`, `start` and `positions` are overwritten.
    pub reader: Option<ReaderOptions>,
}

/// How objects are cut and written.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The delivery stream's name, first part of every object name.
    pub name: String,
    pub hints: Hints,
    pub format: Format,
    pub compression: Compression,
    /// Uploads in flight at once.
    pub in_flight: usize,
    /// The wall clock, for records without an arrival time.
    pub now: fn() -> DateTime<Utc>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            name: "wildrydes".into(),
            hints: Hints::default(),
            format: Format::Json,
            compression: Compression::None,
            in_flight: 4,
            now: Utc::now,
        }
    }
}

/// Figures of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArchiveStats {
    pub records: u64,
    pub objects: u64,
    pub bytes: u64,
    /// Records that did not fit the Parquet schema (in side objects).
    pub failed_records: u64,
    pub saves: u64,
    /// Uploads that failed once and were tried again.
    pub retries: u64,
}

/// Why the archiver stopped.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot connect to kinesis: {0}")]
    Connect(#[from] ConnectError),
    #[error("reading the source stream failed: {0}")]
    Read(#[from] ReadError),
    #[error(transparent)]
    Location(#[from] LocationError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("an upload task failed: {0}")]
    Task(String),
    #[error("writing {key} to {location} failed: {source}")]
    Write {
        key: String,
        location: String,
        source: object_store::Error,
    },
}

/// Something that hands out batches like [`Reader::next`] (cancel-safe).
pub trait BatchSource {
    fn next_batch(&mut self) -> impl Future<Output = Result<Batch, ReadError>> + Send;
}

impl BatchSource for Reader {
    fn next_batch(&mut self) -> impl Future<Output = Result<Batch, ReadError>> + Send {
        self.next()
    }
}

impl BatchSource for tokio::sync::mpsc::Receiver<Batch> {
    async fn next_batch(&mut self) -> Result<Batch, ReadError> {
        self.recv().await.ok_or(ReadError::Stopped)
    }
}

/// Runs until `shutdown` completes (then writes what is buffered) or an
/// error no retry can fix occurs.
pub async fn run(
    options: ArchiveOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<ArchiveStats, ArchiveError> {
    let mut positions = match &options.state_file {
        Some(path) => kinesis::checkpoint::load(path)?.unwrap_or_default(),
        None => Positions::default(),
    };
    let store = Store::open(&options.destination, &options.s3).await?;
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
    let mut reader_options = options
        .reader
        .clone()
        .unwrap_or_else(|| ReaderOptions::new(&options.source, options.start.clone()));
    reader_options.stream = options.source.clone();
    reader_options.start = options.start.clone();
    reader_options.positions = positions;
    let mut reader = Reader::start(conn, reader_options);
    let durable = reader.positions();
    archive(
        &mut reader,
        &store,
        &options.settings,
        durable,
        options.state_file.as_deref(),
        shutdown,
    )
    .await
}

/// The archiving loop over any batch source, from the positions `durable`
/// (saved to `state_file` after each object, in order).
pub async fn archive(
    source: &mut impl BatchSource,
    store: &Store,
    settings: &Settings,
    mut durable: Positions,
    state_file: Option<&std::path::Path>,
    shutdown: impl Future<Output = ()>,
) -> Result<ArchiveStats, ArchiveError> {
    let mut batcher = Batcher::new(settings.hints);
    let mut stats = ArchiveStats::default();
    let stopping = Arc::new(AtomicBool::new(false));
    let mut uploads: FuturesOrdered<Upload> = FuturesOrdered::new();
    let in_flight = settings.in_flight.max(1);
    tokio::pin!(shutdown);
    let mut closed: Vec<Chunk> = Vec::new();
    loop {
        let deadline = batcher.deadline();
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            done = uploads.next(), if !uploads.is_empty() => {
                let done = joined(done.expect("not empty"))?;
                finish(done, &mut durable, state_file, &mut stats)?;
            }
            () = sleep_until(deadline), if uploads.len() < in_flight => {
                closed.extend(batcher.due(tokio::time::Instant::now()));
            }
            batch = source.next_batch(), if uploads.len() < in_flight && closed.is_empty() => {
                let batch = batch?;
                let now = tokio::time::Instant::now();
                for record in batch.records {
                    stats.records += 1;
                    let entry = Entry {
                        arrival: record.arrival.unwrap_or_else(settings.now),
                        data: record.data,
                        shard_id: batch.shard_id.clone(),
                        sequence_number: record.sequence_number,
                    };
                    closed.extend(batcher.push(entry, now));
                }
                if batch.shard_ended {
                    closed.extend(batcher.end_shard(&batch.shard_id));
                }
            }
        }
        while uploads.len() < in_flight && !closed.is_empty() {
            let chunk = closed.remove(0);
            uploads.push_back(spawn_upload(store, settings, chunk, &stopping));
        }
    }
    stopping.store(true, Ordering::SeqCst);
    closed.extend(batcher.take());
    for chunk in closed {
        uploads.push_back(spawn_upload(store, settings, chunk, &stopping));
    }
    while let Some(done) = uploads.next().await {
        finish(joined(done)?, &mut durable, state_file, &mut stats)?;
    }
    Ok(stats)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

type Upload = tokio::task::JoinHandle<Result<Uploaded, ArchiveError>>;

/// Encodes and writes a chunk on a task of its own (uploads overlap with
/// reading and with each other; their positions are saved in order).
fn spawn_upload(
    store: &Store,
    settings: &Settings,
    chunk: Chunk,
    stopping: &Arc<AtomicBool>,
) -> Upload {
    tokio::spawn(upload(
        store.clone(),
        settings.clone(),
        chunk,
        stopping.clone(),
    ))
}

fn joined(
    done: Result<Result<Uploaded, ArchiveError>, tokio::task::JoinError>,
) -> Result<Uploaded, ArchiveError> {
    done.map_err(|e| ArchiveError::Task(e.to_string()))?
}

/// What one upload did.
struct Uploaded {
    chunk: Chunk,
    objects: u64,
    bytes: u64,
    failed_records: u64,
    retries: u64,
}

fn finish(
    done: Uploaded,
    durable: &mut Positions,
    state_file: Option<&std::path::Path>,
    stats: &mut ArchiveStats,
) -> Result<(), ArchiveError> {
    stats.objects += done.objects;
    stats.bytes += done.bytes;
    stats.failed_records += done.failed_records;
    stats.retries += done.retries;
    for (shard, sequence) in &done.chunk.last {
        durable.advance(shard, sequence);
    }
    for shard in &done.chunk.ended {
        durable.finish(shard);
    }
    if let Some(path) = state_file {
        kinesis::checkpoint::save(path, durable)?;
        stats.saves += 1;
    }
    Ok(())
}

/// Encodes and writes one chunk (its side object first), retrying failed
/// writes with backoff until they succeed, or once more when stopping.
async fn upload(
    store: Store,
    settings: Settings,
    chunk: Chunk,
    stopping: Arc<AtomicBool>,
) -> Result<Uploaded, ArchiveError> {
    let mut done = Uploaded {
        objects: 0,
        bytes: 0,
        failed_records: 0,
        retries: 0,
        chunk: Chunk::default(),
    };
    if chunk.entries.is_empty() {
        done.chunk = chunk;
        return Ok(done);
    }
    let time = chunk.oldest().unwrap_or_else(settings.now);
    let Chunk {
        entries,
        bytes,
        last,
        ended,
    } = chunk;
    let (format, compression) = (settings.format, settings.compression);
    let encoded = encode(&entries, format, compression)?;
    let mut objects = Vec::new();
    if let Some(failed) = encoded.failed.clone() {
        let key = format!(
            "{}/{}",
            key::FAILED_PREFIX,
            key::object_key(&settings.name, time, &key::random_uuid(), Kind::Json)
        );
        objects.push((key, failed));
    }
    if encoded.records > 0 {
        let key = key::object_key(&settings.name, time, &key::random_uuid(), encoded.kind);
        objects.push((key, encoded.body.clone()));
    }
    for (key, body) in objects {
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        loop {
            match store.put_durable(&key, body.clone()).await {
                Ok(()) => break,
                Err(source) if stopping.load(Ordering::SeqCst) && backoff.attempts() > 0 => {
                    return Err(ArchiveError::Write {
                        key,
                        location: store.location.to_string(),
                        source,
                    });
                }
                Err(err) => {
                    done.retries += 1;
                    tracing::warn!(key = %key, error = %err, "writing an object failed; trying again");
                    backoff.wait().await;
                }
            }
        }
        tracing::debug!(key = %key, bytes = body.len(), "object written");
        done.objects += 1;
        done.bytes += body.len() as u64;
    }
    done.failed_records = encoded.failed_records as u64;
    done.chunk = Chunk {
        entries: Vec::new(),
        bytes,
        last,
        ended,
    };
    Ok(done)
}
