//! In-memory model of streams and shards, and its log encoding.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// One stored record.
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    pub(crate) ts_ms: u64,
    pub(crate) pk: String,
    pub(crate) data: Bytes,
}

/// Per-second throughput counters of one shard.
#[derive(Debug, Default, Clone)]
pub(crate) struct Window {
    pub(crate) second: u64,
    pub(crate) put_records: u64,
    pub(crate) put_bytes: u64,
    pub(crate) reads: u64,
    pub(crate) read_bytes: u64,
}

impl Window {
    pub(crate) fn at(&mut self, now_ms: u64) -> &mut Self {
        let second = now_ms / 1000;
        if second != self.second {
            *self = Window {
                second,
                ..Window::default()
            };
        }
        self
    }
}

/// Persistent description of a shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ShardMeta {
    pub(crate) start: String,
    pub(crate) end: String,
    pub(crate) parent: Option<u32>,
    pub(crate) adjacent: Option<u32>,
    pub(crate) created_ms: u64,
    /// Position after the last record once the shard is closed.
    pub(crate) closed_end: Option<u64>,
}

/// Persistent description of a stream (everything but its records).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StreamMeta {
    pub(crate) name: String,
    pub(crate) incarnation: u64,
    pub(crate) arn: String,
    pub(crate) created_ms: u64,
    pub(crate) active_at_ms: u64,
    pub(crate) on_demand: bool,
    pub(crate) retention_hours: u32,
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) shards: Vec<ShardMeta>,
}

/// A metadata log entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum MetaOp {
    Upsert(StreamMeta),
    Delete { name: String, incarnation: u64 },
}

#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) start: u128,
    pub(crate) end: u128,
    /// Next position to assign.
    pub(crate) reserved: u64,
    /// Position of `recs[0]`.
    pub(crate) base: u64,
    pub(crate) recs: VecDeque<Rec>,
    pub(crate) window: Window,
}

impl Shard {
    pub(crate) fn visible_end(&self) -> u64 {
        self.base + self.recs.len() as u64
    }
}

#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) meta: StreamMeta,
    pub(crate) shards: Vec<Shard>,
}

pub(crate) fn parse_hash(s: &str) -> Option<u128> {
    if s.is_empty() || s.len() > 39 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Stream {
    pub(crate) fn from_meta(meta: StreamMeta) -> Self {
        let mut s = Stream {
            meta,
            shards: Vec::new(),
        };
        s.sync_shards();
        s
    }

    /// Adds runtime shards for shards new in `meta`.
    pub(crate) fn sync_shards(&mut self) {
        while self.shards.len() < self.meta.shards.len() {
            let m = &self.meta.shards[self.shards.len()];
            self.shards.push(Shard {
                start: parse_hash(&m.start).unwrap_or(0),
                end: parse_hash(&m.end).unwrap_or(u128::MAX),
                reserved: 0,
                base: 0,
                recs: VecDeque::new(),
                window: Window::default(),
            });
        }
    }

    pub(crate) fn is_open(&self, idx: usize) -> bool {
        self.meta
            .shards
            .get(idx)
            .is_some_and(|m| m.closed_end.is_none())
    }

    pub(crate) fn open_count(&self) -> usize {
        self.meta
            .shards
            .iter()
            .filter(|m| m.closed_end.is_none())
            .count()
    }

    /// The open shard owning `hash`.
    pub(crate) fn route(&self, hash: u128) -> Option<usize> {
        self.shards
            .iter()
            .enumerate()
            .find(|(i, s)| self.is_open(*i) && s.start <= hash && hash <= s.end)
            .map(|(i, _)| i)
    }

    /// Drops records older than the retention period.
    pub(crate) fn trim(&mut self, now_ms: u64) {
        let keep_after = now_ms.saturating_sub(u64::from(self.meta.retention_hours) * 3_600_000);
        for shard in &mut self.shards {
            while shard.recs.front().is_some_and(|r| r.ts_ms < keep_after) {
                shard.recs.pop_front();
                shard.base += 1;
            }
        }
    }
}

/// Whole engine state.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) streams: BTreeMap<String, Stream>,
    pub(crate) next_incarnation: u64,
}

impl State {
    pub(crate) fn apply_meta(&mut self, op: MetaOp) {
        match op {
            MetaOp::Upsert(meta) => {
                self.next_incarnation = self.next_incarnation.max(meta.incarnation + 1);
                match self.streams.get_mut(&meta.name) {
                    Some(s) if s.meta.incarnation == meta.incarnation => {
                        s.meta = meta;
                        s.sync_shards();
                    }
                    _ => {
                        self.streams
                            .insert(meta.name.clone(), Stream::from_meta(meta));
                    }
                }
            }
            MetaOp::Delete { name, incarnation } => {
                if self
                    .streams
                    .get(&name)
                    .is_some_and(|s| s.meta.incarnation == incarnation)
                {
                    self.streams.remove(&name);
                }
            }
        }
    }

    /// Makes durable records visible (in log order).
    pub(crate) fn apply_records(&mut self, batch: &RecordBatch) {
        let Some(stream) = self
            .streams
            .values_mut()
            .find(|s| s.meta.incarnation == batch.incarnation)
        else {
            return;
        };
        for (shard, pos, rec) in &batch.recs {
            let Some(sh) = stream.shards.get_mut(*shard as usize) else {
                continue;
            };
            if sh.recs.is_empty() && sh.base < *pos {
                sh.base = *pos;
            }
            if *pos == sh.visible_end() {
                sh.recs.push_back(rec.clone());
                sh.reserved = sh.reserved.max(pos + 1);
            }
        }
    }
}

/// Records of one stream appended together.
#[derive(Debug, Clone)]
pub(crate) struct RecordBatch {
    pub(crate) incarnation: u64,
    pub(crate) recs: Vec<(u32, u64, Rec)>,
}

const TAG_RECORDS: u8 = 1;
const TAG_META: u8 = 2;

pub(crate) enum Entry {
    Records(RecordBatch),
    Meta(MetaOp),
}

pub(crate) fn encode_records(batch: &RecordBatch) -> Vec<u8> {
    let size: usize = batch
        .recs
        .iter()
        .map(|(_, _, r)| 30 + r.pk.len() + r.data.len())
        .sum();
    let mut out = Vec::with_capacity(13 + size);
    out.push(TAG_RECORDS);
    out.extend_from_slice(&batch.incarnation.to_le_bytes());
    out.extend_from_slice(&(batch.recs.len() as u32).to_le_bytes());
    for (shard, pos, r) in &batch.recs {
        out.extend_from_slice(&shard.to_le_bytes());
        out.extend_from_slice(&pos.to_le_bytes());
        out.extend_from_slice(&r.ts_ms.to_le_bytes());
        out.extend_from_slice(&(r.pk.len() as u16).to_le_bytes());
        out.extend_from_slice(r.pk.as_bytes());
        out.extend_from_slice(&(r.data.len() as u32).to_le_bytes());
        out.extend_from_slice(&r.data);
    }
    out
}

pub(crate) fn encode_meta(op: &MetaOp) -> Vec<u8> {
    let mut out = vec![TAG_META];
    // Serializing plain data structures to JSON cannot fail.
    if let Ok(json) = serde_json::to_vec(op) {
        out.extend_from_slice(&json);
    }
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
}

pub(crate) fn decode(payload: &[u8]) -> Result<Entry, String> {
    match payload.first() {
        Some(&TAG_META) => serde_json::from_slice(&payload[1..])
            .map(Entry::Meta)
            .map_err(|e| format!("bad metadata entry: {e}")),
        Some(&TAG_RECORDS) => {
            let mut r = Reader(&payload[1..]);
            let bad = || "bad record entry".to_string();
            let incarnation = r.u64().ok_or_else(bad)?;
            let n = r.u32().ok_or_else(bad)?;
            let mut recs = Vec::with_capacity(n.min(10_000) as usize);
            for _ in 0..n {
                let shard = r.u32().ok_or_else(bad)?;
                let pos = r.u64().ok_or_else(bad)?;
                let ts_ms = r.u64().ok_or_else(bad)?;
                let pk_len = r.u16().ok_or_else(bad)?;
                let pk = std::str::from_utf8(r.take(pk_len as usize).ok_or_else(bad)?)
                    .map_err(|_| bad())?
                    .to_string();
                let data_len = r.u32().ok_or_else(bad)?;
                let data = Bytes::copy_from_slice(r.take(data_len as usize).ok_or_else(bad)?);
                recs.push((shard, pos, Rec { ts_ms, pk, data }));
            }
            Ok(Entry::Records(RecordBatch { incarnation, recs }))
        }
        _ => Err("unknown entry type".into()),
    }
}
