//! In-memory model of streams and shards (their persistent metadata is in
//! [`super::meta`]).
//!
//! In memory mode every record stays in its shard's `cache` (bounded only by
//! retention). In durable mode record payloads live in the log segments: a shard
//! keeps a sparse `index` (one entry per log region of at most [`INDEX_SPAN`]
//! bytes holding its records) and only the most recent records in `cache`, whose
//! total cost over all shards is kept under `Config::cache_bytes` by evicting the
//! oldest cached runs first.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;

pub(crate) use super::meta::{
    ConsumerMeta, MetaOp, ShardMeta, SnapStream, Snapshot, StreamMeta, StreamSettings,
};
use crate::store::codec::RecordBatch;
use crate::store::log::SegFile;

/// One stored record.
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    pub(crate) ts_ms: u64,
    pub(crate) pk: String,
    pub(crate) data: Bytes,
}

/// Bookkeeping bytes charged per cached record on top of its key and data, so
/// that the cache bound also holds for many tiny records.
pub(crate) const REC_OVERHEAD: u64 = 96;

impl Rec {
    /// What keeping this record in the cache costs.
    pub(crate) fn cost(&self) -> u64 {
        (self.data.len() + self.pk.len()) as u64 + REC_OVERHEAD
    }
}

/// A shard's records starting at log region `offset` of segment `seg`: every
/// frame holding this shard's positions `first_pos..next entry's first_pos`
/// starts within `INDEX_SPAN` bytes after `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub(crate) first_pos: u64,
    pub(crate) first_ts: u64,
    pub(crate) seg: u32,
    pub(crate) offset: u64,
}

/// Largest log region one index entry covers (bounds the bytes scanned to find
/// a position on disk).
pub(crate) const INDEX_SPAN: u64 = 256 << 10;

/// Per-second throughput counters of one shard.
#[derive(Debug, Default, Clone)]
pub(crate) struct Window {
    pub(crate) second: u64,
    pub(crate) put_records: u64,
    pub(crate) put_bytes: u64,
    pub(crate) reads: u64,
}

/// Read bandwidth of a shard: 2 MiB/s.
pub(crate) const READ_BYTES_PER_SEC: u64 = 2 << 20;

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

#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) start: u128,
    pub(crate) end: u128,
    /// Next position to assign.
    pub(crate) reserved: u64,
    /// First retained position (in durable mode the first records from `base`
    /// on disk may already be past retention; reads skip them).
    pub(crate) base: u64,
    /// Position after the last durable (visible) record.
    pub(crate) tail: u64,
    /// The most recent records: positions `tail - cache.len()..tail`.
    pub(crate) cache: VecDeque<Rec>,
    /// Durable mode: where positions before the cache are on disk.
    pub(crate) index: VecDeque<IndexEntry>,
    pub(crate) window: Window,
    /// Time until which the bytes already returned by GetRecords use up the
    /// shard's read bandwidth (a 10 MiB answer blocks reads for ~5 s).
    pub(crate) read_busy_until_ms: u64,
}

impl Shard {
    fn new(start: u128, end: u128) -> Self {
        Shard {
            start,
            end,
            reserved: 0,
            base: 0,
            tail: 0,
            cache: VecDeque::new(),
            index: VecDeque::new(),
            window: Window::default(),
            read_busy_until_ms: 0,
        }
    }

    pub(crate) fn visible_end(&self) -> u64 {
        self.tail
    }

    /// Position of `cache[0]` (equals `tail` when the cache is empty).
    pub(crate) fn cache_base(&self) -> u64 {
        self.tail - self.cache.len() as u64
    }

    /// First position served from memory.
    pub(crate) fn first_cached(&self) -> u64 {
        self.cache_base().max(self.base)
    }

    /// The cached record at `pos`.
    pub(crate) fn cached(&self, pos: u64) -> Option<&Rec> {
        if pos < self.base {
            return None;
        }
        self.cache
            .get(usize::try_from(pos.checked_sub(self.cache_base())?).ok()?)
    }

    /// Drops cached records before `upto`; returns the freed cost.
    fn evict_before(&mut self, upto: u64) -> u64 {
        let mut freed = 0;
        while self.cache_base() < upto {
            match self.cache.pop_front() {
                Some(r) => freed += r.cost(),
                None => break,
            }
        }
        freed
    }

    fn clear_cache(&mut self) -> u64 {
        let freed = self.cache.iter().map(Rec::cost).sum();
        self.cache.clear();
        freed
    }

    /// Index entries needed to read positions from `pos` on (the entry holding
    /// `pos` and those after it, up to `max` entries), and the first position
    /// of the entry after them if `max` cut the list.
    pub(crate) fn entries_from(&self, pos: u64, max: usize) -> (Vec<IndexEntry>, Option<u64>) {
        let k = self
            .index
            .partition_point(|e| e.first_pos <= pos)
            .saturating_sub(1);
        let entries: Vec<IndexEntry> = self.index.iter().skip(k).take(max).copied().collect();
        let next = self.index.get(k + entries.len()).map(|e| e.first_pos);
        (entries, next)
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
            self.shards.push(Shard::new(
                parse_hash(&m.start).unwrap_or(0),
                parse_hash(&m.end).unwrap_or(u128::MAX),
            ));
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

    /// Arrival time before which records are past retention.
    pub(crate) fn keep_after(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(u64::from(self.meta.retention_hours) * 3_600_000)
    }

    /// Drops records older than the retention period; returns the freed cache
    /// cost. On disk, whole index entries are dropped once the next entry is
    /// past retention too.
    pub(crate) fn trim(&mut self, now_ms: u64) -> u64 {
        let keep_after = self.keep_after(now_ms);
        let mut freed = 0;
        for shard in &mut self.shards {
            while shard.index.len() >= 2 && shard.index[1].first_ts < keep_after {
                shard.index.pop_front();
            }
            if let Some(e) = shard.index.front() {
                shard.base = shard.base.max(e.first_pos);
            }
            // Arrival times only grow along a shard: an expired first cached
            // record means every record before it (on disk) is expired too. The
            // index entry stays: it also locates the cached records once evicted.
            let cache_base = shard.cache_base();
            let disk_expired = shard.cache.front().is_some_and(|r| r.ts_ms < keep_after);
            if shard.index.is_empty() || disk_expired {
                shard.base = shard.base.max(cache_base);
            }
            freed += shard.evict_before(shard.base);
            while shard.cache.front().is_some_and(|r| r.ts_ms < keep_after) {
                if let Some(r) = shard.cache.pop_front() {
                    freed += r.cost();
                }
                shard.base = shard.base.max(shard.cache_base());
            }
        }
        freed
    }

    fn cache_cost(&self) -> u64 {
        self.shards
            .iter()
            .flat_map(|s| s.cache.iter())
            .map(Rec::cost)
            .sum()
    }
}

/// A log segment readable by GetRecords.
#[derive(Debug)]
pub(crate) struct SegInfo {
    pub(crate) file: Arc<SegFile>,
    /// Durable length (frames beyond are not yet acknowledged).
    pub(crate) len: u64,
    /// Latest arrival time of each stream incarnation's records in it.
    pub(crate) max_ts: BTreeMap<u64, u64>,
}

/// The durable-mode part of the state.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) segs: BTreeMap<u32, SegInfo>,
    /// Cached runs in arrival order: (incarnation, shard, position after the run).
    fifo: VecDeque<(u64, u32, u64)>,
    pub(crate) cache_limit: u64,
}

/// Memory charged per queued cached run.
const FIFO_COST: u64 = 32;

/// Where a record batch was written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Loc {
    pub(crate) seg: u32,
    pub(crate) offset: u64,
}

/// Whole engine state.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) streams: BTreeMap<String, Stream>,
    pub(crate) next_incarnation: u64,
    /// Cost of every cached record (see [`Rec::cost`]).
    pub(crate) cached_bytes: u64,
    /// Present in durable mode.
    pub(crate) store: Option<Store>,
}

impl State {
    pub(crate) fn durable(cache_limit: u64) -> Self {
        State {
            store: Some(Store {
                cache_limit,
                ..Store::default()
            }),
            ..State::default()
        }
    }

    fn remove_stream(&mut self, name: &str) {
        if let Some(old) = self.streams.remove(name) {
            self.cached_bytes = self.cached_bytes.saturating_sub(old.cache_cost());
        }
    }

    /// Trims `name` (see [`Stream::trim`]) and accounts the freed cache.
    pub(crate) fn trim(&mut self, name: &str, now_ms: u64) {
        if let Some(s) = self.streams.get_mut(name) {
            let freed = s.trim(now_ms);
            self.cached_bytes = self.cached_bytes.saturating_sub(freed);
        }
    }

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
                        self.remove_stream(&meta.name);
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
                    self.remove_stream(&name);
                }
            }
        }
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            next_incarnation: self.next_incarnation,
            streams: self
                .streams
                .values()
                .map(|s| SnapStream {
                    meta: s.meta.clone(),
                    tails: s.shards.iter().map(|sh| sh.tail).collect(),
                })
                .collect(),
            segments: self
                .store
                .as_ref()
                .map(|s| s.segs.keys().copied().collect()),
        }
    }

    /// Recovery: makes the state agree with a snapshot (streams deleted in
    /// segments that are gone disappear; shards whose records are gone continue
    /// at the snapshot's positions).
    pub(crate) fn apply_snapshot(&mut self, snap: Snapshot) {
        self.next_incarnation = self.next_incarnation.max(snap.next_incarnation);
        let keep: BTreeMap<String, u64> = snap
            .streams
            .iter()
            .map(|s| (s.meta.name.clone(), s.meta.incarnation))
            .collect();
        let gone: Vec<String> = self
            .streams
            .values()
            .filter(|s| keep.get(&s.meta.name) != Some(&s.meta.incarnation))
            .map(|s| s.meta.name.clone())
            .collect();
        for name in gone {
            self.remove_stream(&name);
        }
        for s in snap.streams {
            let name = s.meta.name.clone();
            self.apply_meta(MetaOp::Upsert(s.meta));
            let Some(stream) = self.streams.get_mut(&name) else {
                continue;
            };
            let mut freed = 0;
            for (sh, &tail) in stream.shards.iter_mut().zip(&s.tails) {
                if tail > sh.tail {
                    freed += sh.clear_cache();
                    sh.tail = tail;
                    if sh.index.is_empty() {
                        sh.base = tail;
                    }
                }
                sh.reserved = sh.reserved.max(sh.tail);
            }
            self.cached_bytes = self.cached_bytes.saturating_sub(freed);
        }
    }

    /// Makes durable records visible (in log order); `loc` is where the batch
    /// was written in durable mode.
    pub(crate) fn apply_records(&mut self, batch: RecordBatch, loc: Option<Loc>) {
        let Some(stream) = self
            .streams
            .values_mut()
            .find(|s| s.meta.incarnation == batch.incarnation)
        else {
            return;
        };
        let mut added = 0u64;
        let mut freed = 0u64;
        let mut runs: Vec<(u32, u64)> = Vec::new();
        let mut max_ts = 0u64;
        let incarnation = batch.incarnation;
        for (shard, pos, rec) in batch.recs {
            let Some(sh) = stream.shards.get_mut(shard as usize) else {
                continue;
            };
            if pos < sh.tail {
                continue;
            }
            if pos > sh.tail {
                // A gap (records lost with a deleted segment): the cache must
                // stay contiguous up to the tail.
                freed += sh.clear_cache();
                if sh.index.is_empty() {
                    sh.base = pos;
                }
                sh.tail = pos;
            }
            if let Some(loc) = loc {
                let new_entry = sh.index.back().is_none_or(|e| {
                    e.seg != loc.seg || loc.offset.saturating_sub(e.offset) > INDEX_SPAN
                });
                if new_entry {
                    sh.index.push_back(IndexEntry {
                        first_pos: pos,
                        first_ts: rec.ts_ms,
                        seg: loc.seg,
                        offset: loc.offset,
                    });
                }
                match runs.last_mut() {
                    Some((s, upto)) if *s == shard => *upto = pos + 1,
                    _ => runs.push((shard, pos + 1)),
                }
            }
            max_ts = max_ts.max(rec.ts_ms);
            added += rec.cost();
            sh.cache.push_back(rec);
            sh.tail = pos + 1;
            sh.reserved = sh.reserved.max(sh.tail);
        }
        self.cached_bytes = (self.cached_bytes + added).saturating_sub(freed);
        if let (Some(store), Some(loc)) = (self.store.as_mut(), loc) {
            store
                .fifo
                .extend(runs.into_iter().map(|(s, upto)| (incarnation, s, upto)));
            if let Some(seg) = store.segs.get_mut(&loc.seg) {
                let m = seg.max_ts.entry(incarnation).or_insert(0);
                *m = (*m).max(max_ts);
            }
        }
        self.evict();
    }

    /// Evicts the oldest cached runs until the cache fits its limit.
    fn evict(&mut self) {
        let Some(store) = self.store.as_mut() else {
            return;
        };
        while let Some(&(incarnation, shard, upto)) = store.fifo.front() {
            // The queue itself counts against the limit, so runs of records
            // trimmed behind a long-lived run cannot pile up.
            let queued = store.fifo.len() as u64 * FIFO_COST;
            let over = self.cached_bytes + queued > store.cache_limit;
            let sh = self
                .streams
                .values_mut()
                .find(|s| s.meta.incarnation == incarnation)
                .and_then(|s| s.shards.get_mut(shard as usize));
            match sh {
                Some(sh) if over => {
                    let freed = sh.evict_before(upto);
                    self.cached_bytes = self.cached_bytes.saturating_sub(freed);
                }
                // Runs already gone (trimmed, deleted stream) are dropped too, so
                // the queue never outgrows the cache.
                Some(sh) if sh.cache_base() < upto => break,
                _ => {}
            }
            store.fifo.pop_front();
        }
        if store.fifo.is_empty() && self.cached_bytes > 0 {
            // Nothing left to evict: recount to avoid drift.
            self.cached_bytes = self.streams.values().map(Stream::cache_cost).sum();
        }
    }

    /// Trims every stream and removes the sealed segments (never `active`)
    /// whose records are all past retention or belong to deleted streams;
    /// returns their ids so the caller deletes the files.
    pub(crate) fn expired_segments(&mut self, now_ms: u64, active: u32) -> Vec<u32> {
        let names: Vec<String> = self.streams.keys().cloned().collect();
        for name in &names {
            self.trim(name, now_ms);
        }
        let keep_after: BTreeMap<u64, u64> = self
            .streams
            .values()
            .map(|s| (s.meta.incarnation, s.keep_after(now_ms)))
            .collect();
        let Some(store) = self.store.as_mut() else {
            return Vec::new();
        };
        let doomed: Vec<u32> = store
            .segs
            .iter()
            .filter(|(id, seg)| {
                **id != active
                    && seg
                        .max_ts
                        .iter()
                        .all(|(inc, ts)| keep_after.get(inc).is_none_or(|k| ts < k))
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &doomed {
            store.segs.remove(id);
        }
        if !doomed.is_empty() {
            for s in self.streams.values_mut() {
                for sh in &mut s.shards {
                    sh.index.retain(|e| !doomed.contains(&e.seg));
                    let first = sh.index.front().map_or(sh.cache_base(), |e| e.first_pos);
                    sh.base = sh.base.max(first);
                }
            }
        }
        doomed
    }
}

#[cfg(test)]
mod tests;
