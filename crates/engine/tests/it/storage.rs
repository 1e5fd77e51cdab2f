//! Durable storage with payloads on disk: records evicted from the bounded cache
//! are served from the log (before and after a restart), memory held by records
//! stays under `cache_bytes`, and retention deletes old log segments.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::{Blob, DateTime};
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use aws_sdk_kinesis::Client;
use common::{blob, client, create, drain, iterator, read_all};
use engine::{Config, ManualClock};

fn durable(dir: &std::path::Path, clock: &ManualClock, cache: u64, segment: u64) -> Config {
    Config {
        data_dir: Some(dir.to_path_buf()),
        cache_bytes: cache,
        segment_bytes: segment,
        clock: Arc::new(clock.clone()),
        ..Config::default()
    }
}

/// A deterministic payload of `len` bytes for record `i`.
fn payload(i: usize, len: usize) -> Vec<u8> {
    let head = format!("record-{i:08}|");
    let mut v = head.into_bytes();
    v.extend((0..len.saturating_sub(v.len())).map(|j| b'a' + ((i + j) % 26) as u8));
    v
}

/// Puts records `from..to` (`len` bytes each) in PutRecords calls of 500.
async fn put_range(c: &Client, stream: &str, from: usize, to: usize, len: usize) {
    put_batches(c, stream, from, to, len, 500).await
}

async fn put_batches(c: &Client, stream: &str, from: usize, to: usize, len: usize, batch: usize) {
    let mut i = from;
    while i < to {
        let end = (i + batch).min(to);
        let entries: Vec<_> = (i..end)
            .map(|n| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("pk{}", n % 7))
                    .data(Blob::new(payload(n, len)))
                    .build()
                    .unwrap()
            })
            .collect();
        let out = c
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_record_count, Some(0));
        i = end;
    }
}

fn record_index(data: &[u8]) -> usize {
    std::str::from_utf8(&data[7..15]).unwrap().parse().unwrap()
}

fn check_complete(recs: &[(String, Vec<u8>)], n: usize, len: usize) {
    assert_eq!(recs.len(), n);
    let mut seen = vec![false; n];
    for (_, data) in recs {
        let i = record_index(data);
        assert_eq!(data, &payload(i, len), "record {i} intact");
        assert!(!seen[i], "record {i} served once");
        seen[i] = true;
    }
}

#[tokio::test]
async fn evicted_records_are_served_from_disk_and_after_restart() {
    const N: usize = 6_000;
    const LEN: usize = 300;
    const CACHE: u64 = 64 << 10;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::frozen();
    let e = engine::spawn(durable(dir.path(), &clock, CACHE, 512 << 10))
        .await
        .unwrap();
    let c = client(&e.url());
    create(&c, "s", 2).await;
    // Three arrival times, one minute apart, so AT_TIMESTAMP must find a
    // position that only the log on disk holds.
    put_range(&c, "s", 0, N / 3, LEN).await;
    let t1 = clock_secs(&clock) + 60;
    clock.advance(Duration::from_secs(60));
    put_range(&c, "s", N / 3, 2 * N / 3, LEN).await;
    clock.advance(Duration::from_secs(60));
    put_range(&c, "s", 2 * N / 3, N, LEN).await;

    let stats = e.storage_stats();
    assert!(stats.cached_bytes <= CACHE, "{stats:?}");
    assert!(stats.cached_records < 300, "{stats:?}");
    assert!(stats.segments > 2, "{stats:?}");

    // Everything, through several page sizes (pages cross from disk to cache).
    let all = read_all(&c, "s", 10_000).await;
    check_complete(&all, N, LEN);
    assert_eq!(read_all(&c, "s", 37).await, all);

    // AT_SEQUENCE_NUMBER / AFTER_SEQUENCE_NUMBER far back on disk.
    let shard = "shardId-000000000000";
    let it = iterator(&c, "s", shard, ShardIteratorType::TrimHorizon).await;
    let mine = drain(&c, it, 10_000).await;
    assert!(mine.len() > 12 && mine.iter().all(|r| all.contains(r)));
    let (seq, _) = &mine[10];
    let it = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
        .starting_sequence_number(seq)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let page = c
        .get_records()
        .shard_iterator(it)
        .limit(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.records[0].sequence_number, mine[11].0);
    assert_eq!(page.records[1].data.as_ref(), mine[12].1.as_slice());
    assert!(page.millis_behind_latest.unwrap() > 0);

    // AT_TIMESTAMP at the second batch: its first record of this shard.
    let it = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::AtTimestamp)
        .timestamp(DateTime::from_secs(t1 as i64))
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let page = c
        .get_records()
        .shard_iterator(it)
        .limit(1)
        .send()
        .await
        .unwrap();
    let first_of_second = mine.iter().find(|(_, d)| record_index(d) >= N / 3).unwrap();
    assert_eq!(page.records[0].sequence_number, first_of_second.0);

    let last = c
        .put_record()
        .stream_name("s")
        .partition_key("pk0")
        .data(blob("last"))
        .send()
        .await
        .unwrap();
    e.shutdown().await.unwrap();

    // After a restart: same records, cache still bounded, sequence numbers go on.
    let e = engine::spawn(durable(dir.path(), &clock, CACHE, 512 << 10))
        .await
        .unwrap();
    let c = client(&e.url());
    let stats = e.storage_stats();
    assert!(stats.cached_bytes <= CACHE, "{stats:?}");
    let again = read_all(&c, "s", 1_000).await;
    assert_eq!(again.len(), N + 1);
    let without_last: Vec<_> = again
        .iter()
        .filter(|(s, _)| *s != last.sequence_number)
        .cloned()
        .collect();
    assert_eq!(without_last, all);
    let next = c
        .put_record()
        .stream_name("s")
        .partition_key("pk0")
        .data(blob("next"))
        .send()
        .await
        .unwrap();
    assert_eq!(next.shard_id, last.shard_id);
    assert!(next.sequence_number > last.sequence_number);
    e.shutdown().await.unwrap();
}

fn clock_secs(clock: &ManualClock) -> u64 {
    use engine::Clock;
    clock.now_millis() / 1000
}

#[tokio::test]
async fn memory_held_by_records_stays_under_the_cache_limit() {
    const CACHE: u64 = 256 << 10;
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::frozen();
    let e = engine::spawn(durable(dir.path(), &clock, CACHE, 4 << 20))
        .await
        .unwrap();
    let c = client(&e.url());
    create(&c, "s", 4).await;
    let mut peak = 0;
    // 20,000 records of 1 KiB: ~20 MiB stored, 80 times the cache.
    for round in 0..4 {
        put_range(&c, "s", round * 5_000, (round + 1) * 5_000, 1024).await;
        peak = peak.max(e.storage_stats().cached_bytes);
    }
    let stats = e.storage_stats();
    assert!(peak <= CACHE, "peak {peak} over {CACHE}");
    assert!(
        stats.cached_bytes > CACHE / 2,
        "the cache is used: {stats:?}"
    );
    // One index entry per shard and 256 KiB of log, not per record.
    assert!(stats.index_entries < 4 * 200, "{stats:?}");
    let on_disk: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(on_disk > 20 << 20, "{on_disk} bytes on disk");
    // And all of it reads back.
    let all = read_all(&c, "s", 10_000).await;
    check_complete(&all, 20_000, 1024);
    assert!(e.storage_stats().cached_bytes <= CACHE);
    e.shutdown().await.unwrap();
}

fn segment_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with("kinesis") && name.ends_with(".log")
        })
        .count()
}

#[tokio::test]
async fn retention_deletes_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::frozen();
    let e = engine::spawn(durable(dir.path(), &clock, 32 << 10, 64 << 10))
        .await
        .unwrap();
    let c = client(&e.url());
    create(&c, "s", 2).await;
    create(&c, "gone", 1).await;
    put_batches(&c, "s", 0, 2_000, 500, 50).await;
    put_batches(&c, "gone", 0, 500, 500, 50).await;
    let before = segment_files(dir.path());
    assert!(before > 10, "{before} segments");

    // A deleted stream's segments go at once (once newer data seals them).
    c.delete_stream().stream_name("gone").send().await.unwrap();
    // 25 hours later everything written so far is past retention.
    clock.advance(Duration::from_secs(25 * 3600));
    put_batches(&c, "s", 2_000, 2_400, 500, 50).await;
    let after = segment_files(dir.path());
    assert!(after <= 5, "{before} segments before, {after} after");
    let left = read_all(&c, "s", 10_000).await;
    assert_eq!(left.len(), 400);
    assert!(left.iter().all(|(_, d)| record_index(d) >= 2_000));
    let last = left.iter().map(|(s, _)| s.clone()).max().unwrap();
    e.shutdown().await.unwrap();

    // The metadata survives its segments (snapshots), and positions go on.
    let e = engine::spawn(durable(dir.path(), &clock, 32 << 10, 64 << 10))
        .await
        .unwrap();
    let c = client(&e.url());
    let names = c.list_streams().send().await.unwrap().stream_names;
    assert_eq!(names, vec!["s".to_string()]);
    let again = read_all(&c, "s", 10_000).await;
    assert_eq!(again.len(), 400);
    let r = c
        .put_record()
        .stream_name("s")
        .partition_key("pk0")
        .data(blob("after restart"))
        .send()
        .await
        .unwrap();
    let shard_last = again
        .iter()
        .filter(|(s, _)| s[..14] == r.sequence_number[..14])
        .map(|(s, _)| s.clone())
        .max()
        .unwrap();
    assert!(r.sequence_number > shard_last);
    assert!(last.len() == r.sequence_number.len());
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn crash_between_rotation_steps_keeps_metadata_for_later_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::frozen();
    let config = || durable(dir.path(), &clock, 32 << 10, 64 << 10);
    let e = engine::spawn(config()).await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    put_batches(&c, "s", 0, 600, 500, 50).await;
    e.shutdown().await.unwrap();

    // A crash right after the active segment was renamed (sealed) and before
    // the new one was created: only sealed segments are left.
    let mut ids: Vec<u32> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_prefix("kinesis-")?
                .strip_suffix(".log")?
                .parse()
                .ok()
        })
        .collect();
    ids.sort_unstable();
    let next = ids.last().map_or(0, |id| id + 1);
    std::fs::rename(
        dir.path().join("kinesis.log"),
        dir.path().join(format!("kinesis-{next:010}.log")),
    )
    .unwrap();

    let e = engine::spawn(config()).await.unwrap();
    let c = client(&e.url());
    check_complete(&read_all(&c, "s", 10_000).await, 600, 500);
    // Everything old expires and its segments go; the stream must survive.
    clock.advance(Duration::from_secs(25 * 3600));
    put_batches(&c, "s", 600, 700, 500, 50).await;
    e.shutdown().await.unwrap();
    let e = engine::spawn(config()).await.unwrap();
    let c = client(&e.url());
    let left = read_all(&c, "s", 10_000).await;
    assert_eq!(left.len(), 100);
    assert!(left.iter().all(|(_, d)| record_index(d) >= 600));
    assert!(segment_files(dir.path()) < 6);
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_damaged_record_read_while_serving_is_a_non_retryable_400_naming_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::frozen();
    let e = engine::spawn(durable(dir.path(), &clock, 4 << 10, 16 << 10))
        .await
        .unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    put_batches(&c, "s", 0, 300, 200, 10).await;
    // A byte of the first record frame of the first segment (on disk only:
    // the cache holds the latest 4 KiB).
    let seg = dir.path().join("kinesis-0000000000.log");
    let mut bytes = std::fs::read(&seg).unwrap();
    let first = 20 + 16 + u32::from_le_bytes(bytes[24..28].try_into().unwrap()) as usize;
    let at = first + 16 + 50;
    bytes[at] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();

    let shard = "shardId-000000000000";
    let it = iterator(&c, "s", shard, ShardIteratorType::TrimHorizon).await;
    let err = c
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap_err();
    let service = err.as_service_error().expect("a service error");
    assert!(service.is_invalid_argument_exception(), "{service:?}");
    let message = service.message().unwrap();
    assert!(
        message.contains("kinesis-0000000000.log") && message.contains(&format!("offset {first}")),
        "{message}"
    );
    assert_eq!(
        err.raw_response().unwrap().status().as_u16(),
        400,
        "not a 500 retried forever"
    );
    // Later positions still read.
    let later = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id(shard)
        .shard_iterator_type(ShardIteratorType::Latest)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    put_range(&c, "s", 300, 301, 200).await;
    assert_eq!(drain(&c, later, 100).await.len(), 1);
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn crash_while_the_new_segment_header_is_written_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::frozen();
    let config = || durable(dir.path(), &clock, 32 << 10, 64 << 10);
    let e = engine::spawn(config()).await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    put_batches(&c, "s", 0, 300, 500, 50).await;
    e.shutdown().await.unwrap();

    // The active segment was sealed and the new one holds part of its
    // header (a write cut by the crash, never acknowledged).
    let sealed = segment_files(dir.path());
    let log = dir.path().join("kinesis.log");
    let header: Vec<u8> = std::fs::read(&log).unwrap()[..20].to_vec();
    let id = u32::from_le_bytes(header[8..12].try_into().unwrap());
    std::fs::rename(&log, dir.path().join(format!("kinesis-{id:010}.log"))).unwrap();
    std::fs::write(&log, &header[..11]).unwrap();

    let e = engine::spawn(config()).await.unwrap();
    let c = client(&e.url());
    check_complete(&read_all(&c, "s", 10_000).await, 300, 500);
    put_batches(&c, "s", 300, 350, 500, 50).await;
    e.shutdown().await.unwrap();
    assert!(segment_files(dir.path()) > sealed);
    let e = engine::spawn(config()).await.unwrap();
    let c = client(&e.url());
    check_complete(&read_all(&c, "s", 10_000).await, 350, 500);
    e.shutdown().await.unwrap();
}
