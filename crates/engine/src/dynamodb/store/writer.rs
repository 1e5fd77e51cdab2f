//! The writes of one transaction: every change goes to redb and, in
//! durable mode, to the group's journal frame.

use std::ops::Bound;

use redb::{ReadableTable, WriteTransaction};
use serde_json::Value as Json;

use super::journal;
use super::{
    clear_prefix, db_err, decode, encode, stats_decode, stats_key, Space, StoreError, Stored,
    CLEAR, DELETE, ITEMS, ITEMS_ID, META, META_ID, PUT, STATS, STATS_ID,
};
use crate::dynamodb::value::Item;

/// The writes of one transaction.
pub(crate) struct Writer<'a> {
    pub(super) tx: &'a WriteTransaction,
    /// Changes of item count and bytes by `stats` key, written at the end.
    pub(super) deltas: std::collections::BTreeMap<[u8; 12], (i64, i64)>,
    /// The group's journal frame (durable mode).
    pub(super) ops: Option<&'a mut Vec<u8>>,
}

impl Writer<'_> {
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
        let mut t = self.tx.open_table(space.def()).map_err(db_err)?;
        clear_prefix(&mut t, prefix).map_err(db_err)?;
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
        let mut t = self.tx.open_table(space.def()).map_err(db_err)?;
        t.insert(key, value).map_err(db_err)?;
        self.log(PUT, space.id(), key, Some(value));
        Ok(())
    }

    pub(crate) fn delete_raw(&mut self, space: Space, key: &[u8]) -> Result<(), StoreError> {
        let mut t = self.tx.open_table(space.def()).map_err(db_err)?;
        t.remove(key).map_err(db_err)?;
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
        let t = self.tx.open_table(ITEMS).map_err(db_err)?;
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
        let t = self.tx.open_table(space.def()).map_err(db_err)?;
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
        let t = self.tx.open_table(ITEMS).map_err(db_err)?;
        let v = t.get(key).map_err(db_err)?;
        v.map(|v| decode(key, v.value())).transpose()
    }

    pub(crate) fn put(&mut self, key: &[u8], item: &Item) -> Result<(), StoreError> {
        let mut t = self.tx.open_table(ITEMS).map_err(db_err)?;
        let bytes = encode(item)?;
        t.insert(key, bytes.as_slice()).map_err(db_err)?;
        self.log(PUT, ITEMS_ID, key, Some(&bytes));
        Ok(())
    }

    /// Stores `new` under `key` (None: removes it) and returns the size of
    /// the item it replaced, if any, from the same B-tree walk.
    pub(crate) fn swap(
        &mut self,
        key: &[u8],
        new: Option<&Item>,
    ) -> Result<Option<usize>, StoreError> {
        let mut t = self.tx.open_table(ITEMS).map_err(db_err)?;
        let bytes = new.map(encode).transpose()?;
        let old = match &bytes {
            Some(bytes) => t.insert(key, bytes.as_slice()),
            None => t.remove(key),
        }
        .map_err(db_err)?;
        match &bytes {
            Some(bytes) => record(&mut self.ops, PUT, ITEMS_ID, key, Some(bytes)),
            None => record(&mut self.ops, DELETE, ITEMS_ID, key, None),
        }
        old.map(|v| {
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
        .transpose()
    }

    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<(), StoreError> {
        let mut t = self.tx.open_table(ITEMS).map_err(db_err)?;
        t.remove(key).map_err(db_err)?;
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
