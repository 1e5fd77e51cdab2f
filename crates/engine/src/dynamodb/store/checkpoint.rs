//! A write group's commit (its journal frame synced, its changes into the
//! write buffer) and the checkpoint (the buffer into the B-tree, synced, the
//! journal started again).

use std::time::Instant;

use redb::WriteTransaction;

use super::buffer::Layer;
use super::journal::{self, Journal, CHECKPOINT_AFTER, CHECKPOINT_BYTES};
use super::{clear_prefix, lock, space_def, Store, META, META_ID};

/// Writes the changes of `layer` into the B-tree: per key space, the
/// prefixes cleared, then every key put or deleted (in key order).
pub(super) fn write_layer(tx: &WriteTransaction, layer: &Layer) -> Result<(), String> {
    let err = |e: redb::Error| e.to_string();
    for space in 0..super::buffer::SPACES as u8 {
        let (cleared, mut changes) = layer.changes(space);
        let mut changes = changes.by_ref().peekable();
        if cleared.is_empty() && changes.peek().is_none() {
            continue;
        }
        if space == META_ID {
            let mut t = tx.open_table(META).map_err(|e| err(e.into()))?;
            for (name, desc) in changes {
                let name =
                    std::str::from_utf8(name).map_err(|_| "a table name that is not UTF-8")?;
                match desc {
                    Some(desc) => t.insert(name, desc).map(drop),
                    None => t.remove(name).map(drop),
                }
                .map_err(|e| err(e.into()))?;
            }
            continue;
        }
        let def = space_def(space).ok_or_else(|| format!("unknown key space {space}"))?;
        let mut t = tx.open_table(def).map_err(|e| err(e.into()))?;
        for prefix in cleared {
            clear_prefix(&mut t, prefix).map_err(|e| err(e.into()))?;
        }
        for (key, value) in changes {
            match value {
                Some(value) => t.insert(key, value).map(drop),
                None => t.remove(key).map(drop),
            }
            .map_err(|e| err(e.into()))?;
        }
    }
    Ok(())
}

impl Store {
    /// Commits the write group staged as `committing`: in durable mode its
    /// journal frame is synced first (a group whose frame cannot be written
    /// is dropped, and writes stop: the next group's requests may have read
    /// its changes); then its changes join the write buffer, which a
    /// checkpoint writes into the B-tree when due. A failed checkpoint
    /// leaves the buffer as it is (reads stay right, the journal holds
    /// every change) and stops writes until a restart, which applies the
    /// journal again.
    pub(super) fn commit(&self, mut journal: Option<&mut Journal>) -> Result<(), String> {
        let appended = match journal.as_deref_mut() {
            Some(j) => match j.stopped() {
                Some(why) => Err(format!(
                    "writes stopped ({why}); restart the engine, which applies the journal again"
                )),
                None => {
                    // Readers may read meanwhile; only this committer writes.
                    let buffered = super::read(&self.buffer);
                    match buffered.committing.frame() {
                        Some(frame) if !journal::is_empty(frame) => j.append(frame).map_err(|e| {
                            let e = format!("writing {}: {e}", j.path().display());
                            j.stop(e.clone());
                            e
                        }),
                        _ => Ok(()),
                    }
                }
            },
            None => Ok(()),
        };
        let due = {
            let mut buffered = self.buffer.write().unwrap_or_else(|p| p.into_inner());
            let staged = std::mem::take(&mut buffered.committing);
            appended?;
            buffered.layer.absorb(staged);
            !buffered.layer.is_empty()
                && match journal.as_deref() {
                    Some(j) => j.due(),
                    None => {
                        buffered.layer.bytes() as u64 >= CHECKPOINT_BYTES
                            || buffered.since.elapsed() >= CHECKPOINT_AFTER
                    }
                }
        };
        if due {
            if let Err(e) = self.checkpoint(journal.as_deref_mut()) {
                match journal {
                    Some(j) => j.stop(e),
                    None => {
                        tracing::error!(error = %e, "dynamodb checkpoint failed; retried later")
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the buffer into the B-tree in one durable transaction, starts
    /// the journal again and empties the buffer. Only the committer calls
    /// it (holding the `committed` lock), so the buffer cannot change in
    /// between; readers see the buffer over either B-tree meanwhile, which
    /// both give the same answers.
    pub(super) fn checkpoint(&self, journal: Option<&mut Journal>) -> Result<(), String> {
        {
            let buffered = super::read(&self.buffer);
            if buffered.layer.is_empty() {
                return Ok(());
            }
            let tx = self.db.begin_write().map_err(|e| e.to_string())?;
            write_layer(&tx, &buffered.layer)?;
            tx.commit().map_err(|e| e.to_string())?;
        }
        if let Some(j) = journal {
            j.restart()
                .map_err(|e| format!("starting {} again: {e}", j.path().display()))?;
        }
        let old = {
            let mut buffered = self.buffer.write().unwrap_or_else(|p| p.into_inner());
            buffered.checkpoints += 1;
            buffered.since = Instant::now();
            std::mem::take(&mut buffered.layer)
        };
        // Freed outside the lock.
        drop(old);
        Ok(())
    }
}

impl Drop for Store {
    /// A clean stop writes the buffer into the B-tree and empties the
    /// journal (a request's staged changes were never acknowledged).
    fn drop(&mut self) {
        let mut committed = lock(&self.committed);
        if committed
            .journal
            .as_ref()
            .is_some_and(|j| j.stopped().is_some())
        {
            return;
        }
        if let Err(e) = self.checkpoint(committed.journal.as_mut()) {
            tracing::warn!(error = %e, "dynamodb checkpoint at stop failed; the journal is replayed at the next start");
        }
    }
}
