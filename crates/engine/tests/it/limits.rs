//! Per-shard throughput limits through the AWS SDK, with a frozen injectable
//! clock (no sleeps, no second turning over by itself): 1,000 records/s and
//! 1 MiB/s written, 5 GetRecords/s and 2 MiB/s read per shard.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use aws_sdk_kinesis::Client;
use common::{client, create, iterator};
use engine::{Config, EngineHandle, ManualClock};

const THROTTLED: &str = "ProvisionedThroughputExceededException";

async fn limited() -> (EngineHandle, Client, ManualClock) {
    let clock = ManualClock::frozen();
    let e = engine::spawn(Config {
        enforce_limits: true,
        clock: Arc::new(clock.clone()),
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    (e, c, clock)
}

/// Entries routed to the shard owning `hash` (2 shards: 0 is the lower half).
fn entries(n: usize, size: usize, hash: &str) -> Vec<PutRecordsRequestEntry> {
    (0..n)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .partition_key(format!("k{i}"))
                .explicit_hash_key(hash)
                .data(Blob::new(vec![b'x'; size]))
                .build()
                .unwrap()
        })
        .collect()
}

const LOW: &str = "1";
const HIGH: &str = "300000000000000000000000000000000000000";

#[tokio::test]
async fn put_records_throttles_single_entries_per_shard() {
    let (e, c, clock) = limited().await;
    create(&c, "s", 2).await;
    // 1,000 records in one second on shard 0 are fine.
    for _ in 0..2 {
        let out = c
            .put_records()
            .stream_name("s")
            .set_records(Some(entries(500, 1, LOW)))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_record_count, Some(0));
    }
    // The 1,001st record of shard 0 fails as an entry, not as the call; shard 1
    // entries of the same call succeed, results in request order.
    let mut mixed = entries(2, 1, LOW);
    mixed.insert(1, entries(1, 1, HIGH).remove(0));
    let out = c
        .put_records()
        .stream_name("s")
        .set_records(Some(mixed))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count, Some(2));
    let codes: Vec<_> = out.records.iter().map(|r| r.error_code.clone()).collect();
    assert_eq!(
        codes,
        [
            Some(THROTTLED.to_string()),
            None,
            Some(THROTTLED.to_string())
        ]
    );
    assert_eq!(
        out.records[1].shard_id.as_deref(),
        Some("shardId-000000000001")
    );
    assert!(out.records[0]
        .error_message
        .as_deref()
        .unwrap()
        .contains("shardId-000000000000"));
    assert!(out.records[0].sequence_number.is_none());

    // PutRecord on the full shard: a 400 ProvisionedThroughputExceededException.
    let err = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .explicit_hash_key(LOW)
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap_err();
    let raw_status = err.raw_response().map(|r| r.status().as_u16());
    assert_eq!(raw_status, Some(400));
    assert!(err
        .into_service_error()
        .is_provisioned_throughput_exceeded_exception());

    // The next second the shard accepts writes again.
    clock.advance(Duration::from_secs(1));
    c.put_record()
        .stream_name("s")
        .partition_key("k")
        .explicit_hash_key(LOW)
        .data(Blob::new("x"))
        .send()
        .await
        .unwrap();
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn writes_are_limited_to_one_mib_per_second_per_shard() {
    let (e, c, clock) = limited().await;
    create(&c, "s", 1).await;
    // Ten records of 100 KiB fit in 1 MiB, the eleventh does not.
    let out = c
        .put_records()
        .stream_name("s")
        .set_records(Some(entries(11, 100 << 10, LOW)))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count, Some(1));
    assert!(out.records[..10].iter().all(|r| r.error_code.is_none()));
    assert_eq!(out.records[10].error_code.as_deref(), Some(THROTTLED));
    clock.advance(Duration::from_secs(1));
    let out = c
        .put_records()
        .stream_name("s")
        .set_records(Some(entries(1, 100 << 10, LOW)))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count, Some(0));
    e.shutdown().await.unwrap();
}

async fn trim_horizon(c: &Client) -> String {
    iterator(
        c,
        "s",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await
}

fn is_throttled(
    err: aws_sdk_kinesis::error::SdkError<aws_sdk_kinesis::operation::get_records::GetRecordsError>,
) -> bool {
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    err.into_service_error()
        .is_provisioned_throughput_exceeded_exception()
}

#[tokio::test]
async fn get_records_is_limited_to_five_calls_per_second_per_shard() {
    let (e, c, clock) = limited().await;
    create(&c, "s", 2).await;
    let it = trim_horizon(&c).await;
    for _ in 0..5 {
        c.get_records().shard_iterator(&it).send().await.unwrap();
    }
    let err = c
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap_err();
    // Worded as the service words GetRecords' throttling today.
    let message = aws_sdk_kinesis::error::ProvideErrorMetadata::message(&err).map(str::to_owned);
    assert!(is_throttled(err));
    assert_eq!(
        message.as_deref(),
        Some("Rate exceeded for Shard - 000000000000/s/shardId-000000000000")
    );
    // Another shard has its own budget.
    let other = iterator(&c, "s", "shardId-000000000001", ShardIteratorType::Latest).await;
    c.get_records().shard_iterator(&other).send().await.unwrap();
    clock.advance(Duration::from_secs(1));
    c.get_records().shard_iterator(&it).send().await.unwrap();
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn get_records_is_limited_to_two_mib_per_second_per_shard() {
    let (e, c, clock) = limited().await;
    create(&c, "s", 1).await;
    // 4 MiB stored over four seconds (1 MiB/s write limit).
    for _ in 0..4 {
        let out = c
            .put_records()
            .stream_name("s")
            .set_records(Some(entries(10, 100 << 10, LOW)))
            .send()
            .await
            .unwrap();
        assert_eq!(out.failed_record_count, Some(0));
        clock.advance(Duration::from_secs(1));
    }
    // One call may return all 4 MiB (up to 10 MiB per call)...
    let it = trim_horizon(&c).await;
    let page = c.get_records().shard_iterator(&it).send().await.unwrap();
    assert_eq!(page.records.len(), 40);
    let next = page.next_shard_iterator.unwrap();
    // ...but then the shard's 2 MiB/s are used up for about two seconds: reads
    // fail while more than a second of bandwidth is owed.
    let err = c
        .get_records()
        .shard_iterator(&next)
        .send()
        .await
        .unwrap_err();
    assert!(is_throttled(err));
    clock.advance(Duration::from_millis(900));
    let err = c
        .get_records()
        .shard_iterator(&next)
        .send()
        .await
        .unwrap_err();
    assert!(is_throttled(err));
    clock.advance(Duration::from_millis(100));
    let page = c.get_records().shard_iterator(&next).send().await.unwrap();
    assert!(page.records.is_empty());
    // Small reads within the budget are not throttled by bytes.
    let it = trim_horizon(&c).await;
    clock.advance(Duration::from_secs(1));
    let page = c
        .get_records()
        .shard_iterator(&it)
        .limit(5)
        .send()
        .await
        .unwrap();
    assert_eq!(page.records.len(), 5);
    let page = c
        .get_records()
        .shard_iterator(page.next_shard_iterator.unwrap())
        .limit(5)
        .send()
        .await
        .unwrap();
    assert_eq!(page.records.len(), 5);
    e.shutdown().await.unwrap();
}
