//! The writes of one request: every change goes to its write group's
//! staged layer and, in durable mode, to the group's journal frame; its
//! reads see the group's changes over the write buffer over the B-tree.

use std::ops::Bound;

use redb::{ReadOnlyTable, ReadTransaction, ReadableDatabase};
use serde_json::Value as Json;

use super::buffer::{self, Layer, Seen};
use super::{
    db_err, decode, space_def, stats_decode, stats_encode, stats_key, visit_merged, Space, Store,
    StoreError, Stored, CLEAR, DELETE, ITEMS_ID, META_ID, PUT, STATS_ID,
};
use crate::dynamodb::value::Item;

/// The B-tree as a request reads it: a read transaction and the tables
/// opened in it, begun after checkpoint number `checkpoints`.
struct Snapshot {
    checkpoints: u64,
    tx: ReadTransaction,
    tables: [Option<ReadOnlyTable<&'static [u8], &'static [u8]>>; 5],
}

/// The writes of one request.
pub(crate) struct Writer<'a> {
    store: &'a Store,
    staged: &'a mut Layer,
    /// Changes of item count and bytes by `stats` key, written at the end.
    pub(super) deltas: std::collections::BTreeMap<[u8; 12], (i64, i64)>,
    /// The B-tree's read transaction, kept for the request's reads while no
    /// checkpoint happens (beginning one and opening a table per item cost
    /// more than the read).
    snapshot: Option<Snapshot>,
}

impl<'a> Writer<'a> {
    pub(super) fn new(store: &'a Store, staged: &'a mut Layer) -> Self {
        Writer {
            store,
            staged,
            deltas: Default::default(),
            snapshot: None,
        }
    }

    /// Runs `f` on the request's layers (staged, then the write buffer) and
    /// the B-tree's table of `space`, a consistent view.
    fn read<T>(
        &mut self,
        space: u8,
        f: impl FnOnce(&[&Layer], &ReadOnlyTable<&'static [u8], &'static [u8]>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let buffered = super::read(&self.store.buffer);
        if self
            .snapshot
            .as_ref()
            .is_none_or(|s| s.checkpoints != buffered.checkpoints)
        {
            self.snapshot = Some(Snapshot {
                checkpoints: buffered.checkpoints,
                tx: self.store.db.begin_read().map_err(db_err)?,
                tables: Default::default(),
            });
        }
        let snapshot = self.snapshot.as_mut().expect("begun above");
        let slot = &mut snapshot.tables[usize::from(space)];
        if slot.is_none() {
            let def = space_def(space).expect("a space of byte keys");
            *slot = Some(snapshot.tx.open_table(def).map_err(db_err)?);
        }
        let table = slot.as_ref().expect("opened above");
        f(
            &[
                &*self.staged,
                &buffered.committing,
                &buffered.layer,
                &buffered.frozen,
            ],
            table,
        )
    }

    /// The newest value of `key` in `space`, passed to `f`.
    fn get_raw<T>(
        &mut self,
        space: u8,
        key: &[u8],
        f: impl FnOnce(Option<&[u8]>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        // The staged layer is the first of `layers`: looked up once.
        self.read(space, |layers, t| {
            match buffer::lookup(layers, space, key) {
                Seen::Value(v) => f(Some(v)),
                Seen::Gone => f(None),
                Seen::Below => {
                    let v = t.get(key).map_err(db_err)?;
                    f(v.as_ref().map(|v| v.value()))
                }
            }
        })
    }

    /// Records a change in the group's staged layer (and journal frame).
    fn log(&mut self, kind: u8, space: u8, key: &[u8], value: Option<&[u8]>) {
        self.staged.record(kind, space, key, value);
    }

    /// Adds to the item count and bytes of an index (a table's own figures,
    /// `index` 0, are kept by the checkpoint: [`super::checkpoint::write_layer`]).
    pub(crate) fn add_stats(&mut self, table_id: u64, index: u32, count: i64, bytes: i64) {
        debug_assert_ne!(index, 0, "a table's figures are the checkpoint's");
        let d = self.deltas.entry(stats_key(table_id, index)).or_default();
        d.0 += count;
        d.1 += bytes;
    }

    /// Sets the figures of an index (after counting them).
    pub(crate) fn set_stats(
        &mut self,
        table_id: u64,
        index: u32,
        count: u64,
        bytes: u64,
    ) -> Result<(), StoreError> {
        debug_assert_ne!(index, 0, "a table's figures are the checkpoint's");
        self.deltas.remove(&stats_key(table_id, index));
        let v = stats_encode(count, bytes);
        self.log(PUT, STATS_ID, &stats_key(table_id, index), Some(&v));
        Ok(())
    }

    pub(super) fn flush_stats(&mut self) -> Result<(), StoreError> {
        for (key, (dn, db)) in std::mem::take(&mut self.deltas) {
            let (n, b) = self.get_raw(STATS_ID, &key, |v| Ok(v.map_or((0, 0), stats_decode)))?;
            let v = stats_encode(n.saturating_add_signed(dn), b.saturating_add_signed(db));
            self.log(PUT, STATS_ID, &key, Some(&v));
        }
        Ok(())
    }

    /// Removes every key of `space` starting with `prefix`.
    pub(crate) fn clear(&mut self, space: Space, prefix: &[u8]) -> Result<(), StoreError> {
        self.log(CLEAR, space.id(), prefix, None);
        if space == Space::Items && prefix.len() == 8 {
            self.log(CLEAR, STATS_ID, prefix, None);
            self.deltas.retain(|k, _| !k.starts_with(prefix));
        }
        Ok(())
    }

    /// Stores raw bytes under `key` in `space` (index entries, expiry entries).
    pub(crate) fn put_raw(
        &mut self,
        space: Space,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), StoreError> {
        self.log(PUT, space.id(), key, Some(value));
        Ok(())
    }

    pub(crate) fn delete_raw(&mut self, space: Space, key: &[u8]) -> Result<(), StoreError> {
        self.log(DELETE, space.id(), key, None);
        Ok(())
    }

    /// Visits the keys of `space` from `from` to `to` (excluded) with their
    /// newest values, until `visit` returns false.
    fn scan(
        &mut self,
        space: Space,
        from: Bound<&[u8]>,
        to: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut failed = None;
        self.read(space.id(), |layers, t| {
            visit_merged(
                layers,
                space,
                t,
                (from, Bound::Excluded(to)),
                true,
                |k, v| match visit(k, v) {
                    Ok(go_on) => go_on,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                },
            )
        })?;
        failed.map_or(Ok(()), Err)
    }

    /// The items with keys from `from` to `to` (excluded), at most `limit`.
    pub(crate) fn items(
        &mut self,
        from: Bound<&[u8]>,
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Item)>, StoreError> {
        let mut out = Vec::new();
        self.scan(Space::Items, from, to, |k, v| {
            out.push((k.to_vec(), decode(k, v)?));
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// The keys of `space` in `[from, to)`, at most `limit`.
    pub(crate) fn keys(
        &mut self,
        space: Space,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.scan(space, Bound::Included(from), to, |k, _| {
            out.push(k.to_vec());
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    pub(crate) fn put_table(&mut self, name: &str, desc: &Json) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(desc).map_err(db_err)?;
        self.log(PUT, META_ID, name.as_bytes(), Some(&bytes));
        Ok(())
    }

    /// Removes a table's description and every item of it.
    pub(crate) fn delete_table(&mut self, name: &str, table_id: u64) -> Result<(), StoreError> {
        self.log(DELETE, META_ID, name.as_bytes(), None);
        let prefix = table_id.to_be_bytes();
        for space in [Space::Items, Space::Index, Space::Expiry] {
            self.clear(space, &prefix)?;
        }
        Ok(())
    }

    pub(crate) fn get(&mut self, key: &[u8]) -> Result<Option<Item>, StoreError> {
        self.get_raw(ITEMS_ID, key, |v| v.map(|v| decode(key, v)).transpose())
    }

    pub(crate) fn put(&mut self, key: &[u8], item: &Item) -> Result<(), StoreError> {
        let bytes = super::encode(item)?;
        self.log(PUT, ITEMS_ID, key, Some(&bytes));
        Ok(())
    }

    /// Stores an item encoded by [`encode`](super::encode) under `key`
    /// (None: removes it), without reading what it replaces: the table's
    /// figures are kept by the checkpoint, which sees the replaced item
    /// ([`super::checkpoint::write_layer`]). The caller encodes it before it
    /// joins the write group, so that work stays out of the group's turn.
    pub(crate) fn put_encoded(&mut self, key: &[u8], bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => self.log(PUT, ITEMS_ID, key, Some(bytes)),
            None => self.log(DELETE, ITEMS_ID, key, None),
        }
    }

    /// The size of the item stored under `key`, if any (as DynamoDB counts
    /// it; decoded from files that did not keep it).
    pub(crate) fn size_of(&mut self, key: &[u8]) -> Result<Option<usize>, StoreError> {
        self.get_raw(ITEMS_ID, key, |v| {
            v.map(|v| Stored(v).counted_size(key)).transpose()
        })
    }

    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.log(DELETE, ITEMS_ID, key, None);
        Ok(())
    }
}
