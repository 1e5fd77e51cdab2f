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

/// Opens the journal of `dir` and applies its intact frames again on top of
/// the B-tree's last durable commit, then makes them durable there.
pub(super) fn recover(db: &Database, dir: &Path, created: bool) -> Result<Journal, StoreError> {
    let damaged = |detail: String| StoreError::Damaged {
        path: dir.join("journal.log").display().to_string(),
        detail,
    };
    let found = Journal::open(dir).map_err(damaged)?;
    let mut journal = found.journal;
    if found.cut > 0 {
        tracing::warn!(
            bytes = found.cut,
            "dynamodb journal: the last write was torn (a crash during it, never acknowledged); cut"
        );
    }
    if found.frames.is_empty() {
        return Ok(journal);
    }
    if created {
        // Frames hold only the writes since the last checkpoint.
        return Err(damaged(
            "it holds writes but tables.redb was missing (now created empty): restore tables.redb, or move the journal away to start empty".into(),
        ));
    }
    let layer = replay(&found.frames).map_err(damaged)?;
    let tx = db.begin_write().map_err(db_err)?;
    write_layer(&tx, &layer).map_err(|e| damaged(format!("replaying it: {e}")))?;
    tx.commit().map_err(db_err)?;
    journal
        .restart()
        .map_err(|e| StoreError::Redb(format!("starting the journal again: {e}")))?;
    tracing::info!(groups = found.frames.len(), "dynamodb journal replayed");
    Ok(journal)
}
