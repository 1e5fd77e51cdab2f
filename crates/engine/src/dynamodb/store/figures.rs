//! The figures DescribeTable shows: item count and bytes of a table
//! (`index` 0, kept by the checkpoint from the items it writes:
//! [`super::checkpoint::write_layer`]) and of each index (kept by the
//! writes), in the `stats` key space.

use super::{db_err, lock, read, Store, StoreError, ITEMS_ID, STATS, STATS_ID};

/// The key of a table's (`index` 0) or an index's figures in `stats`.
pub(crate) fn stats_key(table_id: u64, index: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&table_id.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

/// The stored figures: count and bytes, 8 bytes each, big-endian.
pub(super) fn stats_encode(count: u64, bytes: u64) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&count.to_be_bytes());
    v[8..].copy_from_slice(&bytes.to_be_bytes());
    v
}

pub(super) fn stats_decode(v: &[u8]) -> (u64, u64) {
    let n = v
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes);
    let b = v
        .get(8..16)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes);
    (n, b)
}

impl Store {
    /// The item count and bytes of a table (`index` 0) or one of its indexes.
    pub(crate) fn stats(&self, table_id: u64, index: u32) -> Result<(u64, u64), StoreError> {
        self.get_raw(STATS_ID, &stats_key(table_id, index), |v| {
            v.map_or((0, 0), stats_decode)
        })
    }

    /// A table's item count and bytes, exact: when the write buffer holds
    /// changes of its items, a checkpoint writes them into the B-tree
    /// first, which counts them ([`checkpoint::write_layer`]).
    pub(crate) fn table_figures(&self, table_id: u64) -> Result<(u64, u64), StoreError> {
        let prefix = table_id.to_be_bytes();
        let pending = {
            let buffered = read(&self.buffer);
            buffered
                .layers()
                .iter()
                .any(|l| l.touches(ITEMS_ID, &prefix))
        };
        if pending {
            let mut committed = lock(&self.committed);
            self.checkpoint(committed.journal.as_mut())
                .map_err(StoreError::Redb)?;
        }
        self.stats(table_id, 0)
    }

    /// Sets a table's figures in the B-tree at once (after counting the
    /// items of a file written before they were kept; nothing may be
    /// buffered for the table).
    pub(crate) fn set_table_figures(
        &self,
        table_id: u64,
        count: u64,
        bytes: u64,
    ) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(STATS).map_err(db_err)?;
            let v = stats_encode(count, bytes);
            t.insert(stats_key(table_id, 0).as_slice(), v.as_slice())
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Whether the figures of a table are stored (files written before they were kept have none).
    pub(crate) fn has_stats(&self, table_id: u64) -> Result<bool, StoreError> {
        self.get_raw(STATS_ID, &stats_key(table_id, 0), |v| v.is_some())
    }
}
