//! Reads every shard of a stream, following resharding.
//!
//! A [`Reader`] lists the stream's shards (ListShards, every page), runs one
//! polling task per shard and hands the caller one [`Batch`] per GetRecords
//! response through [`Reader::next`]. Coordination (which shard may start,
//! where it starts, what has been delivered) happens in the caller's task
//! inside `next`, so:
//!
//! * a child shard starts only after the batch that ended each of its parents
//!   was returned by `next`: per-key order holds across splits and merges;
//! * [`Reader::positions`] covers exactly the batches returned so far; the
//!   caller persists it when it has done its work (see [`crate::checkpoint`]);
//! * [`Batch::caught_up`] says that every shard being read has reported
//!   `MillisBehindLatest == 0` since its last records, that no listed shard
//!   still waits for a parent and that the shard list is newer than the last
//!   shard end (for "exit when caught up" and for watermarks).
//!
//! Polling: at once while a shard is behind, every `poll_interval` when idle,
//! slowing to `idle_poll_max` after a while; never more than 5 calls per
//! second per shard. Throttling and transient errors back off and retry
//! forever; an expired iterator resumes after the last record read; a start
//! Kinesis refuses falls back (see `refused_start`). Only fatal errors (stream
//! deleted, access denied, saved positions of another stream, ...) end the
//! reader. All waiting uses `tokio::time`.
//!
//! With [`ReaderOptions::fan_out`] the shard tasks use enhanced fan-out
//! instead (the `fanout` module): records are pushed as they arrive, with the same
//! batches, ordering and positions.

mod fanout;
mod poll;

use poll::{list_loop, shard_loop};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::time::Duration;

use aws_sdk_kinesis::types::ShardIteratorType;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{Connection, StreamError, StreamIdentity};
use crate::retry::{classify, describe, Backoff, ErrorKind};

/// Fastest the reader polls one shard: 5 GetRecords calls per second.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Where reading starts in shards without a saved position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPosition {
    /// Only records written from now on (the original consumer's choice).
    Latest,
    /// The oldest record still kept.
    TrimHorizon,
    /// The first record that arrived at or after this time.
    AtTimestamp(DateTime<Utc>),
    /// At this sequence number (in the shard that holds it; other shards
    /// start at the trim horizon).
    AtSequence(String),
    /// Right after this sequence number (same rule as `AtSequence`).
    AfterSequence(String),
}

/// What has been delivered, per shard: saved by callers, given back to
/// [`ReaderOptions::positions`] to resume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Positions {
    /// Shard id -> sequence number of the last record delivered.
    #[serde(default)]
    pub shards: BTreeMap<String, String>,
    /// Shards read to their end (closed by a split or merge): never read again.
    #[serde(default)]
    pub finished: BTreeSet<String>,
    /// Where shards without a position start on resume: the time the first
    /// run started reading (for `latest` and timestamp starts); `None` means
    /// the trim horizon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Set by the reader: a run started from these positions, so a resume
    /// follows `since` even when nothing was read yet.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub started: bool,
    /// The stream these positions are about (see
    /// [`crate::checkpoint::bind`]); files saved before it was recorded
    /// have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<StreamIdentity>,
}

impl Positions {
    /// Records that everything up to `sequence` in `shard` was handled
    /// (for callers that stop in the middle of a batch).
    pub fn advance(&mut self, shard: &str, sequence: &str) {
        self.shards.insert(shard.to_owned(), sequence.to_owned());
    }

    /// Marks `shard` as read to its end.
    pub fn finish(&mut self, shard: &str) {
        self.shards.remove(shard);
        self.finished.insert(shard.to_owned());
    }

    /// Whether nothing was ever recorded (a first run); the stream alone
    /// does not count.
    pub fn is_empty(&self) -> bool {
        !self.started && self.shards.is_empty() && self.finished.is_empty() && self.since.is_none()
    }
}

/// How a [`Reader`] reads.
#[derive(Debug, Clone)]
pub struct ReaderOptions {
    pub stream: String,
    /// Start of shards without a saved position on a first run.
    pub start: StartPosition,
    /// Saved positions; when not empty they win over `start`.
    pub positions: Positions,
    /// Wait between two calls on an idle shard (at least 200 ms).
    pub poll_interval: Duration,
    /// Longest wait between two calls on a shard idle for a long time.
    pub idle_poll_max: Duration,
    /// How often the shard list is refreshed (it is also refreshed at once
    /// when a shard ends).
    pub discovery_interval: Duration,
    /// GetRecords `Limit` (1..=10,000).
    pub limit: i32,
    /// Batches buffered between the shard tasks and the caller.
    pub buffer: usize,
    /// Enhanced fan-out: the name of a stream consumer to use (registered
    /// if missing) so that records are pushed with SubscribeToShard instead
    /// of polled; `None` polls GetRecords.
    pub fan_out: Option<String>,
}

impl ReaderOptions {
    pub fn new(stream: impl Into<String>, start: StartPosition) -> Self {
        Self {
            stream: stream.into(),
            start,
            positions: Positions::default(),
            poll_interval: MIN_POLL_INTERVAL,
            idle_poll_max: Duration::from_secs(1),
            discovery_interval: Duration::from_secs(10),
            limit: 10_000,
            buffer: 16,
            fan_out: None,
        }
    }
}

/// One record as stored in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub sequence_number: String,
    pub partition_key: String,
    /// When Kinesis accepted the record (millisecond precision).
    pub arrival: Option<DateTime<Utc>>,
    pub data: Bytes,
}

/// What one GetRecords call returned for one shard (possibly no records).
#[derive(Debug, Clone)]
pub struct Batch {
    pub shard_id: String,
    pub records: Vec<Record>,
    /// How far the shard's reader is behind the tip, as reported by Kinesis.
    pub millis_behind_latest: i64,
    /// The shard is closed and this was its last batch; its children start now.
    pub shard_ended: bool,
    /// After this batch every shard being read is at its tip.
    pub caught_up: bool,
}

/// Why reading stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("shard {shard}: {detail}")]
    Shard { shard: String, detail: String },
    #[error("the reader's tasks stopped unexpectedly")]
    Stopped,
    #[error("the saved positions say shard {shard} of stream {stream:?} was read to its end, but it is open: they belong to another stream or to an earlier stream of the same name (start without them)")]
    ForeignPositions { stream: String, shard: String },
}

#[derive(Debug, Clone)]
struct ShardInfo {
    id: String,
    parents: Vec<String>,
    /// No ending sequence number yet.
    open: bool,
}

/// Shard listings asked for and answered, so that a listing started before a
/// shard ended does not count as the one that finds its children.
#[derive(Debug, Default)]
struct Relist {
    notify: tokio::sync::Notify,
    /// Listings asked for so far.
    asked: std::sync::atomic::AtomicU64,
}

enum Msg {
    /// The enhanced fan-out consumer's ARN, before the first listing.
    Consumer(String),
    /// A listing started after `asked` listings were asked for.
    Shards {
        asked: u64,
        shards: Vec<ShardInfo>,
    },
    Batch(Batch),
    Error(ReadError),
}

#[derive(Debug, Clone)]
enum Begin {
    Type(ShardIteratorType),
    Timestamp(DateTime<Utc>),
    At(String),
    After(String),
}

struct Running {
    task: JoinHandle<()>,
    behind: Option<i64>,
}

/// Reads every shard of a stream; see the module documentation.
pub struct Reader {
    conn: Connection,
    options: ReaderOptions,
    rx: mpsc::Receiver<Msg>,
    tx: mpsc::Sender<Msg>,
    positions: Positions,
    /// Shards in the last listing, by id.
    known: HashMap<String, ShardInfo>,
    /// Shard ids in the first listing (they take the configured start).
    initial: Option<BTreeSet<String>>,
    running: BTreeMap<String, Running>,
    /// Listings asked for (when a shard ended) and the number asked for when
    /// the last listing received started: a shard ended and the listing has
    /// not been refreshed since while `listed < wanted`.
    wanted: u64,
    listed: u64,
    relist: std::sync::Arc<Relist>,
    lister: JoinHandle<()>,
    resumed: bool,
    /// The enhanced fan-out consumer's ARN once known.
    consumer: Option<String>,
    /// A listing contradicted the saved positions once already.
    foreign_suspected: bool,
    /// Listed shards waiting for a parent (counted when shards are started).
    waiting: usize,
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.lister.abort();
        for running in self.running.values() {
            running.task.abort();
        }
    }
}

impl Reader {
    /// Starts reading `options.stream` (the shard tasks run in the background
    /// of the current tokio runtime).
    pub fn start(conn: Connection, mut options: ReaderOptions) -> Self {
        options.poll_interval = options.poll_interval.max(MIN_POLL_INTERVAL);
        options.idle_poll_max = options.idle_poll_max.max(options.poll_interval);
        options.limit = options.limit.clamp(1, 10_000);
        let resumed = !options.positions.is_empty();
        let mut positions = options.positions.clone();
        // A sequence-number start stays on the command line: a run that read
        // nothing resumes by applying it again.
        positions.started = resumed
            || !matches!(
                options.start,
                StartPosition::AtSequence(_) | StartPosition::AfterSequence(_)
            );
        if !resumed {
            positions.since = match &options.start {
                StartPosition::Latest => Some(Utc::now()),
                StartPosition::AtTimestamp(t) => Some(*t),
                _ => None,
            };
        }
        let (tx, rx) = mpsc::channel(options.buffer.max(1));
        let relist = std::sync::Arc::new(Relist::default());
        let lister = tokio::spawn(list_loop(
            conn.clone(),
            options.stream.clone(),
            options.fan_out.clone(),
            options.discovery_interval,
            relist.clone(),
            tx.clone(),
        ));
        Self {
            conn,
            options,
            rx,
            tx,
            positions,
            known: HashMap::new(),
            initial: None,
            running: BTreeMap::new(),
            wanted: 0,
            listed: 0,
            relist,
            lister,
            resumed,
            consumer: None,
            foreign_suspected: false,
            waiting: 0,
        }
    }

    /// The next batch from any shard (possibly without records). Errors are
    /// fatal: the reader should be dropped.
    pub async fn next(&mut self) -> Result<Batch, ReadError> {
        loop {
            let msg = self.rx.recv().await.ok_or(ReadError::Stopped)?;
            match msg {
                Msg::Error(err) => return Err(err),
                Msg::Consumer(arn) => self.consumer = Some(arn),
                Msg::Shards { asked, shards } => {
                    self.listed = self.listed.max(asked);
                    // Saved positions are checked against the stream at the
                    // start. ListShards is eventually consistent (a shard that
                    // ended just before a restart may still be listed open), so
                    // a mismatch is refused only if the next listing agrees.
                    let foreign = self.initial.is_none().then(|| {
                        shards
                            .iter()
                            .find(|s| s.open && self.positions.finished.contains(&s.id))
                    });
                    if let Some(open) = foreign.flatten() {
                        if !std::mem::replace(&mut self.foreign_suspected, true) {
                            tracing::info!(shard = %open.id, "a shard the saved positions call finished is listed open; listing again");
                            continue;
                        }
                        return Err(ReadError::ForeignPositions {
                            stream: self.options.stream.clone(),
                            shard: open.id.clone(),
                        });
                    }
                    self.known = shards.into_iter().map(|s| (s.id.clone(), s)).collect();
                    if self.initial.is_none() {
                        self.initial = Some(self.known.keys().cloned().collect());
                    }
                    self.spawn_ready();
                }
                Msg::Batch(mut batch) => {
                    if let Some(last) = batch.records.last() {
                        self.positions
                            .advance(&batch.shard_id, &last.sequence_number);
                    }
                    if batch.shard_ended {
                        self.positions.finish(&batch.shard_id);
                        self.running.remove(&batch.shard_id);
                        self.wanted = self.relist.asked.fetch_add(1, Ordering::SeqCst) + 1;
                        self.relist.notify.notify_one();
                        self.spawn_ready();
                    } else if let Some(running) = self.running.get_mut(&batch.shard_id) {
                        running.behind = Some(batch.millis_behind_latest);
                    }
                    batch.caught_up = self.caught_up();
                    return Ok(batch);
                }
            }
        }
    }

    /// Positions covering every batch returned by [`Reader::next`] so far.
    pub fn positions(&self) -> Positions {
        self.positions.clone()
    }

    /// Whether every shard is at its tip: each listed shard is read to its
    /// end or being read and at its tip (none waits for a parent), and the
    /// listing is fresh since the last shard ended.
    pub fn caught_up(&self) -> bool {
        self.initial.is_some()
            && self.listed >= self.wanted
            && self.waiting == 0
            && self
                .running
                .values()
                .all(|r| r.behind.is_some_and(|b| b <= 0))
    }

    /// Shards being read now.
    pub fn shards(&self) -> Vec<String> {
        self.running.keys().cloned().collect()
    }

    fn spawn_ready(&mut self) {
        let mut ids: Vec<&String> = self.known.keys().collect();
        ids.sort();
        let mut ready = Vec::new();
        let mut waiting_shards = 0;
        for id in ids {
            if self.running.contains_key(id) || self.positions.finished.contains(id) {
                continue;
            }
            let info = &self.known[id];
            // A parent still listed and not finished must be read first.
            let waiting = info
                .parents
                .iter()
                .any(|p| self.known.contains_key(p) && !self.positions.finished.contains(p));
            if waiting {
                waiting_shards += 1;
            } else {
                ready.push(id.clone());
            }
        }
        self.waiting = waiting_shards;
        for id in ready {
            let begin = self.begin_for(&id);
            tracing::debug!(shard = %id, ?begin, "reading shard");
            let task = match &self.consumer {
                Some(consumer) => tokio::spawn(fanout::shard_loop(
                    self.conn.clone(),
                    self.options.stream.clone(),
                    consumer.clone(),
                    id.clone(),
                    begin,
                    self.tx.clone(),
                )),
                None => tokio::spawn(shard_loop(
                    self.conn.clone(),
                    self.options.clone(),
                    id.clone(),
                    begin,
                    self.tx.clone(),
                )),
            };
            self.running.insert(id, Running { task, behind: None });
        }
    }

    fn begin_for(&self, shard: &str) -> Begin {
        if let Some(seq) = self.positions.shards.get(shard) {
            return Begin::After(seq.clone());
        }
        let initial = self.initial.as_ref().is_some_and(|ids| ids.contains(shard));
        if !initial {
            // Created while we were reading: all of it is new.
            return Begin::Type(ShardIteratorType::TrimHorizon);
        }
        if self.resumed {
            return match self.positions.since {
                Some(t) => Begin::Timestamp(t),
                None => Begin::Type(ShardIteratorType::TrimHorizon),
            };
        }
        // A child listed at the start waited for its parents: LATEST now
        // would skip what it received meanwhile.
        let waited = self.known.get(shard).is_some_and(|info| {
            info.parents
                .iter()
                .any(|p| self.initial.as_ref().is_some_and(|ids| ids.contains(p)))
        });
        match &self.options.start {
            StartPosition::Latest => match self.positions.since {
                Some(t) if waited => Begin::Timestamp(t),
                _ => Begin::Type(ShardIteratorType::Latest),
            },
            StartPosition::TrimHorizon => Begin::Type(ShardIteratorType::TrimHorizon),
            StartPosition::AtTimestamp(t) => Begin::Timestamp(*t),
            StartPosition::AtSequence(s) => Begin::At(s.clone()),
            StartPosition::AfterSequence(s) => Begin::After(s.clone()),
        }
    }
}

fn fatal<E>(
    conn: &Connection,
    stream: &str,
    err: &aws_sdk_kinesis::error::SdkError<E, aws_sdk_kinesis::config::http::HttpResponse>,
) -> ReadError
where
    E: aws_sdk_kinesis::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    ReadError::Stream(conn.stream_error(stream, err))
}
