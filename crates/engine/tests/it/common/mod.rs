#![allow(dead_code)]

pub mod child;

use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;

pub use testkit::kinesis as client;

/// An in-memory engine whose time is `clock` (moved by the test).
pub async fn spawn_on(clock: &engine::ManualClock) -> engine::EngineHandle {
    engine::spawn(engine::Config {
        clock: std::sync::Arc::new(clock.clone()),
        ..engine::Config::default()
    })
    .await
    .unwrap()
}

pub async fn create(c: &Client, name: &str, shards: i32) {
    c.create_stream()
        .stream_name(name)
        .shard_count(shards)
        .send()
        .await
        .expect("create stream");
}

pub fn blob(s: &str) -> aws_sdk_kinesis::primitives::Blob {
    aws_sdk_kinesis::primitives::Blob::new(s.as_bytes())
}

pub async fn shard_ids(c: &Client, stream: &str) -> Vec<String> {
    c.list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap()
        .shards
        .unwrap()
        .into_iter()
        .map(|s| s.shard_id)
        .collect()
}

/// Reads a shard from `it` until caught up (or, if closed, to its end):
/// (sequence number, data) in order.
pub async fn drain(c: &Client, mut it: String, limit: i32) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let page = c
            .get_records()
            .shard_iterator(&it)
            .limit(limit)
            .send()
            .await
            .unwrap();
        let n = page.records.len();
        for r in page.records {
            out.push((r.sequence_number, r.data.into_inner()));
        }
        if n == 0 && page.millis_behind_latest == Some(0) {
            return out;
        }
        match page.next_shard_iterator {
            Some(next) => it = next,
            // A closed shard read to its end.
            None => return out,
        }
    }
}

pub async fn iterator(c: &Client, stream: &str, shard: &str, kind: ShardIteratorType) -> String {
    c.get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard)
        .shard_iterator_type(kind)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap()
}

/// Every record of every shard, in shard then sequence order.
pub async fn read_all(c: &Client, stream: &str, limit: i32) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for shard in shard_ids(c, stream).await {
        let it = iterator(c, stream, &shard, ShardIteratorType::TrimHorizon).await;
        out.extend(drain(c, it, limit).await);
    }
    out
}
