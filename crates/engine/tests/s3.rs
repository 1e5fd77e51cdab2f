//! S3 on the engine's port, through the AWS SDK for Rust (`aws-sdk-s3`).

use std::time::Duration;

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, Event, FilterRule, FilterRuleName,
    LambdaFunctionConfiguration, NotificationConfiguration, NotificationConfigurationFilter,
    ObjectIdentifier, S3KeyFilter,
};
use aws_sdk_s3::Client;
use engine::Config;

fn client_with(url: &str, id: &str, secret: &str) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(id, secret, None, None, "test"))
        .endpoint_url(url)
        .force_path_style(true)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    Client::from_conf(conf)
}

fn client(url: &str) -> Client {
    client_with(url, "AKIDTEST", "secret")
}

fn md5_hex(data: &[u8]) -> String {
    use md5::{Digest, Md5};
    Md5::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn body(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(e: &E) -> String {
    e.code().unwrap_or_default().to_string()
}

fn status<E>(e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> u16 {
    e.raw_response().map_or(0, |r| r.status().as_u16())
}

#[tokio::test]
async fn buckets_are_created_listed_and_deleted() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("rides").send().await.unwrap();
    // us-east-1: creating a bucket you own again succeeds, as on AWS.
    c.create_bucket().bucket("rides").send().await.unwrap();
    c.create_bucket().bucket("archive").send().await.unwrap();
    let names: Vec<String> = c
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .collect();
    assert_eq!(names, ["archive", "rides"]);
    c.head_bucket().bucket("rides").send().await.unwrap();
    let missing = c.head_bucket().bucket("nope").send().await.unwrap_err();
    assert_eq!(status(&missing), 404);

    c.put_object()
        .bucket("rides")
        .key("a")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let full = c.delete_bucket().bucket("rides").send().await.unwrap_err();
    assert_eq!(code(full.as_service_error().unwrap()), "BucketNotEmpty");
    c.delete_object()
        .bucket("rides")
        .key("a")
        .send()
        .await
        .unwrap();
    c.delete_bucket().bucket("rides").send().await.unwrap();
    let gone = c
        .get_object()
        .bucket("rides")
        .key("a")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(gone.as_service_error().unwrap()), "NoSuchBucket");
}

#[tokio::test]
async fn objects_round_trip_with_metadata_etag_ranges_and_conditions() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    // Keys of any legal form stay keys: slashes, `..`, unicode, spaces.
    for key in [
        "rides/2026/ride 1.json",
        "../../etc/passwd",
        "é/../x",
        "a+b=c&d",
    ] {
        let put = c
            .put_object()
            .bucket("bkt")
            .key(key)
            .content_type("application/json")
            .metadata("rider", "Ana")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.e_tag(),
            Some(format!("\"{}\"", md5_hex(&data)).as_str())
        );
        assert_eq!(body(&c, "bkt", key).await, data, "{key}");
    }
    let got = c
        .get_object()
        .bucket("bkt")
        .key("rides/2026/ride 1.json")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("application/json"));
    assert_eq!(
        got.metadata().unwrap().get("rider").map(String::as_str),
        Some("Ana")
    );
    assert_eq!(got.content_length(), Some(200_000));
    let etag = got.e_tag().unwrap().to_string();
    let modified = *got.last_modified().unwrap();

    let head = c
        .head_object()
        .bucket("bkt")
        .key("../../etc/passwd")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_length(), Some(200_000));
    assert_eq!(head.e_tag(), Some(etag.as_str()));

    let part = c
        .get_object()
        .bucket("bkt")
        .key("a+b=c&d")
        .range("bytes=100-199")
        .send()
        .await
        .unwrap();
    assert_eq!(part.content_range(), Some("bytes 100-199/200000"));
    let bytes = part.body.collect().await.unwrap().into_bytes();
    assert_eq!(&bytes[..], &data[100..200]);
    let bad = c
        .get_object()
        .bucket("bkt")
        .key("a+b=c&d")
        .range("bytes=300000-")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(bad.as_service_error().unwrap()), "InvalidRange");

    let key = "rides/2026/ride 1.json";
    let same = c
        .get_object()
        .bucket("bkt")
        .key(key)
        .if_none_match(&etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&same), 304);
    let other = c
        .get_object()
        .bucket("bkt")
        .key(key)
        .if_match("\"0000\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&other), 412);
    c.get_object()
        .bucket("bkt")
        .key(key)
        .if_match(&etag)
        .send()
        .await
        .unwrap();
    let later = aws_sdk_s3::primitives::DateTime::from_secs(modified.secs() + 10);
    let unchanged = c
        .get_object()
        .bucket("bkt")
        .key(key)
        .if_modified_since(later)
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&unchanged), 304);
    let earlier = aws_sdk_s3::primitives::DateTime::from_secs(modified.secs() - 10);
    c.get_object()
        .bucket("bkt")
        .key(key)
        .if_modified_since(earlier)
        .send()
        .await
        .unwrap();

    let bad_md5 = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .content_md5("AAAAAAAAAAAAAAAAAAAAAA==")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(bad_md5.as_service_error().unwrap()), "BadDigest");
    let missing = c
        .get_object()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(missing.as_service_error().unwrap()), "NoSuchKey");

    // An empty object.
    c.put_object()
        .bucket("bkt")
        .key("empty")
        .body(ByteStream::from_static(b""))
        .send()
        .await
        .unwrap();
    assert!(body(&c, "bkt", "empty").await.is_empty());
}

#[tokio::test]
async fn copy_delete_many_and_tagging() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let big = vec![7u8; 300_000];
    c.put_object()
        .bucket("bkt")
        .key("big")
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();
    c.put_object()
        .bucket("bkt")
        .key("small")
        .tagging("k=v")
        .body(ByteStream::from_static(b"s"))
        .send()
        .await
        .unwrap();
    for (src, dst) in [("big", "big2"), ("small", "small2")] {
        c.copy_object()
            .bucket("bkt")
            .key(dst)
            .copy_source(format!("bkt/{src}"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(body(&c, "bkt", "big2").await, big);
    assert_eq!(body(&c, "bkt", "small2").await, b"s");
    let tags = c
        .get_object_tagging()
        .bucket("bkt")
        .key("small2")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set()[0].key(), "k");
    let itself = c
        .copy_object()
        .bucket("bkt")
        .key("big")
        .copy_source("bkt/big")
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(itself.as_service_error().unwrap()), "InvalidRequest");

    let ids: Vec<ObjectIdentifier> = ["big", "big2", "never"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    let out = c
        .delete_objects()
        .bucket("bkt")
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 3);
    let left: Vec<String> = c
        .list_objects_v2()
        .bucket("bkt")
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_string())
        .collect();
    assert_eq!(left, ["small", "small2"]);
}

#[tokio::test]
async fn list_objects_v2_pages_by_prefix_delimiter_token_and_start_after() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let keys = ["a/1", "a/2", "a/b/3", "c", "d/4", "d/5", "e"];
    for k in keys {
        c.put_object()
            .bucket("bkt")
            .key(k)
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    // All keys, two per page.
    let mut seen = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket("bkt")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        seen.extend(page.contents().iter().map(|o| o.key().unwrap().to_string()));
        assert!(page.key_count().unwrap() <= 2);
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, keys);
    // Delimiter: common prefixes count as keys, and pages resume after them.
    let mut entries = Vec::new();
    let mut token = None;
    loop {
        let page = c
            .list_objects_v2()
            .bucket("bkt")
            .delimiter("/")
            .max_keys(2)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        entries.extend(
            page.common_prefixes()
                .iter()
                .map(|p| p.prefix().unwrap().to_string()),
        );
        entries.extend(page.contents().iter().map(|o| o.key().unwrap().to_string()));
        match page.next_continuation_token() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    entries.sort();
    assert_eq!(entries, ["a/", "c", "d/", "e"]);
    let a = c
        .list_objects_v2()
        .bucket("bkt")
        .prefix("a/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let objects: Vec<&str> = a.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(objects, ["a/1", "a/2"]);
    assert_eq!(a.common_prefixes()[0].prefix(), Some("a/b/"));
    let after = c
        .list_objects_v2()
        .bucket("bkt")
        .start_after("c")
        .send()
        .await
        .unwrap();
    let objects: Vec<&str> = after.contents().iter().map(|o| o.key().unwrap()).collect();
    assert_eq!(objects, ["d/4", "d/5", "e"]);
    let none = c
        .list_objects_v2()
        .bucket("bkt")
        .prefix("zzz")
        .send()
        .await
        .unwrap();
    assert_eq!(none.key_count(), Some(0));
    assert_eq!(none.is_truncated(), Some(false));
}

async fn upload_part(c: &Client, key: &str, id: &str, n: i32, data: Vec<u8>) -> CompletedPart {
    let out = c
        .upload_part()
        .bucket("bkt")
        .key(key)
        .upload_id(id)
        .part_number(n)
        .body(ByteStream::from(data))
        .send()
        .await
        .unwrap();
    CompletedPart::builder()
        .part_number(n)
        .e_tag(out.e_tag().unwrap())
        .build()
}

#[tokio::test]
async fn multipart_uploads_complete_with_the_md5_of_md5s_etag() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("big")
        .content_type("text/csv")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let one = vec![1u8; 5 << 20];
    let two = vec![2u8; 1000];
    let parts = vec![
        upload_part(&c, "big", &id, 1, one.clone()).await,
        upload_part(&c, "big", &id, 2, two.clone()).await,
    ];
    let listed = c
        .list_parts()
        .bucket("bkt")
        .key("big")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 2);
    assert_eq!(listed.parts()[1].size(), Some(1000));
    let uploads = c
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));

    let done = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("big")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut md5s = Vec::new();
    for p in [&one, &two] {
        use md5::{Digest, Md5};
        md5s.extend_from_slice(&Md5::digest(p));
    }
    assert_eq!(
        done.e_tag(),
        Some(format!("\"{}-2\"", md5_hex(&md5s)).as_str())
    );
    let mut all = one.clone();
    all.extend_from_slice(&two);
    assert_eq!(body(&c, "bkt", "big").await, all);
    let head = c
        .head_object()
        .bucket("bkt")
        .key("big")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/csv"));
    let gone = c
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert!(gone.uploads().is_empty());

    // A part under 5 MiB that is not the last: EntityTooSmall; abort.
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("small")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let parts = vec![
        upload_part(&c, "small", &id, 1, vec![1; 10]).await,
        upload_part(&c, "small", &id, 2, vec![2; 10]).await,
    ];
    let small = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("small")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(small.as_service_error().unwrap()), "EntityTooSmall");
    c.abort_multipart_upload()
        .bucket("bkt")
        .key("small")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let aborted = c
        .list_parts()
        .bucket("bkt")
        .key("small")
        .upload_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(aborted.as_service_error().unwrap()), "NoSuchUpload");
}

fn notify_rides(c: &Client) -> aws_sdk_s3::operation::put_bucket_notification_configuration::builders::PutBucketNotificationConfigurationFluentBuilder{
    let filter = NotificationConfigurationFilter::builder()
        .key(
            S3KeyFilter::builder()
                .filter_rules(
                    FilterRule::builder()
                        .name(FilterRuleName::Prefix)
                        .value("rides/")
                        .build(),
                )
                .filter_rules(
                    FilterRule::builder()
                        .name(FilterRuleName::Suffix)
                        .value(".json")
                        .build(),
                )
                .build(),
        )
        .build();
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
    for key in [
        "rides/1.json",
        "other/2.json",
        "rides/3.csv",
        "rides/a b.json",
    ] {
        c.put_object()
            .bucket("uploads")
            .key(key)
            .body(ByteStream::from_static(b"{}"))
            .send()
            .await
            .unwrap();
    }
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
async fn virtual_host_addressing_names_the_bucket_in_the_host() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("vhost").send().await.unwrap();
    c.put_object()
        .bucket("vhost")
        .key("dir/k")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(e.addr()).await.unwrap();
    let req = format!(
        "GET /dir/k HTTP/1.1\r\nHost: vhost.localhost:{}\r\nConnection: close\r\n\r\n",
        e.addr().port()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("hello"), "{text}");
}

#[tokio::test]
async fn with_credentials_configured_signatures_are_checked() {
    let e = engine::spawn(Config {
        auth: vec![("AKIDGOOD".into(), "good-secret".into())],
        ..Config::default()
    })
    .await
    .unwrap();
    let good = client_with(&e.url(), "AKIDGOOD", "good-secret");
    good.create_bucket().bucket("bkt").send().await.unwrap();
    good.put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from(vec![3u8; 100_000]))
        .send()
        .await
        .unwrap();
    assert_eq!(body(&good, "bkt", "k").await, vec![3u8; 100_000]);
    let bad = client_with(&e.url(), "AKIDGOOD", "wrong");
    let err = bad.list_buckets().send().await.unwrap_err();
    assert_eq!(
        code(err.as_service_error().unwrap()),
        "SignatureDoesNotMatch"
    );
}

#[tokio::test]
async fn kinesis_and_s3_share_the_port() {
    let e = engine::spawn_in_memory().await.unwrap();
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(aws_sdk_kinesis::config::BehaviorVersion::latest())
        .region(aws_sdk_kinesis::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kinesis::config::Credentials::new(
            "a", "b", None, None, "t",
        ))
        .endpoint_url(e.url())
        .build();
    let k = aws_sdk_kinesis::Client::from_conf(conf);
    k.create_stream()
        .stream_name("s")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    assert_eq!(k.list_streams().send().await.unwrap().stream_names(), ["s"]);
    assert_eq!(c.list_buckets().send().await.unwrap().buckets().len(), 1);
}

/// The bytes of version `v` of `key` (so a torn or mixed object is detected).
fn content(key: &str, v: u32) -> Vec<u8> {
    let size = if v % 2 == 0 {
        1000
    } else {
        150_000 + (v as usize % 7) * 10_000
    };
    let seed = format!("{key}#{v}#");
    seed.bytes().cycle().take(size).collect()
}

const CHILD_DIR: &str = "WILDRYDES_S3_CHILD_DIR";

/// Not a test of its own: the server process `every_acknowledged_object_
/// survives_sigkill` starts (this test binary again) and kills with SIGKILL.
#[tokio::test]
async fn child_server_for_the_sigkill_test() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let e = engine::spawn(Config {
        data_dir: Some(dir.into()),
        ..Config::default()
    })
    .await
    .unwrap();
    println!("URL {}", e.url());
    std::future::pending::<()>().await;
}

async fn start_child(dir: &std::path::Path) -> (tokio::process::Child, String) {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_server_for_the_sigkill_test",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the child server starts")
            .unwrap()
            .expect("a URL line");
        // The harness prints the test's name on the same line first.
        if let Some((_, url)) = line.split_once("URL ") {
            return (child, url.trim().to_string());
        }
    }
}

#[derive(Default)]
struct Acked {
    /// key → the versions acknowledged, and the last version attempted.
    keys: std::collections::HashMap<String, (Option<u32>, u32)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_object_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Acked::default()));
    for round in 0..3u32 {
        let (mut child, url) = start_child(dir.path()).await;
        let c = client(&url);
        if round == 0 {
            c.create_bucket().bucket("crash").send().await.unwrap();
        }
        let mut writers = Vec::new();
        for w in 0..4u32 {
            let (c, acked) = (c.clone(), acked.clone());
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    // A new key each time, and one key per writer overwritten.
                    for key in [format!("r{round}/w{w}/{i}"), format!("same/{w}")] {
                        let v = {
                            let mut a = acked.lock().unwrap();
                            let entry = a.keys.entry(key.clone()).or_insert((None, 0));
                            if entry.0.is_some() || entry.1 > 0 {
                                entry.1 += 1;
                            }
                            entry.1
                        };
                        let sent = c
                            .put_object()
                            .bucket("crash")
                            .key(&key)
                            .body(ByteStream::from(content(&key, v)))
                            .send()
                            .await;
                        if sent.is_err() {
                            return;
                        }
                        let mut a = acked.lock().unwrap();
                        let entry = a.keys.get_mut(&key).unwrap();
                        entry.0 = Some(entry.0.map_or(v, |old| old.max(v)));
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
        for w in writers {
            w.await.unwrap();
        }
    }
    let (_child, url) = start_child(dir.path()).await;
    let c = client(&url);
    let a = acked.lock().unwrap();
    let acked_count = a.keys.values().filter(|(v, _)| v.is_some()).count();
    assert!(
        acked_count > 20,
        "only {acked_count} objects were acknowledged"
    );
    eprintln!("{acked_count} keys acknowledged across 3 kills");
    let keys: Vec<(String, (Option<u32>, u32))> =
        a.keys.iter().map(|(k, v)| (k.clone(), *v)).collect();
    drop(a);
    for (key, (done, tried)) in keys {
        let got = c.get_object().bucket("crash").key(&key).send().await;
        let Some(done) = done else {
            // Never acknowledged: absent, or whole.
            if let Ok(got) = got {
                let bytes = got.body.collect().await.unwrap().into_bytes();
                assert!(
                    (0..=tried).any(|v| bytes[..] == content(&key, v)[..]),
                    "{key} is torn"
                );
            }
            continue;
        };
        let bytes = got
            .unwrap_or_else(|e| panic!("acknowledged {key} is lost: {e:?}"))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert!(
            (done..=tried).any(|v| bytes[..] == content(&key, v)[..]),
            "{key}: not the acknowledged version {done} or a later attempt (up to {tried})"
        );
    }
    // Files written aside by requests the kill cut are gone.
    assert_eq!(
        std::fs::read_dir(dir.path().join("s3/tmp"))
            .unwrap()
            .count(),
        0
    );
}
