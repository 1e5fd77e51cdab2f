//! Flexible checksums (`x-amz-checksum-*`): verified when sent in a header
//! or in an aws-chunked trailer, stored and echoed, and a mismatch stores
//! nothing; through the SDK and, for what the SDK will not send, raw HTTP.

use std::net::SocketAddr;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumMode, Event, LambdaFunctionConfiguration, NotificationConfiguration,
};
use aws_sdk_s3::Client;
use base64::Engine as _;
use engine::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{body, client, client_with, code, status};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn crc32(data: &[u8]) -> String {
    b64(&crc32fast::hash(data).to_be_bytes())
}

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    b64(&sha2::Sha256::digest(data))
}

/// Sends `head` (request line and headers, without the blank line) and
/// `body` on a new connection; returns the whole answer as text.
pub(super) async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// A PUT of `body` to `path` with `headers` (each `name: value`).
async fn put_raw(addr: SocketAddr, path: &str, headers: &[&str], body: &[u8]) -> String {
    let mut head = format!("PUT {path} HTTP/1.1\r\nContent-Length: {}", body.len());
    for h in headers {
        head.push_str("\r\n");
        head.push_str(h);
    }
    raw(addr, &head, body).await
}

/// An aws-chunked body of `data` in two chunks, ended by `trailer` lines.
fn chunked(data: &[u8], trailer: &str) -> Vec<u8> {
    let (a, b) = data.split_at(data.len() / 2);
    let mut out = Vec::new();
    for part in [a, b] {
        out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("0\r\n{trailer}\r\n").as_bytes());
    out
}

fn streaming_headers(decoded: usize) -> Vec<String> {
    vec![
        "Content-Encoding: aws-chunked".into(),
        "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER".into(),
        "x-amz-trailer: x-amz-checksum-crc32".into(),
        format!("x-amz-decoded-content-length: {decoded}"),
    ]
}

async fn crc32_on_get(c: &Client, key: &str) -> Option<String> {
    c.get_object()
        .bucket("bkt")
        .key(key)
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap()
        .checksum_crc32()
        .map(str::to_string)
}

async fn bucket_with_events(c: &Client) {
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let rule = LambdaFunctionConfiguration::builder()
        .lambda_function_arn("arn:aws:lambda:us-east-1:000000000000:function:f")
        .events(Event::from("s3:ObjectCreated:*"))
        .build()
        .unwrap();
    c.put_bucket_notification_configuration()
        .bucket("bkt")
        .notification_configuration(
            NotificationConfiguration::builder()
                .lambda_function_configurations(rule)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn header_checksums_are_verified_stored_and_echoed() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    bucket_with_events(&c).await;
    let data = b"hello checksums";
    let put = c
        .put_object()
        .bucket("bkt")
        .key("crc")
        .checksum_crc32(crc32(data))
        .body(ByteStream::from_static(data))
        .send()
        .await
        .unwrap();
    assert_eq!(put.checksum_crc32(), Some(crc32(data).as_str()));
    assert_eq!(crc32_on_get(&c, "crc").await, Some(crc32(data)));
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let put = c
        .put_object()
        .bucket("bkt")
        .key("sha")
        .checksum_sha256(sha256(&big))
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(put.checksum_sha256(), Some(sha256(&big).as_str()));
    let head = c
        .head_object()
        .bucket("bkt")
        .key("sha")
        .checksum_mode(ChecksumMode::Enabled)
        .send()
        .await
        .unwrap();
    assert_eq!(head.checksum_sha256(), Some(sha256(&big).as_str()));
    let events = e.s3_events();
    let before = events.latest();
    assert_eq!(before, 2);

    // A wrong value: BadDigest, the old content kept, no event.
    let wrong = c
        .put_object()
        .bucket("bkt")
        .key("crc")
        .checksum_crc32(crc32(b"something else"))
        .body(ByteStream::from_static(b"new content"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&wrong), 400);
    let err = wrong.as_service_error().unwrap();
    assert_eq!(code(err), "BadDigest");
    assert_eq!(
        aws_sdk_s3::error::ProvideErrorMetadata::message(err),
        Some("The CRC32 you specified did not match the calculated checksum.")
    );
    assert_eq!(body(&c, "bkt", "crc").await, data);
    let wrong = c
        .put_object()
        .bucket("bkt")
        .key("absent")
        .checksum_sha256(sha256(b"x"))
        .body(ByteStream::from(big.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(wrong.as_service_error().unwrap()), "BadDigest");
    let absent = c
        .head_object()
        .bucket("bkt")
        .key("absent")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&absent), 404);
    assert_eq!(events.latest(), before);
}

#[tokio::test]
async fn malformed_or_multiple_checksum_headers_are_invalid_requests() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let a = e.addr();
    for (header, name) in [
        ("x-amz-checksum-crc32: NhCm", "x-amz-checksum-crc32"),
        ("x-amz-checksum-sha1: not base64!", "x-amz-checksum-sha1"),
        // Valid base64, but of a CRC32 where a SHA256 is expected.
        ("x-amz-checksum-sha256: NhCmhg==", "x-amz-checksum-sha256"),
    ] {
        let out = put_raw(a, "/bkt/k", &[header], b"hello").await;
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        assert!(out.contains("<Code>InvalidRequest</Code>"), "{out}");
        let message = format!("<Message>Value for {name} header is invalid.</Message>");
        assert!(out.contains(&message), "{out}");
    }
    let both = [
        "x-amz-checksum-crc32: NhCmhg==".to_string(),
        format!("x-amz-checksum-sha256: {}", sha256(b"hello")),
    ];
    let both: Vec<&str> = both.iter().map(String::as_str).collect();
    let out = put_raw(a, "/bkt/k", &both, b"hello").await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("<Message>Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.</Message>"), "{out}");
    // The right value in a raw request is accepted and echoed.
    let out = put_raw(a, "/bkt/k", &["x-amz-checksum-crc32: NhCmhg=="], b"hello").await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("x-amz-checksum-crc32: nhcmhg=="),
        "{out}"
    );
    assert_eq!(body(&c, "bkt", "k").await, b"hello");
}

#[tokio::test]
async fn unsigned_aws_chunked_trailers_are_verified() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    bucket_with_events(&c).await;
    let a = e.addr();
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let headers = streaming_headers(data.len());
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();

    let good = chunked(&data, &format!("x-amz-checksum-crc32:{}\r\n", crc32(&data)));
    let out = put_raw(a, "/bkt/t", &headers, &good).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let echoed = format!("x-amz-checksum-crc32: {}", crc32(&data)).to_ascii_lowercase();
    assert!(out.to_ascii_lowercase().contains(&echoed), "{out}");
    assert_eq!(body(&c, "bkt", "t").await, data);
    assert_eq!(crc32_on_get(&c, "t").await, Some(crc32(&data)));
    assert_eq!(e.s3_events().latest(), 1);

    let wrong = chunked(&data, "x-amz-checksum-crc32:AAAAAA==\r\n");
    let out = put_raw(a, "/bkt/w", &headers, &wrong).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("<Code>BadDigest</Code>"), "{out}");
    assert!(
        out.contains(
            "<Message>The CRC32 you specified did not match the calculated checksum.</Message>"
        ),
        "{out}"
    );
    let invalid = chunked(&data, "x-amz-checksum-crc32:AAAA\r\n");
    let out = put_raw(a, "/bkt/w", &headers, &invalid).await;
    assert!(out.contains("<Code>InvalidRequest</Code>"), "{out}");
    assert!(
        out.contains("Value for x-amz-checksum-crc32 trailing header is invalid."),
        "{out}"
    );
    // Announced but not sent.
    let missing = chunked(&data, "");
    let out = put_raw(a, "/bkt/w", &headers, &missing).await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("<Code>MalformedTrailerError</Code>"), "{out}");
    let gone = c.head_object().bucket("bkt").key("w").send().await;
    assert_eq!(status(&gone.unwrap_err()), 404);
    assert_eq!(e.s3_events().latest(), 1);
}

#[tokio::test]
async fn sdk_uploads_send_a_verified_crc32_trailer_signed_or_not() {
    let signed = engine::spawn(Config {
        auth: vec![("AKIDSUMS".into(), "secret".into())],
        ..Config::default()
    })
    .await
    .unwrap();
    let open = engine::spawn_in_memory().await.unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8).collect();
    for c in [
        client_with(&signed.url(), "AKIDSUMS", "secret"),
        client(&open.url()),
    ] {
        c.create_bucket().bucket("bkt").send().await.unwrap();
        let put = c
            .put_object()
            .bucket("bkt")
            .key("k")
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        // The SDK's default: a CRC32 computed by the SDK, sent as a trailer.
        assert_eq!(put.checksum_crc32(), Some(crc32(&data).as_str()));
        assert_eq!(crc32_on_get(&c, "k").await, Some(crc32(&data)));
        assert_eq!(body(&c, "bkt", "k").await, data);
    }
}

#[tokio::test]
async fn upload_part_checksums_are_verified() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("big")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = vec![9u8; 100_000];
    let ok = c
        .upload_part()
        .bucket("bkt")
        .key("big")
        .upload_id(id)
        .part_number(1)
        .checksum_sha256(sha256(&part))
        .body(ByteStream::from(part.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.checksum_sha256(), Some(sha256(&part).as_str()));
    let wrong = c
        .upload_part()
        .bucket("bkt")
        .key("big")
        .upload_id(id)
        .part_number(2)
        .checksum_crc32(crc32(b"other"))
        .body(ByteStream::from(part.clone()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status(&wrong), 400);
    assert_eq!(code(wrong.as_service_error().unwrap()), "BadDigest");
    let parts = c
        .list_parts()
        .bucket("bkt")
        .key("big")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    let numbers: Vec<i32> = parts
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect();
    assert_eq!(numbers, [1]);
}
