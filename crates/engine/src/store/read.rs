//! Reads of records from the log segments (GetRecords and AT_TIMESTAMP
//! iterators for positions no longer cached).

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::codec::for_each_record;
use super::log::{FrameReader, Next, SegFile};
use crate::kinesis::state::{IndexEntry, Rec, INDEX_SPAN};

/// A read of one shard's records from the log segments.
pub(crate) struct DiskPlan {
    pub(crate) files: BTreeMap<u32, (Arc<SegFile>, u64)>,
    /// Index entries from the one holding `from` on.
    pub(crate) entries: Vec<IndexEntry>,
    pub(crate) incarnation: u64,
    pub(crate) shard: u32,
    pub(crate) from: u64,
    /// First position not to read from disk (the first cached one).
    pub(crate) upto: u64,
    pub(crate) limit: usize,
    pub(crate) max_bytes: usize,
    /// Records that arrived before this are skipped (retention, AT_TIMESTAMP).
    pub(crate) min_ts: u64,
}

/// Why a read from disk failed.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// A frame on disk is damaged: reads of this position cannot succeed.
    Damaged {
        path: std::path::PathBuf,
        offset: u64,
        reason: &'static str,
    },
    /// An I/O error (may pass).
    Io(String),
}

/// Reads records `plan.from..plan.upto` (up to the limits); returns them and
/// the position to continue from. Positions missing on disk are skipped.
pub(crate) fn read_disk(plan: &DiskPlan) -> Result<(Vec<(u64, Rec)>, u64), ReadError> {
    let mut out: Vec<(u64, Rec)> = Vec::new();
    let mut bytes = 0usize;
    let mut pos = plan.from;
    for (k, e) in plan.entries.iter().enumerate() {
        let range_end = plan
            .entries
            .get(k + 1)
            .map_or(plan.upto, |n| n.first_pos)
            .min(plan.upto);
        if pos >= range_end {
            continue;
        }
        if let Some((file, len)) = plan.files.get(&e.seg) {
            let mut reader = FrameReader::new(file, e.offset, *len);
            let mut full = false;
            loop {
                let payload = match reader.next().map_err(|err| {
                    ReadError::Io(format!("reading {}: {err}", file.path().display()))
                })? {
                    Next::Frame { offset, payload } if offset <= e.offset + INDEX_SPAN => payload,
                    Next::Bad { offset, reason } => {
                        return Err(ReadError::Damaged {
                            path: file.path(),
                            offset,
                            reason,
                        })
                    }
                    _ => break,
                };
                for_each_record(payload, plan.incarnation, plan.shard, |r| {
                    if r.pos < pos {
                        return true;
                    }
                    if r.pos >= range_end {
                        return false;
                    }
                    if r.ts_ms < plan.min_ts {
                        pos = r.pos + 1;
                        return true;
                    }
                    let size = r.data.len() + r.pk.len();
                    if out.len() >= plan.limit || (!out.is_empty() && bytes + size > plan.max_bytes)
                    {
                        full = true;
                        return false;
                    }
                    bytes += size;
                    out.push((
                        r.pos,
                        Rec {
                            ts_ms: r.ts_ms,
                            pk: r.pk.to_string(),
                            data: Bytes::copy_from_slice(r.data),
                        },
                    ));
                    pos = r.pos + 1;
                    true
                })
                .map_err(|_| ReadError::Damaged {
                    path: file.path(),
                    offset: e.offset,
                    reason: "bad record entry",
                })?;
                if full || out.len() >= plan.limit {
                    return Ok((out, pos));
                }
                if pos >= range_end {
                    break;
                }
            }
        }
        pos = pos.max(range_end);
        if pos >= plan.upto {
            break;
        }
    }
    Ok((out, pos))
}
