//! Recovery: rebuilds the in-memory state from the log segments at start.

use std::collections::BTreeMap;

use super::codec::{decode, encode_snapshot, Entry, TAG_SNAPSHOT};
use super::log::{frame, DataDir, Replay};
use crate::error::EngineError;
use crate::kinesis::state::{Loc, SegInfo, State};

/// Rebuilds the state from the log segments in `dir` (payloads stay on disk;
/// only the index and the most recent records up to `cache_bytes` are kept).
pub(crate) fn recover(
    dir: &std::path::Path,
    cache_bytes: u64,
    now_ms: u64,
) -> Result<(State, Option<DataDir>), EngineError> {
    let mut state = State::durable(cache_bytes);
    let mut starts_with_snapshot = BTreeMap::new();
    let mut data = DataDir::open(dir, |event| {
        match event {
            Replay::Segment(seg) => {
                if let Some(store) = state.store.as_mut() {
                    let info = store.segs.entry(seg.id).or_insert_with(|| SegInfo {
                        file: seg.file.clone(),
                        len: seg.len,
                        max_ts: BTreeMap::new(),
                    });
                    info.len = seg.len;
                }
            }
            Replay::Frame {
                seg,
                offset,
                payload,
            } => {
                if offset == 0 {
                    starts_with_snapshot.insert(seg, payload.first() == Some(&TAG_SNAPSHOT));
                }
                let corrupt = |reason| EngineError::Corrupt {
                    path: dir.to_path_buf(),
                    offset,
                    reason: format!("log segment {seg}: {reason}"),
                };
                match decode(payload).map_err(corrupt)? {
                    Entry::Meta(op) => state.apply_meta(op),
                    Entry::Records(batch) => state.apply_records(batch, Some(Loc { seg, offset })),
                    Entry::Snapshot(snap) => state.apply_snapshot(snap),
                }
            }
        }
        Ok(())
    })?;
    for s in state.streams.values_mut() {
        for (i, sh) in s.shards.iter_mut().enumerate() {
            sh.reserved = sh.reserved.max(sh.visible_end());
            if let Some(end) = s.meta.shards[i].closed_end.as_mut() {
                *end = (*end).min(sh.visible_end());
            }
        }
    }
    // Every segment after the first must start with a snapshot so that older
    // segments can be deleted (a crash during rotation can leave it empty).
    let sealed = state
        .store
        .as_ref()
        .is_some_and(|s| s.segs.keys().any(|id| *id != data.active_id));
    if sealed && starts_with_snapshot.get(&data.active_id) != Some(&true) {
        let path = data.log_path.clone();
        let io = |source| EngineError::Io {
            context: format!("writing a snapshot to {}", path.display()),
            source,
        };
        let payload = encode_snapshot(&state.snapshot());
        if !crate::store::log::fits(payload.len()) {
            return Err(io(std::io::Error::other(format!(
                "the metadata snapshot needs {} bytes, more than one log frame holds",
                payload.len()
            ))));
        }
        let mut snap = Vec::new();
        frame(&payload, &mut snap);
        if data.active_len == 0 {
            data.append(&snap).map_err(io)?;
        } else {
            data.rotate(&snap).map_err(io)?;
        }
        if let Some(store) = state.store.as_mut() {
            store.segs.insert(
                data.active_id,
                SegInfo {
                    file: data.active.clone(),
                    len: data.active_len,
                    max_ts: BTreeMap::new(),
                },
            );
        }
    }
    for id in state.expired_segments(now_ms, data.active_id) {
        data.remove(id).map_err(|source| EngineError::Io {
            context: format!("deleting expired log segment {id} in {}", dir.display()),
            source,
        })?;
    }
    let stats = state
        .streams
        .values()
        .flat_map(|s| s.shards.iter())
        .fold((0u64, 0u64), |(r, c), sh| {
            (r + sh.tail - sh.base, c + sh.cache.len() as u64)
        });
    tracing::info!(
        streams = state.streams.len(),
        records = stats.0,
        cached = stats.1,
        path = %dir.display(),
        "recovered data dir"
    );
    Ok((state, Some(data)))
}
