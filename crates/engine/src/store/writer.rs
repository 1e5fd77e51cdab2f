//! The single log writer: group commit, rotation and segment deletion.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::codec::{encode_snapshot, RecordBatch};
use super::log::{frame, DataDir};
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
pub(crate) async fn writer(
    engine: Arc<Engine>,
    mut dir: Option<DataDir>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) -> Result<(), EngineError> {
    let durable = dir.is_some();
    let segment_bytes = engine.config.segment_bytes.max(1);
    let mut failed: Option<String> = None;
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
        // Where the group landed: (segment, offset, newly sealed segment).
        let mut landed: Option<(u32, u64, Option<u32>)> = None;
        if failed.is_none() {
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
                            frame(&payload, &mut b);
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
                let mut buf = Vec::with_capacity(appends.iter().map(|a| a.0.len()).sum());
                for (bytes, _, _) in &appends {
                    buf.extend_from_slice(bytes);
                }
                match tokio::task::spawn_blocking(move || {
                    let r = (|| {
                        let sealed = match snapshot {
                            Some(snap) => Some(d.rotate(&snap)?),
                            None => None,
                        };
                        let at = d.append(&buf)?;
                        Ok::<_, std::io::Error>((at, sealed))
                    })();
                    (d, r)
                })
                .await
                {
                    Ok((d, Ok((at, sealed)))) => {
                        landed = Some((d.active_id, at, sealed));
                        dir = Some(d);
                    }
                    Ok((d, Err(e))) => {
                        tracing::error!(error = %e, path = %d.log_path.display(), "log write failed; refusing further writes");
                        failed = Some(e.to_string());
                        dir = Some(d);
                    }
                    Err(e) => failed = Some(e.to_string()),
                }
            } else if durable {
                failed = Some("the log is unavailable".into());
            }
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
        if failed.is_none() {
            engine.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
        for (_, _, reply) in appends {
            let _ = reply.send(match &failed {
                None => Ok(()),
                Some(e) => Err(e.clone()),
            });
        }
        if let Some(d) = dir.as_ref() {
            for id in doomed {
                if let Err(e) = d.remove(id) {
                    tracing::warn!(error = %e, segment = id, "could not delete an expired log segment");
                }
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
