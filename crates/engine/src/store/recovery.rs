//! Recovery: rebuilds the in-memory state from the log segments at start
//! (and after a failed write, see the writer).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use super::codec::{decode, encode_dropped, encode_snapshot, Entry};
use super::dir::{lock_dir, DataDir, Replay, Scanned};
use super::log::{frame, sealed_name, Format, SEG_HEADER};
use crate::error::EngineError;
use crate::kinesis::state::{Loc, SegInfo, Snapshot, State};

/// Applies scanned frames to a state and keeps what the checks after the
/// scan need.
pub(crate) struct Replayer {
    pub(crate) state: State,
    /// Segments whose first frame was a snapshot (`true`) or not.
    starts_with_snapshot: BTreeMap<u32, bool>,
    /// The latest snapshot listing segments: its segment and the list.
    listed: Option<(u32, BTreeSet<u32>)>,
    /// Segments deleted on purpose.
    pub(crate) dropped: BTreeSet<u32>,
    /// Segments of format 2.
    v2: BTreeSet<u32>,
    /// When `Some`, (incarnation, shard, position) of each record replayed
    /// is pushed here (repair drains it after each event).
    pub(crate) positions: Option<Vec<(u64, u32, u64)>>,
}

impl Replayer {
    pub(crate) fn new(cache_bytes: u64) -> Self {
        Replayer {
            state: State::durable(cache_bytes),
            starts_with_snapshot: BTreeMap::new(),
            listed: None,
            dropped: BTreeSet::new(),
            v2: BTreeSet::new(),
            positions: None,
        }
    }

    /// Takes one scan event. Returns the snapshot of a frame holding one
    /// (after applying it), for callers that look closer (repair).
    pub(crate) fn on(
        &mut self,
        dir: &Path,
        event: Replay<'_>,
    ) -> Result<Option<Snapshot>, EngineError> {
        match event {
            Replay::Segment { id, file, len } => {
                if matches!(file.format, Format::V2 { .. }) {
                    self.v2.insert(id);
                }
                if let Some(store) = self.state.store.as_mut() {
                    let info = store.segs.entry(id).or_insert_with(|| SegInfo {
                        file: file.clone(),
                        len,
                        max_ts: BTreeMap::new(),
                    });
                    info.len = len;
                }
                Ok(None)
            }
            Replay::Damage(_) => Ok(None),
            Replay::Frame {
                seg,
                offset,
                payload,
            } => {
                let first = !self.starts_with_snapshot.contains_key(&seg);
                let corrupt = |reason| EngineError::Corrupt {
                    path: dir.to_path_buf(),
                    offset,
                    reason: format!("log segment {seg}: {reason}"),
                };
                let entry = decode(payload).map_err(corrupt)?;
                if first {
                    self.starts_with_snapshot
                        .insert(seg, matches!(entry, Entry::Snapshot(_)));
                }
                match entry {
                    Entry::Meta(op) => self.state.apply_meta(op),
                    Entry::Records(batch) => {
                        if let Some(out) = self.positions.as_mut() {
                            let inc = batch.incarnation;
                            out.extend(batch.recs.iter().map(|(sh, pos, _)| (inc, *sh, *pos)));
                        }
                        self.state.apply_records(batch, Some(Loc { seg, offset }))
                    }
                    Entry::Snapshot(snap) => {
                        if let Some(ids) = &snap.segments {
                            self.listed = Some((seg, ids.iter().copied().collect()));
                        }
                        let out = self.positions.is_some().then(|| snap.clone());
                        self.state.apply_snapshot(snap);
                        return Ok(out);
                    }
                    Entry::Dropped(ids) => self.dropped.extend(ids),
                    Entry::Pad => {}
                }
                Ok(None)
            }
        }
    }

    /// Sealed segments that should be there and are not: those listed by the
    /// latest snapshot and every id from its segment to the active one, less
    /// those deleted on purpose. Format-1 dirs (no listing) are not checked.
    pub(crate) fn missing(&self, sealed: &[u32], active_id: u32) -> Vec<u32> {
        let mut required = BTreeSet::new();
        match &self.listed {
            Some((k, ids)) => {
                required.extend(ids.iter().copied());
                required.extend(*k..active_id);
            }
            None => {
                if let Some(first) = self.v2.first() {
                    required.extend(*first..active_id);
                }
            }
        }
        let present: BTreeSet<u32> = sealed.iter().copied().collect();
        required
            .into_iter()
            .filter(|id| *id < active_id && !present.contains(id) && !self.dropped.contains(id))
            .collect()
    }
}

/// Rebuilds the state from the log segments in `dir` (payloads stay on disk;
/// only the index and the most recent records up to `cache_bytes` are kept).
pub(crate) fn recover(
    dir: &Path,
    cache_bytes: u64,
    now_ms: u64,
) -> Result<(State, Option<DataDir>), EngineError> {
    let lock = lock_dir(dir)?;
    let (state, data) = recover_locked(dir, lock, cache_bytes, now_ms).map_err(|(_, e)| e)?;
    Ok((state, Some(data)))
}

/// A recovery error, with the state of the durable log when the log was read
/// but could not be made writable (e.g. a full disk).
pub(crate) type NotWritable = (Option<Box<State>>, EngineError);

/// [`recover`] on a data dir already locked by this process. When the log
/// was read but could not be made writable (e.g. a full disk), the error
/// comes with the state of the durable log.
pub(crate) fn recover_locked(
    dir: &Path,
    lock: Arc<File>,
    cache_bytes: u64,
    now_ms: u64,
) -> Result<(State, DataDir), NotWritable> {
    let mut replay = Replayer::new(cache_bytes);
    let scanned = Scanned::scan(dir, lock, false, |event| replay.on(dir, event).map(|_| ()))
        .map_err(|e| (None, e))?;
    let missing = replay.missing(&scanned.sealed, scanned.active_id);
    if !missing.is_empty() {
        return Err((
            None,
            EngineError::MissingSegments {
                dir: dir.to_path_buf(),
                missing: missing
                    .iter()
                    .map(|id| sealed_name(*id))
                    .collect::<Vec<_>>()
                    .join(", "),
            },
        ));
    }
    let Replayer {
        mut state,
        starts_with_snapshot,
        ..
    } = replay;
    for s in state.streams.values_mut() {
        for (i, sh) in s.shards.iter_mut().enumerate() {
            sh.reserved = sh.reserved.max(sh.visible_end());
            if let Some(end) = s.meta.shards[i].closed_end.as_mut() {
                *end = (*end).min(sh.visible_end());
            }
        }
    }
    let mut data = match scanned.finish() {
        Ok(data) => data,
        Err(e) => return Err((Some(Box::new(state)), e)),
    };
    let path = data.log_path.clone();
    let io = |source| EngineError::Io {
        context: format!("writing a snapshot to {}", path.display()),
        source,
    };
    // Every segment after the first must start with a snapshot so that older
    // segments can be deleted (a crash during rotation can leave it empty).
    // An active segment of format 1 with frames is sealed as it is, so that
    // appends go to a segment of format 2.
    let upgrade = data.active.format == Format::V1 && data.active_len > 0;
    let sealed = state
        .store
        .as_ref()
        .is_some_and(|s| s.segs.keys().any(|id| *id != data.active_id));
    if upgrade || (sealed && starts_with_snapshot.get(&data.active_id) != Some(&true)) {
        if let Some(store) = state.store.as_mut() {
            if let Some(info) = store.segs.get_mut(&data.active_id) {
                info.len = data.active_len;
            }
        }
        let payload = encode_snapshot(&state.snapshot());
        if !crate::store::log::fits(payload.len()) {
            let e = io(std::io::Error::other(format!(
                "the metadata snapshot needs {} bytes, more than one log frame holds",
                payload.len()
            )));
            return Err((Some(Box::new(state)), e));
        }
        let mut snap = Vec::new();
        frame(&payload, data.salt, &mut snap);
        let written = if !upgrade && data.active_len <= SEG_HEADER {
            data.append(&snap).map(|_| ())
        } else {
            data.rotate(&snap).map(|_| ())
        };
        if let Err(e) = written {
            return Err((Some(Box::new(state)), io(e)));
        }
    }
    if let Some(store) = state.store.as_mut() {
        store.segs.insert(
            data.active_id,
            SegInfo {
                file: data.active.clone(),
                len: data.active_len,
                max_ts: store
                    .segs
                    .get(&data.active_id)
                    .map(|s| s.max_ts.clone())
                    .unwrap_or_default(),
            },
        );
    }
    let doomed = state.expired_segments(now_ms, data.active_id);
    if let Err(e) = drop_segments(&mut data, &doomed) {
        // Kept for now; deleted at a later start.
        tracing::warn!(error = %e, "could not delete expired log segments");
    }
    let stats = state
        .streams
        .values()
        .flat_map(|s| s.shards.iter())
        .fold((0u64, 0u64), |(r, c), sh| {
            (r + sh.tail - sh.base, c + sh.cache.len() as u64)
        });
    if state.streams.is_empty() {
        // A new (or emptied) data dir: nothing worth a line at start.
        tracing::debug!(path = %dir.display(), "data dir has no streams");
    } else {
        tracing::info!(
            streams = state.streams.len(),
            records = stats.0,
            cached = stats.1,
            path = %dir.display(),
            "recovered data dir"
        );
    }
    Ok((state, data))
}

/// Deletes sealed segments on purpose: first records (durably) that they are
/// gone, so that recovery does not take their absence for a hole.
pub(crate) fn drop_segments(data: &mut DataDir, ids: &[u32]) -> Result<(), EngineError> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut bytes = Vec::new();
    frame(&encode_dropped(ids), data.salt, &mut bytes);
    let io = |what: String| {
        move |source| EngineError::Io {
            context: what,
            source,
        }
    };
    if let Err(e) = data.append(&bytes) {
        let _ = data.cut_back();
        return Err(io(format!(
            "recording deleted log segments in {}",
            data.log_path.display()
        ))(e));
    }
    for &id in ids {
        data.remove(id).map_err(io(format!(
            "deleting expired log segment {id} in {}",
            data.dir.display()
        )))?;
    }
    Ok(())
}
