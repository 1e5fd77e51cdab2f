//! Restart recovery, locking, torn tails of the stored log, and tampered
//! data dirs: refused at start, then repaired.

use crate::common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use common::{blob, client, create, read_all};
use engine::Config;

fn durable(dir: &std::path::Path) -> Config {
    Config {
        data_dir: Some(dir.to_path_buf()),
        ..Config::default()
    }
}

#[tokio::test]
async fn restart_recovers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine::spawn(durable(dir.path())).await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 2).await;
    let entries: Vec<_> = (0..100)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .partition_key(format!("k{i}"))
                .data(blob(&format!("r{i}")))
                .build()
                .unwrap()
        })
        .collect();
    c.put_records()
        .stream_name("s")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    c.split_shard()
        .stream_name("s")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key("1000")
        .send()
        .await
        .unwrap();
    c.add_tags_to_stream()
        .stream_name("s")
        .tags("a", "b")
        .send()
        .await
        .unwrap();
    c.increase_stream_retention_period()
        .stream_name("s")
        .retention_period_hours(72)
        .send()
        .await
        .unwrap();
    let last = c
        .put_record()
        .stream_name("s")
        .partition_key("z")
        .data(blob("last"))
        .send()
        .await
        .unwrap();
    let before = read_all(&c, "s", 10_000).await;
    assert_eq!(before.len(), 101);

    // A second engine on the same data dir fails clearly.
    let err = engine::spawn(durable(dir.path())).await.err().unwrap();
    assert!(matches!(err, engine::EngineError::Locked(_)), "{err}");
    e.shutdown().await.unwrap();

    let e = engine::spawn(durable(dir.path())).await.unwrap();
    let c = client(&e.url());
    let after = read_all(&c, "s", 10_000).await;
    assert_eq!(before, after);
    let d = c
        .describe_stream()
        .stream_name("s")
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(d.shards.len(), 4);
    assert_eq!(d.retention_period_hours, 72);
    assert_eq!(
        d.shards[2].parent_shard_id.as_deref(),
        Some("shardId-000000000000")
    );
    let tags = c
        .list_tags_for_stream()
        .stream_name("s")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags.len(), 1);
    // Sequence numbers keep increasing across the restart.
    let next = c
        .put_record()
        .stream_name("s")
        .partition_key("z")
        .data(blob("again"))
        .send()
        .await
        .unwrap();
    assert_eq!(next.shard_id, last.shard_id);
    assert!(next.sequence_number > last.sequence_number);
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn torn_and_corrupt_tails_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine::spawn(durable(dir.path())).await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    for i in 0..10 {
        c.put_record()
            .stream_name("s")
            .partition_key("k")
            .data(blob(&format!("r{i}")))
            .send()
            .await
            .unwrap();
    }
    e.shutdown().await.unwrap();
    let log = dir.path().join("kinesis.log");
    let good_len = std::fs::metadata(&log).unwrap().len();

    // 1. A torn frame: a header promising more bytes than exist.
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9]).unwrap();
    }
    let e = engine::spawn(durable(dir.path())).await.unwrap();
    let c = client(&e.url());
    assert_eq!(read_all(&c, "s", 10_000).await.len(), 10);
    e.shutdown().await.unwrap();
    assert_eq!(std::fs::metadata(&log).unwrap().len(), good_len);

    // 2. A corrupt last frame (bit flip in the payload): the CRC catches it and
    //    the record is cut, never served.
    let mut bytes = std::fs::read(&log).unwrap();
    let n = bytes.len();
    bytes[n - 2] ^= 0xff;
    std::fs::write(&log, &bytes).unwrap();
    let e = engine::spawn(durable(dir.path())).await.unwrap();
    let c = client(&e.url());
    let recs = read_all(&c, "s", 10_000).await;
    assert_eq!(recs.len(), 9);
    assert_eq!(recs.last().unwrap().1, b"r8");
    // Writes continue after the cut, with fresh sequence numbers.
    let r = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob("new"))
        .send()
        .await
        .unwrap();
    assert!(r.sequence_number > recs.last().unwrap().0);
    e.shutdown().await.unwrap();

    // 3. Truncation in the middle of a frame.
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let e = engine::spawn(durable(dir.path())).await.unwrap();
    let c = client(&e.url());
    let recs = read_all(&c, "s", 10_000).await;
    assert_eq!(recs.len(), 9);
    e.shutdown().await.unwrap();
}

// ---- tampered data dirs: refused, then repaired -------------------------

/// Small segments and cache: several sealed segments, reads from disk.
fn small(dir: &Path) -> Config {
    Config {
        data_dir: Some(dir.to_path_buf()),
        segment_bytes: 8 << 10,
        cache_bytes: 4 << 10,
        ..Config::default()
    }
}

/// An acknowledged record: shard, sequence number, data.
type Acked = (String, String, Vec<u8>);

/// 300 records of 200 bytes on 2 shards, 5 per PutRecords call.
async fn fill(dir: &Path) -> Vec<Acked> {
    let e = engine::spawn(small(dir)).await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 2).await;
    let mut acked = Vec::new();
    for call in 0..60 {
        let data: Vec<Vec<u8>> = (0..5)
            .map(|i| {
                let mut d = format!("record-{:05}|", call * 5 + i).into_bytes();
                d.resize(200, b'x');
                d
            })
            .collect();
        let entries: Vec<_> = data
            .iter()
            .enumerate()
            .map(|(i, d)| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("k{}", call * 5 + i))
                    .data(Blob::new(d.clone()))
                    .build()
                    .unwrap()
            })
            .collect();
        let out = c
            .put_records()
            .stream_name("s")
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        for (r, d) in out.records.into_iter().zip(data) {
            acked.push((r.shard_id.unwrap(), r.sequence_number.unwrap(), d));
        }
    }
    e.shutdown().await.unwrap();
    acked
}

/// Every file of the data dir (but the lock) and its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_file() && e.file_name() != "LOCK")
        .map(|e| {
            let name = e.file_name().into_string().unwrap();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect()
}

fn sealed(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = files(dir)
        .into_keys()
        .filter(|n| n.starts_with("kinesis-"))
        .map(|n| dir.join(n))
        .collect();
    v.sort();
    v
}

/// Offsets of the frames of a format-2 segment.
fn frames(path: &Path) -> Vec<u64> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut at = 20usize;
    while at + 16 <= bytes.len() {
        out.push(at as u64);
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        at += 16 + len;
    }
    out
}

fn flip(path: &Path, offset: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= 0xff;
    std::fs::write(path, bytes).unwrap();
}

/// The start is refused with `expect` in its error and nothing changed;
/// `engine::repair` then reports the loss, keeps every other acknowledged
/// record (intact, once) and the engine never hands out a sequence number
/// again.
async fn refused_then_repaired(dir: &Path, acked: &[Acked], expect: &str, loses_records: bool) {
    let before = files(dir);
    let refused = engine::spawn(small(dir))
        .await
        .err()
        .expect("the start is refused");
    let message = refused.to_string();
    assert!(message.contains(expect), "{message}");
    assert!(message.contains("wildrydes repair"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    assert_eq!(files(dir), before, "a refused start changes nothing");

    let report = engine::repair(dir).unwrap();
    assert!(!report.is_clean(), "{report}");
    let saved = report.saved.clone().unwrap().join("report.txt");
    assert_eq!(std::fs::read_to_string(saved).unwrap(), report.to_string());

    let e = engine::spawn(small(dir)).await.unwrap();
    let c = client(&e.url());
    let read = read_all(&c, "s", 10_000).await;
    let by_seq: HashMap<&str, &[u8]> = acked
        .iter()
        .map(|(_, s, d)| (s.as_str(), d.as_slice()))
        .collect();
    let mut seen = HashSet::new();
    for (seq, data) in &read {
        assert_eq!(
            by_seq.get(seq.as_str()).copied(),
            Some(data.as_slice()),
            "{seq} intact"
        );
        assert!(seen.insert(seq.clone()), "{seq} read once");
    }
    // Intact records on both sides of the damage are kept.
    let last = &acked.last().unwrap().1;
    assert!(seen.contains(last), "the last record is kept");
    assert!(seen.contains(&acked[0].1), "the first record is kept");
    let lost: Vec<&Acked> = acked.iter().filter(|a| !seen.contains(&a.1)).collect();
    assert_eq!(!lost.is_empty(), loses_records, "{report}");
    // Each lost record is inside a range the report names.
    let text = report.to_string();
    let ranges: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.split(" lost sequence numbers ").nth(1)?;
            let mut words = rest.split(' ');
            let from = words.next()?;
            words.next();
            Some((from, words.next()?))
        })
        .collect();
    for (_, seq, _) in &lost {
        assert!(
            ranges
                .iter()
                .any(|(a, b)| *a <= seq.as_str() && seq.as_str() <= *b),
            "lost {seq} is reported:\n{text}"
        );
    }
    // New records get numbers above every number handed out in their shard.
    for i in 0..20 {
        let r = c
            .put_record()
            .stream_name("s")
            .partition_key(format!("n{i}"))
            .data(blob("new"))
            .send()
            .await
            .unwrap();
        let max = acked
            .iter()
            .filter(|a| a.0 == r.shard_id)
            .map(|a| &a.1)
            .max()
            .unwrap();
        assert!(&r.sequence_number > max);
    }
    e.shutdown().await.unwrap();
    // The repaired dir opens clean.
    assert!(engine::repair(dir).unwrap().is_clean());
}

#[tokio::test]
async fn flipped_bytes_in_the_active_segment_are_refused_then_repaired() {
    for (what, pick) in [("head", 0usize), ("middle", 1)] {
        let dir = tempfile::tempdir().unwrap();
        let acked = fill(dir.path()).await;
        let log = dir.path().join("kinesis.log");
        let offsets = frames(&log);
        assert!(offsets.len() >= 3, "{what}: {offsets:?}");
        // Head: the snapshot opening the segment; middle: a record frame.
        let at = if pick == 0 {
            offsets[0] + 20
        } else {
            offsets[offsets.len() / 2] + 40
        };
        flip(&log, at);
        refused_then_repaired(
            dir.path(),
            &acked,
            "kinesis.log is damaged at offset",
            pick == 1,
        )
        .await;
    }
}

#[tokio::test]
async fn a_flipped_byte_in_the_last_frame_of_the_active_segment_is_an_incomplete_write() {
    let dir = tempfile::tempdir().unwrap();
    let acked = fill(dir.path()).await;
    let log = dir.path().join("kinesis.log");
    let len = std::fs::metadata(&log).unwrap().len();
    flip(&log, len - 3);
    // Nothing after it: it cannot be told from a write cut by a crash.
    let e = engine::spawn(small(dir.path())).await.unwrap();
    let read = read_all(&client(&e.url()), "s", 10_000).await;
    assert!(read.len() < acked.len() && read.len() >= acked.len() - 5);
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn flipped_bytes_in_a_sealed_segment_are_refused_then_repaired() {
    for what in ["header", "head", "middle", "tail"] {
        let dir = tempfile::tempdir().unwrap();
        let acked = fill(dir.path()).await;
        let segs = sealed(dir.path());
        assert!(segs.len() >= 4, "{segs:?}");
        let seg = &segs[segs.len() / 2];
        let offsets = frames(seg);
        let len = std::fs::metadata(seg).unwrap().len();
        let (at, loses) = match what {
            "header" => (5, false),
            // The snapshot opening it.
            "head" => (offsets[0] + 30, false),
            "middle" => (offsets[offsets.len() / 2] + 40, true),
            _ => (len - 3, true),
        };
        flip(seg, at);
        let name = seg.file_name().unwrap().to_str().unwrap();
        refused_then_repaired(
            dir.path(),
            &acked,
            &format!("{name} is damaged at offset"),
            loses,
        )
        .await;
    }
}

#[tokio::test]
async fn a_zeroed_page_in_a_sealed_segment_is_refused_then_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let acked = fill(dir.path()).await;
    let segs = sealed(dir.path());
    let seg = &segs[segs.len() / 2];
    let mut bytes = std::fs::read(seg).unwrap();
    assert!(bytes.len() > 8192);
    bytes[4096..8192].fill(0);
    std::fs::write(seg, bytes).unwrap();
    refused_then_repaired(dir.path(), &acked, "is damaged at offset", true).await;
}

#[tokio::test]
async fn a_truncated_sealed_segment_is_refused_then_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let acked = fill(dir.path()).await;
    let segs = sealed(dir.path());
    let seg = &segs[segs.len() / 2];
    let len = std::fs::metadata(seg).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(seg)
        .unwrap()
        .set_len(len - 100)
        .unwrap();
    refused_then_repaired(dir.path(), &acked, "is damaged at offset", true).await;
}

#[tokio::test]
async fn a_deleted_sealed_segment_is_a_hole_refused_then_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let acked = fill(dir.path()).await;
    let segs = sealed(dir.path());
    let seg = &segs[segs.len() / 2];
    std::fs::remove_file(seg).unwrap();
    let name = seg.file_name().unwrap().to_str().unwrap().to_string();
    refused_then_repaired(
        dir.path(),
        &acked,
        &format!("misses log segment(s) {name}"),
        true,
    )
    .await;
}
