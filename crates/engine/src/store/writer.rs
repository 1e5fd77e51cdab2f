//! The single log writer: group commit, rotation and segment deletion.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::codec::{encode_snapshot, RecordBatch};
use super::dir::DataDir;
use super::log::frame;
use super::recovery::{drop_segments, recover_locked};
use crate::error::EngineError;
use crate::kinesis::state::{Loc, SegInfo};
use crate::kinesis::Engine;

/// A request to the writer.
pub(crate) enum Job {
    Append {
        bytes: Vec<u8>,
        apply: Option<RecordBatch>,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Stop,
}

/// The single writer: batches every queued append into one write and one
/// fdatasync, then makes records visible and acknowledges. Rotates the active
/// segment when it is full and deletes expired sealed segments.
///
/// A failed write changes nothing: the bytes past the durable length are cut
/// and, when the failed group held stream changes (applied in memory as they
/// are queued) or a rotation, the state is rebuilt from the durable log under
/// the state lock, failing every job queued meanwhile, before the failed jobs
/// are answered. Writes are tried again with the next group (a disk that was
/// full serves again once space is freed).
pub(crate) async fn writer(
    engine: Arc<Engine>,
    mut dir: Option<DataDir>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) -> Result<(), EngineError> {
    let durable = dir.as_ref().map(|d| (d.dir.clone(), d.lock.clone()));
    let segment_bytes = engine.config.segment_bytes.max(1);
    // Set while the data dir could not be reopened after a failure (memory
    // may then differ from the log): the next group tries again first.
    let mut broken: Option<String> = None;
    let mut stop = false;
    let mut last_gc = 0u64;
    while !stop {
        let Some(first) = rx.recv().await else {
            break;
        };
        let mut jobs = vec![first];
        let mut size = 0usize;
        while size < (32 << 20) {
            match rx.try_recv() {
                Ok(job) => {
                    if let Job::Append { bytes, .. } = &job {
                        size += bytes.len();
                    }
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let mut appends = Vec::with_capacity(jobs.len());
        for job in jobs {
            match job {
                Job::Append {
                    bytes,
                    apply,
                    reply,
                } => appends.push((bytes, apply, reply)),
                Job::Stop => stop = true,
            }
        }
        if appends.is_empty() {
            continue;
        }
        if let (Some(cause), Some((path, lock))) = (broken.take(), durable.as_ref()) {
            // These jobs were queued against a memory that may not match the
            // log: they fail, and memory is rebuilt from the log.
            let (d, failed) = restore(&engine, path, lock, &mut rx, &mut stop);
            broken = failed;
            dir = d;
            let why = format!("{cause}; the change was not made");
            for (_, _, reply) in appends {
                let _ = reply.send(Err(why.clone()));
            }
            continue;
        }
        // Where the group landed: (segment, offset, newly sealed segment).
        let mut landed: Option<(u32, u64, Option<u32>)> = None;
        let mut failed: Option<String> = None;
        if let Some(mut d) = dir.take() {
            // The snapshot opening the next segment must hold only durable
            // stream changes: with one still queued (or in this group),
            // rotation waits for a later group.
            let snapshot = (d.active_len >= segment_bytes)
                .then(|| {
                    let st = engine.lock();
                    (engine.pending_meta.load(Ordering::SeqCst) == 0)
                        .then(|| encode_snapshot(&st.snapshot()))
                })
                .flatten()
                .and_then(|payload| {
                    if crate::store::log::fits(payload.len()) {
                        let mut b = Vec::new();
                        frame(&payload, d.salt, &mut b);
                        Some(b)
                    } else {
                        // Nothing is lost: the active segment grows on
                        // and old segments are kept.
                        tracing::error!(
                            bytes = payload.len(),
                            "metadata snapshot too large for a log frame; not rotating the log"
                        );
                        None
                    }
                });
            let rotating = snapshot.is_some();
            let mut buf = Vec::with_capacity(appends.iter().map(|a| a.0.len()).sum());
            for (bytes, _, _) in &appends {
                buf.extend_from_slice(bytes);
            }
            match tokio::task::spawn_blocking(move || {
                let r = (|| {
                    let sealed = match snapshot {
                        Some(snap) => Some(
                            d.rotate(&snap)
                                .map_err(|e| ("starting a new log segment", e))?,
                        ),
                        None => None,
                    };
                    let at = d.append(&buf).map_err(|e| ("appending to", e))?;
                    Ok::<_, (&str, std::io::Error)>((at, sealed))
                })();
                (d, r, buf.len())
            })
            .await
            {
                Ok((d, Ok((at, sealed)), _)) => {
                    landed = Some((d.active_id, at, sealed));
                    dir = Some(d);
                }
                Ok((d, Err((what, e)), n)) => {
                    let cause = format!("{what} {} ({n} bytes) failed: {e}", d.log_path.display());
                    tracing::error!(error = %cause, "log write failed; nothing of it is kept");
                    let metas = appends.iter().any(|a| a.1.is_none());
                    if !rotating && !metas {
                        // Records only: memory did not change (records are
                        // applied once durable); cut what reached the file.
                        match d.cut_back() {
                            Ok(()) => dir = Some(d),
                            Err(e) => {
                                broken = Some(format!("{cause}, then cutting it back failed: {e}"));
                            }
                        }
                    } else if let Some((path, lock)) = durable.as_ref() {
                        drop(d);
                        let (d, failed) = restore(&engine, path, lock, &mut rx, &mut stop);
                        dir = d;
                        broken = failed;
                    }
                    failed = Some(cause);
                }
                Err(e) => {
                    let cause = format!("the log write task failed: {e}");
                    broken = Some(cause.clone());
                    failed = Some(cause);
                }
            }
        } else if durable.is_some() {
            failed = Some("the log is unavailable".into());
        }
        let mut doomed = Vec::new();
        if failed.is_none() {
            let now = engine.now();
            let mut st = engine.lock();
            let metas = appends.iter().filter(|a| a.1.is_none()).count() as u64;
            engine.pending_meta.fetch_sub(metas, Ordering::SeqCst);
            if let (Some((seg, at, sealed)), Some(d)) = (landed, dir.as_ref()) {
                if let Some(store) = st.store.as_mut() {
                    let info = store.segs.entry(seg).or_insert_with(|| SegInfo {
                        file: d.active.clone(),
                        len: 0,
                        max_ts: BTreeMap::new(),
                    });
                    info.len = d.active_len;
                }
                let mut offset = at;
                for (bytes, apply, _) in &mut appends {
                    if let Some(batch) = apply.take() {
                        st.apply_records(batch, Some(Loc { seg, offset }));
                    }
                    offset += bytes.len() as u64;
                }
                // A DeleteStream or shorter retention not yet durable must not
                // delete segments: a crash would bring the stream back without
                // its records. Collect only when memory matches the log.
                if (sealed.is_some() || now.saturating_sub(last_gc) >= 1000)
                    && engine.pending_meta.load(Ordering::SeqCst) == 0
                {
                    last_gc = now;
                    doomed = st.expired_segments(now, seg);
                }
            } else {
                for (_, apply, _) in &mut appends {
                    if let Some(batch) = apply.take() {
                        st.apply_records(batch, None);
                    }
                }
            }
        }
        engine.changed.send_modify(|n| *n = n.wrapping_add(1));
        for (_, _, reply) in appends {
            let _ = reply.send(match &failed {
                None => Ok(()),
                Some(e) => Err(e.clone()),
            });
        }
        if let Some(d) = dir.as_mut() {
            if let Err(e) = drop_segments(d, &doomed) {
                tracing::warn!(error = %e, segments = ?doomed, "could not delete expired log segments");
            }
        }
    }
    if let Some(d) = dir {
        tokio::task::spawn_blocking(move || d.sync())
            .await
            .map_err(|e| EngineError::Task(e.to_string()))?
            .map_err(|source| EngineError::Io {
                context: "syncing the log at shutdown".into(),
                source,
            })?;
    }
    Ok(())
}

/// After a failed write: under the state lock (no job can be queued), fails
/// every queued job and rebuilds memory from the durable log, cutting what a
/// failed write left past it. Returns the reopened data dir, or why it could
/// not be reopened (tried again with the next group).
fn restore(
    engine: &Engine,
    path: &std::path::Path,
    lock: &Arc<std::fs::File>,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    stop: &mut bool,
) -> (Option<DataDir>, Option<String>) {
    let mut st = engine.lock();
    let mut queued = Vec::new();
    while let Ok(job) = rx.try_recv() {
        match job {
            Job::Append { reply, .. } => queued.push(reply),
            Job::Stop => *stop = true,
        }
    }
    engine.pending_meta.store(0, Ordering::SeqCst);
    let now = engine.now();
    let result = match recover_locked(path, lock.clone(), engine.config.cache_bytes, now) {
        Ok((state, d)) => {
            *st = state;
            tracing::info!(path = %path.display(), "log reopened after a failed write; memory matches the log again");
            (Some(d), None)
        }
        Err((durable, e)) => {
            // Memory holds what the log holds, even if it cannot be written
            // yet.
            if let Some(state) = durable {
                *st = *state;
            }
            tracing::error!(error = %e, "could not reopen the log after a failed write; trying again with the next write");
            (
                None,
                Some(format!(
                    "the log could not be reopened after a failed write: {e}"
                )),
            )
        }
    };
    drop(st);
    let why = "an earlier write to the log failed; the change was not made".to_string();
    for reply in queued {
        let _ = reply.send(Err(why.clone()));
    }
    result
}
