//! Streams: lifecycle, listing, states and their delays, every action of the model.

use super::*;

#[tokio::test]
async fn stream_lifecycle_and_listing() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "a", 3).await;
    c.create_stream()
        .stream_name("b")
        .stream_mode_details(
            StreamModeDetails::builder()
                .stream_mode(StreamMode::OnDemand)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    testkit::assert_service_error!(
        c.create_stream().stream_name("a").shard_count(1).send(),
        CreateStreamError::ResourceInUseException(_)
    );
    testkit::assert_error_code!(
        c.create_stream()
            .stream_name("bad name!")
            .shard_count(1)
            .send(),
        "ValidationException"
    );
    testkit::assert_service_error!(
        c.create_stream()
            .stream_name("huge")
            .shard_count(100_000)
            .send(),
        CreateStreamError::LimitExceededException(_)
    );

    let d = c.describe_stream().stream_name("a").send().await.unwrap();
    let d = d.stream_description.unwrap();
    assert_eq!(d.stream_status, StreamStatus::Active);
    assert_eq!(
        d.stream_arn,
        "arn:aws:kinesis:us-east-1:000000000000:stream/a"
    );
    assert_eq!(d.shards.len(), 3);
    assert_eq!(d.shards[0].shard_id, "shardId-000000000000");
    assert_eq!(
        d.shards[0]
            .hash_key_range
            .as_ref()
            .unwrap()
            .starting_hash_key,
        "0"
    );
    assert_eq!(
        d.shards[2].hash_key_range.as_ref().unwrap().ending_hash_key,
        u128::MAX.to_string()
    );
    // Pagination of DescribeStream.
    let p = c
        .describe_stream()
        .stream_name("a")
        .limit(2)
        .send()
        .await
        .unwrap();
    let p = p.stream_description.unwrap();
    assert_eq!(p.shards.len(), 2);
    assert!(p.has_more_shards);
    let p = c
        .describe_stream()
        .stream_name("a")
        .exclusive_start_shard_id("shardId-000000000001")
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(p.shards.len(), 1);
    assert!(!p.has_more_shards);

    let s = c
        .describe_stream_summary()
        .stream_arn(&d.stream_arn)
        .send()
        .await
        .unwrap();
    let s = s.stream_description_summary.unwrap();
    assert_eq!(s.open_shard_count, 3);
    let s = c
        .describe_stream_summary()
        .stream_name("b")
        .send()
        .await
        .unwrap();
    assert_eq!(s.stream_description_summary.unwrap().open_shard_count, 4);

    let l = c.list_streams().limit(1).send().await.unwrap();
    assert_eq!(l.stream_names, vec!["a"]);
    assert!(l.has_more_streams);
    let l = c
        .list_streams()
        .next_token(l.next_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(l.stream_names, vec!["b"]);
    assert_eq!(l.stream_summaries().len(), 1);

    let shards = c
        .list_shards()
        .stream_name("a")
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(shards.shards().len(), 2);
    let rest = c
        .list_shards()
        .next_token(shards.next_token.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.shards().len(), 1);
    assert!(rest.next_token.is_none());
    let after = c
        .list_shards()
        .stream_name("a")
        .shard_filter(
            ShardFilter::builder()
                .r#type(ShardFilterType::AfterShardId)
                .shard_id("shardId-000000000000")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(after.shards().len(), 2);
    testkit::assert_error_code!(
        c.list_shards().stream_name("a").next_token("x").send(),
        "InvalidArgumentException"
    );

    c.delete_stream().stream_name("a").send().await.unwrap();
    let err = c
        .describe_stream()
        .stream_name("a")
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn every_action_of_the_model_is_served() {
    use aws_sdk_kinesis::types::{
        EncryptionType, MetricsName, MinimumThroughputBillingCommitmentInput,
        MinimumThroughputBillingCommitmentInputStatus, StreamMode, StreamModeDetails,
    };
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 2).await;
    let limits = c.describe_limits().send().await.unwrap();
    assert_eq!(
        (limits.open_shard_count, limits.on_demand_stream_count),
        (2, 0)
    );
    let arn = c
        .describe_stream_summary()
        .stream_name("s")
        .send()
        .await
        .unwrap()
        .stream_description_summary
        .unwrap()
        .stream_arn;

    // Encryption: the key is stored and reported (records are not encrypted locally).
    c.start_stream_encryption()
        .stream_name("s")
        .encryption_type(EncryptionType::Kms)
        .key_id("alias/aws/kinesis")
        .send()
        .await
        .unwrap();
    let summary = c
        .describe_stream_summary()
        .stream_name("s")
        .send()
        .await
        .unwrap();
    let d = summary.stream_description_summary.unwrap();
    assert_eq!(d.encryption_type, Some(EncryptionType::Kms));
    assert_eq!(d.key_id.as_deref(), Some("alias/aws/kinesis"));
    let put = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.encryption_type, Some(EncryptionType::Kms));
    c.stop_stream_encryption()
        .stream_name("s")
        .encryption_type(EncryptionType::Kms)
        .key_id("alias/aws/kinesis")
        .send()
        .await
        .unwrap();

    // Monitoring: current and desired metrics.
    let on = c
        .enable_enhanced_monitoring()
        .stream_name("s")
        .shard_level_metrics(MetricsName::IncomingBytes)
        .send()
        .await
        .unwrap();
    assert_eq!(on.current_shard_level_metrics.unwrap_or_default(), vec![]);
    assert_eq!(
        on.desired_shard_level_metrics.unwrap(),
        vec![MetricsName::IncomingBytes]
    );
    let off = c
        .disable_enhanced_monitoring()
        .stream_name("s")
        .shard_level_metrics(MetricsName::All)
        .send()
        .await
        .unwrap();
    assert_eq!(off.desired_shard_level_metrics.unwrap_or_default(), vec![]);

    // Tags and policies by resource ARN.
    c.tag_resource()
        .resource_arn(&arn)
        .tags("team", "hq")
        .send()
        .await
        .unwrap();
    let tags = c
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tags.unwrap()[0].key, "team");
    c.untag_resource()
        .resource_arn(&arn)
        .tag_keys("team")
        .send()
        .await
        .unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[]}"#;
    c.put_resource_policy()
        .resource_arn(&arn)
        .policy(policy)
        .send()
        .await
        .unwrap();
    let got = c
        .get_resource_policy()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(got.policy, policy);
    c.delete_resource_policy()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();

    // Mode, warm throughput, record size, account settings.
    c.update_stream_mode()
        .stream_arn(&arn)
        .stream_mode_details(
            StreamModeDetails::builder()
                .stream_mode(StreamMode::OnDemand)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let warm = c
        .update_stream_warm_throughput()
        .stream_name("s")
        .warm_throughput_mibps(10)
        .send()
        .await
        .unwrap();
    assert_eq!(warm.warm_throughput.unwrap().target_mibps, Some(10));
    c.update_max_record_size()
        .stream_arn(&arn)
        .max_record_size_in_kib(2048)
        .send()
        .await
        .unwrap();
    let big = vec![7u8; 1_500_000];
    c.put_record()
        .stream_name("s")
        .partition_key("k")
        .data(aws_sdk_kinesis::primitives::Blob::new(big))
        .send()
        .await
        .expect("a 1.5 MB record fits a 2 MiB maximum");
    c.update_account_settings()
        .minimum_throughput_billing_commitment(
            MinimumThroughputBillingCommitmentInput::builder()
                .status(MinimumThroughputBillingCommitmentInputStatus::Enabled)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let acct = c.describe_account_settings().send().await.unwrap();
    assert!(acct.minimum_throughput_billing_commitment.is_some());
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn activation_delay() {
    let clock = ManualClock::new();
    let e = engine::spawn(Config {
        clock: std::sync::Arc::new(clock.clone()),
        stream_activation_delay: Duration::from_secs(10),
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let s = c
        .describe_stream_summary()
        .stream_name("s")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.stream_description_summary.unwrap().stream_status,
        StreamStatus::Creating
    );
    testkit::assert_service_error!(
        c.put_record()
            .stream_name("s")
            .partition_key("k")
            .data(blob("x"))
            .send(),
        PutRecordError::ResourceNotFoundException(_)
    );
    clock.advance(Duration::from_secs(10));
    let s = c
        .describe_stream_summary()
        .stream_name("s")
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.stream_description_summary.unwrap().stream_status,
        StreamStatus::Active
    );
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn streams_are_updating_while_resharding_with_a_state_delay() {
    let clock = ManualClock::new();
    let e = engine::spawn(Config {
        clock: std::sync::Arc::new(clock.clone()),
        stream_activation_delay: Duration::from_secs(2),
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let status = |c: aws_sdk_kinesis::Client| async move {
        c.describe_stream_summary()
            .stream_name("s")
            .send()
            .await
            .unwrap()
            .stream_description_summary
            .unwrap()
            .stream_status
            .as_str()
            .to_string()
    };
    assert_eq!(status(c.clone()).await, "CREATING");
    clock.advance(Duration::from_secs(3));
    assert_eq!(status(c.clone()).await, "ACTIVE");
    c.update_shard_count()
        .stream_name("s")
        .target_shard_count(2)
        .scaling_type(ScalingType::UniformScaling)
        .send()
        .await
        .unwrap();
    assert_eq!(status(c.clone()).await, "UPDATING");
    // While UPDATING the description shows the shards from before, open, as
    // the service does; the new ones appear once the stream is ACTIVE.
    let shards = |c: aws_sdk_kinesis::Client| async move {
        let d = c
            .describe_stream()
            .stream_name("s")
            .send()
            .await
            .unwrap()
            .stream_description
            .unwrap();
        let listed = c.list_shards().stream_name("s").send().await.unwrap();
        assert_eq!(listed.shards().len(), d.shards.len());
        let open = d
            .shards
            .iter()
            .filter(|s| {
                s.sequence_number_range()
                    .is_some_and(|r| r.ending_sequence_number().is_none())
            })
            .count();
        (d.shards.len(), open)
    };
    assert_eq!(shards(c.clone()).await, (1, 1));
    testkit::assert_error_code!(
        c.update_shard_count()
            .stream_name("s")
            .target_shard_count(1)
            .scaling_type(ScalingType::UniformScaling)
            .send(),
        "ResourceInUseException"
    );
    clock.advance(Duration::from_secs(3));
    assert_eq!(status(c.clone()).await, "ACTIVE");
    assert_eq!(shards(c.clone()).await, (3, 2));
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn list_streams_and_describe_stream_answer_100_at_most_whatever_the_limit() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    for i in 0..101 {
        create(&c, &format!("s{i:03}"), 1).await;
    }
    create(&c, "wide", 101).await;
    // A Limit up to 10,000 is valid; more than 100 answers 100.
    let page = c.list_streams().limit(10_000).send().await.unwrap();
    assert_eq!(page.stream_names.len(), 100);
    assert!(page.has_more_streams);
    let rest = c
        .list_streams()
        .next_token(page.next_token.unwrap())
        .limit(500)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.stream_names, ["s100", "wide"]);
    assert!(!rest.has_more_streams);
    let d = c
        .describe_stream()
        .stream_name("wide")
        .limit(10_000)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap();
    assert_eq!(d.shards.len(), 100);
    assert!(d.has_more_shards);
    e.shutdown().await.unwrap();
}
