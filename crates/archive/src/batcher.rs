//! Firehose's buffering: records are kept until the buffer reaches its size
//! hint or its age reaches the interval hint, whichever comes first. Pure
//! logic on an injected [`Instant`] (tokio's, so tests run in paused time).
//!
//! One rule beyond Firehose's: a buffer never spans two UTC hours of arrival
//! time. Firehose names an object after its oldest record, so a record that
//! arrived at 10:00:05 can sit under `.../09/`; cutting at the hour keeps
//! every record under the hour it arrived in, and the `hour` partition
//! column of the query side exact.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Timelike, Utc};
use tokio::time::Instant;

/// When a buffer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hints {
    /// Bytes of records (as they arrived) that close a buffer.
    pub size: usize,
    /// Age of a buffer (from its first record) that closes it.
    pub interval: Duration,
}

impl Default for Hints {
    /// Firehose's defaults: 5 MiB or 300 seconds (the workshop sets 60 s).
    fn default() -> Self {
        Self {
            size: 5 << 20,
            interval: Duration::from_secs(300),
        }
    }
}

/// One record in a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub data: Bytes,
    pub arrival: DateTime<Utc>,
    pub shard_id: String,
    pub sequence_number: String,
}

/// The records of one object to write, and the source positions they cover.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    pub entries: Vec<Entry>,
    /// Bytes of the records as they arrived.
    pub bytes: usize,
    /// Per shard, the sequence number of the chunk's last record.
    pub last: BTreeMap<String, String>,
    /// Shards read to their end whose last records are in this chunk (or
    /// in an earlier one).
    pub ended: Vec<String>,
}

impl Chunk {
    /// Arrival time of the oldest record: it names the object.
    pub fn oldest(&self) -> Option<DateTime<Utc>> {
        self.entries.iter().map(|e| e.arrival).min()
    }
}

/// The buffer between the source and the object writes.
#[derive(Debug)]
pub struct Batcher {
    hints: Hints,
    chunk: Chunk,
    opened: Option<Instant>,
    /// The UTC hour (as seconds since the epoch / 3600) of the buffer.
    hour: Option<i64>,
}

fn hour_of(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(3600)
}

impl Batcher {
    pub fn new(hints: Hints) -> Self {
        Self {
            hints: Hints {
                size: hints.size.max(1),
                interval: hints.interval,
            },
            chunk: Chunk::default(),
            opened: None,
            hour: None,
        }
    }

    pub fn hints(&self) -> Hints {
        self.hints
    }

    /// Records in the buffer.
    pub fn len(&self) -> usize {
        self.chunk.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunk.entries.is_empty()
    }

    /// Adds one record at `now`; returns the chunks that are complete: the
    /// buffer before it when the record starts a new UTC hour, and the buffer
    /// with it when it reaches the size hint.
    pub fn push(&mut self, entry: Entry, now: Instant) -> Vec<Chunk> {
        let mut done = Vec::new();
        let hour = hour_of(entry.arrival);
        if self.hour.is_some_and(|h| h != hour) {
            done.extend(self.take());
        }
        if self.opened.is_none() {
            self.opened = Some(now);
            self.hour = Some(hour);
        }
        self.chunk.bytes += entry.data.len();
        self.chunk
            .last
            .insert(entry.shard_id.clone(), entry.sequence_number.clone());
        self.chunk.entries.push(entry);
        if self.chunk.bytes >= self.hints.size {
            done.extend(self.take());
        }
        done
    }

    /// Notes that `shard` was read to its end: saved with the buffer's
    /// positions (at once if the buffer is empty: returns an empty chunk).
    pub fn end_shard(&mut self, shard: &str) -> Option<Chunk> {
        self.chunk.ended.push(shard.to_owned());
        self.is_empty().then(|| self.take()).flatten()
    }

    /// When the buffer's age reaches the interval hint (`None` when empty).
    pub fn deadline(&self) -> Option<Instant> {
        self.opened.map(|t| t + self.hints.interval)
    }

    /// The buffer if its age reached the interval hint at `now`.
    pub fn due(&mut self, now: Instant) -> Option<Chunk> {
        match self.deadline() {
            Some(deadline) if now >= deadline => self.take(),
            _ => None,
        }
    }

    /// Whatever is buffered (on shutdown, or to end shards); `None` if
    /// nothing is, not even an ended shard.
    pub fn take(&mut self) -> Option<Chunk> {
        self.opened = None;
        self.hour = None;
        if self.chunk.entries.is_empty() && self.chunk.ended.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut self.chunk))
    }
}

/// The UTC hour an arrival time falls in, as `(year, month, day, hour)`.
pub fn hour_parts(t: DateTime<Utc>) -> (i32, u32, u32, u32) {
    use chrono::Datelike;
    (t.year(), t.month(), t.day(), t.hour())
}
