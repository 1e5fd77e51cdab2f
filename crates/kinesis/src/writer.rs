//! The batch writer: PutRecord / PutRecords that never drop a record.
//!
//! * batches respect the service limits (500 records, 5 MiB per call);
//! * after a partial failure only the failed entries are sent again, in
//!   their original order;
//! * throttling, 5xx, timeouts and dropped connections are retried with
//!   jittered exponential backoff, for as long as it takes; a call that
//!   stored some entries resets the backoff (it made progress);
//! * only errors no retry can fix (unknown stream, access denied, a record
//!   the service rejects) end a call.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;

use crate::client::{Connection, StreamError};
use crate::retry::{classify, classify_code, Backoff};

/// Most records one PutRecords call may carry.
pub const MAX_RECORDS_PER_CALL: usize = 500;
/// Most bytes (data and partition keys) one PutRecords call may carry.
pub const MAX_BYTES_PER_CALL: usize = 5 * 1024 * 1024;
/// Most bytes (data and partition key) of one record.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// One record to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition_key: String,
    pub data: Vec<u8>,
    pub explicit_hash_key: Option<String>,
}

impl Record {
    pub fn new(partition_key: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self {
            partition_key: partition_key.into(),
            data: data.into(),
            explicit_hash_key: None,
        }
    }

    /// Bytes counted against the limits.
    pub fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }

    fn entry(&self) -> PutRecordsRequestEntry {
        PutRecordsRequestEntry::builder()
            .partition_key(&self.partition_key)
            .data(Blob::new(self.data.clone()))
            .set_explicit_hash_key(self.explicit_hash_key.clone())
            .build()
            .expect("partition key and data are set")
    }
}

/// Where the service stored a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    pub shard_id: String,
    pub sequence_number: String,
}

/// Counters a status line or a final report can read at any time.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Records acknowledged.
    pub sent: AtomicU64,
    /// Record sends that had to be repeated (one per record per retry).
    pub retried: AtomicU64,
    /// Entries the service throttled.
    pub throttled: AtomicU64,
    /// Records given up on (only after an error no retry can fix).
    pub failed: AtomicU64,
    /// Calls made.
    pub calls: AtomicU64,
}

impl WriterStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A write that cannot succeed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("record {index} is {size} bytes; Kinesis accepts at most 1 MiB per record (data and partition key)")]
    TooLarge { index: usize, size: usize },
    #[error("record {index} has a partition key of {len} characters; Kinesis needs 1 to 256")]
    BadPartitionKey { index: usize, len: usize },
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("the service rejected a record: {code}: {message}")]
    Rejected { code: String, message: String },
}

/// Writes records to one stream. Cheap to clone; clones share their stats.
#[derive(Debug, Clone)]
pub struct BatchWriter {
    conn: Connection,
    stream: String,
    stats: Arc<WriterStats>,
    backoff: (Duration, Duration),
    max_in_flight: usize,
}

/// The index ranges of `records` that make up successive PutRecords calls.
pub fn batches(records: &[Record]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, record) in records.iter().enumerate() {
        let size = record.size();
        if i > start && (i - start == MAX_RECORDS_PER_CALL || bytes + size > MAX_BYTES_PER_CALL) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < records.len() {
        out.push(start..records.len());
    }
    out
}

fn validate(records: &[Record]) -> Result<(), WriteError> {
    for (index, record) in records.iter().enumerate() {
        let len = record.partition_key.chars().count();
        if !(1..=256).contains(&len) {
            return Err(WriteError::BadPartitionKey { index, len });
        }
        if record.size() > MAX_RECORD_BYTES {
            return Err(WriteError::TooLarge {
                index,
                size: record.size(),
            });
        }
    }
    Ok(())
}

impl BatchWriter {
    pub fn new(conn: Connection, stream: impl Into<String>) -> Self {
        Self {
            conn,
            stream: stream.into(),
            stats: Arc::default(),
            backoff: (Duration::from_millis(50), Duration::from_secs(5)),
            max_in_flight: 1,
        }
    }

    /// First and largest wait between retries.
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff = (base, max);
        self
    }

    /// How many PutRecords calls one `put_records` may have in flight. Above 1,
    /// records of one partition key in different calls may be stored out of
    /// order; keep 1 unless each key appears once per `put_records`.
    pub fn with_max_in_flight(mut self, calls: usize) -> Self {
        self.max_in_flight = calls.max(1);
        self
    }

    pub fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }

    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Writes one record with PutRecord, retrying until it is acknowledged.
    pub async fn put_record(&self, record: Record) -> Result<Acked, WriteError> {
        validate(std::slice::from_ref(&record))?;
        let mut backoff = Backoff::new(self.backoff.0, self.backoff.1);
        loop {
            self.stats.calls.fetch_add(1, Ordering::Relaxed);
            let result = self
                .conn
                .client
                .put_record()
                .stream_name(&self.stream)
                .partition_key(&record.partition_key)
                .set_explicit_hash_key(record.explicit_hash_key.clone())
                .data(Blob::new(record.data.clone()))
                .send()
                .await;
            match result {
                Ok(out) => {
                    self.stats.sent.fetch_add(1, Ordering::Relaxed);
                    return Ok(Acked {
                        shard_id: out.shard_id,
                        sequence_number: out.sequence_number,
                    });
                }
                Err(err) => {
                    let kind = classify(&err);
                    if !kind.is_retryable() {
                        self.stats.failed.fetch_add(1, Ordering::Relaxed);
                        return Err(self.conn.stream_error(&self.stream, &err).into());
                    }
                    if kind == crate::retry::ErrorKind::Throttled {
                        self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    }
                    tracing::debug!(error = %crate::retry::describe(&err), "PutRecord failed; retrying");
                    self.stats.retried.fetch_add(1, Ordering::Relaxed);
                    backoff.wait().await;
                }
            }
        }
    }

    /// Writes all `records` with PutRecords and returns where each was stored,
    /// in the order given. Returns only when every record is acknowledged or
    /// an error no retry can fix occurred.
    pub async fn put_records(&self, records: Vec<Record>) -> Result<Vec<Acked>, WriteError> {
        validate(&records)?;
        let ranges = batches(&records);
        if ranges.len() <= 1 || self.max_in_flight == 1 {
            let mut acked = Vec::with_capacity(records.len());
            for range in ranges {
                acked.extend(self.put_batch(&records[range]).await?);
            }
            return Ok(acked);
        }
        let records = Arc::new(records);
        let semaphore = Arc::new(tokio::sync::Semaphore::new(self.max_in_flight));
        let mut tasks = tokio::task::JoinSet::new();
        for (n, range) in ranges.into_iter().enumerate() {
            let (writer, records, semaphore) = (self.clone(), records.clone(), semaphore.clone());
            tasks.spawn(async move {
                let _permit = semaphore.acquire_owned().await;
                (n, writer.put_batch(&records[range]).await)
            });
        }
        let mut parts = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (n, result) = joined.expect("batch task does not panic");
            parts.push((n, result?));
        }
        parts.sort_by_key(|(n, _)| *n);
        Ok(parts.into_iter().flat_map(|(_, acked)| acked).collect())
    }

    /// One PutRecords call's worth of records, resent until all are stored.
    async fn put_batch(&self, batch: &[Record]) -> Result<Vec<Acked>, WriteError> {
        let mut acked: Vec<Option<Acked>> = vec![None; batch.len()];
        let mut pending: Vec<usize> = (0..batch.len()).collect();
        let mut backoff = Backoff::new(self.backoff.0, self.backoff.1);
        while !pending.is_empty() {
            self.stats.calls.fetch_add(1, Ordering::Relaxed);
            let result = self
                .conn
                .client
                .put_records()
                .stream_name(&self.stream)
                .set_records(Some(pending.iter().map(|&i| batch[i].entry()).collect()))
                .send()
                .await;
            let out = match result {
                Ok(out) => out,
                Err(err) => {
                    let kind = classify(&err);
                    if !kind.is_retryable() {
                        self.stats
                            .failed
                            .fetch_add(pending.len() as u64, Ordering::Relaxed);
                        return Err(self.conn.stream_error(&self.stream, &err).into());
                    }
                    if kind == crate::retry::ErrorKind::Throttled {
                        self.stats
                            .throttled
                            .fetch_add(pending.len() as u64, Ordering::Relaxed);
                    }
                    tracing::debug!(error = %crate::retry::describe(&err), records = pending.len(), "PutRecords failed; retrying");
                    self.stats
                        .retried
                        .fetch_add(pending.len() as u64, Ordering::Relaxed);
                    backoff.wait().await;
                    continue;
                }
            };
            let mut failed = Vec::new();
            for (&i, entry) in pending.iter().zip(out.records()) {
                match (
                    entry.error_code(),
                    entry.shard_id(),
                    entry.sequence_number(),
                ) {
                    (None, Some(shard), Some(seq)) => {
                        acked[i] = Some(Acked {
                            shard_id: shard.to_owned(),
                            sequence_number: seq.to_owned(),
                        });
                    }
                    (Some(code), _, _) if !classify_code(code).is_retryable() => {
                        self.stats.failed.fetch_add(1, Ordering::Relaxed);
                        return Err(WriteError::Rejected {
                            code: code.to_owned(),
                            message: entry.error_message().unwrap_or_default().to_owned(),
                        });
                    }
                    (code, _, _) => {
                        if code
                            .is_some_and(|c| classify_code(c) == crate::retry::ErrorKind::Throttled)
                        {
                            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                        }
                        failed.push(i);
                    }
                }
            }
            // A response with fewer entries than requested leaves the rest unsent.
            failed.extend(pending.iter().skip(out.records().len()).copied());
            let stored = pending.len() - failed.len();
            self.stats.sent.fetch_add(stored as u64, Ordering::Relaxed);
            if stored > 0 {
                // The call made progress: the service is not overloaded, so
                // the next wait starts short again. Without this a run with
                // some failing entries in every call slowed to the longest
                // wait after a few calls.
                backoff.reset();
            }
            if !failed.is_empty() {
                tracing::debug!(
                    failed = failed.len(),
                    "PutRecords partially failed; retrying those entries"
                );
                self.stats
                    .retried
                    .fetch_add(failed.len() as u64, Ordering::Relaxed);
                backoff.wait().await;
            }
            pending = failed;
        }
        Ok(acked
            .into_iter()
            .map(|a| a.expect("every entry acknowledged"))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(sizes: &[usize]) -> Vec<Record> {
        sizes
            .iter()
            .map(|&n| Record::new("k", vec![b'x'; n - 1]))
            .collect()
    }

    #[test]
    fn batches_respect_record_count() {
        let r = records(&[100; 1_201]);
        assert_eq!(batches(&r), [0..500, 500..1_000, 1_000..1_201]);
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn batches_respect_bytes() {
        let mib = 1024 * 1024;
        // Five 1 MiB records fill a call exactly; the sixth starts the next.
        let r = records(&[mib, mib, mib, mib, mib, mib, 10]);
        assert_eq!(batches(&r), [0..5, 5..7]);
        let r = records(&[mib - 1, mib, mib, mib, mib, 2]);
        assert_eq!(batches(&r), [0..5, 5..6]);
    }

    #[test]
    fn oversized_and_unkeyed_records_are_refused() {
        let big = Record::new("k", vec![0; MAX_RECORD_BYTES]);
        assert!(matches!(
            validate(&[big]),
            Err(WriteError::TooLarge { index: 0, .. })
        ));
        let unkeyed = Record::new("", b"x".to_vec());
        assert!(matches!(
            validate(&[unkeyed]),
            Err(WriteError::BadPartitionKey { len: 0, .. })
        ));
        let long = Record::new("k".repeat(257), b"x".to_vec());
        assert!(matches!(
            validate(&[long]),
            Err(WriteError::BadPartitionKey { len: 257, .. })
        ));
        assert!(validate(&[Record::new("k".repeat(256), vec![0; 1000])]).is_ok());
    }
}
