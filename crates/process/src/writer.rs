//! The item writer: BatchWriteItem with at most 25 items per call, several
//! calls in flight, `UnprocessedItems`, throttling and 5xx retried with
//! jittered exponential backoff ([`kinesis::retry::Backoff`], waiting on
//! `tokio::time`, so tests run it on a paused clock).
//!
//! It never gives up silently: a write either succeeds for every item or
//! returns a [`WriteError`] that lists the keys left unwritten (a table that
//! does not exist, a request DynamoDB refuses, or retries exhausted).
//! Items with the same key in one [`ItemWriter::write_all`] are written once
//! (the last one wins), as DynamoDB refuses duplicate keys in one call and
//! writes by key are idempotent anyway.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;
use kinesis::retry::{classify, describe, Backoff, ErrorKind};
use tokio::task::JoinSet;

use crate::item::{key_of, key_ref, Item, Key};

/// DynamoDB's limit of requests per BatchWriteItem call.
pub const MAX_ITEMS_PER_CALL: usize = 25;

/// What the writer did, for logs and benchmarks.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// BatchWriteItem calls sent.
    pub calls: AtomicU64,
    /// Items acknowledged.
    pub written: AtomicU64,
    /// Items returned in `UnprocessedItems` (and sent again).
    pub unprocessed: AtomicU64,
    /// Calls refused with throttling.
    pub throttled: AtomicU64,
    /// Calls that failed otherwise (5xx, timeouts, fatal errors).
    pub errors: AtomicU64,
}

impl WriterStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Items could not all be written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriteError {
    #[error("table {table:?} not found at {at}; create it first (aws dynamodb create-table --table-name {table} --attribute-definitions AttributeName=Name,AttributeType=S AttributeName=StatusTime,AttributeType=S --key-schema AttributeName=Name,KeyType=HASH AttributeName=StatusTime,KeyType=RANGE --billing-mode PAY_PER_REQUEST) or check --table, --region and --endpoint")]
    NotFound {
        table: String,
        at: String,
        unwritten: Vec<Key>,
    },
    #[error("writing to table {table:?} was refused: {detail}")]
    Refused {
        table: String,
        detail: String,
        unwritten: Vec<Key>,
    },
    #[error("gave up writing {} items to table {table:?} after {attempts} attempts: {detail}", unwritten.len())]
    GaveUp {
        table: String,
        attempts: u32,
        detail: String,
        unwritten: Vec<Key>,
    },
}

impl WriteError {
    /// The keys of the items not written.
    pub fn unwritten(&self) -> &[Key] {
        match self {
            Self::NotFound { unwritten, .. }
            | Self::Refused { unwritten, .. }
            | Self::GaveUp { unwritten, .. } => unwritten,
        }
    }

    /// Whether sending the same items later can succeed (retries were
    /// exhausted, nothing was refused).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::GaveUp { .. })
    }

    fn unwritten_mut(&mut self) -> &mut Vec<Key> {
        match self {
            Self::NotFound { unwritten, .. }
            | Self::Refused { unwritten, .. }
            | Self::GaveUp { unwritten, .. } => unwritten,
        }
    }
}

/// Writes items to one table; cheap to clone.
#[derive(Debug, Clone)]
pub struct ItemWriter {
    client: Client,
    table: String,
    location: String,
    in_flight: usize,
    base: Duration,
    max: Duration,
    max_attempts: u32,
    stats: Arc<WriterStats>,
}

impl ItemWriter {
    /// A writer to `table`: 8 calls in flight, backoff from 50 ms to 5 s,
    /// giving up after 30 attempts without progress.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            location: "the configured endpoint".into(),
            in_flight: 8,
            base: Duration::from_millis(50),
            max: Duration::from_secs(5),
            max_attempts: 30,
            stats: Arc::default(),
        }
    }

    /// Where the table lives, for the "not found" message.
    pub fn with_location(mut self, at: impl Into<String>) -> Self {
        self.location = at.into();
        self
    }

    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base = base;
        self.max = max;
        self
    }

    /// BatchWriteItem calls sent at once (at least 1).
    pub fn with_max_in_flight(mut self, calls: usize) -> Self {
        self.in_flight = calls.max(1);
        self
    }

    /// Consecutive attempts without progress before a call's items are
    /// returned as unwritten (at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn stats(&self) -> &Arc<WriterStats> {
        &self.stats
    }

    /// Writes every item (one per key, the last one of a key wins); returns
    /// how many were written, or the error naming the keys left unwritten.
    pub async fn write_all(&self, items: Vec<Item>) -> Result<usize, WriteError> {
        let items = dedupe(items);
        let total = items.len();
        let mut chunks = Vec::with_capacity(total.div_ceil(MAX_ITEMS_PER_CALL));
        let mut iter = items.into_iter().peekable();
        while iter.peek().is_some() {
            chunks.push(iter.by_ref().take(MAX_ITEMS_PER_CALL).collect::<Vec<_>>());
        }
        let mut chunks = chunks.into_iter();
        let mut running = JoinSet::new();
        let mut failure: Option<WriteError> = None;
        loop {
            while running.len() < self.in_flight {
                let Some(chunk) = chunks.next() else { break };
                let this = self.clone();
                running.spawn(async move { this.write_chunk(chunk).await });
            }
            let Some(done) = running.join_next().await else {
                break;
            };
            let result = done.unwrap_or_else(|err| {
                Err(WriteError::Refused {
                    table: self.table.clone(),
                    detail: format!("a write task stopped: {err}"),
                    unwritten: Vec::new(),
                })
            });
            if let Err(err) = result {
                match &mut failure {
                    Some(first) => first.unwritten_mut().extend_from_slice(err.unwritten()),
                    None => failure = Some(err),
                }
            }
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(total),
        }
    }

    async fn write_chunk(&self, items: Vec<Item>) -> Result<(), WriteError> {
        let mut pending: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .expect("an item is set");
                WriteRequest::builder().put_request(put).build()
            })
            .collect();
        let mut backoff = Backoff::new(self.base, self.max);
        let stats = &self.stats;
        loop {
            stats.calls.fetch_add(1, Ordering::Relaxed);
            let sent = pending.len();
            let result = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending.clone())
                .send()
                .await;
            let detail = match result {
                Ok(out) => {
                    let left = out
                        .unprocessed_items()
                        .and_then(|m| m.get(&self.table))
                        .cloned()
                        .unwrap_or_default();
                    let done = sent.saturating_sub(left.len());
                    stats.written.fetch_add(done as u64, Ordering::Relaxed);
                    if left.is_empty() {
                        return Ok(());
                    }
                    stats
                        .unprocessed
                        .fetch_add(left.len() as u64, Ordering::Relaxed);
                    if done > 0 {
                        backoff.reset();
                    }
                    let detail = format!("{} of {sent} items left unprocessed", left.len());
                    pending = left;
                    detail
                }
                Err(err) => {
                    let kind = classify(&err);
                    let detail = describe(&err);
                    match kind {
                        ErrorKind::Throttled => {
                            stats.throttled.fetch_add(1, Ordering::Relaxed);
                        }
                        ErrorKind::Transient | ErrorKind::Unreachable => {
                            stats.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        ErrorKind::NotFound => {
                            stats.errors.fetch_add(1, Ordering::Relaxed);
                            return Err(WriteError::NotFound {
                                table: self.table.clone(),
                                at: self.location.clone(),
                                unwritten: keys(&pending),
                            });
                        }
                        _ => {
                            stats.errors.fetch_add(1, Ordering::Relaxed);
                            return Err(WriteError::Refused {
                                table: self.table.clone(),
                                detail,
                                unwritten: keys(&pending),
                            });
                        }
                    }
                    detail
                }
            };
            if backoff.attempts() + 1 >= self.max_attempts {
                return Err(WriteError::GaveUp {
                    table: self.table.clone(),
                    attempts: backoff.attempts() + 1,
                    detail,
                    unwritten: keys(&pending),
                });
            }
            tracing::debug!(table = %self.table, items = pending.len(), %detail, "retrying");
            backoff.wait().await;
        }
    }
}

fn keys(requests: &[WriteRequest]) -> Vec<Key> {
    requests
        .iter()
        .filter_map(|r| r.put_request().and_then(|p| key_of(p.item())))
        .collect()
}

/// One item per key, in first-seen order, the last version of each key
/// (the keys are borrowed, not copied: this runs for every item of a load).
fn dedupe(items: Vec<Item>) -> Vec<Item> {
    // For each item, the index of the version written in its place.
    let winners: Vec<Option<usize>> = {
        let mut first: HashMap<(&str, &str), usize> = HashMap::with_capacity(items.len());
        let mut winners: Vec<Option<usize>> = (0..items.len()).map(Some).collect();
        for (i, item) in items.iter().enumerate() {
            // Without a key DynamoDB refuses it, with its own message.
            if let Some(key) = key_ref(item) {
                if let Some(&at) = first.get(&key) {
                    winners[at] = Some(i);
                    winners[i] = None;
                } else {
                    first.insert(key, i);
                }
            }
        }
        winners
    };
    if winners.iter().enumerate().all(|(i, w)| *w == Some(i)) {
        return items;
    }
    let mut items: Vec<Option<Item>> = items.into_iter().map(Some).collect();
    winners
        .into_iter()
        .flatten()
        .filter_map(|w| items[w].take())
        .collect()
}
