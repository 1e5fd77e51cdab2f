//! How subscriptions end: after their lifetime (with heartbeats meanwhile),
//! at a split, when the stream is deleted or the engine shuts down, when
//! the consumer is deregistered; and how large an event may be.

use super::*;

#[tokio::test]
async fn a_subscription_ends_after_its_lifetime_and_heartbeats_meanwhile() {
    let e = engine::spawn(Config {
        subscription_ttl: Duration::from_secs(7),
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let consumer = register(&c, "s", "hq").await;
    let mut sub = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::Latest, None),
    )
    .await;
    let started = std::time::Instant::now();
    // The first event at once, a heartbeat after 5 s of nothing, then the end.
    let first = next_event(&mut sub).await.unwrap();
    assert!(first.records.is_empty());
    let heartbeat = next_event(&mut sub).await.unwrap();
    assert!(heartbeat.records.is_empty());
    assert!(!heartbeat.continuation_sequence_number.is_empty());
    assert!(started.elapsed() >= Duration::from_secs(4));
    assert!(next_event(&mut sub).await.is_none());
    assert!(started.elapsed() >= Duration::from_secs(6));
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_split_ends_the_subscription_with_the_children() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let consumer = register(&c, "s", "hq").await;
    let mut sub = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::TrimHorizon, None),
    )
    .await;
    put(&c, "s", "one").await;
    assert_eq!(receive(&mut sub, 1).await.0, ["one"]);
    c.split_shard()
        .stream_name("s")
        .shard_to_split(SHARD0)
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    let last = loop {
        let ev = next_event(&mut sub).await.expect("an event before the end");
        if ev.child_shards.is_some() {
            break ev;
        }
    };
    assert!(last.continuation_sequence_number.is_empty());
    let children: Vec<String> = last
        .child_shards
        .unwrap()
        .into_iter()
        .map(|s| s.shard_id)
        .collect();
    assert_eq!(children, ["shardId-000000000001", "shardId-000000000002"]);
    assert!(next_event(&mut sub).await.is_none());
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn deleting_the_stream_ends_subscriptions_with_an_error_and_shutdown_ends_them() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    create(&c, "t", 1).await;
    let consumer = register(&c, "s", "hq").await;
    let other = register(&c, "t", "hq").await;
    let mut sub = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::Latest, None),
    )
    .await;
    let mut kept = subscribe(
        &c,
        &other,
        SHARD0,
        position(ShardIteratorType::Latest, None),
    )
    .await;
    next_event(&mut sub).await.unwrap();
    next_event(&mut kept).await.unwrap();
    // A stream with registered consumers is deleted only when told to, as on AWS.
    let refused = c.delete_stream().stream_name("s").send().await.unwrap_err();
    assert_eq!(
        refused.into_service_error().meta().code(),
        Some("ResourceInUseException")
    );
    c.delete_stream()
        .stream_name("s")
        .enforce_consumer_deletion(true)
        .send()
        .await
        .unwrap();
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(20), sub.event_stream.recv())
            .await
            .unwrap()
        {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("ended without an error"),
            Err(err) => break err,
        }
    };
    assert!(matches!(
        err.into_service_error(),
        SubscribeToShardEventStreamError::ResourceNotFoundException(_)
    ));
    // A graceful shutdown does not wait for the open subscription.
    tokio::time::timeout(Duration::from_secs(10), e.shutdown())
        .await
        .expect("shutdown finishes")
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), kept.event_stream.recv())
        .await
        .unwrap();
    assert!(
        !matches!(end, Ok(Some(_))),
        "the subscription ended: {end:?}"
    );
}

#[tokio::test]
async fn events_carry_about_a_mebibyte_at_most() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let consumer = register(&c, "s", "hq").await;
    let big = "x".repeat(600 << 10);
    for _ in 0..4 {
        put(&c, "s", &big).await;
    }
    let mut sub = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::TrimHorizon, None),
    )
    .await;
    let mut got = 0;
    while got < 4 {
        let ev = next_event(&mut sub)
            .await
            .expect("the subscription goes on");
        // 600 KiB records: one per event, never two (1.2 MiB).
        assert!(
            ev.records.len() <= 1,
            "{} records in one event",
            ev.records.len()
        );
        got += ev.records.len();
    }
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn deregistering_the_consumer_ends_its_subscriptions_with_an_error() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let consumer = register(&c, "s", "hq").await;
    let mut sub = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::Latest, None),
    )
    .await;
    next_event(&mut sub).await.unwrap();
    c.deregister_stream_consumer()
        .consumer_arn(&consumer)
        .send()
        .await
        .unwrap();
    let end = tokio::time::timeout(Duration::from_secs(20), sub.event_stream.recv())
        .await
        .expect("the subscription ends at once");
    match end {
        Err(err) => assert!(matches!(
            err.into_service_error(),
            SubscribeToShardEventStreamError::ResourceNotFoundException(_)
        )),
        other => panic!("expected ResourceNotFoundException, got {other:?}"),
    }
    e.shutdown().await.unwrap();
}
