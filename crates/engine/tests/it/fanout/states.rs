//! Consumer states with a state delay: CREATING after RegisterStreamConsumer,
//! DELETING after DeregisterStreamConsumer, and SubscribeToShard refused
//! meanwhile, in the service's words.

use super::*;

use aws_sdk_kinesis::operation::deregister_stream_consumer::DeregisterStreamConsumerError;
use aws_sdk_kinesis::operation::describe_stream_consumer::DescribeStreamConsumerError;
use engine::ManualClock;
use testkit::ProvideErrorMetadata;

const DELAY: Duration = Duration::from_secs(10);

/// An engine with a 10 s state delay on `clock`.
async fn delayed(
    clock: &ManualClock,
    data_dir: Option<std::path::PathBuf>,
) -> engine::EngineHandle {
    engine::spawn(Config {
        clock: std::sync::Arc::new(clock.clone()),
        stream_activation_delay: DELAY,
        data_dir,
        ..Config::default()
    })
    .await
    .unwrap()
}

async fn status(c: &Client, consumer: &str) -> ConsumerStatus {
    c.describe_stream_consumer()
        .consumer_arn(consumer)
        .send()
        .await
        .unwrap()
        .consumer_description
        .unwrap()
        .consumer_status
}

async fn listed(c: &Client, stream: &str) -> Vec<(String, ConsumerStatus)> {
    let arn = stream_arn(c, stream).await;
    c.list_stream_consumers()
        .stream_arn(arn)
        .send()
        .await
        .unwrap()
        .consumers
        .unwrap()
        .into_iter()
        .map(|c| (c.consumer_name, c.consumer_status))
        .collect()
}

/// SubscribeToShard's refusal of a consumer that is not ACTIVE.
async fn refused(c: &Client, consumer: &str) -> String {
    let err = testkit::assert_service_error!(
        c.subscribe_to_shard()
            .consumer_arn(consumer)
            .shard_id(SHARD0)
            .starting_position(position(ShardIteratorType::Latest, None))
            .send(),
        SubscribeToShardError::ResourceInUseException(_)
    );
    err.message().unwrap_or_default().to_string()
}

#[tokio::test]
async fn consumers_are_creating_then_active_then_deleting_then_gone_with_a_state_delay() {
    let clock = ManualClock::new();
    let e = delayed(&clock, None).await;
    let c = client(&e.url());
    create(&c, "s", 1).await;
    clock.advance(DELAY);
    let arn = stream_arn(&c, "s").await;
    let out = c
        .register_stream_consumer()
        .stream_arn(&arn)
        .consumer_name("hq")
        .send()
        .await
        .unwrap()
        .consumer
        .unwrap();
    assert_eq!(out.consumer_status, ConsumerStatus::Creating);
    let consumer = out.consumer_arn;
    let created = out.consumer_creation_timestamp.secs();
    assert_eq!(status(&c, &consumer).await, ConsumerStatus::Creating);
    assert_eq!(
        listed(&c, "s").await,
        [("hq".into(), ConsumerStatus::Creating)]
    );
    // Recorded from the service: the consumer's name, then its creation in
    // epoch seconds.
    let not_active = format!(
        "Consumer hq with creation timestamp {created} under stream: s , account 000000000000 is not in ACTIVE status."
    );
    assert_eq!(refused(&c, &consumer).await, not_active);

    clock.advance(DELAY);
    assert_eq!(status(&c, &consumer).await, ConsumerStatus::Active);
    assert_eq!(
        listed(&c, "s").await,
        [("hq".into(), ConsumerStatus::Active)]
    );
    let mut sub = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::Latest, None),
    )
    .await;
    assert!(next_event(&mut sub).await.is_some());

    c.deregister_stream_consumer()
        .consumer_arn(&consumer)
        .send()
        .await
        .unwrap();
    // Its subscription ends at once; the consumer is DELETING for the delay.
    let ended = tokio::time::timeout(Duration::from_secs(20), sub.event_stream.recv())
        .await
        .expect("the subscription ends");
    assert!(ended.is_err(), "{ended:?}");
    assert_eq!(status(&c, &consumer).await, ConsumerStatus::Deleting);
    assert_eq!(
        listed(&c, "s").await,
        [("hq".into(), ConsumerStatus::Deleting)]
    );
    assert_eq!(refused(&c, &consumer).await, not_active);
    testkit::assert_service_error!(
        c.deregister_stream_consumer()
            .consumer_arn(&consumer)
            .send(),
        DeregisterStreamConsumerError::ResourceNotFoundException(_)
    );

    clock.advance(DELAY);
    testkit::assert_service_error!(
        c.describe_stream_consumer().consumer_arn(&consumer).send(),
        DescribeStreamConsumerError::ResourceNotFoundException(_)
    );
    assert!(listed(&c, "s").await.is_empty());
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_consumer_creating_at_a_restart_becomes_active_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let e = delayed(&clock, Some(dir.path().to_path_buf())).await;
    let c = client(&e.url());
    create(&c, "s", 1).await;
    clock.advance(DELAY);
    let consumer = register(&c, "s", "hq").await;
    assert_eq!(status(&c, &consumer).await, ConsumerStatus::Creating);
    e.shutdown().await.unwrap();

    let e = delayed(&clock, Some(dir.path().to_path_buf())).await;
    let c = client(&e.url());
    assert_eq!(listed(&c, "s").await.len(), 1);
    clock.advance(DELAY);
    assert_eq!(status(&c, &consumer).await, ConsumerStatus::Active);
    let mut sub = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::Latest, None),
    )
    .await;
    assert!(next_event(&mut sub).await.is_some());
    drop(sub);
    e.shutdown().await.unwrap();
}
