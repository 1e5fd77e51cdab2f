//! Restart recovery, locking, and torn/corrupt tails of the stored log.

mod common;

use std::io::Write;

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
