//! Shards and settings: resharding, retention, tags, throughput limits.

use super::*;
use engine::Clock;

#[tokio::test]
async fn resharding_and_child_shards() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    c.put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob("before"))
        .send()
        .await
        .unwrap();
    c.split_shard()
        .stream_name("s")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key((1u128 << 127).to_string())
        .send()
        .await
        .unwrap();
    let after = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob("after"))
        .send()
        .await
        .unwrap();
    assert_ne!(after.shard_id, "shardId-000000000000");
    let shards = c
        .list_shards()
        .stream_name("s")
        .send()
        .await
        .unwrap()
        .shards
        .unwrap();
    assert_eq!(shards.len(), 3);
    assert!(shards[0]
        .sequence_number_range
        .as_ref()
        .unwrap()
        .ending_sequence_number
        .is_some());
    assert_eq!(
        shards[1].parent_shard_id.as_deref(),
        Some("shardId-000000000000")
    );
    let open = c
        .list_shards()
        .stream_name("s")
        .shard_filter(
            ShardFilter::builder()
                .r#type(ShardFilterType::AtLatest)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(open.shards().len(), 2);

    let it = iterator(
        &c,
        "s",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await;
    let page = c.get_records().shard_iterator(it).send().await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert!(page.next_shard_iterator.is_none());
    let children = page.child_shards();
    assert_eq!(children.len(), 2);
    assert_eq!(children[0].parent_shards, vec!["shardId-000000000000"]);

    c.merge_shards()
        .stream_name("s")
        .shard_to_merge("shardId-000000000001")
        .adjacent_shard_to_merge("shardId-000000000002")
        .send()
        .await
        .unwrap();
    let d = c
        .describe_stream()
        .stream_name("s")
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(d.shards.len(), 4);
    assert_eq!(
        d.shards[3].adjacent_parent_shard_id.as_deref(),
        Some("shardId-000000000002")
    );

    let u = c
        .update_shard_count()
        .stream_name("s")
        .target_shard_count(2)
        .scaling_type(ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    assert_eq!(u.current_shard_count, Some(1));
    let s = c
        .describe_stream_summary()
        .stream_name("s")
        .send()
        .await
        .unwrap();
    assert_eq!(s.stream_description_summary.unwrap().open_shard_count, 2);
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn retention_and_tags() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    c.increase_stream_retention_period()
        .stream_name("s")
        .retention_period_hours(48)
        .send()
        .await
        .unwrap();
    let err = c
        .increase_stream_retention_period()
        .stream_name("s")
        .retention_period_hours(30)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_argument_exception());
    c.decrease_stream_retention_period()
        .stream_name("s")
        .retention_period_hours(24)
        .send()
        .await
        .unwrap();
    let d = c
        .describe_stream_summary()
        .stream_name("s")
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.stream_description_summary.unwrap().retention_period_hours,
        24
    );

    c.add_tags_to_stream()
        .stream_name("s")
        .tags("team", "unicorns")
        .tags("env", "dev")
        .send()
        .await
        .unwrap();
    let t = c
        .list_tags_for_stream()
        .stream_name("s")
        .send()
        .await
        .unwrap();
    assert_eq!(t.tags.len(), 2);
    assert!(!t.has_more_tags);
    c.remove_tags_from_stream()
        .stream_name("s")
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    let t = c
        .list_tags_for_stream()
        .stream_name("s")
        .send()
        .await
        .unwrap();
    assert_eq!(t.tags.len(), 1);
    assert_eq!(t.tags[0].key, "team");
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn throughput_limits_and_fault_injection() {
    // A frozen clock: the per-second windows never turn over mid-test.
    let e = engine::spawn(Config {
        enforce_limits: true,
        clock: std::sync::Arc::new(ManualClock::frozen()),
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let mut failed = 0;
    for _ in 0..3 {
        let entries: Vec<_> = (0..500).map(|i| entry(&i.to_string(), "x")).collect();
        let out = c
            .put_records()
            .stream_name("s")
            .set_records(Some(entries))
            .send()
            .await
            .unwrap();
        failed += out.failed_record_count.unwrap_or(0);
        for r in out.records() {
            if let Some(code) = &r.error_code {
                assert_eq!(code, "ProvisionedThroughputExceededException");
            }
        }
    }
    // 1,500 records against 1,000/s within one second: 500 fail.
    assert_eq!(failed, 500, "expected throttled entries");
    let it = iterator(&c, "s", "shardId-000000000000", ShardIteratorType::Latest).await;
    let mut throttled = false;
    for _ in 0..12 {
        match c.get_records().shard_iterator(&it).send().await {
            Ok(_) => {}
            Err(err) => {
                assert!(err
                    .into_service_error()
                    .is_provisioned_throughput_exceeded_exception());
                throttled = true;
                break;
            }
        }
    }
    assert!(throttled);
    e.shutdown().await.unwrap();

    let e = engine::spawn(Config {
        fail_entry_ratio: 1.0,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let out = c
        .put_records()
        .stream_name("s")
        .records(entry("k", "x"))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count, Some(1));
    assert_eq!(
        out.records[0].error_code.as_deref(),
        Some("InternalFailure")
    );
    e.shutdown().await.unwrap();

    let e = engine::spawn(Config {
        fail_call_ratio: 1.0,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    let err = c.list_streams().send().await.unwrap_err();
    match err {
        SdkError::ServiceError(s) => assert_eq!(s.raw().status().as_u16(), 500),
        other => panic!("unexpected {other:?}"),
    }
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn merging_names_the_pair_in_hash_order_and_tags_list_whole() {
    use aws_sdk_kinesis::error::ProvideErrorMetadata;
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 2).await;
    // Shard 1's hash keys follow shard 0's: named the other way round, the
    // pair is refused, as the service does.
    let inverted = c
        .merge_shards()
        .stream_name("s")
        .shard_to_merge("shardId-000000000001")
        .adjacent_shard_to_merge("shardId-000000000000")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(inverted.code(), Some("InvalidArgumentException"));
    assert!(inverted
        .message()
        .unwrap()
        .ends_with("are not an adjacent pair of shards eligible for merging"));
    // Any prefix before the first hyphen, and leading zeros, name a shard.
    c.merge_shards()
        .stream_name("s")
        .shard_to_merge("x-0")
        .adjacent_shard_to_merge("-00000000000001")
        .send()
        .await
        .unwrap();

    // Without a Limit, ListTagsForStream gives every tag.
    let mut add = c.add_tags_to_stream().stream_name("s");
    for i in 0..12 {
        add = add.tags(format!("k{i:02}"), "v");
    }
    add.send().await.unwrap();
    let t = c
        .list_tags_for_stream()
        .stream_name("s")
        .send()
        .await
        .unwrap();
    assert_eq!(t.tags.len(), 12);
    assert!(!t.has_more_tags);
    e.shutdown().await.unwrap();
}

/// ListShards' filters after a reshard, on a frozen clock: which shards were
/// open at the trim horizon or at a time, which ended after a time, and
/// pages that keep their filter until their token expires.
#[tokio::test]
async fn list_shards_filters_follow_each_shards_life() {
    use aws_sdk_kinesis::operation::list_shards::ListShardsError;
    use aws_sdk_kinesis::primitives::DateTime;
    let clock = ManualClock::frozen();
    let e = common::spawn_on(&clock).await;
    let c = client(&e.url());
    let t0 = clock.now_millis();
    create(&c, "s", 2).await;
    clock.advance(Duration::from_secs(10));
    c.update_shard_count()
        .stream_name("s")
        .target_shard_count(4)
        .scaling_type(ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    clock.advance(Duration::from_secs(10));
    let t2 = clock.now_millis();
    let listed = |kind: ShardFilterType, at: Option<u64>| {
        let filter = ShardFilter::builder()
            .r#type(kind)
            .set_timestamp(at.map(|t| DateTime::from_millis(t as i64)))
            .build()
            .unwrap();
        let call = c.list_shards().stream_name("s").shard_filter(filter).send();
        async move {
            let out = call.await.unwrap();
            out.shards().len()
        }
    };
    // Two parents, closed at t0 + 10 s, and four open children.
    assert_eq!(listed(ShardFilterType::AtTrimHorizon, None).await, 2);
    assert_eq!(listed(ShardFilterType::FromTrimHorizon, None).await, 6);
    assert_eq!(listed(ShardFilterType::AtLatest, None).await, 4);
    assert_eq!(
        listed(ShardFilterType::AtTimestamp, Some(t0 + 5_000)).await,
        2
    );
    assert_eq!(listed(ShardFilterType::AtTimestamp, Some(t2)).await, 4);
    assert_eq!(
        listed(ShardFilterType::FromTimestamp, Some(t0 + 5_000)).await,
        6
    );
    assert_eq!(listed(ShardFilterType::FromTimestamp, Some(t2)).await, 4);

    // A page's token keeps the filter; it cannot be given with one.
    let latest = ShardFilter::builder()
        .r#type(ShardFilterType::AtLatest)
        .build()
        .unwrap();
    let first = c
        .list_shards()
        .stream_name("s")
        .shard_filter(latest.clone())
        .max_results(3)
        .send()
        .await
        .unwrap();
    assert_eq!(first.shards().len(), 3);
    let token = first.next_token().unwrap().to_string();
    let second = c.list_shards().next_token(&token).send().await.unwrap();
    assert_eq!(second.shards().len(), 1);
    assert!(second.shards()[0]
        .sequence_number_range()
        .unwrap()
        .ending_sequence_number()
        .is_none());
    let both = c
        .list_shards()
        .next_token(&token)
        .shard_filter(latest)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(both, ListShardsError::InvalidArgumentException(_)),
        "{both:?}"
    );
    // Tokens last 300 seconds.
    clock.advance(Duration::from_secs(301));
    let expired = c
        .list_shards()
        .next_token(&token)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(expired, ListShardsError::ExpiredNextTokenException(_)),
        "{expired:?}"
    );
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn update_shard_count_splits_and_merges_as_the_service_does() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    for (from, to, all) in [(4, 5, 15), (5, 3, 7)] {
        let name = format!("s{from}");
        create(&c, &name, from).await;
        c.update_shard_count()
            .stream_name(&name)
            .target_shard_count(to)
            .scaling_type(ScalingType::UniformScaling)
            .send()
            .await
            .unwrap();
        let shards = c
            .list_shards()
            .stream_name(&name)
            .send()
            .await
            .unwrap()
            .shards
            .unwrap_or_default();
        assert_eq!(shards.len(), all, "{from} -> {to}");
        let range = |id: &str| {
            let s = shards.iter().find(|s| s.shard_id() == id).unwrap();
            let r = s.hash_key_range().unwrap();
            let n = |k: &str| k.parse::<u128>().unwrap();
            (n(r.starting_hash_key()), n(r.ending_hash_key()))
        };
        // Every child covers exactly its parents (a split: within its one).
        for s in &shards {
            let me = range(s.shard_id());
            match (s.parent_shard_id(), s.adjacent_parent_shard_id()) {
                (Some(p), Some(a)) => {
                    let (p, a) = (range(p), range(a));
                    assert_eq!(me, (p.0, a.1), "{from} -> {to}");
                    assert_eq!(p.1 + 1, a.0);
                }
                (Some(p), None) => {
                    let p = range(p);
                    assert!(p.0 <= me.0 && me.1 <= p.1, "{from} -> {to}");
                }
                _ => {}
            }
        }
        let open = shards
            .iter()
            .filter(|s| {
                s.sequence_number_range()
                    .is_some_and(|r| r.ending_sequence_number().is_none())
            })
            .count();
        assert_eq!(open, to as usize);
    }
}
