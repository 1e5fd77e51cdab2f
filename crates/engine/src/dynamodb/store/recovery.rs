//! The journal applied again at start, on top of the B-tree's last durable
//! commit.

use std::path::Path;

use redb::Database;

use super::buffer::Layer;
use super::checkpoint::write_layer;
use super::journal::{self, Journal};
use super::{db_err, StoreError, PUT};

/// The changes of the journal's frames, in order, as one layer.
fn replay(frames: &[Vec<u8>]) -> Result<Layer, String> {
    let mut layer = Layer::default();
    for frame in frames {
        for op in journal::ops(frame)? {
            if usize::from(op.space) >= super::buffer::SPACES {
                return Err(format!("unknown key space {}", op.space));
            }
            let value = (op.kind == PUT).then_some(op.value);
            layer.record(op.kind, op.space, op.key, value);
        }
    }
    Ok(layer)
}

/// Reads the journal files of `dir` and applies their intact frames again
/// on top of the B-tree's last durable commit, makes them durable there,
/// removes the files (oldest first: a crash in between leaves a newest file
/// whose torn end is still allowed) and starts a new one.
pub(super) fn recover(db: &Database, dir: &Path, created: bool) -> Result<Journal, StoreError> {
    let damaged = |path: &Path, detail: String| StoreError::Damaged {
        path: path.display().to_string(),
        detail,
    };
    let found = journal::read(dir).map_err(|(path, detail)| StoreError::DamagedJournal {
        path: path.display().to_string(),
        detail,
    })?;
    if found.cut > 0 {
        tracing::warn!(
            bytes = found.cut,
            "dynamodb journal: the last write was torn (a crash during it, never acknowledged); cut"
        );
    }
    let shown = found
        .files
        .first()
        .map_or(dir.join("journal.log"), Clone::clone);
    if !found.frames.is_empty() {
        if created {
            // Frames hold only the writes since the last checkpoint.
            return Err(damaged(
                &shown,
                "it holds writes but tables.redb was missing (now created empty): restore tables.redb, or move the journal away to start empty".into(),
            ));
        }
        let layer = replay(&found.frames).map_err(|e| damaged(&shown, e))?;
        let tx = db.begin_write().map_err(db_err)?;
        write_layer(&tx, &layer).map_err(|e| damaged(&shown, format!("replaying it: {e}")))?;
        tx.commit().map_err(db_err)?;
        tracing::info!(groups = found.frames.len(), "dynamodb journal replayed");
    }
    for path in &found.files {
        std::fs::remove_file(path)
            .map_err(|e| StoreError::Redb(format!("removing {}: {e}", path.display())))?;
    }
    let start = |e: std::io::Error| {
        StoreError::Redb(format!("starting the journal in {}: {e}", dir.display()))
    };
    journal::prepare(dir).map_err(start)?;
    Journal::create(dir, found.next).map_err(start)
}
