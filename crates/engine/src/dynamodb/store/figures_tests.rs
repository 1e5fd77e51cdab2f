//! A table's figures (item count and bytes) are kept by the checkpoint from
//! the items it writes into the B-tree: exact after puts, overwrites and
//! deletes, across checkpoints and restarts, and unchanged when a crash
//! makes the journal be applied again over a checkpoint that holds it.

use super::buffer::Layer;
use super::tests::{copy_files, journals, open_keeping_the_journal};
use super::{checkpoint::write_layer, Store, StoreError, ITEMS_ID, PUT};

const TABLE: u64 = 7;

fn key(i: u32) -> Vec<u8> {
    let mut k = TABLE.to_be_bytes().to_vec();
    k.extend(format!("item-{i:04}").bytes());
    k
}

/// An item as stored, of `size` bytes as DynamoDB counts them.
fn stored(size: u32) -> Vec<u8> {
    let mut v = vec![super::SIZED];
    v.extend(size.to_be_bytes());
    v.extend(br#"{"k":{"S":"x"}}"#);
    v
}

/// One write group: `Some(size)` puts an item of that size, None deletes.
fn group(store: &Store, writes: &[(u32, Option<u32>)]) {
    store
        .write::<_, StoreError>(|w| {
            for (i, size) in writes {
                w.put_encoded(&key(*i), size.map(stored).as_deref());
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn puts_overwrites_and_deletes_are_counted_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_keeping_the_journal(dir.path());
    assert_eq!(store.table_figures(TABLE).unwrap(), (0, 0));
    group(&store, &[(1, Some(10)), (2, Some(20))]);
    // Overwritten, deleted, and a delete of an item that never was.
    group(&store, &[(1, Some(15)), (2, None), (3, None)]);
    assert_eq!(store.table_figures(TABLE).unwrap(), (1, 15));
    // After that checkpoint, over what the B-tree holds.
    group(&store, &[(1, Some(40)), (2, Some(5)), (4, Some(1))]);
    group(&store, &[(4, None)]);
    assert_eq!(store.table_figures(TABLE).unwrap(), (2, 45));
    drop(store);
    let store = Store::open(Some(dir.path())).unwrap();
    assert_eq!(store.table_figures(TABLE).unwrap(), (2, 45));
}

#[test]
fn figures_come_back_from_the_journal_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_keeping_the_journal(dir.path());
    group(&store, &[(1, Some(10)), (2, Some(20))]);
    assert_eq!(store.table_figures(TABLE).unwrap(), (2, 30));
    group(&store, &[(1, None), (3, Some(7)), (2, Some(1))]);
    let crashed = copy_files(dir.path());
    let store = Store::open(Some(crashed.path())).unwrap();
    assert_eq!(store.table_figures(TABLE).unwrap(), (2, 8));
}

#[test]
fn a_journal_applied_again_over_its_checkpoint_changes_no_figure() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_keeping_the_journal(dir.path());
    group(&store, &[(1, Some(10)), (2, Some(20))]);
    group(&store, &[(2, Some(25)), (3, Some(5)), (1, None)]);
    // The files as a crash leaves them: the groups only in the journal.
    let crashed = copy_files(dir.path());
    let saved = journals(crashed.path());
    let kept: Vec<Vec<u8>> = saved.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let store = Store::open(Some(crashed.path())).unwrap();
    assert_eq!(store.table_figures(TABLE).unwrap(), (2, 30));
    drop(store);
    // A crash after the replay's commit, before its journal was removed:
    // the same frames are applied again over the B-tree that holds them.
    for p in journals(crashed.path()) {
        std::fs::remove_file(p).unwrap();
    }
    for (p, bytes) in saved.iter().zip(&kept) {
        std::fs::write(p, bytes).unwrap();
    }
    let store = Store::open(Some(crashed.path())).unwrap();
    assert_eq!(store.table_figures(TABLE).unwrap(), (2, 30));
}

#[test]
fn writing_a_layer_twice_counts_it_once() {
    let store = Store::open(None).unwrap();
    let mut layer = Layer::default();
    layer.record(PUT, ITEMS_ID, &key(1), Some(&stored(10)));
    layer.record(PUT, ITEMS_ID, &key(2), Some(&stored(3)));
    for _ in 0..2 {
        let tx = store.db.begin_write().unwrap();
        write_layer(&tx, &layer).unwrap();
        tx.commit().unwrap();
    }
    assert_eq!(store.stats(TABLE, 0).unwrap(), (2, 13));
}

#[test]
fn a_damaged_replaced_item_stops_the_checkpoint_by_name() {
    let store = Store::open(None).unwrap();
    // Bare JSON (files from before the size was kept) that is not an item.
    let tx = store.db.begin_write().unwrap();
    tx.open_table(super::ITEMS)
        .unwrap()
        .insert(key(1).as_slice(), &b"not an item"[..])
        .unwrap();
    tx.commit().unwrap();
    let mut over = Layer::default();
    over.record(PUT, ITEMS_ID, &key(1), Some(&stored(1)));
    let tx = store.db.begin_write().unwrap();
    let err = write_layer(&tx, &over).unwrap_err();
    assert!(err.contains("damaged record"), "{err}");
}

#[test]
fn figures_in_a_journal_of_earlier_versions_are_counted_from_its_items() {
    let store = Store::open(None).unwrap();
    let mut layer = Layer::default();
    layer.record(PUT, ITEMS_ID, &key(1), Some(&stored(10)));
    layer.record(PUT, ITEMS_ID, &key(2), Some(&stored(3)));
    // Earlier versions' writers logged the table's figures with its items.
    let figures = super::stats_encode(2, 13);
    let at = super::stats_key(TABLE, 0);
    layer.record(PUT, super::STATS_ID, &at, Some(&figures));
    let tx = store.db.begin_write().unwrap();
    write_layer(&tx, &layer).unwrap();
    tx.commit().unwrap();
    assert_eq!(store.stats(TABLE, 0).unwrap(), (2, 13));
}
