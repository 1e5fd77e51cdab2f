//! Enhanced fan-out through the AWS SDK for Rust: stream consumers and
//! SubscribeToShard event streams against the in-process engine.

use crate::common;

use std::time::Duration;

use aws_sdk_kinesis::operation::register_stream_consumer::RegisterStreamConsumerError;
use aws_sdk_kinesis::operation::subscribe_to_shard::{
    SubscribeToShardError, SubscribeToShardOutput,
};
use aws_sdk_kinesis::types::error::SubscribeToShardEventStreamError;
use aws_sdk_kinesis::types::{
    ConsumerStatus, ShardIteratorType, StartingPosition, SubscribeToShardEvent,
    SubscribeToShardEventStream,
};
use aws_sdk_kinesis::Client;
use common::{blob, client, create};

#[path = "fanout/endings.rs"]
mod endings;
#[path = "fanout/states.rs"]
mod states;
use engine::Config;

const SHARD0: &str = "shardId-000000000000";

async fn stream_arn(c: &Client, stream: &str) -> String {
    c.describe_stream_summary()
        .stream_name(stream)
        .send()
        .await
        .unwrap()
        .stream_description_summary
        .unwrap()
        .stream_arn
}

async fn register(c: &Client, stream: &str, name: &str) -> String {
    let arn = stream_arn(c, stream).await;
    let out = c
        .register_stream_consumer()
        .stream_arn(arn)
        .consumer_name(name)
        .send()
        .await
        .unwrap();
    out.consumer.unwrap().consumer_arn
}

fn position(kind: ShardIteratorType, seq: Option<&str>) -> StartingPosition {
    StartingPosition::builder()
        .r#type(kind)
        .set_sequence_number(seq.map(str::to_owned))
        .build()
        .unwrap()
}

async fn subscribe(
    c: &Client,
    consumer: &str,
    shard: &str,
    at: StartingPosition,
) -> SubscribeToShardOutput {
    c.subscribe_to_shard()
        .consumer_arn(consumer)
        .shard_id(shard)
        .starting_position(at)
        .send()
        .await
        .expect("subscribe")
}

/// The next event, or `None` when the subscription ended.
async fn next_event(out: &mut SubscribeToShardOutput) -> Option<SubscribeToShardEvent> {
    let ev = tokio::time::timeout(Duration::from_secs(20), out.event_stream.recv())
        .await
        .expect("an event within 20 s")
        .expect("a well-formed event");
    ev.map(|ev| match ev {
        SubscribeToShardEventStream::SubscribeToShardEvent(ev) => ev,
        other => panic!("unexpected event {other:?}"),
    })
}

/// Events until `n` records arrived: the records' data in order.
async fn receive(out: &mut SubscribeToShardOutput, n: usize) -> (Vec<String>, String) {
    let mut data = Vec::new();
    let mut continuation = String::new();
    while data.len() < n {
        let ev = next_event(out).await.expect("the subscription goes on");
        for r in &ev.records {
            data.push(String::from_utf8(r.data.clone().into_inner()).unwrap());
        }
        continuation = ev.continuation_sequence_number;
    }
    (data, continuation)
}

async fn put(c: &Client, stream: &str, data: &str) -> String {
    c.put_record()
        .stream_name(stream)
        .partition_key("k")
        .data(blob(data))
        .send()
        .await
        .unwrap()
        .sequence_number
}

#[tokio::test]
async fn consumers_register_list_describe_deregister_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..Config::default()
    };
    let e = engine::spawn(config.clone()).await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let arn = stream_arn(&c, "s").await;
    let out = c
        .register_stream_consumer()
        .stream_arn(&arn)
        .consumer_name("hq")
        .send()
        .await
        .unwrap();
    let hq = out.consumer.unwrap();
    assert_eq!(hq.consumer_status, ConsumerStatus::Creating);
    assert!(hq.consumer_arn.starts_with(&format!("{arn}/consumer/hq:")));
    testkit::assert_service_error!(
        c.register_stream_consumer()
            .stream_arn(&arn)
            .consumer_name("hq")
            .send(),
        RegisterStreamConsumerError::ResourceInUseException(_)
    );
    for i in 1..20 {
        register(&c, "s", &format!("c{i}")).await;
    }
    testkit::assert_service_error!(
        c.register_stream_consumer()
            .stream_arn(&arn)
            .consumer_name("one-too-many")
            .send(),
        RegisterStreamConsumerError::LimitExceededException(_)
    );
    let summary = c
        .describe_stream_summary()
        .stream_name("s")
        .send()
        .await
        .unwrap()
        .stream_description_summary
        .unwrap();
    assert_eq!(summary.consumer_count, Some(20));

    // Pages of 7 list all 20, each once.
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_stream_consumers()
            .stream_arn(&arn)
            .max_results(7)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        names.extend(page.consumers.unwrap().into_iter().map(|c| c.consumer_name));
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(names.len(), 20);
    assert_eq!(names[0], "hq");

    for c2 in 1..20 {
        c.deregister_stream_consumer()
            .stream_arn(&arn)
            .consumer_name(format!("c{c2}"))
            .send()
            .await
            .unwrap();
    }
    e.shutdown().await.unwrap();

    // After a restart the registered consumer is still there, by ARN and by name.
    let e = engine::spawn(config).await.unwrap();
    let c = client(&e.url());
    let by_arn = c
        .describe_stream_consumer()
        .consumer_arn(&hq.consumer_arn)
        .send()
        .await
        .unwrap()
        .consumer_description
        .unwrap();
    assert_eq!(by_arn.consumer_name, "hq");
    assert_eq!(by_arn.consumer_status, ConsumerStatus::Active);
    assert_eq!(by_arn.stream_arn, arn);
    let by_name = c
        .describe_stream_consumer()
        .stream_arn(&arn)
        .consumer_name("hq")
        .send()
        .await
        .unwrap()
        .consumer_description
        .unwrap();
    assert_eq!(by_name.consumer_arn, hq.consumer_arn);
    let listed = c
        .list_stream_consumers()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap()
        .consumers
        .unwrap();
    assert_eq!(listed.len(), 1);
    c.deregister_stream_consumer()
        .consumer_arn(&hq.consumer_arn)
        .send()
        .await
        .unwrap();
    let err = c
        .describe_stream_consumer()
        .consumer_arn(&hq.consumer_arn)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn records_are_pushed_in_order_and_a_continuation_resumes_exactly() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let consumer = register(&c, "s", "hq").await;
    for i in 0..3 {
        put(&c, "s", &format!("before-{i}")).await;
    }
    let mut sub = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::TrimHorizon, None),
    )
    .await;
    let (data, _) = receive(&mut sub, 3).await;
    assert_eq!(data, ["before-0", "before-1", "before-2"]);
    // Records written while subscribed are pushed, in order.
    for i in 0..5 {
        put(&c, "s", &format!("live-{i}")).await;
    }
    let (data, continuation) = receive(&mut sub, 5).await;
    assert_eq!(
        data,
        (0..5).map(|i| format!("live-{i}")).collect::<Vec<_>>()
    );
    drop(sub);

    // Written between two subscriptions: the continuation finds exactly these.
    put(&c, "s", "gap-0").await;
    put(&c, "s", "gap-1").await;
    tokio::time::sleep(Duration::from_millis(5100)).await; // the 5 s rule
    let mut sub = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::AfterSequenceNumber, Some(&continuation)),
    )
    .await;
    let (data, _) = receive(&mut sub, 2).await;
    assert_eq!(data, ["gap-0", "gap-1"]);
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn sequence_positions_match_get_shard_iterator() {
    let e = engine::spawn(Config {
        subscribe_cooldown: Duration::ZERO,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let consumer = register(&c, "s", "hq").await;
    let seqs = [
        put(&c, "s", "a").await,
        put(&c, "s", "b").await,
        put(&c, "s", "c").await,
    ];
    // The shard's StartingSequenceNumber is below every record.
    let shard = c
        .list_shards()
        .stream_name("s")
        .send()
        .await
        .unwrap()
        .shards
        .unwrap()
        .remove(0);
    let start = shard
        .sequence_number_range
        .unwrap()
        .starting_sequence_number;
    assert!(start < seqs[0], "{start} < {}", seqs[0]);
    for (kind, seq, want) in [
        (
            ShardIteratorType::AtSequenceNumber,
            Some(&seqs[1]),
            vec!["b", "c"],
        ),
        (
            ShardIteratorType::AfterSequenceNumber,
            Some(&seqs[1]),
            vec!["c"],
        ),
        (
            ShardIteratorType::AfterSequenceNumber,
            Some(&start),
            vec!["a", "b", "c"],
        ),
        (
            ShardIteratorType::AtSequenceNumber,
            Some(&start),
            vec!["a", "b", "c"],
        ),
    ] {
        let mut sub = subscribe(
            &c,
            &consumer,
            SHARD0,
            position(kind.clone(), seq.map(|s| s.as_str())),
        )
        .await;
        let (data, _) = receive(&mut sub, want.len()).await;
        assert_eq!(data, want, "{kind:?}");
        // GetShardIterator agrees.
        let it = c
            .get_shard_iterator()
            .stream_name("s")
            .shard_id(SHARD0)
            .shard_iterator_type(kind.clone())
            .set_starting_sequence_number(seq.cloned())
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        let got: Vec<String> = common::drain(&c, it, 100)
            .await
            .into_iter()
            .map(|(_, d)| String::from_utf8(d).unwrap())
            .collect();
        assert_eq!(got, want, "GetRecords {kind:?}");
    }
    // LATEST: the first event is empty and says where we are; then new records.
    let mut sub = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::Latest, None),
    )
    .await;
    let first = next_event(&mut sub).await.unwrap();
    assert!(first.records.is_empty());
    assert_eq!(first.millis_behind_latest, 0);
    put(&c, "s", "d").await;
    assert_eq!(receive(&mut sub, 1).await.0, ["d"]);
    // A sequence number the engine never handed out is refused in SubscribeToShard's words.
    let err = c
        .subscribe_to_shard()
        .consumer_arn(&consumer)
        .shard_id(SHARD0)
        .starting_position(position(ShardIteratorType::AtSequenceNumber, Some("12")))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_argument_exception(), "{err:?}");
    let message = aws_sdk_kinesis::error::ProvideErrorMetadata::message(&err).unwrap_or("");
    assert!(message.contains("used in SubscribeToShard"), "{message}");
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_subscription_within_five_seconds_is_refused_in_the_services_words() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let consumer = register(&c, "s", "hq").await;
    let _sub = subscribe(
        &c,
        &consumer,
        SHARD0,
        position(ShardIteratorType::Latest, None),
    )
    .await;
    let err = c
        .subscribe_to_shard()
        .consumer_arn(&consumer)
        .shard_id(SHARD0)
        .starting_position(position(ShardIteratorType::Latest, None))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        matches!(err, SubscribeToShardError::ResourceInUseException(_)),
        "{err:?}"
    );
    // The service's words (which clients match), then which subscription.
    let message = aws_sdk_kinesis::error::ProvideErrorMetadata::message(&err).unwrap_or("");
    assert_eq!(
        message,
        format!(
            "Another active subscription exists for this consumer: {consumer} on shard {SHARD0}"
        )
    );
    // Unknown consumers and shards are errors before any event.
    let err = c
        .subscribe_to_shard()
        .consumer_arn(consumer.replace("/hq:", "/nobody:"))
        .shard_id(SHARD0)
        .starting_position(position(ShardIteratorType::Latest, None))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    let err = c
        .subscribe_to_shard()
        .consumer_arn(&consumer)
        .shard_id("shardId-000000000009")
        .starting_position(position(ShardIteratorType::Latest, None))
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_forged_list_token_is_refused() {
    use base64::Engine as _;
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let arn = stream_arn(&c, "s").await;
    for token in [
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("18446744073709551615"),
        "not a token".to_string(),
    ] {
        let err = c
            .list_stream_consumers()
            .stream_arn(&arn)
            .next_token(token)
            .send()
            .await
            .unwrap_err();
        assert!(err.into_service_error().is_invalid_argument_exception());
    }
    e.shutdown().await.unwrap();
}
