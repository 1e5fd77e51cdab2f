//! Errors as the service gives them, smaller gaps, and request authentication.

use super::*;

#[tokio::test]
async fn errors_are_typed() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    testkit::assert_service_error!(
        c.put_record()
            .stream_name("nope")
            .partition_key("k")
            .data(blob("x"))
            .send(),
        PutRecordError::ResourceNotFoundException(_)
    );
    create(&c, "s", 1).await;
    testkit::assert_error_code!(
        c.put_record()
            .stream_name("s")
            .partition_key("")
            .data(blob("x"))
            .send(),
        "ValidationException"
    );
    let big = "x".repeat((1 << 20) + 1);
    testkit::assert_error_code!(
        c.put_record()
            .stream_name("s")
            .partition_key("k")
            .data(blob(&big))
            .send(),
        "ValidationException"
    );
    testkit::assert_service_error!(
        c.put_record()
            .stream_name("s")
            .partition_key("k")
            .explicit_hash_key("340282366920938463463374607431768211456") // 2^128: fits the pattern, out of range
            .data(blob("x"))
            .send(),
        PutRecordError::InvalidArgumentException(_)
    );
    let many: Vec<_> = (0..501).map(|i| entry(&i.to_string(), "x")).collect();
    testkit::assert_error_code!(
        c.put_records()
            .stream_name("s")
            .set_records(Some(many))
            .send(),
        "ValidationException"
    );
    let chunk = "y".repeat(900_000);
    let heavy: Vec<_> = (0..6).map(|i| entry(&i.to_string(), &chunk)).collect();
    testkit::assert_service_error!(
        c.put_records()
            .stream_name("s")
            .set_records(Some(heavy))
            .send(),
        PutRecordsError::InvalidArgumentException(_)
    );

    testkit::assert_service_error!(
        c.get_shard_iterator()
            .stream_name("s")
            .shard_id("shardId-000000000009")
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send(),
        GetShardIteratorError::ResourceNotFoundException(_)
    );
    testkit::assert_service_error!(
        c.get_shard_iterator()
            .stream_name("s")
            .shard_id("shardId-000000000000")
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .starting_sequence_number("12")
            .send(),
        GetShardIteratorError::InvalidArgumentException(_)
    );
    testkit::assert_service_error!(
        c.get_records().shard_iterator("garbage").send(),
        GetRecordsError::InvalidArgumentException(_)
    );
    testkit::assert_service_error!(
        c.split_shard()
            .stream_name("s")
            .shard_to_split("shardId-000000000000")
            .new_starting_hash_key("0")
            .send(),
        SplitShardError::InvalidArgumentException(_)
    );
    testkit::assert_service_error!(
        c.update_shard_count()
            .stream_name("s")
            .target_shard_count(5)
            .scaling_type(ScalingType::UniformScaling)
            .send(),
        UpdateShardCountError::LimitExceededException(_)
    );
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
    let signed_with = |key: &str, secret: &str| testkit::kinesis_signed_by(&e.url(), key, secret);

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

#[tokio::test]
async fn a_cors_preflight_has_a_request_id_and_nothing_else() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = engine::spawn_in_memory().await.unwrap();
    let mut s = tokio::net::TcpStream::connect(e.addr()).await.unwrap();
    s.write_all(b"OPTIONS / HTTP/1.1\r\nHost: x\r\nOrigin: whatever\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).await.unwrap();
    let answer = answer.to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 200"), "{answer}");
    assert!(answer.contains("x-amzn-requestid:"), "{answer}");
    assert!(
        answer.contains("access-control-allow-origin: *"),
        "{answer}"
    );
    assert!(
        answer.contains("access-control-max-age: 172800"),
        "{answer}"
    );
    // As recorded from the service: no x-amz-id-2 and no content type.
    assert!(!answer.contains("x-amz-id-2"), "{answer}");
    assert!(!answer.contains("content-type"), "{answer}");
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_iterator_of_a_deleted_stream_names_its_shard_as_gone() {
    use aws_sdk_kinesis::error::ProvideErrorMetadata;
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "gone", 2).await;
    let it = iterator(
        &c,
        "gone",
        "shardId-000000000001",
        ShardIteratorType::TrimHorizon,
    )
    .await;
    c.delete_stream().stream_name("gone").send().await.unwrap();
    let err = c
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(
        err.message(),
        Some("Shard shardId-000000000001 in stream gone under account 000000000000 does not exist")
    );
    // Created again, the stream is another one: the old iterator stays gone.
    create(&c, "gone", 1).await;
    let err = c
        .get_records()
        .shard_iterator(&it)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
}

#[tokio::test]
async fn warm_throughput_and_record_size_are_members_of_the_summary_only() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let members = |action: &'static str, key: &'static str| {
        let addr = e.addr();
        async move {
            let (status, body) = crate::fuzz::raw(
                addr,
                &format!("Kinesis_20131202.{action}"),
                "application/x-amz-json-1.1",
                br#"{"StreamName":"s"}"#,
            )
            .await;
            assert_eq!(status, 200);
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let mut names: Vec<String> = v[key].as_object().unwrap().keys().cloned().collect();
            names.sort();
            names
        }
    };
    let full = members("DescribeStream", "StreamDescription").await;
    assert!(
        !full.contains(&"MaxRecordSizeInKiB".to_string()),
        "{full:?}"
    );
    let summary = members("DescribeStreamSummary", "StreamDescriptionSummary").await;
    assert!(
        summary.contains(&"MaxRecordSizeInKiB".to_string()),
        "{summary:?}"
    );
}
