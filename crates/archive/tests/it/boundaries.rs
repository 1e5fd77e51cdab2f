//! Object boundaries follow Firehose's hints, in paused time: an object is
//! written when the buffer reaches the size hint or when its first record is
//! as old as the interval hint, never spans two UTC hours, is named like
//! Firehose's, holds the records exactly as they arrived, and the positions
//! are saved only once the object is written.

use std::sync::Arc;
use std::time::Duration;

use archive::key::partition_of;
use archive::{archive, Hints, Settings, Store};
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use kinesis::{Batch, Positions, Record};
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::sync::{mpsc, oneshot};

const SHARD: &str = "shardId-000000000000";

/// A record of exactly 100 bytes (newline included).
fn record(n: u64, arrival: DateTime<Utc>) -> Record {
    let head = format!("{{\"n\":{n},\"pad\":\"");
    let pad = "x".repeat(100 - head.len() - 3);
    let data = format!("{head}{pad}\"}}\n");
    assert_eq!(data.len(), 100);
    Record {
        sequence_number: format!("{n:056}"),
        partition_key: "k".into(),
        arrival: Some(arrival),
        data: Bytes::from(data),
    }
}

fn batch(records: Vec<Record>) -> Batch {
    Batch {
        shard_id: SHARD.into(),
        records,
        millis_behind_latest: 0,
        shard_ended: false,
        caught_up: true,
    }
}

/// The objects below the prefix, in key order, with their bodies.
async fn objects(store: &Arc<dyn ObjectStore>) -> Vec<(String, Bytes)> {
    let mut out = Vec::new();
    let mut metas: Vec<_> = futures_util::StreamExt::collect::<Vec<_>>(store.list(None)).await;
    metas.sort_by(|a, b| {
        let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        a.location.cmp(&b.location)
    });
    for meta in metas {
        let meta = meta.unwrap();
        let body = store
            .get(&meta.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        out.push((meta.location.to_string(), body));
    }
    out
}

/// Record numbers in an object body.
fn numbers(body: &[u8]) -> Vec<u64> {
    body.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

fn saved(path: &std::path::Path) -> Option<String> {
    kinesis::checkpoint::load(path)
        .unwrap()
        .and_then(|p| p.shards.get(SHARD).cloned())
}

async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn objects_close_at_the_size_hint_the_interval_and_the_hour() {
    let memory: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = Store::from_store(memory.clone(), "archive");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let settings = Settings {
        hints: Hints {
            size: 1000,
            interval: Duration::from_secs(60),
        },
        ..Settings::default()
    };
    let (tx, mut rx) = mpsc::channel(16);
    let (stop, stopped) = oneshot::channel::<()>();
    let state_file = state.clone();
    let task = tokio::spawn(async move {
        archive(
            &mut rx,
            &store,
            &settings,
            Positions::default(),
            Some(&state_file),
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    let t0 = Utc.with_ymd_and_hms(2026, 12, 2, 9, 10, 0).unwrap();
    let start = tokio::time::Instant::now();

    // 25 records of 100 bytes: two objects of 10 at once (1000 bytes each).
    tx.send(batch((0..25).map(|n| record(n, t0)).collect()))
        .await
        .unwrap();
    settle().await;
    let got = objects(&memory).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(numbers(&got[0].1).len() + numbers(&got[1].1).len(), 20);
    let mut firsts: Vec<Vec<u64>> = got.iter().map(|(_, b)| numbers(b)).collect();
    firsts.sort();
    assert_eq!(
        firsts,
        vec![(0..10).collect::<Vec<_>>(), (10..20).collect()]
    );
    // Exactly as they arrived, and the positions cover what is written only.
    for (key, body) in &got {
        assert_eq!(body.len(), 1000);
        let expected: Vec<u8> = numbers(body)
            .iter()
            .flat_map(|n| record(*n, t0).data.to_vec())
            .collect();
        assert_eq!(body.to_vec(), expected, "{key}");
    }
    assert_eq!(saved(&state), Some(format!("{:056}", 19)));

    // The other 5 wait for the interval, counted from their arrival.
    tokio::time::sleep_until(start + Duration::from_secs(59)).await;
    settle().await;
    assert_eq!(objects(&memory).await.len(), 2);
    tokio::time::sleep_until(start + Duration::from_secs(61)).await;
    settle().await;
    let got = objects(&memory).await;
    assert_eq!(got.len(), 3);
    assert_eq!(saved(&state), Some(format!("{:056}", 24)));

    // Names: PREFIX/YYYY/MM/DD/HH/<name>-1-YYYY-MM-DD-HH-MM-SS-<uuid>, UTC
    // arrival time of the oldest record.
    for (key, _) in &got {
        let rest = key.strip_prefix("archive/").unwrap();
        assert_eq!(partition_of(rest), Some([2026, 12, 2, 9]), "{key}");
        let file = rest.rsplit('/').next().unwrap();
        let uuid = file
            .strip_prefix("wildrydes-1-2026-12-02-09-10-00-")
            .unwrap_or_else(|| panic!("{key}"));
        assert_eq!(uuid.len(), 36, "{key}");
        assert_eq!(uuid.matches('-').count(), 4, "{key}");
    }

    // A buffer opened later waits for its own interval.
    tokio::time::sleep_until(start + Duration::from_secs(100)).await;
    tx.send(batch((25..28).map(|n| record(n, t0)).collect()))
        .await
        .unwrap();
    tokio::time::sleep_until(start + Duration::from_secs(159)).await;
    settle().await;
    assert_eq!(objects(&memory).await.len(), 3);
    tokio::time::sleep_until(start + Duration::from_secs(161)).await;
    settle().await;
    assert_eq!(objects(&memory).await.len(), 4);

    // A new UTC hour closes the buffer: 09:59:59 and 10:00:00 never share an object.
    let before = Utc.with_ymd_and_hms(2026, 12, 2, 9, 59, 59).unwrap();
    let after = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
    tx.send(batch(vec![record(28, before), record(29, after)]))
        .await
        .unwrap();
    settle().await;
    // 28 is written at once (the hour changed), 29 waits.
    assert_eq!(objects(&memory).await.len(), 5);
    assert_eq!(saved(&state), Some(format!("{:056}", 28)));

    // Shutting down writes what is buffered, then saves.
    stop.send(()).unwrap();
    let stats = task.await.unwrap().unwrap();
    let got = objects(&memory).await;
    assert_eq!(got.len(), 6);
    let hour_10: Vec<&String> = got
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("archive/2026/12/02/10/wildrydes-1-2026-12-02-10-00-00-"))
        .collect();
    assert_eq!(hour_10.len(), 1, "{got:?}");
    assert_eq!(saved(&state), Some(format!("{:056}", 29)));
    assert_eq!(stats.records, 30);
    assert_eq!(stats.objects, 6);
    let mut all: Vec<u64> = got.iter().flat_map(|(_, b)| numbers(b)).collect();
    all.sort();
    assert_eq!(all, (0..30).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_zero_interval_writes_every_batch_at_once() {
    let memory: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = Store::from_store(memory.clone(), "");
    let settings = Settings {
        hints: Hints {
            size: 5 << 20,
            interval: Duration::ZERO,
        },
        ..Settings::default()
    };
    let (tx, mut rx) = mpsc::channel(16);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        archive(
            &mut rx,
            &store,
            &settings,
            Positions::default(),
            None,
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    let t0 = Utc.with_ymd_and_hms(2026, 12, 2, 9, 10, 0).unwrap();
    for i in 0..3 {
        tx.send(batch(vec![record(i, t0)])).await.unwrap();
        settle().await;
        assert_eq!(objects(&memory).await.len(), i as usize + 1);
    }
    stop.send(()).unwrap();
    assert_eq!(task.await.unwrap().unwrap().objects, 3);
}
