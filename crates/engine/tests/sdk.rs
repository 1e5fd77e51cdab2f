//! Every action and error through the AWS SDK for Rust against the in-process engine.

mod common;

use std::time::Duration;

use aws_sdk_kinesis::error::SdkError;
use aws_sdk_kinesis::operation::create_stream::CreateStreamError;
use aws_sdk_kinesis::operation::get_records::GetRecordsError;
use aws_sdk_kinesis::operation::get_shard_iterator::GetShardIteratorError;
use aws_sdk_kinesis::operation::put_record::PutRecordError;
use aws_sdk_kinesis::operation::put_records::PutRecordsError;
use aws_sdk_kinesis::operation::split_shard::SplitShardError;
use aws_sdk_kinesis::operation::update_shard_count::UpdateShardCountError;
use aws_sdk_kinesis::types::{
    PutRecordsRequestEntry, ScalingType, ShardFilter, ShardFilterType, ShardIteratorType,
    StreamMode, StreamModeDetails, StreamStatus,
};
use common::{blob, client, create, iterator};
use engine::{Config, ManualClock};

fn entry(pk: &str, data: &str) -> PutRecordsRequestEntry {
    PutRecordsRequestEntry::builder()
        .partition_key(pk)
        .data(blob(data))
        .build()
        .unwrap()
}

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
    let err = c
        .create_stream()
        .stream_name("a")
        .shard_count(1)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        CreateStreamError::ResourceInUseException(_)
    ));
    let err = c
        .create_stream()
        .stream_name("bad name!")
        .shard_count(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("ValidationException")
    );
    let err = c
        .create_stream()
        .stream_name("huge")
        .shard_count(100_000)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        CreateStreamError::LimitExceededException(_)
    ));

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
    let err = c
        .list_shards()
        .stream_name("a")
        .next_token("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("InvalidArgumentException")
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
async fn errors_are_typed() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    let err = c
        .put_record()
        .stream_name("nope")
        .partition_key("k")
        .data(blob("x"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        PutRecordError::ResourceNotFoundException(_)
    ));
    create(&c, "s", 1).await;
    let err = c
        .put_record()
        .stream_name("s")
        .partition_key("")
        .data(blob("x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("ValidationException")
    );
    let big = "x".repeat((1 << 20) + 1);
    let err = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob(&big))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("ValidationException")
    );
    let err = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .explicit_hash_key("340282366920938463463374607431768211456") // 2^128: fits the pattern, out of range
        .data(blob("x"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        PutRecordError::InvalidArgumentException(_)
    ));
    let many: Vec<_> = (0..501).map(|i| entry(&i.to_string(), "x")).collect();
    let err = c
        .put_records()
        .stream_name("s")
        .set_records(Some(many))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("ValidationException")
    );
    let chunk = "y".repeat(900_000);
    let heavy: Vec<_> = (0..6).map(|i| entry(&i.to_string(), &chunk)).collect();
    let err = c
        .put_records()
        .stream_name("s")
        .set_records(Some(heavy))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        PutRecordsError::InvalidArgumentException(_)
    ));

    let err = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id("shardId-000000000009")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        GetShardIteratorError::ResourceNotFoundException(_)
    ));
    let err = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .starting_sequence_number("12")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        GetShardIteratorError::InvalidArgumentException(_)
    ));
    let err = c
        .get_records()
        .shard_iterator("garbage")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        GetRecordsError::InvalidArgumentException(_)
    ));
    let err = c
        .split_shard()
        .stream_name("s")
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key("0")
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        SplitShardError::InvalidArgumentException(_)
    ));
    let err = c
        .update_shard_count()
        .stream_name("s")
        .target_shard_count(5)
        .scaling_type(ScalingType::UniformScaling)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        UpdateShardCountError::LimitExceededException(_)
    ));
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
    let err = c
        .update_shard_count()
        .stream_name("s")
        .target_shard_count(1)
        .scaling_type(ScalingType::UniformScaling)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().code(),
        Some("ResourceInUseException")
    );
    clock.advance(Duration::from_secs(3));
    assert_eq!(status(c.clone()).await, "ACTIVE");
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn iterator_expiry_with_injected_time() {
    let clock = ManualClock::new();
    let e = engine::spawn(Config {
        clock: std::sync::Arc::new(clock.clone()),
        ..Config::default()
    })
    .await
    .unwrap();
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
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        GetRecordsError::ExpiredIteratorException(_)
    ));

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
    let err = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(blob("x"))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        PutRecordError::ResourceNotFoundException(_)
    ));
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
        let err = c
            .get_records()
            .shard_iterator(bad)
            .send()
            .await
            .unwrap_err();
        assert!(matches!(
            err.into_service_error(),
            GetRecordsError::InvalidArgumentException(_)
        ));
    }
    // Another engine's iterator (another key) is not this engine's.
    let err = client(&other.url())
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(
        err.into_service_error(),
        GetRecordsError::InvalidArgumentException(_)
    ));
    other.shutdown().await.unwrap();
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn smaller_gaps_behave_as_the_service() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let code = |e: &dyn aws_sdk_kinesis::error::ProvideErrorMetadata| e.code().map(str::to_string);
    // SplitShard: the new key must be above StartingHashKey + 1 and below EndingHashKey.
    for key in ["1".to_string(), u128::MAX.to_string()] {
        let err = c
            .split_shard()
            .stream_name("s")
            .shard_to_split("shardId-000000000000")
            .new_starting_hash_key(&key)
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(
            code(&err).as_deref(),
            Some("InvalidArgumentException"),
            "{key}"
        );
    }
    // Shard ids are read as the service reads them: `shard-0` is shardId-000000000000.
    let it = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id("shard-0")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap();
    assert!(it.shard_iterator.is_some());
    // LATEST with a StartingSequenceNumber is refused.
    let err = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::Latest)
        .starting_sequence_number("5")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err).as_deref(), Some("InvalidArgumentException"));
    // Tags: characters outside the service's set, and over-long keys.
    let err = c
        .add_tags_to_stream()
        .stream_name("s")
        .tags("abc;def", "1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err).as_deref(), Some("InvalidArgumentException"));
    let err = c
        .add_tags_to_stream()
        .stream_name("s")
        .tags("k".repeat(129), "1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err).as_deref(), Some("ValidationException"));
    let err = c
        .remove_tags_from_stream()
        .stream_name("s")
        .tag_keys("k".repeat(129))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err).as_deref(), Some("ValidationException"));
    // Every violation is listed, in the service's format.
    let err = c
        .describe_stream()
        .stream_name("")
        .limit(0)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let message = aws_sdk_kinesis::error::ProvideErrorMetadata::message(&err).unwrap_or("");
    assert!(
        message.starts_with("3 validation errors detected: "),
        "{message}"
    );
    e.shutdown().await.unwrap();
}

/// `Config::auth` (`serve --auth`): the SDK's SigV4 signature made with a
/// configured key passes; a wrong secret, an unknown key or no signature at
/// all get the service's errors (HTTP 400, as for every Kinesis error).
#[tokio::test]
async fn auth_checks_the_sdks_signature_and_answers_the_services_errors() {
    use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_kinesis::error::ProvideErrorMetadata;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let e = engine::spawn(Config {
        auth: vec![
            ("AKIDOTHER".into(), "other-secret".into()),
            ("AKIDTEST".into(), "secret".into()),
        ],
        ..Config::default()
    })
    .await
    .unwrap();
    let signed_with = |key: &str, secret: &str| {
        let conf = aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(Credentials::new(key, secret, None, None, "test"))
            .endpoint_url(e.url())
            .retry_config(aws_sdk_kinesis::config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_kinesis::Client::from_conf(conf)
    };

    // The right key: every kind of call works (JSON body, binary data).
    let c = client(&e.url());
    create(&c, "auth", 1).await;
    c.put_record()
        .stream_name("auth")
        .partition_key("k")
        .data(blob("signed"))
        .send()
        .await
        .unwrap();
    let it = iterator(
        &c,
        "auth",
        "shardId-000000000000",
        ShardIteratorType::TrimHorizon,
    )
    .await;
    let got = c.get_records().shard_iterator(it).send().await.unwrap();
    assert_eq!(got.records()[0].data().as_ref(), b"signed");
    let other = signed_with("AKIDOTHER", "other-secret");
    assert_eq!(
        other.list_streams().send().await.unwrap().stream_names(),
        ["auth"]
    );
    // SubscribeToShard (an event stream) is signed and checked the same way.
    let arn = c
        .describe_stream_summary()
        .stream_name("auth")
        .send()
        .await
        .unwrap()
        .stream_description_summary
        .unwrap()
        .stream_arn;
    let consumer = c
        .register_stream_consumer()
        .stream_arn(arn)
        .consumer_name("auth")
        .send()
        .await
        .unwrap()
        .consumer
        .unwrap()
        .consumer_arn;
    let mut sub = c
        .subscribe_to_shard()
        .consumer_arn(&consumer)
        .shard_id("shardId-000000000000")
        .starting_position(
            aws_sdk_kinesis::types::StartingPosition::builder()
                .r#type(ShardIteratorType::TrimHorizon)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let event = tokio::time::timeout(Duration::from_secs(20), sub.event_stream.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let aws_sdk_kinesis::types::SubscribeToShardEventStream::SubscribeToShardEvent(event) = event
    else {
        panic!("unexpected event {event:?}");
    };
    assert_eq!(event.records()[0].data().as_ref(), b"signed");
    drop(sub);

    let refused = |client: aws_sdk_kinesis::Client| async move {
        let err = client.list_streams().send().await.unwrap_err();
        let status = err.raw_response().map(|r| r.status().as_u16());
        let service = err.into_service_error();
        (
            status,
            service.code().map(str::to_owned),
            service.message().map(str::to_owned),
        )
    };
    let (status, code, message) = refused(signed_with("AKIDTEST", "wrong")).await;
    assert_eq!(status, Some(400));
    assert_eq!(code.as_deref(), Some("InvalidSignatureException"));
    assert!(message.unwrap().starts_with(
        "The request signature we calculated does not match the signature you provided."
    ),);
    let (status, code, message) = refused(signed_with("AKIDNOBODY", "secret")).await;
    assert_eq!(status, Some(400));
    assert_eq!(code.as_deref(), Some("UnrecognizedClientException"));
    assert_eq!(
        message.as_deref(),
        Some("The security token included in the request is invalid.")
    );

    // No Authorization header at all.
    let mut tcp = tokio::net::TcpStream::connect(e.addr()).await.unwrap();
    let body = "{}";
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: Kinesis_20131202.ListStreams\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        e.addr(),
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.ends_with(
            r#"{"__type":"MissingAuthenticationTokenException","message":"Missing Authentication Token"}"#
        ),
        "{answer}"
    );
    e.shutdown().await.unwrap();
}
