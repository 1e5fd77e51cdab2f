//! Records read say whether they were written encrypted: `EncryptionType`
//! by their arrival against the stream's encrypted spells.

use super::*;

use aws_sdk_kinesis::types::{EncryptionType, StartingPosition, SubscribeToShardEventStream};

const KEY: &str = "alias/aws/kinesis";

async fn put(c: &aws_sdk_kinesis::Client, data: &str) {
    c.put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob(data))
        .send()
        .await
        .unwrap();
}

/// Every record of the stream's shard: (data, EncryptionType).
async fn read(c: &aws_sdk_kinesis::Client) -> Vec<(String, Option<EncryptionType>)> {
    let it = iterator(
        c,
        "s",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await;
    let page = c.get_records().shard_iterator(it).send().await.unwrap();
    page.records
        .into_iter()
        .map(|r| {
            (
                String::from_utf8(r.data.into_inner()).unwrap(),
                r.encryption_type,
            )
        })
        .collect()
}

/// The same, pushed by SubscribeToShard.
async fn pushed(c: &aws_sdk_kinesis::Client, n: usize) -> Vec<(String, Option<EncryptionType>)> {
    let arn = c
        .describe_stream_summary()
        .stream_name("s")
        .send()
        .await
        .unwrap()
        .stream_description_summary
        .unwrap()
        .stream_arn;
    let consumer = c
        .register_stream_consumer()
        .stream_arn(arn)
        .consumer_name("reader")
        .send()
        .await
        .unwrap()
        .consumer
        .unwrap()
        .consumer_arn;
    let at = StartingPosition::builder()
        .r#type(ShardIteratorType::TrimHorizon)
        .build()
        .unwrap();
    let mut sub = c
        .subscribe_to_shard()
        .consumer_arn(consumer)
        .shard_id("shardId-000000000000")
        .starting_position(at)
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        let ev = tokio::time::timeout(Duration::from_secs(20), sub.event_stream.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let SubscribeToShardEventStream::SubscribeToShardEvent(ev) = ev else {
            panic!("unexpected event {ev:?}");
        };
        out.extend(ev.records.into_iter().map(|r| {
            (
                String::from_utf8(r.data.into_inner()).unwrap(),
                r.encryption_type,
            )
        }));
    }
    out
}

#[tokio::test]
async fn records_read_are_kms_if_they_arrived_while_the_stream_was_encrypted() {
    // In memory, and on disk with no cache (every read from the log).
    let dir = tempfile::tempdir().unwrap();
    for data_dir in [None, Some(dir.path().to_path_buf())] {
        let durable = data_dir.is_some();
        let clock = ManualClock::new();
        let e = engine::spawn(Config {
            clock: std::sync::Arc::new(clock.clone()),
            data_dir,
            cache_bytes: 0,
            ..Config::default()
        })
        .await
        .unwrap();
        let c = client(&e.url());
        create(&c, "s", 1).await;
        put(&c, "plain").await;
        // A stream never encrypted: records say nothing, as the service's.
        assert_eq!(read(&c).await, [("plain".into(), None)]);
        clock.advance(Duration::from_secs(1));
        c.start_stream_encryption()
            .stream_name("s")
            .encryption_type(EncryptionType::Kms)
            .key_id(KEY)
            .send()
            .await
            .unwrap();
        put(&c, "secret").await;
        clock.advance(Duration::from_secs(1));
        c.stop_stream_encryption()
            .stream_name("s")
            .encryption_type(EncryptionType::Kms)
            .key_id(KEY)
            .send()
            .await
            .unwrap();
        put(&c, "plain again").await;
        let want = vec![
            ("plain".to_string(), Some(EncryptionType::None)),
            ("secret".to_string(), Some(EncryptionType::Kms)),
            ("plain again".to_string(), Some(EncryptionType::None)),
        ];
        if durable {
            assert_eq!(e.storage_stats().cached_records, 0, "read from disk");
        }
        assert_eq!(read(&c).await, want);
        assert_eq!(pushed(&c, 3).await, want);
        e.shutdown().await.unwrap();
    }
}
