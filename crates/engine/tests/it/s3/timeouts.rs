//! The body idle timeout of S3 uploads: a client that stops sending is
//! answered 400 RequestTimeout and nothing is stored; a slow but steady one
//! is not timed out.

use std::time::Duration;

use engine::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{client, status};

const IDLE: Duration = Duration::from_millis(300);

/// Sends the headers of a PUT of `length` bytes to `path` and then `pieces`,
/// waiting `pause` before each; returns the answer read within 10 s.
async fn slow_put(
    addr: std::net::SocketAddr,
    path: &str,
    length: usize,
    pieces: &[Vec<u8>],
    pause: Duration,
) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for p in pieces {
        tokio::time::sleep(pause).await;
        s.write_all(p).await.unwrap();
    }
    let mut out = Vec::new();
    // The server may close while bytes are unsent: read what it answered.
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn files_in(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

#[tokio::test]
async fn a_stalled_upload_is_a_request_timeout_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine::spawn(Config {
        data_dir: Some(dir.path().to_path_buf()),
        body_idle_timeout: IDLE,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let blobs = dir.path().join("s3/blobs");
    let before = files_in(&blobs);

    // 100 KB of 200 KB (past the inline limit: a temp file was started),
    // then nothing.
    let started = std::time::Instant::now();
    let out = slow_put(
        e.addr(),
        "/bkt/stalled",
        200_000,
        &[vec![1u8; 100_000]],
        Duration::ZERO,
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert!(out.contains("<Code>RequestTimeout</Code>"), "{out}");
    assert!(
        out.contains("<Message>Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.</Message>"),
        "{out}"
    );
    assert!(started.elapsed() >= IDLE);
    let gone = c.head_object().bucket("bkt").key("stalled").send().await;
    assert_eq!(status(&gone.unwrap_err()), 404);
    assert_eq!(files_in(&dir.path().join("s3/tmp")), 0);
    assert_eq!(files_in(&blobs), before);

    // A client that sends nothing of its body at all.
    let out = slow_put(e.addr(), "/bkt/silent", 10, &[], Duration::ZERO).await;
    assert!(out.contains("<Code>RequestTimeout</Code>"), "{out}");

    // An UploadPart that stalls leaves no part.
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("big")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let path = format!("/bkt/big?partNumber=1&uploadId={id}");
    let out = slow_put(e.addr(), &path, 50_000, &[vec![2u8; 10]], Duration::ZERO).await;
    assert!(out.contains("<Code>RequestTimeout</Code>"), "{out}");
    let parts = c
        .list_parts()
        .bucket("bkt")
        .key("big")
        .upload_id(id)
        .send()
        .await
        .unwrap();
    assert!(parts.parts().is_empty());
    assert_eq!(files_in(&dir.path().join("s3/tmp")), 0);
    assert_eq!(files_in(&blobs), before);
}

#[tokio::test]
async fn a_slow_but_steady_upload_is_not_timed_out() {
    let e = engine::spawn(Config {
        body_idle_timeout: IDLE,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    // Eight pieces 60 ms apart: longer than the idle timeout in all, with
    // room for a loaded machine between two pieces.
    let pieces: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 12_500]).collect();
    let out = slow_put(
        e.addr(),
        "/bkt/steady",
        100_000,
        &pieces,
        Duration::from_millis(60),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(super::body(&c, "bkt", "steady").await, pieces.concat());
}

#[tokio::test]
async fn a_missing_bucket_or_upload_is_answered_before_the_body_is_read() {
    // The default idle timeout (20 s): an answer within it came before the
    // body, which is never sent.
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let started = std::time::Instant::now();
    let out = slow_put(e.addr(), "/nope/k", 1000, &[], Duration::ZERO).await;
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    assert!(out.contains("<Code>NoSuchBucket</Code>"), "{out}");
    let path = "/bkt/k?partNumber=1&uploadId=0000";
    let out = slow_put(e.addr(), path, 1000, &[], Duration::ZERO).await;
    assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    assert!(out.contains("<Code>NoSuchUpload</Code>"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
