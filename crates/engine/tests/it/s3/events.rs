//! Object-created events: notification filters, the event shape, order,
//! and the log and subscriber positions across a restart; configurations
//! that overlap are refused.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Event, FilterRule, FilterRuleName,
    LambdaFunctionConfiguration, NotificationConfiguration, NotificationConfigurationFilter,
    QueueConfiguration, S3KeyFilter,
};
use aws_sdk_s3::Client;
use engine::Config;

use super::{body, client, md5_hex};

/// A notification filter on keys' prefix and suffix.
fn key_filter(prefix: Option<&str>, suffix: Option<&str>) -> NotificationConfigurationFilter {
    let rules = [
        (FilterRuleName::Prefix, prefix),
        (FilterRuleName::Suffix, suffix),
    ]
    .into_iter()
    .filter_map(|(name, value)| Some(FilterRule::builder().name(name).value(value?).build()));
    NotificationConfigurationFilter::builder()
        .key(
            S3KeyFilter::builder()
                .set_filter_rules(Some(rules.collect()))
                .build(),
        )
        .build()
}

fn notify_rides(c: &Client) -> aws_sdk_s3::operation::put_bucket_notification_configuration::builders::PutBucketNotificationConfigurationFluentBuilder{
    let filter = key_filter(Some("rides/"), Some(".json"));
    let rule = LambdaFunctionConfiguration::builder()
        .id("loader")
        .lambda_function_arn("arn:aws:lambda:us-east-1:000000000000:function:loader")
        .events(Event::from("s3:ObjectCreated:*"))
        .filter(filter)
        .build()
        .unwrap();
    c.put_bucket_notification_configuration()
        .bucket("uploads")
        .notification_configuration(
            NotificationConfiguration::builder()
                .lambda_function_configurations(rule)
                .build(),
        )
}

/// Puts `{}` at each key of the bucket `uploads`, in order.
async fn put_all(c: &Client, keys: &[&str]) {
    for key in keys {
        c.put_object()
            .bucket("uploads")
            .key(*key)
            .body(ByteStream::from_static(b"{}"))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn object_created_events_follow_the_notification_filters_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..Config::default()
    };
    let e = engine::spawn(config()).await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("uploads").send().await.unwrap();
    notify_rides(&c).send().await.unwrap();
    let got = c
        .get_bucket_notification_configuration()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
    let rule = &got.lambda_function_configurations()[0];
    assert_eq!(rule.id(), Some("loader"));
    assert_eq!(
        rule.filter().unwrap().key().unwrap().filter_rules().len(),
        2
    );

    let events = e.s3_events();
    let waiting = tokio::spawn({
        let events = events.clone();
        async move { events.wait_past(0).await }
    });
    put_all(
        &c,
        &[
            "rides/1.json",
            "other/2.json",
            "rides/3.csv",
            "rides/a b.json",
        ],
    )
    .await;
    tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .unwrap()
        .unwrap();
    c.copy_object()
        .bucket("uploads")
        .key("rides/copy.json")
        .copy_source("uploads/rides/1.json")
        .send()
        .await
        .unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("uploads")
        .key("rides/big.json")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let part = c
        .upload_part()
        .bucket("uploads")
        .key("rides/big.json")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"[]"))
        .send()
        .await
        .unwrap();
    c.complete_multipart_upload()
        .bucket("uploads")
        .key("rides/big.json")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let read = events.read(0, 100).unwrap();
    let names: Vec<(String, String)> = read
        .iter()
        .map(|ev| {
            let r = &ev.body["Records"][0];
            (
                r["eventName"].as_str().unwrap().to_string(),
                r["s3"]["object"]["key"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("ObjectCreated:Put".to_string(), "rides/1.json".to_string()),
            ("ObjectCreated:Put".into(), "rides/a+b.json".into()),
            ("ObjectCreated:Copy".into(), "rides/copy.json".into()),
            (
                "ObjectCreated:CompleteMultipartUpload".into(),
                "rides/big.json".into()
            ),
        ]
    );
    let first = &read[0].body["Records"][0];
    assert_eq!(first["eventVersion"], "2.1");
    assert_eq!(first["eventSource"], "aws:s3");
    assert_eq!(first["awsRegion"], "us-east-1");
    assert_eq!(first["s3"]["bucket"]["name"], "uploads");
    assert_eq!(first["s3"]["bucket"]["arn"], "arn:aws:s3:::uploads");
    assert_eq!(first["s3"]["object"]["size"], 2);
    assert_eq!(first["s3"]["object"]["eTag"], md5_hex(b"{}"));
    assert_eq!(first["s3"]["configurationId"], "loader");
    assert!(read.windows(2).all(|w| w[0].position < w[1].position));
    events.ack("loader", read[1].position).unwrap();
    drop((c, events));
    e.shutdown().await.unwrap();

    // After a restart: the same events, and the subscriber's position.
    let e = engine::spawn(config()).await.unwrap();
    let events = e.s3_events();
    assert_eq!(events.position("loader").unwrap(), read[1].position);
    assert_eq!(events.position("nobody").unwrap(), 0);
    let rest = events
        .read(events.position("loader").unwrap(), 100)
        .unwrap();
    assert_eq!(rest, read[2..].to_vec());
    let c = client(&e.url());
    assert_eq!(body(&c, "uploads", "rides/big.json").await, b"[]");
}

#[tokio::test]
async fn the_engines_own_notification_announces_every_created_object_to_the_function() {
    let e = engine::spawn_in_memory().await.unwrap();
    let arn = "arn:aws:lambda:us-east-1:000000000000:function:wildrydes-load";
    // `wildrydes up`'s calls: the bucket must exist first.
    assert!(e.notify_function("uploads", arn).is_err());
    e.ensure_bucket("uploads").unwrap();
    e.notify_function("uploads", arn).unwrap();
    e.notify_function("uploads", arn).unwrap();

    let c = client(&e.url());
    let got = c
        .get_bucket_notification_configuration()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
    let rules = got.lambda_function_configurations();
    assert_eq!(rules.len(), 1, "set twice, one rule: {rules:?}");
    assert_eq!(rules[0].lambda_function_arn(), arn);
    assert_eq!(rules[0].events(), [Event::from("s3:ObjectCreated:*")]);
    assert!(rules[0].filter().is_none());
    assert_eq!(rules[0].id(), Some("wildrydes"));

    put_all(&c, &["rides/1.json", "any.csv"]).await;
    let keys: Vec<String> = e
        .s3_events()
        .read(0, 10)
        .unwrap()
        .iter()
        .map(|ev| ev.body["Records"][0]["s3"]["object"]["key"].to_string())
        .collect();
    assert_eq!(keys, [r#""rides/1.json""#, r#""any.csv""#]);
    // An event names the request that created its object, as S3's do.
    let put = c
        .put_object()
        .bucket("uploads")
        .key("rides/2.json")
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
    let events = e.s3_events().read(2, 10).unwrap();
    let named = &events[0].body["Records"][0]["responseElements"]["x-amz-request-id"];
    let id = aws_sdk_s3::operation::RequestId::request_id(&put).unwrap();
    assert_eq!(named.as_str(), Some(id));
}

#[tokio::test]
async fn overlapping_notification_configurations_are_refused_and_ids_assigned() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("uploads").send().await.unwrap();
    let queue = |arn: &str, event: &str, prefix: Option<&str>| {
        let mut q = QueueConfiguration::builder()
            .queue_arn(arn)
            .events(Event::from(event));
        if prefix.is_some() {
            q = q.filter(key_filter(prefix, None));
        }
        q.build().unwrap()
    };
    let put = |queues: Vec<QueueConfiguration>| {
        c.put_bucket_notification_configuration()
            .bucket("uploads")
            .notification_configuration(
                NotificationConfiguration::builder()
                    .set_queue_configurations(Some(queues))
                    .build(),
            )
            .send()
    };
    let (a, b) = (
        "arn:aws:sqs:us-east-1:000000000000:a",
        "arn:aws:sqs:us-east-1:000000000000:b",
    );
    // The same events, one filter inside the other: refused.
    let refused = put(vec![
        queue(a, "s3:ObjectCreated:*", None),
        queue(b, "s3:ObjectCreated:Put", Some("rides/")),
    ])
    .await
    .unwrap_err()
    .into_service_error();
    assert_eq!(
        refused.meta().message(),
        Some("Configurations overlap. Configurations on the same bucket cannot share a common event type.")
    );
    // Disjoint prefixes, or other events: accepted, and each gets an Id.
    put(vec![
        queue(a, "s3:ObjectCreated:*", Some("rides/")),
        queue(b, "s3:ObjectCreated:*", Some("archive/")),
        queue(b, "s3:ObjectRemoved:*", None),
    ])
    .await
    .unwrap();
    let got = c
        .get_bucket_notification_configuration()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
    assert_eq!(got.queue_configurations().len(), 3);
    assert!(got
        .queue_configurations()
        .iter()
        .all(|q| q.id().is_some_and(|id| !id.is_empty())));
}

#[tokio::test]
async fn bad_configurations_are_refused_and_a_functions_own_is_kept() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("uploads").send().await.unwrap();
    let arn = "arn:aws:lambda:us-east-1:000000000000:function:wildrydes-load";
    let put = |arn: &str, event: &str, rules: Vec<(&str, &str)>| {
        let rules = rules
            .into_iter()
            .map(|(name, value)| {
                FilterRule::builder()
                    .name(FilterRuleName::from(name))
                    .value(value)
                    .build()
            })
            .collect();
        let filter = NotificationConfigurationFilter::builder()
            .key(S3KeyFilter::builder().set_filter_rules(Some(rules)).build())
            .build();
        let rule = LambdaFunctionConfiguration::builder()
            .id("mine")
            .lambda_function_arn(arn)
            .events(Event::from(event))
            .filter(filter)
            .build()
            .unwrap();
        c.put_bucket_notification_configuration()
            .bucket("uploads")
            .notification_configuration(
                NotificationConfiguration::builder()
                    .lambda_function_configurations(rule)
                    .build(),
            )
            .send()
    };
    let message = |e: aws_sdk_s3::error::SdkError<_, _>| {
        let e = e.into_service_error();
        aws_sdk_s3::error::ProvideErrorMetadata::message(&e).map(str::to_string)
    };
    let created = "s3:ObjectCreated:*";
    let cases = [
        (
            put("not-an-arn", created, vec![]).await,
            "The ARN could not be parsed",
        ),
        (
            put(arn, "s3:ObjectCreated:Bogus", vec![]).await,
            "The event is not supported for notifications",
        ),
        (
            put(arn, created, vec![("Infix", "x")]).await,
            "filter rule name must be either prefix or suffix",
        ),
        (
            put(arn, created, vec![("Prefix", "a"), ("prefix", "b")]).await,
            "Cannot specify more than one prefix rule in a filter.",
        ),
    ];
    for (answer, wanted) in cases {
        assert_eq!(message(answer.unwrap_err()).as_deref(), Some(wanted));
    }
    // Rule names come back as S3 writes them; `up`'s notification keeps a
    // configuration that names its function already.
    put(arn, created, vec![("suffix", ".json")]).await.unwrap();
    e.notify_function("uploads", arn).unwrap();
    let got = c
        .get_bucket_notification_configuration()
        .bucket("uploads")
        .send()
        .await
        .unwrap();
    let rules = got.lambda_function_configurations();
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].id(), Some("mine"));
    let filter = rules[0].filter().unwrap().key().unwrap();
    // S3 answers `Suffix` (the model's enum says `suffix`).
    let name = filter.filter_rules()[0].name().map(FilterRuleName::as_str);
    assert_eq!(name, Some("Suffix"));
}
