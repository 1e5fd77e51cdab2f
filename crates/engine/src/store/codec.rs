//! The log's entry encoding: record batches (binary), stream changes,
//! snapshots and dropped segments (JSON), and padding over a repaired region,
//! each tagged by its first byte.

use bytes::Bytes;

use crate::kinesis::state::{MetaOp, Rec, Snapshot};

/// Records of one stream appended together.
#[derive(Debug, Clone)]
pub(crate) struct RecordBatch {
    pub(crate) incarnation: u64,
    pub(crate) recs: Vec<(u32, u64, Rec)>,
}

const TAG_RECORDS: u8 = 1;
pub(crate) const TAG_META: u8 = 2;
pub(crate) const TAG_SNAPSHOT: u8 = 3;
const TAG_DROPPED: u8 = 4;
const TAG_PAD: u8 = 5;

/// Bytes of the smallest record in a record entry (shard, position, arrival
/// time, key length, a 1-byte key, data length, no data): a damaged region
/// of `n` bytes held at most `n / MIN_RECORD` records.
pub(crate) const MIN_RECORD: u64 = 4 + 8 + 8 + 2 + 1 + 4;

pub(crate) enum Entry {
    Records(RecordBatch),
    Meta(MetaOp),
    Snapshot(Snapshot),
    /// Sealed segments deleted on purpose (retention, or a loss accepted by
    /// a repair): their absence is not a hole.
    Dropped(Vec<u32>),
    /// Filler written by a repair over a damaged region.
    Pad,
}

pub(crate) fn encode_dropped(ids: &[u32]) -> Vec<u8> {
    let mut out = vec![TAG_DROPPED];
    // Serializing a list of numbers to JSON cannot fail.
    if let Ok(json) = serde_json::to_vec(ids) {
        out.extend_from_slice(&json);
    }
    out
}

/// A padding payload of `len` bytes (at least 1).
pub(crate) fn encode_pad(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len.max(1)];
    out[0] = TAG_PAD;
    out
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

pub(crate) fn encode_snapshot(snap: &Snapshot) -> Vec<u8> {
    let mut out = vec![TAG_SNAPSHOT];
    // Serializing plain data structures to JSON cannot fail.
    if let Ok(json) = serde_json::to_vec(snap) {
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
        Some(&TAG_SNAPSHOT) => serde_json::from_slice(&payload[1..])
            .map(Entry::Snapshot)
            .map_err(|e| format!("bad snapshot entry: {e}")),
        Some(&TAG_DROPPED) => serde_json::from_slice(&payload[1..])
            .map(Entry::Dropped)
            .map_err(|e| format!("bad dropped-segments entry: {e}")),
        Some(&TAG_PAD) => Ok(Entry::Pad),
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

/// One record of a stored batch, borrowed from the frame.
pub(crate) struct RecView<'a> {
    pub(crate) pos: u64,
    pub(crate) ts_ms: u64,
    pub(crate) pk: &'a str,
    pub(crate) data: &'a [u8],
}

/// Calls `f` with each record of `shard` in a record frame of stream
/// `incarnation` (other frames are skipped) until `f` returns false.
pub(crate) fn for_each_record(
    payload: &[u8],
    incarnation: u64,
    shard: u32,
    mut f: impl FnMut(RecView<'_>) -> bool,
) -> Result<(), String> {
    if payload.first() != Some(&TAG_RECORDS) {
        return Ok(());
    }
    let mut r = Reader(&payload[1..]);
    let bad = || "bad record entry".to_string();
    if r.u64().ok_or_else(bad)? != incarnation {
        return Ok(());
    }
    let n = r.u32().ok_or_else(bad)?;
    for _ in 0..n {
        let sh = r.u32().ok_or_else(bad)?;
        let pos = r.u64().ok_or_else(bad)?;
        let ts_ms = r.u64().ok_or_else(bad)?;
        let pk_len = r.u16().ok_or_else(bad)?;
        let pk = r.take(pk_len as usize).ok_or_else(bad)?;
        let data_len = r.u32().ok_or_else(bad)?;
        let data = r.take(data_len as usize).ok_or_else(bad)?;
        if sh != shard {
            continue;
        }
        let pk = std::str::from_utf8(pk).map_err(|_| bad())?;
        if !f(RecView {
            pos,
            ts_ms,
            pk,
            data,
        }) {
            break;
        }
    }
    Ok(())
}
