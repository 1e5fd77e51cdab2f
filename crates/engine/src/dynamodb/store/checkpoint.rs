//! A write group's commit (its journal frame synced, its changes into the
//! write buffer) and the checkpoint: the buffer frozen, the journal going on
//! in a new file, and a background thread writing the frozen changes into
//! the B-tree, so that writers do not wait for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Instant;

use redb::{Database, ReadableTable, WriteTransaction};

use super::buffer::Layer;
use super::journal::{self, Journal, CHECKPOINT_AFTER, CHECKPOINT_BYTES};
use super::{
    clear_prefix, lock, space_def, stats_decode, stats_encode, stats_key, Buffered, Store, Stored,
    ITEMS_ID, META, META_ID, STATS, STATS_ID,
};

/// Writes a layer's changes into the B-tree in `tx`, per key space the
/// prefixes cleared, then every key put or deleted (in key order): META, then STATS
/// (the indexes' figures, which writers keep, and the clears of a deleted
/// table's), then the items, whose insertions and removals hand back the
/// items they replace: the tables' own figures (`index` 0) are updated
/// from those, in the same transaction. So a table's figures always match
/// the items the B-tree holds, a write never reads the old item for them,
/// and writing a layer again (the journal replayed after a crash that
/// followed a checkpoint) changes nothing.
pub(super) fn write_layer(tx: &WriteTransaction, layer: &Layer) -> Result<(), String> {
    let err = |e: redb::Error| e.to_string();
    let mut figures: BTreeMap<u64, (i64, i64)> = BTreeMap::new();
    for space in [META_ID, STATS_ID, ITEMS_ID, 2, 3] {
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
            if space == STATS_ID && key.len() == 12 && key[8..] == [0; 4] {
                // A table's own figures, which journals written before
                // 2026-12-04 carry: counted from the items below instead.
                continue;
            }
            let old = match value {
                Some(value) => t.insert(key, value),
                None => t.remove(key),
            }
            .map_err(|e| err(e.into()))?;
            if space == ITEMS_ID {
                let old = old.map(|o| item_size(key, o.value())).transpose()?;
                let new = value.map(|v| item_size(key, v)).transpose()?;
                let table = key
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes)
                    .ok_or("an item key shorter than its table id")?;
                let f = figures.entry(table).or_default();
                f.0 += i64::from(new.is_some()) - i64::from(old.is_some());
                f.1 += new.unwrap_or(0) as i64 - old.unwrap_or(0) as i64;
            }
        }
    }
    if !figures.is_empty() {
        let mut t = tx.open_table(STATS).map_err(|e| err(e.into()))?;
        for (table, (count, bytes)) in figures {
            let key = stats_key(table, 0);
            let (n, b) = t
                .get(key.as_slice())
                .map_err(|e| err(e.into()))?
                .map_or((0, 0), |v| stats_decode(v.value()));
            let v = stats_encode(
                n.saturating_add_signed(count),
                b.saturating_add_signed(bytes),
            );
            t.insert(key.as_slice(), v.as_slice())
                .map_err(|e| err(e.into()))?;
        }
    }
    Ok(())
}

/// The size of a stored item as DynamoDB counts it.
fn item_size(key: &[u8], stored: &[u8]) -> Result<usize, String> {
    Stored(stored).counted_size(key).map_err(|e| e.to_string())
}

/// Writes `layer` into the B-tree in one transaction with immediate
/// durability.
fn write_durably(db: &Database, layer: &Layer) -> Result<(), String> {
    let tx = db.begin_write().map_err(|e| e.to_string())?;
    write_layer(&tx, layer)?;
    tx.commit().map_err(|e| e.to_string())
}

/// A frozen write buffer for the background thread, and the journal file
/// that holds its changes (removed once they are durable in the B-tree).
struct Job {
    layer: Arc<Layer>,
    journal: Option<PathBuf>,
}

#[derive(Default)]
struct State {
    job: Option<Job>,
    /// A checkpoint is waiting or running.
    busy: bool,
    /// The thread is asked to stop once its job is done.
    stop: bool,
    /// Why a checkpoint failed: its frozen changes stay in the buffer
    /// (reads stay right, the journal holds them) and writes stop.
    failed: Option<String>,
    /// Jobs wait (tests: the files as a crash during a checkpoint leaves them).
    held: bool,
}

#[derive(Default)]
struct Handoff {
    state: Mutex<State>,
    changed: Condvar,
}

impl Handoff {
    fn wait<'a>(&self, st: std::sync::MutexGuard<'a, State>) -> std::sync::MutexGuard<'a, State> {
        self.changed.wait(st).unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until no checkpoint is waiting or running; the reason of a
    /// failed one, if any.
    fn idle(&self) -> Result<(), String> {
        let mut st = lock(&self.state);
        while st.busy {
            st = self.wait(st);
        }
        st.failed.clone().map_or(Ok(()), Err)
    }
}

/// The background checkpoint thread.
pub(super) struct Background {
    handoff: Arc<Handoff>,
    thread: Option<JoinHandle<()>>,
}

impl Background {
    /// Starts the thread, which writes frozen buffers of `buffer` into `db`
    /// and keeps a spare journal file ready in `journal_dir`.
    pub(super) fn start(
        db: Arc<Database>,
        buffer: Arc<RwLock<Buffered>>,
        journal_dir: Option<PathBuf>,
    ) -> Background {
        let handoff = Arc::new(Handoff::default());
        let h = handoff.clone();
        let thread = std::thread::Builder::new()
            .name("dynamodb-checkpoint".into())
            .spawn(move || run(&db, &buffer, &h, journal_dir.as_deref()))
            .expect("starting the dynamodb checkpoint thread");
        Background {
            handoff,
            thread: Some(thread),
        }
    }

    /// Holds the thread's next jobs (`true`) or lets them run.
    #[cfg(test)]
    pub(super) fn hold(&self, held: bool) {
        lock(&self.handoff.state).held = held;
        self.handoff.changed.notify_all();
    }

    /// Whether a checkpoint is waiting or running.
    #[cfg(test)]
    pub(super) fn busy(&self) -> bool {
        lock(&self.handoff.state).busy
    }

    /// Lets the thread finish its checkpoint, then stops it.
    fn stop(&mut self) {
        {
            let mut st = lock(&self.handoff.state);
            st.stop = true;
            st.held = false;
        }
        self.handoff.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(db: &Database, buffer: &RwLock<Buffered>, handoff: &Handoff, journal_dir: Option<&Path>) {
    loop {
        let job = {
            let mut st = lock(&handoff.state);
            loop {
                if !st.held {
                    if let Some(job) = st.job.take() {
                        break job;
                    }
                }
                if st.stop {
                    return;
                }
                st = handoff.wait(st);
            }
        };
        // A panic fails the checkpoint like an error (writes stop) instead
        // of leaving writers and the clean stop waiting for it forever.
        let began = Instant::now();
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            write_durably(db, &job.layer)
        }))
        .unwrap_or_else(|_| Err("the checkpoint panicked".into()));
        tracing::debug!(
            bytes = job.layer.bytes(),
            took = ?began.elapsed(),
            "dynamodb checkpoint written"
        );
        if done.is_ok() {
            let mut buffered = buffer.write().unwrap_or_else(|p| p.into_inner());
            buffered.frozen = Arc::default();
            buffered.checkpoints += 1;
        }
        match (&done, &job.journal) {
            (Ok(()), Some(path)) => {
                // Left behind, it is applied again at the next start: harmless.
                if let Err(e) = std::fs::remove_file(path) {
                    tracing::warn!(error = %e, path = %path.display(), "dynamodb journal file not removed after its checkpoint");
                }
            }
            (Ok(()), None) => {}
            (Err(e), _) => tracing::error!(error = %e, "dynamodb checkpoint failed; writes stop"),
        }
        if let (Ok(()), Some(dir)) = (&done, journal_dir) {
            // Without a spare, the next journal file grows as it is written.
            if let Err(e) = journal::prepare(dir) {
                tracing::warn!(error = %e, dir = %dir.display(), "no spare dynamodb journal file prepared");
            }
        }
        // The frozen layer is freed here, outside every lock.
        drop(job);
        let mut st = lock(&handoff.state);
        st.busy = false;
        if let Err(e) = done {
            st.failed = Some(e);
        }
        handoff.changed.notify_all();
    }
}

impl Store {
    /// Commits the write group staged as `committing`: in durable mode its
    /// journal frame is synced first (a group whose frame cannot be written
    /// is dropped, and writes stop: the next group's requests may have read
    /// its changes); then its changes join the write buffer, which is
    /// checkpointed when due. A failed checkpoint leaves its changes in the
    /// buffer (reads stay right, the journal holds every change) and stops
    /// writes until a restart, which applies the journal again.
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
            if let Err(e) = self.freeze(journal.as_deref_mut()) {
                match journal {
                    Some(j) => j.stop(e),
                    None => tracing::error!(error = %e, "dynamodb checkpoint failed"),
                }
            }
        }
        Ok(())
    }

    /// Hands the write buffer to the background thread: the journal goes
    /// on in a new file and the buffer starts empty above the frozen one.
    /// While a checkpoint runs the buffer keeps growing, up to twice
    /// [`CHECKPOINT_BYTES`]; past that, the committer waits for it (memory
    /// stays bounded whatever the write rate).
    pub(super) fn freeze(&self, journal: Option<&mut Journal>) -> Result<(), String> {
        let handoff = &self.background.handoff;
        let mut st = lock(&handoff.state);
        while st.busy {
            if (super::read(&self.buffer).layer.bytes() as u64) < 2 * CHECKPOINT_BYTES {
                return Ok(());
            }
            tracing::debug!("dynamodb writes wait for the running checkpoint");
            st = handoff.wait(st);
        }
        if let Some(e) = &st.failed {
            return Err(e.clone());
        }
        let old = match journal {
            Some(j) => Some(j.rotate().map_err(|e| {
                format!(
                    "starting a new journal file after {}: {e}",
                    j.path().display()
                )
            })?),
            None => None,
        };
        let layer = {
            let mut buffered = self.buffer.write().unwrap_or_else(|p| p.into_inner());
            buffered.since = Instant::now();
            let layer = Arc::new(std::mem::take(&mut buffered.layer));
            buffered.frozen = layer.clone();
            layer
        };
        st.job = Some(Job {
            layer,
            journal: old,
        });
        st.busy = true;
        handoff.changed.notify_all();
        Ok(())
    }

    /// Writes the buffer into the B-tree now, once a background checkpoint
    /// is done, and starts the live journal file again. Only holders of the
    /// `committed` lock call it (a clean stop, tests), so no group commits
    /// in between.
    pub(super) fn checkpoint(&self, journal: Option<&mut Journal>) -> Result<(), String> {
        self.background.handoff.idle()?;
        {
            let buffered = super::read(&self.buffer);
            if buffered.layer.is_empty() {
                return Ok(());
            }
            write_durably(&self.db, &buffered.layer)?;
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
    /// A clean stop lets a background checkpoint finish, writes the buffer
    /// into the B-tree and empties the journal (a request's staged changes
    /// were never acknowledged).
    fn drop(&mut self) {
        self.background.stop();
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
