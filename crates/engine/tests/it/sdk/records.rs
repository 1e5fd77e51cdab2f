//! Records: put and get, iterators and their expiry.

use super::*;

#[tokio::test]
async fn put_and_get_records() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 2).await;
    let r = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob("one"))
        .send()
        .await
        .unwrap();
    let first_seq = r.sequence_number.clone();
    let shard = r.shard_id.clone();
    // MD5 routing: same key, same shard; explicit hash key 0 goes to shard 0.
    let r2 = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob("two"))
        .sequence_number_for_ordering(&first_seq)
        .send()
        .await
        .unwrap();
    assert_eq!(r2.shard_id, shard);
    assert!(r2.sequence_number > first_seq);
    let r0 = c
        .put_record()
        .stream_name("s")
        .partition_key("x")
        .explicit_hash_key("0")
        .data(blob("zero"))
        .send()
        .await
        .unwrap();
    assert_eq!(r0.shard_id, "shardId-000000000000");

    let entries: Vec<_> = (0..500)
        .map(|i| entry(&format!("key{i}"), &format!("rec{i}")))
        .collect();
    let out = c
        .put_records()
        .stream_name("s")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count, Some(0));
    assert_eq!(out.records.len(), 500);

    // Read everything from both shards.
    let mut total = 0;
    for sid in ["shardId-000000000000", "shardId-000000000001"] {
        let it = iterator(&c, "s", sid, ShardIteratorType::TrimHorizon).await;
        let page = c
            .get_records()
            .shard_iterator(it)
            .limit(10_000)
            .send()
            .await
            .unwrap();
        total += page.records.len();
        assert_eq!(page.millis_behind_latest, Some(0));
        let seqs: Vec<_> = page
            .records
            .iter()
            .map(|r| r.sequence_number.clone())
            .collect();
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(seqs, sorted);
        assert!(page
            .records
            .iter()
            .all(|r| r.approximate_arrival_timestamp.is_some()));
        assert!(page.next_shard_iterator.is_some());
    }
    assert_eq!(total, 503);

    // Limit and the other iterator types.
    let at = |t: ShardIteratorType, seq: Option<&str>| {
        let c = c.clone();
        let shard = shard.clone();
        let seq = seq.map(str::to_string);
        async move {
            c.get_shard_iterator()
                .stream_name("s")
                .shard_id(shard)
                .shard_iterator_type(t)
                .set_starting_sequence_number(seq)
                .send()
                .await
                .unwrap()
                .shard_iterator
                .unwrap()
        }
    };
    let it = at(ShardIteratorType::AtSequenceNumber, Some(&first_seq)).await;
    let page = c
        .get_records()
        .shard_iterator(it)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].data.as_ref(), b"one");
    assert_eq!(page.records[0].partition_key.as_deref(), Some("k"));
    assert!(page.millis_behind_latest.is_some());
    let page = c
        .get_records()
        .shard_iterator(page.next_shard_iterator.unwrap())
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.records[0].data.as_ref(), b"two");

    let it = at(ShardIteratorType::AfterSequenceNumber, Some(&first_seq)).await;
    let page = c
        .get_records()
        .shard_iterator(it)
        .limit(1)
        .send()
        .await
        .unwrap();
    assert_eq!(page.records[0].data.as_ref(), b"two");

    let it = at(ShardIteratorType::Latest, None).await;
    let page = c.get_records().shard_iterator(it).send().await.unwrap();
    assert!(page.records.is_empty());
    c.put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob("three"))
        .send()
        .await
        .unwrap();
    let page = c
        .get_records()
        .shard_iterator(page.next_shard_iterator.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].data.as_ref(), b"three");

    let ts = page.records[0].approximate_arrival_timestamp.unwrap();
    let it = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::AtTimestamp)
        .timestamp(ts)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let page = c.get_records().shard_iterator(it).send().await.unwrap();
    assert!(page.records.iter().any(|r| r.data.as_ref() == b"three"));

    // Like Kinesis, a time ahead of the service's clock is refused.
    let future = aws_smithy_types::DateTime::from_secs(ts.secs() + 3600);
    let err = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id(&shard)
        .shard_iterator_type(ShardIteratorType::AtTimestamp)
        .timestamp(future)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn iterator_expiry_with_injected_time() {
    let clock = ManualClock::new();
    let e = common::spawn_on(&clock).await;
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let it = iterator(
        &c,
        "s",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await;
    c.get_records().shard_iterator(&it).send().await.unwrap();
    clock.advance(Duration::from_secs(301));
    let err = c
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, GetRecordsError::ExpiredIteratorException(_)),
        "{err:?}"
    );
    // Times as the service words them (Java's Date.toString), as kinesalite
    // recorded them.
    let message = aws_sdk_kinesis::error::ProvideErrorMetadata::message(&err).unwrap_or("");
    let date = r"\w{3} \w{3} \d{2} \d{2}:\d{2}:\d{2} UTC \d{4}";
    let expected = format!(
        r"^Iterator expired\. The iterator was created at time {date} while right now it is {date} which is further in the future than the tolerated delay of 300000 milliseconds\.$"
    );
    assert!(
        regex::Regex::new(&expected).unwrap().is_match(message),
        "{message}"
    );

    // Retention: records older than 24 h are trimmed.
    c.put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob("old"))
        .send()
        .await
        .unwrap();
    clock.advance(Duration::from_secs(25 * 3600));
    c.put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob("new"))
        .send()
        .await
        .unwrap();
    let it = iterator(
        &c,
        "s",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await;
    let page = c.get_records().shard_iterator(it).send().await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].data.as_ref(), b"new");
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn forged_or_foreign_iterators_are_refused() {
    use base64::Engine as _;
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "a", 1).await;
    create(&c, "b", 1).await;
    let it = iterator(&c, "a", "shardId-000000000000", ShardIteratorType::Latest).await;
    c.get_records().shard_iterator(&it).send().await.unwrap();
    // What a client could make without the engine's key: the old CRC-checked
    // layout naming another stream, the last position and a time that never expires.
    let body = format!("v1/1/0/{}/{}/b", u64::MAX, u64::MAX);
    let forged = format!("{body}/{:08x}", crc32fast::hash(body.as_bytes()));
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut tampered = b64.decode(&it).unwrap();
    tampered[3] ^= 1;
    let other = engine::spawn_in_memory().await.unwrap();
    for bad in [b64.encode(forged), b64.encode(tampered)] {
        testkit::assert_service_error!(
            c.get_records().shard_iterator(bad).send(),
            GetRecordsError::InvalidArgumentException(_)
        );
    }
    // Another engine's iterator (another key) is not this engine's.
    testkit::assert_service_error!(
        client(&other.url())
            .get_records()
            .shard_iterator(&it)
            .send(),
        GetRecordsError::InvalidArgumentException(_)
    );
    other.shutdown().await.unwrap();
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn oversized_records_and_calls_are_refused_in_the_services_words() {
    use aws_sdk_kinesis::error::ProvideErrorMetadata;
    use aws_sdk_kinesis::primitives::Blob;
    use aws_sdk_kinesis::types::PutRecordsRequestEntry;
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let big = vec![b'x'; (1 << 20) + 1];
    let refused = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(Blob::new(big))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.message(),
        Some("1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at 'data' failed to satisfy constraint: Member must have length less than or equal to 1048576")
    );
    let entry = PutRecordsRequestEntry::builder()
        .partition_key("k")
        .data(Blob::new(vec![b'x'; 1 << 20]))
        .build()
        .unwrap();
    let refused = c
        .put_records()
        .stream_name("s")
        .set_records(Some(vec![entry; 6]))
        .send()
        .await
        .unwrap_err();
    assert_eq!(refused.message(), Some("Records size exceeds 5 MB limit"));
}
