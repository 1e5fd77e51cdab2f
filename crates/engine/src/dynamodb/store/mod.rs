//! DynamoDB storage: one `redb` database (a copy-on-write B-tree, pure Rust),
//! `dynamodb/tables.redb` in the engine's data dir, or redb's in-memory
//! backend when the engine has no data dir.
//!
//! Five redb tables: `meta` (table name → table description as JSON),
//! `items` (table id, 8 bytes big-endian + the partition key's hash tag,
//! 3 bytes, in tables created since 2026-12-03 (`super::partition`) +
//! partition key bytes + sort key bytes, from [`AttributeValue::key_bytes`]
//! → the item as DynamoDB JSON),
//! `index` (table id + index number, 4 bytes + the index's key bytes + the
//! table's key bytes → the projected item), `expiry` (table id + TTL
//! seconds, 8 bytes + the item's storage key → nothing) and `stats` (table
//! id and index number, 0 for the table → item count and bytes, 8 bytes
//! each). An index's figures are kept by the writes, which read the old
//! item anyway to update the index; a table's own are kept by the
//! checkpoint, from the items its insertions replace ([`checkpoint::write_layer`]),
//! so a write to a table without indexes or TTL reads nothing first, and
//! DescribeTable takes a checkpoint when the table has buffered changes.
//! Key bytes sort as the service sorts keys, so a Query is one range scan,
//! and a Scan (or one of its segments) too.
//! A write group is durable once its frame of the write journal is synced
//! (`journal.N.log`, [`journal`]), before the request is answered; its
//! changes then wait in the write buffer ([`buffer`]), which reads merge
//! over the B-tree, until a checkpoint freezes the buffer, goes on in a new
//! journal file and has a background thread write the frozen changes into
//! the B-tree in one transaction with immediate durability (fsync), then
//! remove the old file ([`checkpoint`]).
//!
//! ## Why redb (measured 2026-12-02 on this 2-core machine, release builds)
//!
//! | workload                                   | redb 4.6        | fjall 3.1 (LSM)   |
//! |--------------------------------------------|-----------------|-------------------|
//! | 400 durable batches of 25 items of 200 B   | 5.65 ms/batch, 4,425 items/s | 4.01 ms/batch, 6,234 items/s |
//! | range read of a 1,000-item partition       | p50 91 µs, p99 199 µs | p50 184 µs, p99 4.3 ms |
//! | clean `cargo build --release` of a tiny crate using it | 25 s | 91 s |
//!
//! fjall writes a little faster (both sync once per commit; redb also
//! rewrites the B-tree pages on the path to each key), but redb reads a partition twice as fast with a far better tail (the
//! issue's goal is a Query p99 ≤ 2 ms), builds in a quarter of the time, has
//! an in-memory backend for the engine's in-memory mode, and its write
//! transactions are serialized, which gives conditional writes their
//! read-check-write atomicity for free. Its sync per commit is shared:
//! requests arriving while a commit syncs join the next transaction (group
//! commit, [`group`]).
//!
//! Through the engine (debug build, AWS SDK for Rust, 4 callers, durable,
//! with other builds loading the 2 cores): about 2,000-2,400 items/s of
//! BatchWriteItem (25 items of ~200 B); a Query of a 1,000-item partition
//! took ~75-110 ms p50, mostly the debug SDK's deserialization: release
//! figures are for the benchmark (point 7).

use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};
use std::time::Instant;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde_json::Value as Json;

use super::value::Item;
use buffer::{Layer, Seen};
pub(crate) use figures::stats_key;
use figures::{stats_decode, stats_encode};
use journal::{Journal, CLEAR, DELETE, PUT};
use recovery::recover;

mod buffer;
mod checkpoint;
mod figures;
#[cfg(test)]
mod figures_tests;
mod group;
#[cfg(test)]
mod group_tests;
mod journal;
mod recovery;
pub(crate) mod repair;
#[cfg(test)]
mod repair_tests;
#[cfg(test)]
mod tests;
mod writer;

pub(crate) use group::Ticket;
pub(crate) use writer::Writer;

/// redb's page cache in durable mode (its default, 1 GiB, would let memory
/// grow far past the 200 MB goal on a large table).
const CACHE_BYTES: usize = 64 << 20;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const ITEMS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("items");
const INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("index");
const EXPIRY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("expiry");
const STATS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("stats");

/// Which ordered key space a read or write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Space {
    /// The tables' items.
    Items,
    /// Secondary index entries.
    Index,
    /// TTL expiry entries.
    Expiry,
}

impl Space {
    fn def(self) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
        match self {
            Space::Items => ITEMS,
            Space::Index => INDEX,
            Space::Expiry => EXPIRY,
        }
    }

    /// The space's number in the journal.
    fn id(self) -> u8 {
        match self {
            Space::Items => ITEMS_ID,
            Space::Index => 2,
            Space::Expiry => 3,
        }
    }
}

/// The journal's numbers of the two other tables (META's keys are strings).
const META_ID: u8 = 0;
const ITEMS_ID: u8 = 1;
const STATS_ID: u8 = 4;

/// The redb table of a key space other than META, by its number.
fn space_def(space: u8) -> Option<TableDefinition<'static, &'static [u8], &'static [u8]>> {
    match space {
        ITEMS_ID => Some(ITEMS),
        2 => Some(INDEX),
        3 => Some(EXPIRY),
        STATS_ID => Some(STATS),
        _ => None,
    }
}

fn clear_prefix(
    t: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    prefix: &[u8],
) -> Result<(), redb::StorageError> {
    match super::query::successor(prefix) {
        Some(end) => t.retain_in::<&[u8], _>(prefix..end.as_slice(), |_, _| false),
        None => t.retain_in::<&[u8], _>(prefix.., |_, _| false),
    }
}

/// A storage failure; the service answers it as an InternalServerError.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    #[error("dynamodb storage failed: {0}")]
    Redb(String),
    #[error("dynamodb storage holds a damaged record under {0}: refusing to guess")]
    Corrupt(String),
    #[error("dynamodb storage file {path} is damaged ({detail}): refusing to start on it; move it away to start empty, or restore it from a copy")]
    Damaged { path: String, detail: String },
    #[error("dynamodb journal file {path} is damaged ({detail}): refusing to start on it; `wildrydes repair` drops the damaged part and keeps every intact write (it reports what is lost), or restore the data dir from a copy")]
    DamagedJournal { path: String, detail: String },
}

fn db_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Redb(e.to_string())
}

pub(crate) struct Store {
    db: Arc<Database>,
    open: Mutex<Open>,
    committed: Mutex<Committed>,
    /// Which write groups are durable, waited on by their requests.
    durable: group::Durable,
    /// The acknowledged changes the B-tree does not hold yet.
    buffer: Arc<RwLock<Buffered>>,
    gate: group::Gate,
    background: checkpoint::Background,
}

/// The write group requests are joining: its number and its changes
/// (which its requests read; recorded as its journal frame).
struct Open {
    staged: Layer,
    group: u64,
}

/// The write buffer, the frozen buffer a background checkpoint is writing
/// into the B-tree (older than `layer`), the changes of the group being
/// committed (which the next group's requests read, and other readers not
/// before they are durable), the number of checkpoints taken (a read
/// transaction of the B-tree begun under an earlier number may miss
/// changes the buffers no longer hold) and when the last one began.
struct Buffered {
    layer: Layer,
    frozen: Arc<Layer>,
    committing: Layer,
    checkpoints: u64,
    since: Instant,
}

impl Buffered {
    /// The buffers readers merge over the B-tree, newest first.
    fn layers(&self) -> [&Layer; 2] {
        [&self.layer, &self.frozen]
    }
}

/// The journal (durable mode), held by the one committing (or checkpointing).
struct Committed {
    journal: Option<Journal>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|p| p.into_inner())
}

/// The first byte string of a table's keys and the first of the next table.
pub(crate) fn table_bounds(table_id: u64) -> (Vec<u8>, Vec<u8>) {
    (
        table_id.to_be_bytes().to_vec(),
        (table_id + 1).to_be_bytes().to_vec(),
    )
}

impl Store {
    /// Opens (or creates) `dir/dynamodb/tables.redb`, or an in-memory store.
    pub(crate) fn open(dir: Option<&Path>) -> Result<Store, StoreError> {
        let created = dir.is_some_and(|d| !d.join("dynamodb").join("tables.redb").exists());
        let db = match dir {
            Some(dir) => {
                let dir = dir.join("dynamodb");
                std::fs::create_dir_all(&dir)
                    .map_err(|e| StoreError::Redb(format!("creating {}: {e}", dir.display())))?;
                let path = dir.join("tables.redb");
                let damaged = |detail: String| StoreError::Damaged {
                    path: path.display().to_string(),
                    detail,
                };
                // redb would initialize an empty file as a new database: an
                // existing empty file is a truncated one, never emptied silently.
                let existing = match std::fs::metadata(&path) {
                    Ok(m) if m.len() == 0 => return Err(damaged("it is empty".into())),
                    Ok(_) => true,
                    Err(_) => false,
                };
                let mut builder = Database::builder();
                builder.set_cache_size(CACHE_BYTES);
                if existing {
                    // Every page's checksum is verified: a file altered outside
                    // redb fails here instead of being trusted.
                    builder.set_check_integrity_on_open(true);
                    builder.set_repair_callback(|session| {
                        // 0.3: the latest commit failed its checksums and redb
                        // falls back to the one before (a commit torn by a crash
                        // was never acknowledged, so nothing acknowledged is lost).
                        if (session.progress() - 0.3).abs() < 1e-9 {
                            tracing::warn!("dynamodb storage: the last commit was torn (a crash during it); falling back to the previous one");
                        }
                    });
                }
                let opened = if existing {
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| builder.open(&path)))
                } else {
                    Ok(builder.create(&path))
                };
                match opened {
                    Ok(Ok(db)) => db,
                    Ok(Err(e)) => return Err(damaged(e.to_string().replace('\n', " "))),
                    Err(_) => return Err(damaged("redb could not read it".into())),
                }
            }
            None => Database::builder()
                .create_with_backend(redb::backends::InMemoryBackend::new())
                .map_err(db_err)?,
        };
        let tx = db.begin_write().map_err(db_err)?;
        tx.open_table(META).map_err(db_err)?;
        for def in [ITEMS, INDEX, EXPIRY, STATS] {
            tx.open_table(def).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
        let journal = match dir {
            Some(dir) => Some(recover(&db, &dir.join("dynamodb"), created)?),
            None => None,
        };
        let db = Arc::new(db);
        let buffer = Arc::new(RwLock::new(Buffered {
            layer: Layer::default(),
            frozen: Arc::default(),
            committing: Layer::default(),
            checkpoints: 0,
            since: Instant::now(),
        }));
        Ok(Store {
            background: checkpoint::Background::start(
                db.clone(),
                buffer.clone(),
                dir.map(|d| d.join("dynamodb")),
            ),
            db,
            open: Mutex::new(Open {
                staged: Layer::default(),
                group: 1,
            }),
            buffer,
            gate: group::Gate::default(),
            committed: Mutex::new(Committed { journal }),
            durable: group::Durable::default(),
        })
    }

    /// Every table description, by name.
    pub(crate) fn tables(&self) -> Result<Vec<Json>, StoreError> {
        let buffered = read(&self.buffer);
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(META).map_err(db_err)?;
        let mut out = Vec::new();
        let mut failed = None;
        buffer::visit(
            &buffered.layers(),
            META_ID,
            (Bound::Unbounded, Bound::Unbounded),
            true,
            t.iter().map_err(db_err)?,
            |k, v| match serde_json::from_slice(v) {
                Ok(desc) => {
                    out.push(desc);
                    true
                }
                Err(_) => {
                    let name = String::from_utf8_lossy(k).into_owned();
                    failed = Some(StoreError::Corrupt(format!("table {name}")));
                    false
                }
            },
        )
        .map_err(db_err)?;
        failed.map_or(Ok(out), Err)
    }

    /// Runs `f` in a write transaction and returns once that transaction is
    /// committed and durable (its journal frame synced, or, without a data
    /// dir, committed in memory): [`Store::apply`], then [`Store::wait`].
    /// `f` must write nothing when it returns an error: its writes would be
    /// committed with the others'.
    pub(crate) fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let (out, ticket) = self.apply(f)?;
        self.wait(ticket)?;
        Ok(out)
    }

    /// The newest value of `key` in `space` (not META), from the write
    /// buffer or the B-tree, passed to `f`.
    fn get_raw<T>(
        &self,
        space: u8,
        key: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> T,
    ) -> Result<T, StoreError> {
        let buffered = read(&self.buffer);
        match buffer::lookup(&buffered.layers(), space, key) {
            Seen::Value(v) => return Ok(f(Some(v))),
            Seen::Gone => return Ok(f(None)),
            Seen::Below => {}
        }
        let def = space_def(space).expect("a space of byte keys");
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(def).map_err(db_err)?;
        let v = t.get(key).map_err(db_err)?;
        Ok(f(v.as_ref().map(|v| v.value())))
    }

    /// The item stored under `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Item>, StoreError> {
        self.get_raw(ITEMS_ID, key, |v| v.map(|v| decode(key, v)))?
            .transpose()
    }

    /// Items with keys in `(from, to)`, ascending or descending, until `visit`
    /// returns false.
    pub(crate) fn range(
        &self,
        space: Space,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        forward: bool,
        mut visit: impl FnMut(&[u8], Item) -> bool,
    ) -> Result<(), StoreError> {
        let mut failed = None;
        self.range_raw(space, from, to, forward, |k, stored| {
            let item = if space == Space::Expiry {
                Ok(Item::new())
            } else {
                stored.item(k)
            };
            match item {
                Ok(item) => visit(k, item),
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// [`Store::range`] without decoding the items.
    pub(crate) fn range_raw(
        &self,
        space: Space,
        from: Bound<&[u8]>,
        to: Bound<&[u8]>,
        forward: bool,
        mut visit: impl FnMut(&[u8], Stored<'_>) -> bool,
    ) -> Result<(), StoreError> {
        let buffered = read(&self.buffer);
        let tx = self.db.begin_read().map_err(db_err)?;
        let t = tx.open_table(space.def()).map_err(db_err)?;
        visit_merged(
            &buffered.layers(),
            space,
            &t,
            (from, to),
            forward,
            |k, v| visit(k, Stored(v)),
        )
    }
}

/// An item as stored: its size as DynamoDB counts it (4 bytes, after a
/// 0x01 tag) and its DynamoDB JSON; files written before the size was kept
/// hold the bare JSON.
pub(crate) struct Stored<'a>(&'a [u8]);

const SIZED: u8 = 1;

/// The stored form of `item`.
pub(crate) fn encode(item: &Item) -> Result<Vec<u8>, StoreError> {
    encode_sized(item, super::value::item_size(item))
}

/// [`encode`] of an item whose size the caller has counted already.
pub(crate) fn encode_sized(item: &Item, size: usize) -> Result<Vec<u8>, StoreError> {
    // The JSON is the counted size plus each attribute's type and quotes:
    // reserved at once (items are at most 400 KB), not grown eight times.
    let mut out = Vec::with_capacity(5 + 2 * size.min(1 << 20) + 64);
    let size = u32::try_from(size).unwrap_or(u32::MAX);
    out.push(SIZED);
    out.extend(size.to_be_bytes());
    serde_json::to_writer(&mut out, item).map_err(db_err)?;
    Ok(out)
}

impl<'a> Stored<'a> {
    /// The item's DynamoDB JSON.
    pub(crate) fn json(&self) -> &'a [u8] {
        match self.0.first() {
            Some(&SIZED) => self.0.get(5..).unwrap_or_default(),
            _ => self.0,
        }
    }

    /// The item's size, when stored with it.
    pub(crate) fn size(&self) -> Option<usize> {
        match self.0 {
            [SIZED, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d]) as usize),
            _ => None,
        }
    }

    pub(crate) fn item(&self, key: &[u8]) -> Result<Item, StoreError> {
        decode(key, self.0)
    }

    /// The item's size as DynamoDB counts it: stored with it, or counted
    /// from the item (files written before the size was kept).
    pub(crate) fn counted_size(&self, key: &[u8]) -> Result<usize, StoreError> {
        match self.size() {
            Some(size) => Ok(size),
            None => self.item(key).map(|i| super::value::item_size(&i)),
        }
    }
}

fn decode(key: &[u8], bytes: &[u8]) -> Result<Item, StoreError> {
    super::stored::item_from_slice(Stored(bytes).json())
        .ok_or_else(|| StoreError::Corrupt(format!("item key {key:02x?}")))
}

/// Visits the keys of `space` in `(from, to)` of `layers` over the
/// B-tree's table `t`, each with its newest value (see [`buffer::visit`]).
fn visit_merged(
    layers: &[&Layer],
    space: Space,
    t: &impl ReadableTable<&'static [u8], &'static [u8]>,
    (from, to): (Bound<&[u8]>, Bound<&[u8]>),
    forward: bool,
    visit: impl FnMut(&[u8], &[u8]) -> bool,
) -> Result<(), StoreError> {
    let range = t.range::<&[u8]>((from, to)).map_err(db_err)?;
    let rows: Box<dyn Iterator<Item = _>> = if forward {
        Box::new(range)
    } else {
        Box::new(range.rev())
    };
    buffer::visit(layers, space.id(), (from, to), forward, rows, visit).map_err(db_err)
}
