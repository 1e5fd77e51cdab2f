//! Group commit for tasks ([`Store::durable`]): what a task is answered
//! is durable, and no task waits for more than its own group while a
//! committer goes on with the groups of a steady load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::tests::{copy_files, key, keys, open_keeping_the_journal};
use super::{Space, Store, StoreError};

/// Writes key `i` in its own request and waits for its group, as the
/// BatchWriteItem path does: a committer, when needed, on a blocking thread.
async fn put_and_wait(store: &Arc<Store>, i: u32) {
    let ((), ticket) = store
        .apply::<_, StoreError>(|w| w.put_raw(Space::Index, &key(i), b"acknowledged"))
        .unwrap();
    let commit = || {
        let store = store.clone();
        drop(tokio::task::spawn_blocking(move || store.lead(true)));
    };
    store.durable(ticket, commit).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_acknowledged_to_tasks_all_come_back_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open_keeping_the_journal(dir.path()));
    let tasks: Vec<_> = (0..8u32)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..100 {
                    put_and_wait(&store, t * 1000 + i).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // Every write was answered: the files as a crash leaves them hold all.
    let copy = copy_files(dir.path());
    assert_eq!(keys(&Store::open(Some(copy.path())).unwrap()).len(), 800);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_answered_while_the_committer_goes_on_with_a_steady_load() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open_keeping_the_journal(dir.path()));
    let stop = Arc::new(AtomicBool::new(false));
    let load: Vec<_> = (0..4u32)
        .map(|t| {
            let (store, stop) = (store.clone(), stop.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    put_and_wait(&store, 100_000 + t * 100_000 + i).await;
                    i += 1;
                }
            })
        })
        .collect();
    // The load keeps a committer busy; single writes in between are each
    // answered once their own group is durable.
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..20 {
        tokio::time::timeout(Duration::from_secs(10), put_and_wait(&store, i))
            .await
            .expect("a write waited for the load's groups, not its own");
    }
    stop.store(true, Ordering::SeqCst);
    for t in load {
        t.await.unwrap();
    }
}
