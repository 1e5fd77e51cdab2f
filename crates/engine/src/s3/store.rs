//! S3 storage: metadata in one redb database (`<data_dir>/s3/meta.redb`),
//! object bytes beside it.
//!
//! Why redb for the metadata rather than a sidecar file per object: an
//! object's metadata, the removal of the version it replaces and its
//! object-created event are one transaction (an event exists if and only if
//! its object was acknowledged), ListObjectsV2 is an ordered range scan of the
//! keys (a directory of sidecar files has no order, and 100,000 files would be
//! read and sorted per page), and writers share fsyncs through group commit.
//!
//! Object bytes: a body of at most [`INLINE_MAX`] is kept in the metadata
//! record itself (one commit acknowledges a small object); a larger one is a
//! file under `blobs/` whose name is a random id, never the key, so no key
//! can name a path. A file is written in `tmp/`, fsynced, renamed into
//! `blobs/` and the directory fsynced before the transaction that points to
//! it commits, so a `kill -9` leaves the old object or the new one. Files no
//! record points to (a crash between the rename and the commit, or before a
//! replaced file was deleted) are deleted when the store opens.
//!
//! In-memory mode (`data_dir: None`): redb's in-memory backend for the
//! metadata and small objects, a temporary directory (deleted on exit) for
//! larger bodies, so memory holds no large body.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use redb::{
    Database, ReadTransaction, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};

pub(crate) const BUCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("buckets");
/// `bucket \0 key` → [`ObjectMeta`].
pub(crate) const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
/// upload id → [`Upload`].
pub(crate) const UPLOADS: TableDefinition<&str, &[u8]> = TableDefinition::new("uploads");
/// `upload id \0 part number (big endian)` → [`Part`].
pub(crate) const PARTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("parts");
/// Event position → one S3 event record (JSON).
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Subscriber name → the position it acknowledged.
pub(crate) const CURSORS: TableDefinition<&str, u64> = TableDefinition::new("cursors");

/// Bodies up to this size are kept in their metadata record.
pub(crate) const INLINE_MAX: usize = 64 << 10;

/// How long a committer waits at most for the requests joining its group.
const JOIN_WAIT: std::time::Duration = std::time::Duration::from_millis(1);

/// redb's page cache (its default, 1 GiB, would let memory grow with the
/// number of keys).
const CACHE_BYTES: usize = 32 << 20;

/// A storage failure; answered as S3's InternalError.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("s3 storage failed: {0}")]
    Db(String),
    #[error("s3 storage i/o failed while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("s3 storage holds a damaged record under {0}: refusing to guess")]
    Corrupt(String),
}

pub(crate) fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Db(e.to_string())
}

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let context = context.into();
    move |source| StoreError::Io { context, source }
}

/// Where an object's bytes are.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum Data {
    /// In the record, base64.
    Inline(String),
    /// The file `blobs/<id>`.
    File(String),
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct BucketMeta {
    pub(crate) created_ms: u64,
    pub(crate) region: String,
    /// The notification configuration as S3's JSON-shaped model (see events.rs).
    #[serde(default)]
    pub(crate) notification: Option<serde_json::Value>,
    #[serde(default)]
    pub(crate) tags: Vec<(String, String)>,
}

/// Headers stored with an object and given back on GetObject/HeadObject.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Headers {
    pub(crate) content_type: Option<String>,
    pub(crate) content_encoding: Option<String>,
    pub(crate) content_disposition: Option<String>,
    pub(crate) content_language: Option<String>,
    pub(crate) cache_control: Option<String>,
    pub(crate) expires: Option<String>,
    /// `x-amz-meta-*`, without the prefix.
    pub(crate) metadata: Vec<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ObjectMeta {
    pub(crate) size: u64,
    /// Without quotes: hex MD5, or `hex-N` for a multipart object.
    pub(crate) etag: String,
    pub(crate) modified_ms: u64,
    pub(crate) headers: Headers,
    pub(crate) data: Data,
    #[serde(default)]
    pub(crate) tags: Vec<(String, String)>,
    /// Checksums the client sent (`CRC32` → base64 value).
    #[serde(default)]
    pub(crate) checksums: Vec<(String, String)>,
    /// Part sizes of a multipart object.
    #[serde(default)]
    pub(crate) parts: Vec<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Upload {
    pub(crate) bucket: String,
    pub(crate) key: String,
    pub(crate) initiated_ms: u64,
    pub(crate) headers: Headers,
    #[serde(default)]
    pub(crate) tags: Vec<(String, String)>,
    /// The checksum algorithm and type it was created with
    /// ([`super::upload_checksum`]).
    #[serde(default)]
    pub(crate) checksum: Option<(String, String)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Part {
    pub(crate) size: u64,
    pub(crate) etag: String,
    pub(crate) modified_ms: u64,
    /// Always a file.
    pub(crate) blob: String,
    /// Its checksum (base64) with its upload's algorithm, if it has one.
    #[serde(default)]
    pub(crate) checksum: Option<String>,
}

pub(crate) fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(0);
    k.extend_from_slice(key.as_bytes());
    k
}

pub(crate) fn part_key(upload: &str, part: u32) -> Vec<u8> {
    let mut k = upload.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&part.to_be_bytes());
    k
}

pub(crate) fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    what: &str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|_| StoreError::Corrupt(what.to_string()))
}

pub(crate) struct Store {
    db: Database,
    root: PathBuf,
    durable: bool,
    _temp: Option<tempfile::TempDir>,
    /// The write transaction requests are joining, and its group number.
    open: Mutex<(Option<WriteTransaction>, u64)>,
    /// The last committed group, and the groups whose commit failed.
    committed: Mutex<(u64, BTreeSet<u64>)>,
    /// Requests between their arrival and their writes in the open
    /// transaction.
    joining: AtomicUsize,
    /// Transactions committed by [`Store::write`].
    commits: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Store {
    /// Opens (or creates) `dir/s3/`, or an in-memory store with a temporary
    /// directory for large bodies; deletes unreferenced files.
    pub(crate) fn open(dir: Option<&Path>) -> Result<Store, StoreError> {
        let (root, temp, db) = match dir {
            Some(dir) => {
                let root = dir.join("s3");
                std::fs::create_dir_all(&root)
                    .map_err(io_err(format!("creating {}", root.display())))?;
                let db = Database::builder()
                    .set_cache_size(CACHE_BYTES)
                    .create(root.join("meta.redb"))
                    .map_err(db_err)?;
                (root, None, db)
            }
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("wildrydes-s3-")
                    .tempdir()
                    .map_err(io_err("creating a temporary directory for s3 bodies"))?;
                let db = Database::builder()
                    .create_with_backend(redb::backends::InMemoryBackend::new())
                    .map_err(db_err)?;
                (temp.path().to_path_buf(), Some(temp), db)
            }
        };
        for sub in ["blobs", "tmp"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err(format!("creating {}", p.display())))?;
        }
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(BUCKETS).map_err(db_err)?;
        tx.open_table(OBJECTS).map_err(db_err)?;
        tx.open_table(UPLOADS).map_err(db_err)?;
        tx.open_table(PARTS).map_err(db_err)?;
        tx.open_table(EVENTS).map_err(db_err)?;
        tx.open_table(CURSORS).map_err(db_err)?;
        tx.commit().map_err(db_err)?;
        let store = Store {
            db,
            durable: temp.is_none(),
            root,
            _temp: temp,
            open: Mutex::new((None, 1)),
            committed: Mutex::new((0, BTreeSet::new())),
            joining: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
        };
        store.sweep()?;
        Ok(store)
    }

    pub(crate) fn durable(&self) -> bool {
        self.durable
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub(crate) fn blob_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    pub(crate) fn blob_path(&self, id: &str) -> PathBuf {
        self.root.join("blobs").join(id)
    }

    /// Deletes `tmp/` files and blobs no record points to.
    fn sweep(&self) -> Result<(), StoreError> {
        let mut live = HashSet::new();
        let tx = self.read()?;
        let objects = tx.open_table(OBJECTS).map_err(db_err)?;
        for row in objects.iter().map_err(db_err)? {
            let (k, v) = row.map_err(db_err)?;
            let meta: ObjectMeta = decode(&String::from_utf8_lossy(k.value()), v.value())?;
            if let Data::File(id) = meta.data {
                live.insert(id);
            }
        }
        let parts = tx.open_table(PARTS).map_err(db_err)?;
        for row in parts.iter().map_err(db_err)? {
            let (_, v) = row.map_err(db_err)?;
            let part: Part = decode("part", v.value())?;
            live.insert(part.blob);
        }
        drop(tx);
        for (dir, keep) in [(self.tmp_dir(), false), (self.blob_dir(), true)] {
            let entries =
                std::fs::read_dir(&dir).map_err(io_err(format!("listing {}", dir.display())))?;
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !(keep && live.contains(&name)) {
                    tracing::debug!(file = %entry.path().display(), "deleting an unreferenced s3 file");
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    pub(crate) fn read(&self) -> Result<ReadTransaction, StoreError> {
        self.db.begin_read().map_err(db_err)
    }

    /// Runs `f` in a write transaction and returns once that transaction is
    /// durably committed. Group commit: requests arriving while a commit
    /// syncs queue for the next transaction, and its committer waits until
    /// every queued request has joined before it takes the transaction, so
    /// one sync acknowledges them all. `f` must write nothing when it
    /// returns an error: its writes would be committed with the others'.
    pub(crate) fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, E>,
    ) -> Result<T, E> {
        self.joining.fetch_add(1, Ordering::SeqCst);
        let joined = {
            let mut open = lock(&self.open);
            let joined = match open.0.take() {
                Some(tx) => Ok(tx),
                // Waits here (the lock held, so later requests queue behind
                // it) while the previous group's commit syncs.
                None => self.db.begin_write().map_err(db_err),
            }
            .map(|tx| {
                let out = f(&tx);
                open.0 = Some(tx);
                (out, open.1)
            });
            self.joining.fetch_sub(1, Ordering::SeqCst);
            joined
        };
        let (out, group) = joined?;
        let out = out?;
        let mut committed = lock(&self.committed);
        if committed.0 < group {
            let tx = self.take_group();
            if let Some(tx) = tx {
                match tx.commit() {
                    Ok(()) => {
                        self.commits.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "s3 commit failed");
                        committed.1.insert(group);
                    }
                }
            }
            committed.0 = group;
        }
        if committed.1.contains(&group) {
            return Err(StoreError::Db(format!("commit of write group {group} failed")).into());
        }
        Ok(out)
    }

    /// Takes the open transaction for its commit once no request is about
    /// to join it (or after a bounded wait, so a steady stream of requests
    /// cannot hold a commit back).
    fn take_group(&self) -> Option<WriteTransaction> {
        let deadline = std::time::Instant::now() + JOIN_WAIT;
        while self.joining.load(Ordering::SeqCst) != 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        let mut open = lock(&self.open);
        open.1 += 1;
        open.0.take()
    }

    /// Deletes the file of `data` (after the record that pointed to it is gone).
    pub(crate) fn forget(&self, data: &Data) {
        if let Data::File(id) = data {
            self.forget_file(id);
        }
    }

    pub(crate) fn forget_file(&self, id: &str) {
        if let Err(e) = std::fs::remove_file(self.blob_path(id)) {
            tracing::warn!(error = %e, id, "could not delete a replaced s3 file; it is deleted at the next start");
        }
    }
}

/// Reads a bucket's record in `tx`.
pub(crate) fn bucket_in<T: ReadableTable<&'static str, &'static [u8]>>(
    table: &T,
    name: &str,
) -> Result<Option<BucketMeta>, StoreError> {
    match table.get(name).map_err(db_err)? {
        Some(v) => Ok(Some(decode(name, v.value())?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Writers that arrive while a commit syncs are acknowledged by one
    /// commit: 8 threads writing 40 times each to a durable store need at
    /// most half as many commits as writes, and every write is there. (On
    /// this machine: about 100 commits, 110-131 with 8 copies of the test
    /// running at once; 138-205 without the wait for joining requests.)
    #[test]
    fn concurrent_writes_share_commits() {
        // On the disk of the checkout, not /tmp: a tmpfs makes fsync free,
        // and writers would then rarely meet a commit in progress.
        let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        let store = Arc::new(Store::open(Some(dir.path())).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    for i in 0..40u64 {
                        store
                            .write(|tx| -> Result<(), StoreError> {
                                let mut cursors = tx.open_table(CURSORS).map_err(db_err)?;
                                cursors
                                    .insert(format!("{t}-{i}").as_str(), i)
                                    .map_err(db_err)?;
                                Ok(())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let commits = store.commits.load(Ordering::Relaxed);
        assert!(commits * 2 <= 320, "{commits} commits for 320 writes");
        let tx = store.read().unwrap();
        let cursors = tx.open_table(CURSORS).unwrap();
        assert_eq!(cursors.iter().unwrap().count(), 320);
    }
}
