//! Bounded resources under hostile or broken clients, over real sockets:
//! header, idle and body timeouts, the connection limit, body limits per
//! action and the budget of request bodies in flight. Timeouts are short
//! (200 ms) and assertions generous: these tests never sleep hoping for
//! something, they wait for it with a bound.

use crate::common;

use std::time::{Duration, Instant};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::SubscribeToShardEventStream;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType, StartingPosition};
use common::{blob, client, create};
use engine::{Config, EngineHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHORT: Duration = Duration::from_millis(200);

/// How long any expected close or answer may take at most (generous: CI).
const BOUND: Duration = Duration::from_secs(5);

async fn engine_with(config: Config) -> EngineHandle {
    engine::spawn(config).await.unwrap()
}

fn short_timeouts() -> Config {
    Config {
        header_timeout: SHORT,
        idle_timeout: SHORT,
        body_timeout: SHORT,
        ..Config::default()
    }
}

fn head(action: &str, length: Option<usize>) -> String {
    let length = match length {
        Some(n) => format!("content-length: {n}\r\n"),
        None => "transfer-encoding: chunked\r\n".to_owned(),
    };
    format!(
        "POST / HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amz-target: Kinesis_20131202.{action}\r\n{length}\r\n"
    )
}

fn request(action: &str, body: &str) -> String {
    format!("{}{body}", head(action, Some(body.len())))
}

/// An HTTP/1.1 answer: status, lower-case headers, body.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// An AWS JSON error of `kind`, with the matching x-amzn-errortype.
    fn assert_error(&self, status: u16, kind: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/x-amz-json-1.1")
        );
        assert_eq!(self.header("x-amzn-errortype"), Some(kind));
        let body: serde_json::Value = serde_json::from_str(&self.body).expect("a JSON body");
        assert_eq!(body["__type"], kind);
        // The service words a SerializationException's text as `Message`.
        let message = body.get("message").or_else(|| body.get("Message"));
        assert!(message
            .and_then(|m| m.as_str())
            .is_some_and(|m| !m.is_empty()));
    }
}

/// Reads one answer (with a content-length body) from `conn`.
async fn read_answer(conn: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = conn.read(&mut chunk).await.expect("read an answer");
        assert!(n > 0, "connection closed before an answer");
        buf.extend_from_slice(&chunk[..n]);
    };
    let text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    while buf.len() < end + length {
        let n = conn.read(&mut chunk).await.expect("read the body");
        assert!(n > 0, "connection closed within the body");
        buf.extend_from_slice(&chunk[..n]);
    }
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&buf[end..end + length]).into_owned(),
    }
}

async fn answer_within(conn: &mut TcpStream, bound: Duration) -> Answer {
    tokio::time::timeout(bound, read_answer(conn))
        .await
        .expect("an answer in time")
}

/// Waits until the server closes `conn` (EOF or reset), discarding anything
/// it sends; panics after `BOUND`.
async fn closed_by_server(conn: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut chunk = [0u8; 4096];
    tokio::time::timeout(BOUND, async {
        loop {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the server closes the connection");
    start.elapsed()
}

async fn connect(e: &EngineHandle) -> TcpStream {
    TcpStream::connect(e.addr()).await.unwrap()
}

#[tokio::test]
async fn a_slowloris_is_closed_after_the_header_timeout() {
    let e = engine_with(Config {
        header_timeout: SHORT,
        ..Config::default()
    })
    .await;
    let mut slow = connect(&e).await;
    let start = Instant::now();
    slow.write_all(b"POST / HTTP/1.1\r\nhost: localhost\r\n")
        .await
        .unwrap();
    // One header line every 50 ms, for ever: the connection must be closed.
    let dribble = async {
        for i in 0.. {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if slow
                .write_all(format!("x-h{i}: v\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
            let mut probe = [0u8; 1];
            match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut probe)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                _ => {}
            }
        }
    };
    tokio::time::timeout(BOUND, dribble)
        .await
        .expect("the slowloris is cut off");
    assert!(start.elapsed() >= SHORT);
    // Complete requests are still served, on a connection kept alive.
    let mut ok = connect(&e).await;
    for _ in 0..2 {
        ok.write_all(request("ListStreams", "{}").as_bytes())
            .await
            .unwrap();
        assert_eq!(answer_within(&mut ok, BOUND).await.status, 200);
    }
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn idle_connections_are_closed() {
    let e = engine_with(short_timeouts()).await;
    // Kept alive after an answer, then idle.
    let mut conn = connect(&e).await;
    conn.write_all(request("ListStreams", "{}").as_bytes())
        .await
        .unwrap();
    assert_eq!(answer_within(&mut conn, BOUND).await.status, 200);
    assert!(closed_by_server(&mut conn).await >= SHORT / 2);
    // Never sent anything.
    let mut silent = connect(&e).await;
    closed_by_server(&mut silent).await;
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed_after_its_requests() {
    use axum::body::Body;
    let e = engine_with(short_timeouts()).await;
    let io = hyper_util::rt::TokioIo::new(connect(&e).await);
    let (mut send, conn) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
            .await
            .unwrap();
    let conn = tokio::spawn(conn);
    // Requests 100 ms apart (under the idle timeout) keep it open...
    for i in 0..4 {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let req = axum::http::Request::post("/")
            .header("content-type", "application/x-amz-json-1.1")
            .header("x-amz-target", "Kinesis_20131202.ListStreams")
            .body(Body::from("{}"))
            .unwrap();
        let resp = send.send_request(req).await.expect("served over h2");
        assert_eq!(resp.status(), 200);
    }
    // ...then, idle, it is closed by the server.
    let start = Instant::now();
    tokio::time::timeout(BOUND, conn)
        .await
        .expect("the server closes the idle connection")
        .unwrap()
        .ok();
    assert!(start.elapsed() >= SHORT / 2);
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_body_too_large_for_its_action_is_refused_as_aws_json() {
    let e = engine_with(Config::default()).await;
    // A declared 1 GiB is refused before any of it is read.
    let mut conn = connect(&e).await;
    conn.write_all(head("PutRecords", Some(1 << 30)).as_bytes())
        .await
        .unwrap();
    let answer = answer_within(&mut conn, BOUND).await;
    answer.assert_error(413, "RequestEntityTooLargeException");
    assert!(
        answer.body.contains("PutRecords accepts at most"),
        "{answer:?}"
    );
    closed_by_server(&mut conn).await;
    // The limit is the action's: 2 MiB is too much for ListStreams, fine for
    // PutRecord and PutRecords (records of up to 10 MiB with UpdateMaxRecordSize).
    for (action, status) in [
        ("PutRecord", 400),
        ("ListStreams", 413),
        ("PutRecords", 400),
    ] {
        let mut conn = connect(&e).await;
        let body = format!("{{\"StreamName\": \"{}\"}}", "x".repeat(2 << 20));
        conn.write_all(request(action, &body).as_bytes())
            .await
            .unwrap();
        let answer = answer_within(&mut conn, BOUND).await;
        assert_eq!(answer.status, status, "{action}: {answer:?}");
    }
    // A chunked body is counted as it arrives.
    let mut conn = connect(&e).await;
    conn.write_all(head("ListStreams", None).as_bytes())
        .await
        .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 512 << 10, "x".repeat(512 << 10));
    for _ in 0..3 {
        if conn.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    answer_within(&mut conn, BOUND)
        .await
        .assert_error(413, "RequestEntityTooLargeException");
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_chunked_encoding_is_answered_as_aws_json() {
    let e = engine_with(Config::default()).await;
    let mut conn = connect(&e).await;
    conn.write_all(format!("{}zz\r\n{{}}\r\n0\r\n\r\n", head("ListStreams", None)).as_bytes())
        .await
        .unwrap();
    answer_within(&mut conn, BOUND)
        .await
        .assert_error(400, "SerializationException");
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_body_sent_too_slowly_is_cut() {
    let e = engine_with(short_timeouts()).await;
    let mut conn = connect(&e).await;
    // 100 KiB declared, 10 bytes every 50 ms.
    conn.write_all(head("PutRecords", Some(100 << 10)).as_bytes())
        .await
        .unwrap();
    let start = Instant::now();
    let mut answer = None;
    while start.elapsed() < BOUND && answer.is_none() {
        if conn.write_all(b"          ").await.is_err() {
            break;
        }
        if let Ok(a) = tokio::time::timeout(Duration::from_millis(50), read_answer(&mut conn)).await
        {
            answer = Some(a);
        }
    }
    let answer = answer.expect("an answer before the body is complete");
    answer.assert_error(408, "RequestTimeoutException");
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(start.elapsed() >= SHORT);
    closed_by_server(&mut conn).await;
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn connections_over_the_limit_wait_until_one_closes() {
    let e = engine_with(Config {
        max_connections: 2,
        ..Config::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = connect(&e).await;
        conn.write_all(request("ListStreams", "{}").as_bytes())
            .await
            .unwrap();
        assert_eq!(answer_within(&mut conn, BOUND).await.status, 200);
        held.push(conn);
    }
    // The third waits in the backlog: no answer while both are open...
    let mut third = connect(&e).await;
    third
        .write_all(request("ListStreams", "{}").as_bytes())
        .await
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), read_answer(&mut third)).await;
    assert!(waited.is_err(), "served over the connection limit");
    // ...and is served once one closes.
    drop(held.remove(0));
    assert_eq!(answer_within(&mut third, BOUND).await.status, 200);
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn large_bodies_wait_for_the_budget_and_small_calls_do_not() {
    // 4 MiB: 1 MiB for small bodies, 3 MiB for large ones.
    let e = engine_with(Config {
        body_budget: 4 << 20,
        ..Config::default()
    })
    .await;
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let record = format!(
        "{{\"StreamName\":\"s\",\"PartitionKey\":\"k\",\"Data\":\"{}\"}}",
        "QUJD".repeat(300_000)
    );
    // The first takes 1.2 MiB of the budget and sends half of its body.
    let mut first = connect(&e).await;
    let (half, rest) = record.split_at(record.len() / 2);
    first
        .write_all(format!("{}{half}", head("PutRecord", Some(record.len()))).as_bytes())
        .await
        .unwrap();
    // The second fits beside it; the third does not and waits.
    let mut second = connect(&e).await;
    second
        .write_all(request("PutRecord", &record).as_bytes())
        .await
        .unwrap();
    assert_eq!(answer_within(&mut second, BOUND).await.status, 200);
    let mut held = connect(&e).await;
    held.write_all(format!("{}{half}", head("PutRecord", Some(record.len()))).as_bytes())
        .await
        .unwrap();
    let mut third = connect(&e).await;
    third
        .write_all(request("PutRecord", &record).as_bytes())
        .await
        .unwrap();
    let waited = tokio::time::timeout(Duration::from_millis(300), read_answer(&mut third)).await;
    assert!(waited.is_err(), "a body read beyond the budget");
    // Small calls are answered meanwhile.
    let start = Instant::now();
    c.list_streams().send().await.unwrap();
    assert!(start.elapsed() < Duration::from_secs(1));
    // Once the first completes, the third is read and answered.
    first.write_all(rest.as_bytes()).await.unwrap();
    assert_eq!(answer_within(&mut first, BOUND).await.status, 200);
    assert_eq!(answer_within(&mut third, BOUND).await.status, 200);
    drop(held);
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_maximum_put_records_fits_its_body_limit() {
    let e = engine_with(Config::default()).await;
    let c = client(&e.url());
    create(&c, "s", 1).await;
    // 500 entries, 5 MiB of data and keys, and maximal explicit hash keys.
    let entries: Vec<_> = (0..500)
        .map(|i| {
            PutRecordsRequestEntry::builder()
                .partition_key(format!("{i:04}"))
                .explicit_hash_key("340282366920938463463374607431768211455")
                .data(Blob::new(vec![b'x'; (5 << 20) / 500 - 4]))
                .build()
                .unwrap()
        })
        .collect();
    let out = c
        .put_records()
        .stream_name("s")
        .set_records(Some(entries))
        .send()
        .await
        .unwrap();
    assert_eq!(out.failed_record_count, Some(0));
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_subscription_outlives_every_timeout() {
    let e = engine_with(short_timeouts()).await;
    let c = client(&e.url());
    create(&c, "s", 1).await;
    let arn = c
        .describe_stream_summary()
        .stream_name("s")
        .send()
        .await
        .unwrap()
        .stream_description_summary
        .unwrap()
        .stream_arn;
    let consumer = c
        .register_stream_consumer()
        .stream_arn(arn)
        .consumer_name("hq")
        .send()
        .await
        .unwrap()
        .consumer
        .unwrap()
        .consumer_arn;
    let mut sub = c
        .subscribe_to_shard()
        .consumer_arn(consumer)
        .shard_id("shardId-000000000000")
        .starting_position(
            StartingPosition::builder()
                .r#type(ShardIteratorType::Latest)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // Five records 300 ms apart (longer than every timeout) all arrive on
    // the one subscription.
    let start = Instant::now();
    let mut received = 0;
    for i in 0..5 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        c.put_record()
            .stream_name("s")
            .partition_key("k")
            .data(blob(&format!("r{i}")))
            .send()
            .await
            .unwrap();
        while received <= i {
            let event = tokio::time::timeout(BOUND, sub.event_stream.recv())
                .await
                .expect("an event in time")
                .expect("a well-formed event")
                .expect("the subscription goes on");
            let SubscribeToShardEventStream::SubscribeToShardEvent(event) = event else {
                panic!("unexpected event {event:?}");
            };
            received += event.records.len();
        }
    }
    assert_eq!(received, 5);
    assert!(start.elapsed() >= SHORT * 5);
    e.shutdown().await.unwrap();
}
