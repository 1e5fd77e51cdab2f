//! The writes of one transaction: every change goes to redb and, in
//! durable mode, to the group's journal frame.

use std::ops::Bound;

use redb::{ReadableTable, WriteTransaction};
use serde_json::Value as Json;

use super::journal;
use super::{
    clear_prefix, db_err, decode, encode, stats_decode, stats_key, Space, StoreError, Stored,
    CLEAR, DELETE, ITEMS_ID, META, META_ID, PUT, STATS, STATS_ID,
};
use crate::dynamodb::value::Item;

/// A key space's table in the open transaction.
type SpaceTable<'a> = redb::Table<'a, &'static [u8], &'static [u8]>;

/// The writes of one transaction.
pub(crate) struct Writer<'a> {
    pub(super) tx: &'a WriteTransaction,
    /// Changes of item count and bytes by `stats` key, written at the end.
    pub(super) deltas: std::collections::BTreeMap<[u8; 12], (i64, i64)>,
    /// The group's journal frame (durable mode).
    pub(super) ops: Option<&'a mut Vec<u8>>,
    /// The items, index and expiry tables, each opened once for all of a
    /// request's writes (opening one costs a lookup and its closing a write
    /// of its root: measured at 5 % of a BatchWriteItem's work when done
    /// per item).
    pub(super) spaces: [Option<SpaceTable<'a>>; 3],
}

impl<'a> Writer<'a> {
    pub(super) fn new(tx: &'a WriteTransaction, ops: Option<&'a mut Vec<u8>>) -> Self {
        Writer {
            tx,
            deltas: Default::default(),
            ops,
            spaces: [None, None, None],
        }
    }

    /// The table of `space`, opened at its first use.
    fn space(&mut self, space: Space) -> Result<&mut SpaceTable<'a>, StoreError> {
        let tx = self.tx;
        let slot = &mut self.spaces[usize::from(space.id() - 1)];
        if slot.is_none() {
            *slot = Some(tx.open_table(space.def()).map_err(db_err)?);
        }
        Ok(slot.as_mut().expect("opened above"))
    }

    fn log(&mut self, kind: u8, space: u8, key: &[u8], value: Option<&[u8]>) {
        record(&mut self.ops, kind, space, key, value);
    }

    /// Adds to the item count and bytes of a table (`index` 0) or index.
    pub(crate) fn add_stats(&mut self, table_id: u64, index: u32, count: i64, bytes: i64) {
        let d = self.deltas.entry(stats_key(table_id, index)).or_default();
        d.0 += count;
        d.1 += bytes;
    }

    /// Sets the figures of a table or index (after counting them).
    pub(crate) fn set_stats(
        &mut self,
        table_id: u64,
        index: u32,
        count: u64,
        bytes: u64,
    ) -> Result<(), StoreError> {
        self.deltas.remove(&stats_key(table_id, index));
        let mut t = self.tx.open_table(STATS).map_err(db_err)?;
        let mut v = count.to_be_bytes().to_vec();
        v.extend(bytes.to_be_bytes());
        t.insert(stats_key(table_id, index).as_slice(), v.as_slice())
            .map_err(db_err)?;
        self.log(PUT, STATS_ID, &stats_key(table_id, index), Some(&v));
        Ok(())
    }

    pub(super) fn flush_stats(&mut self) -> Result<(), StoreError> {
        if self.deltas.is_empty() {
            return Ok(());
        }
        let mut t = self.tx.open_table(STATS).map_err(db_err)?;
        for (key, (dn, db)) in std::mem::take(&mut self.deltas) {
            let (n, b) = t
                .get(key.as_slice())
                .map_err(db_err)?
                .map_or((0, 0), |v| stats_decode(v.value()));
            let mut v = n.saturating_add_signed(dn).to_be_bytes().to_vec();
            v.extend(b.saturating_add_signed(db).to_be_bytes());
            t.insert(key.as_slice(), v.as_slice()).map_err(db_err)?;
            record(&mut self.ops, PUT, STATS_ID, &key, Some(&v));
        }
        Ok(())
    }

    /// Removes every key of `space` starting with `prefix`.
    pub(crate) fn clear(&mut self, space: Space, prefix: &[u8]) -> Result<(), StoreError> {
        clear_prefix(self.space(space)?, prefix).map_err(db_err)?;
        self.log(CLEAR, space.id(), prefix, None);
        if space == Space::Items && prefix.len() == 8 {
            let mut s = self.tx.open_table(STATS).map_err(db_err)?;
            clear_prefix(&mut s, prefix).map_err(db_err)?;
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
        self.space(space)?.insert(key, value).map_err(db_err)?;
        self.log(PUT, space.id(), key, Some(value));
        Ok(())
    }

    pub(crate) fn delete_raw(&mut self, space: Space, key: &[u8]) -> Result<(), StoreError> {
        self.space(space)?.remove(key).map_err(db_err)?;
        self.log(DELETE, space.id(), key, None);
        Ok(())
    }

    /// The items with keys from `from` to `to` (excluded), at most `limit`.
    pub(crate) fn items(
        &mut self,
        from: Bound<&[u8]>,
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Item)>, StoreError> {
        let t = self.space(Space::Items)?;
        let mut out = Vec::new();
        for row in t
            .range::<&[u8]>((from, Bound::Excluded(to)))
            .map_err(db_err)?
            .take(limit)
        {
            let (k, v) = row.map_err(db_err)?;
            out.push((k.value().to_vec(), decode(k.value(), v.value())?));
        }
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
        let t = self.space(space)?;
        let mut out = Vec::new();
        for row in t.range::<&[u8]>(from..to).map_err(db_err)?.take(limit) {
            out.push(row.map_err(db_err)?.0.value().to_vec());
        }
        Ok(out)
    }

    pub(crate) fn put_table(&mut self, name: &str, desc: &Json) -> Result<(), StoreError> {
        let mut t = self.tx.open_table(META).map_err(db_err)?;
        let bytes = serde_json::to_vec(desc).map_err(db_err)?;
        t.insert(name, bytes.as_slice()).map_err(db_err)?;
        self.log(PUT, META_ID, name.as_bytes(), Some(&bytes));
        Ok(())
    }

    /// Removes a table's description and every item of it.
    pub(crate) fn delete_table(&mut self, name: &str, table_id: u64) -> Result<(), StoreError> {
        self.tx
            .open_table(META)
            .map_err(db_err)?
            .remove(name)
            .map_err(db_err)?;
        self.log(DELETE, META_ID, name.as_bytes(), None);
        let prefix = table_id.to_be_bytes();
        for space in [Space::Items, Space::Index, Space::Expiry] {
            self.clear(space, &prefix)?;
        }
        Ok(())
    }

    pub(crate) fn get(&mut self, key: &[u8]) -> Result<Option<Item>, StoreError> {
        let t = self.space(Space::Items)?;
        let v = t.get(key).map_err(db_err)?;
        v.map(|v| decode(key, v.value())).transpose()
    }

    pub(crate) fn put(&mut self, key: &[u8], item: &Item) -> Result<(), StoreError> {
        let bytes = encode(item)?;
        self.space(Space::Items)?
            .insert(key, bytes.as_slice())
            .map_err(db_err)?;
        self.log(PUT, ITEMS_ID, key, Some(&bytes));
        Ok(())
    }

    /// Stores an item encoded by [`encode`](super::encode) under `key`
    /// (None: removes it) and returns the size of the item it replaced, if
    /// any, from the same B-tree walk. The caller encodes it before it
    /// joins the write group, so that work stays out of the group's turn.
    pub(crate) fn swap(
        &mut self,
        key: &[u8],
        bytes: Option<&[u8]>,
    ) -> Result<Option<usize>, StoreError> {
        let t = self.space(Space::Items)?;
        let old = match bytes {
            Some(bytes) => t.insert(key, bytes),
            None => t.remove(key),
        }
        .map_err(db_err)?
        .map(|v| {
            let stored = Stored(v.value());
            stored.size().map_or_else(
                || {
                    stored
                        .item(key)
                        .map(|i| crate::dynamodb::value::item_size(&i))
                },
                Ok,
            )
        })
        .transpose()?;
        match bytes {
            Some(bytes) => record(&mut self.ops, PUT, ITEMS_ID, key, Some(bytes)),
            None => record(&mut self.ops, DELETE, ITEMS_ID, key, None),
        }
        Ok(old)
    }

    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        self.space(Space::Items)?.remove(key).map_err(db_err)?;
        self.log(DELETE, ITEMS_ID, key, None);
        Ok(())
    }
}

/// Adds a change to the group's journal frame (durable mode).
fn record(ops: &mut Option<&mut Vec<u8>>, kind: u8, space: u8, key: &[u8], value: Option<&[u8]>) {
    if let Some(ops) = ops.as_deref_mut() {
        journal::push(ops, kind, space, key, value);
    }
}
