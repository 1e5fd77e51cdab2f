//! The journal under the store: acknowledged groups survive a crash (the
//! files copied while the store runs, as `kill -9` leaves them), a torn last
//! frame is cut, a damaged one refuses the start.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Space, Store, StoreError};

pub(super) fn key(i: u32) -> Vec<u8> {
    let mut k = 7u64.to_be_bytes().to_vec();
    k.extend(format!("item-{i:04}").bytes());
    k
}

/// A store in `dir` that checkpoints every `every` (and by size).
fn open_checkpointing_every(dir: &Path, every: Duration) -> Store {
    let store = Store::open(Some(dir)).unwrap();
    store
        .committed
        .lock()
        .unwrap()
        .journal
        .as_mut()
        .unwrap()
        .checkpoint_every(every);
    store
}

/// A store in `dir` that checkpoints by size only (its journal keeps the
/// groups a test writes).
pub(super) fn open_keeping_the_journal(dir: &Path) -> Store {
    open_checkpointing_every(dir, Duration::MAX)
}

/// A copy of the store files in `dir`, as a crash leaves them.
pub(super) fn copy_files(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    let to = copy.path().join("dynamodb");
    std::fs::create_dir_all(&to).unwrap();
    for f in std::fs::read_dir(dir.join("dynamodb")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
    }
    copy
}

/// A store in `dir` that wrote `groups` groups of 10 index entries (no
/// checkpoint by time), and a copy of its files taken while it still runs.
pub(super) fn crashed_copy(dir: &Path, groups: u32) -> (Store, tempfile::TempDir) {
    let store = open_keeping_the_journal(dir);
    put_groups(&store, 0..groups);
    let copy = copy_files(dir);
    (store, copy)
}

/// Runs `write(store, thread)` on 4 threads at once and waits for them.
fn on_4_threads(store: &std::sync::Arc<Store>, write: fn(&Store, u32)) {
    let threads: Vec<_> = (0..4u32)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || write(&store, t))
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

pub(super) fn keys(store: &Store) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    store
        .range_raw(
            Space::Index,
            Bound::Unbounded,
            Bound::Unbounded,
            true,
            |k, _| {
                out.push(k.to_vec());
                true
            },
        )
        .unwrap();
    out
}

/// The journal files of the store in `dir`, oldest first.
pub(super) fn journals(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(dir.join("dynamodb"))
        .unwrap()
        .map(|f| f.unwrap().path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let n = name.strip_prefix("journal.")?.strip_suffix(".log")?;
            Some((n.parse().ok()?, p.clone()))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, p)| p).collect()
}

/// The live journal file of the store in `dir`.
pub(super) fn journal(dir: &Path) -> PathBuf {
    journals(dir).pop().expect("a journal file")
}

/// Rewrites the file at `path` as `change` leaves its bytes; returns them.
pub(super) fn tamper(path: &Path, change: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut bytes = std::fs::read(path).unwrap();
    change(&mut bytes);
    std::fs::write(path, &bytes).unwrap();
    bytes
}

/// Flips a byte of the group holding `value-{i}` in the live journal.
pub(super) fn damage_group_of(dir: &Path, i: u32) -> PathBuf {
    let path = journal(dir);
    let needle = format!("value-{i}");
    tamper(&path, |bytes| {
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle.as_bytes())
            .unwrap();
        bytes[at] ^= 0x20;
    });
    path
}

#[test]
fn acknowledged_groups_come_back_from_the_journal_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, copy) = crashed_copy(dir.path(), 3);
    assert!(std::fs::metadata(journal(copy.path())).unwrap().len() > 100);
    let store = Store::open(Some(copy.path())).unwrap();
    assert_eq!(keys(&store), (0..30).map(key).collect::<Vec<_>>());
    // Replayed into the B-tree durably: the journal started again.
    drop(store);
    let store = Store::open(Some(copy.path())).unwrap();
    assert_eq!(keys(&store).len(), 30);
}

#[test]
fn a_clean_stop_leaves_everything_in_the_b_tree() {
    let dir = tempfile::tempdir().unwrap();
    let (running, _copy) = crashed_copy(dir.path(), 2);
    drop(running);
    assert_eq!(
        std::fs::metadata(journal(dir.path())).unwrap().len(),
        crate::store::log::SEG_HEADER
    );
    assert_eq!(keys(&Store::open(Some(dir.path())).unwrap()).len(), 20);
}

#[test]
fn a_torn_last_group_is_cut_and_the_groups_before_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, copy) = crashed_copy(dir.path(), 3);
    // The last frame's last bytes never reached the disk (the file was
    // prepared with zeros: they read as zeros).
    tamper(&journal(copy.path()), |bytes| {
        let end = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
        bytes[end - 5..end].fill(0);
    });
    let store = Store::open(Some(copy.path())).unwrap();
    assert_eq!(keys(&store), (0..20).map(key).collect::<Vec<_>>());
}

#[test]
fn a_damaged_group_before_intact_ones_is_named_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, copy) = crashed_copy(dir.path(), 3);
    let path = damage_group_of(copy.path(), 3);
    let bytes = std::fs::read(&path).unwrap();
    let err = Store::open(Some(copy.path())).err().unwrap().to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("refusing to start"), "{err}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the journal was changed"
    );
}

#[test]
fn a_stop_after_a_failed_write_does_not_wait_for_its_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some(dir.path())).unwrap();
    let failed = store.write::<(), StoreError>(|w| {
        w.put_raw(Space::Index, &key(1), b"never acknowledged")?;
        Err(StoreError::Corrupt("a failed condition".into()))
    });
    assert!(failed.is_err());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(store);
        tx.send(()).unwrap();
    });
    rx.recv_timeout(std::time::Duration::from_secs(30))
        .expect("the store stopped");
}

#[test]
fn journal_writes_without_their_tables_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_running, copy) = crashed_copy(dir.path(), 2);
    std::fs::remove_file(copy.path().join("dynamodb").join("tables.redb")).unwrap();
    let err = Store::open(Some(copy.path())).err().unwrap().to_string();
    assert!(err.contains("tables.redb was missing"), "{err}");
}

#[test]
fn concurrent_read_modify_writes_lose_no_update_across_groups() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(Store::open(Some(dir.path())).unwrap());
    on_4_threads(&store, |store, _| {
        for _ in 0..200 {
            // An index's figures are read, added to and written back; each
            // group reads what the groups before it wrote.
            store
                .write::<_, StoreError>(|w| {
                    w.add_stats(9, 1, 1, 10);
                    Ok(())
                })
                .unwrap();
        }
    });
    assert_eq!(store.stats(9, 1).unwrap(), (800, 8000));
    drop(store);
    let store = Store::open(Some(dir.path())).unwrap();
    assert_eq!(store.stats(9, 1).unwrap(), (800, 8000));
}

#[test]
fn groups_acknowledged_to_concurrent_writers_all_come_back_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open_keeping_the_journal(dir.path()));
    on_4_threads(&store, |store, t| {
        for i in 0..50 {
            store
                .write::<_, StoreError>(|w| {
                    w.put_raw(Space::Index, &key(t * 1000 + i), b"acknowledged")
                })
                .unwrap();
        }
    });
    // Every write was answered: the files as a crash leaves them hold all.
    let copy = copy_files(dir.path());
    assert_eq!(keys(&Store::open(Some(copy.path())).unwrap()).len(), 200);
}

/// Takes a checkpoint now, as the committer does when one is due.
fn checkpoint_now(store: &Store) {
    let mut committed = store.committed.lock().unwrap();
    store.checkpoint(committed.journal.as_mut()).unwrap();
}

fn ranged(store: &Store, forward: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    store
        .range_raw(
            Space::Index,
            Bound::Included(&key(0)),
            Bound::Excluded(&key(100)),
            forward,
            |k, v| {
                out.push((k.to_vec(), v.json().to_vec()));
                true
            },
        )
        .unwrap();
    out
}

#[test]
fn reads_merge_the_write_buffer_over_the_b_tree_before_and_after_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(Some(dir.path())).unwrap();
    let put = |range: std::ops::Range<u32>, v: &'static str| {
        store
            .write::<_, StoreError>(|w| {
                for i in range {
                    w.put_raw(Space::Index, &key(i), v.as_bytes())?;
                }
                Ok(())
            })
            .unwrap();
    };
    put(0..40, "old");
    checkpoint_now(&store);
    // In the buffer: new values, deletions, a clear and keys put after it.
    put(20..60, "new");
    store
        .write::<_, StoreError>(|w| {
            for i in (0..60).step_by(3) {
                w.delete_raw(Space::Index, &key(i))?;
            }
            w.clear(Space::Index, &key(50)[..key(50).len() - 1])?;
            w.put_raw(Space::Index, &key(52), b"after the clear")
        })
        .unwrap();
    let want: Vec<(Vec<u8>, Vec<u8>)> = (0..60)
        .filter(|i| i % 3 != 0 && !(50..60).contains(i))
        .map(|i| (key(i), if i < 20 { "old" } else { "new" }.into()))
        .chain([(key(52), b"after the clear".to_vec())])
        .collect();
    let check = |store: &Store| {
        assert_eq!(ranged(store, true), want);
        let mut back = want.clone();
        back.reverse();
        assert_eq!(ranged(store, false), back);
    };
    check(&store);
    checkpoint_now(&store);
    check(&store);
    drop(store);
    check(&Store::open(Some(dir.path())).unwrap());
}

/// Waits until no background checkpoint is waiting or running.
fn wait_idle(store: &Store) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while store.background.busy() {
        assert!(
            std::time::Instant::now() < deadline,
            "the checkpoint never ended"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Writes groups of 10 index entries: group `g` puts keys `10g..10g+10`.
fn put_groups(store: &Store, groups: std::ops::Range<u32>) {
    for g in groups {
        store
            .write::<_, StoreError>(|w| {
                for i in g * 10..g * 10 + 10 {
                    w.put_raw(Space::Index, &key(i), format!("value-{i}").as_bytes())?;
                }
                Ok(())
            })
            .unwrap();
    }
}

#[test]
fn a_crash_during_a_background_checkpoint_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_keeping_the_journal(dir.path());
    put_groups(&store, 0..3);
    store.background.hold(true);
    {
        let mut committed = store.committed.lock().unwrap();
        store.freeze(committed.journal.as_mut()).unwrap();
    }
    // The frozen groups' file stays until they are in the B-tree; newer
    // groups go to the next file.
    put_groups(&store, 3..5);
    assert_eq!(journals(dir.path()).len(), 2);
    assert_eq!(keys(&store), (0..50).map(key).collect::<Vec<_>>());
    let crashed = copy_files(dir.path());
    store.background.hold(false);
    wait_idle(&store);
    assert_eq!(
        journals(dir.path()).len(),
        1,
        "the frozen groups' file removed"
    );
    assert_eq!(keys(&store), (0..50).map(key).collect::<Vec<_>>());
    let recovered = Store::open(Some(crashed.path())).unwrap();
    assert_eq!(keys(&recovered), (0..50).map(key).collect::<Vec<_>>());
    assert_eq!(
        journals(crashed.path()).len(),
        1,
        "both files applied, then removed"
    );
    drop(store);
    assert_eq!(keys(&Store::open(Some(dir.path())).unwrap()).len(), 50);
}

#[test]
fn checkpoints_in_the_background_keep_every_write_of_concurrent_writers() {
    let dir = tempfile::tempdir().unwrap();
    // Every group is a checkpoint: the thread and the writers race all along.
    let store = std::sync::Arc::new(open_checkpointing_every(dir.path(), Duration::ZERO));
    on_4_threads(&store, |store, t| {
        for i in 0..100 {
            let k = key(t * 1000 + i);
            store
                .write::<_, StoreError>(|w| {
                    w.add_stats(9, 1, 1, 1);
                    w.put_raw(Space::Index, &k, b"acknowledged")
                })
                .unwrap();
            let mut seen = false;
            store
                .range_raw(
                    Space::Index,
                    Bound::Included(&k),
                    Bound::Included(&k),
                    true,
                    |_, _| {
                        seen = true;
                        false
                    },
                )
                .unwrap();
            assert!(seen, "a write not read back at once");
        }
    });
    assert_eq!(keys(&store).len(), 400);
    assert_eq!(store.stats(9, 1).unwrap(), (400, 400));
    let crashed = copy_files_when_idle(&store, dir.path());
    assert_eq!(keys(&Store::open(Some(crashed.path())).unwrap()).len(), 400);
    drop(store);
    assert_eq!(journals(dir.path()).len(), 1);
    let store = Store::open(Some(dir.path())).unwrap();
    assert_eq!(keys(&store).len(), 400);
    assert_eq!(store.stats(9, 1).unwrap(), (400, 400));
}

/// The store's files, copied while no checkpoint runs (as a crash leaves
/// them; a copy taken during one would mix two times of the B-tree file).
fn copy_files_when_idle(store: &Store, dir: &Path) -> tempfile::TempDir {
    store.background.hold(true);
    wait_idle(store);
    let copy = copy_files(dir);
    store.background.hold(false);
    copy
}

#[test]
fn writers_wait_for_a_checkpoint_only_past_twice_its_size() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(open_keeping_the_journal(dir.path()));
    store.background.hold(true);
    // 4 KiB values, 100 a group (~400 KiB): the first checkpoint is frozen
    // (and held) after 8 MiB of journal, ~21 groups; the buffer above it
    // then fills up to twice that, ~41 groups more, before a writer waits.
    let value = vec![7u8; 4096];
    let (tx, rx) = std::sync::mpsc::channel();
    let writer = {
        let store = store.clone();
        std::thread::spawn(move || {
            for g in 0..80u32 {
                store
                    .write::<_, StoreError>(|w| {
                        for i in 0..100 {
                            w.put_raw(Space::Index, &key(g * 100 + i), &value)?;
                        }
                        Ok(())
                    })
                    .unwrap();
                tx.send(g).unwrap();
            }
        })
    };
    let mut last = 0;
    while let Ok(g) = rx.recv_timeout(Duration::from_millis(500)) {
        last = g;
    }
    // ~8 MiB frozen + ~16 MiB buffered, of the 32 MiB the writer has.
    assert!(
        (50..75).contains(&last),
        "the writer stopped after group {last}"
    );
    assert!(store.background.busy());
    store.background.hold(false);
    writer.join().unwrap();
    assert_eq!(rx.iter().last(), Some(79));
    drop(store);
    assert_eq!(keys(&Store::open(Some(dir.path())).unwrap()).len(), 8_000);
}
