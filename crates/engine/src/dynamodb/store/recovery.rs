//! The journal applied again at start, on top of the B-tree's last durable
//! commit.

use std::path::Path;

use redb::{Database, WriteTransaction};

use super::journal::{self, Journal};
use super::{
    clear_prefix, db_err, StoreError, DELETE, EXPIRY, INDEX, ITEMS, ITEMS_ID, META, META_ID, PUT,
    STATS, STATS_ID,
};

/// Applies one change of the journal again (at start).
fn replay(tx: &WriteTransaction, op: &journal::Op<'_>) -> Result<(), String> {
    let err = |e: redb::Error| e.to_string();
    if op.space == META_ID {
        let mut t = tx.open_table(META).map_err(|e| err(e.into()))?;
        let name = std::str::from_utf8(op.key).map_err(|_| "a table name that is not UTF-8")?;
        match op.kind {
            PUT => t.insert(name, op.value).map(drop),
            DELETE => t.remove(name).map(drop),
            _ => return Err(format!("change {} of the table list", op.kind)),
        }
        .map_err(|e| err(e.into()))?;
        return Ok(());
    }
    let def = match op.space {
        ITEMS_ID => ITEMS,
        2 => INDEX,
        3 => EXPIRY,
        STATS_ID => STATS,
        s => return Err(format!("unknown key space {s}")),
    };
    let mut t = tx.open_table(def).map_err(|e| err(e.into()))?;
    match op.kind {
        PUT => t.insert(op.key, op.value).map(drop),
        DELETE => t.remove(op.key).map(drop),
        _ => clear_prefix(&mut t, op.key),
    }
    .map_err(|e| err(e.into()))
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
    let tx = db.begin_write().map_err(db_err)?;
    for frame in &found.frames {
        for op in journal::ops(frame).map_err(damaged)? {
            replay(&tx, &op).map_err(|e| damaged(format!("replaying it: {e}")))?;
        }
    }
    tx.commit().map_err(db_err)?;
    journal
        .restart()
        .map_err(|e| StoreError::Redb(format!("starting the journal again: {e}")))?;
    tracing::info!(groups = found.frames.len(), "dynamodb journal replayed");
    Ok(journal)
}
