//! S3 on the engine's port, through the AWS SDK for Rust (`aws-sdk-s3`).

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use engine::Config;

#[path = "s3/checksums.rs"]
mod checksums;
#[path = "s3/copies.rs"]
mod copies;
#[path = "s3/crash.rs"]
mod crash;
#[path = "s3/defaults.rs"]
mod defaults;
#[path = "s3/events.rs"]
mod events;
#[path = "s3/multipart.rs"]
mod multipart;
#[path = "s3/timeouts.rs"]
mod timeouts;

use testkit::{s3 as client, s3_signed_by as client_with};

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
    // The engine's own call (`wildrydes up`), idempotent, then the API's.
    e.ensure_bucket("wildrydes-uploads").unwrap();
    e.ensure_bucket("wildrydes-uploads").unwrap();
    assert!(e.ensure_bucket("No_Such").is_err());
    c.head_bucket()
        .bucket("wildrydes-uploads")
        .send()
        .await
        .unwrap();
    c.delete_bucket()
        .bucket("wildrydes-uploads")
        .send()
        .await
        .unwrap();
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
    // An unknown key, in S3's words.
    let stranger = client_with(&e.url(), "AKIDWHO", "good-secret");
    let err = stranger.list_buckets().send().await.unwrap_err();
    assert_eq!(
        (code(err.as_service_error().unwrap()), status(&err)),
        ("InvalidAccessKeyId".to_string(), 403)
    );
}

#[tokio::test]
async fn kinesis_and_s3_share_the_port() {
    let e = engine::spawn_in_memory().await.unwrap();
    let k = testkit::kinesis(&e.url());
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

#[tokio::test]
async fn streamed_file_bodies_are_stored_whole_signed_or_not() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(file.path(), &data).unwrap();
    let open = engine::spawn_in_memory().await.unwrap();
    let signed = engine::spawn(Config {
        auth: vec![("AKIDTEST".into(), "secret".into())],
        ..Config::default()
    })
    .await
    .unwrap();
    for e in [open, signed] {
        let c = client(&e.url());
        c.create_bucket().bucket("files").send().await.unwrap();
        let stream = ByteStream::from_path(file.path()).await.unwrap();
        let put = c
            .put_object()
            .bucket("files")
            .key("f")
            .body(stream)
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.e_tag(),
            Some(format!("\"{}\"", md5_hex(&data)).as_str())
        );
        assert_eq!(body(&c, "files", "f").await, data);
    }
}

#[tokio::test]
async fn presigned_urls_work_in_open_mode() {
    use aws_sdk_s3::presigning::PresigningConfig;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("shared").send().await.unwrap();
    c.put_object()
        .bucket("shared")
        .key("ride.json")
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .unwrap();
    let url = c
        .get_object()
        .bucket("shared")
        .key("ride.json")
        .presigned(PresigningConfig::expires_in(std::time::Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let uri: hyper::Uri = url.uri().parse().unwrap();
    let mut s = tokio::net::TcpStream::connect(e.addr()).await.unwrap();
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        uri.path_and_query().unwrap(),
        e.addr()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("{}"), "{text}");
}
