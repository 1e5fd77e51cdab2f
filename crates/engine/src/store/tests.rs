//! Library tests of the store that need its insides: writes failing on
//! demand (a full disk, without a small filesystem) and data dirs written in
//! the log format before format 2.

use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};

use super::codec::{encode_meta, encode_records, RecordBatch};
use super::dir::faults::set_full;
use crate::front::error::ApiError;
use crate::kinesis::state::{MetaOp, Rec, ShardMeta, StreamMeta};
use crate::kinesis::{Engine, Reply};
use crate::Config;

fn config(dir: &Path) -> Config {
    Config {
        data_dir: Some(dir.to_path_buf()),
        ..Config::default()
    }
}

async fn call(e: &Arc<Engine>, action: &str, body: Value) -> Result<Value, ApiError> {
    match e.call(action, body, "us-east-1").await? {
        Reply::Empty => Ok(Value::Null),
        Reply::Json(v) => Ok(v),
        Reply::Encoded(b) => Ok(serde_json::from_slice(&b).unwrap()),
        Reply::PutRecords(out) => Ok(serde_json::from_slice(&out.encode(false)).unwrap()),
        Reply::Events(_) => panic!("{action} answered an event stream"),
    }
}

async fn names(e: &Arc<Engine>) -> Vec<String> {
    let v = call(e, "ListStreams", json!({})).await.unwrap();
    serde_json::from_value(v["StreamNames"].clone()).unwrap()
}

async fn put(e: &Arc<Engine>, data: &[u8]) -> Result<String, ApiError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(data);
    let v = call(
        e,
        "PutRecord",
        json!({"StreamName": "a", "PartitionKey": "k", "Data": b64}),
    )
    .await?;
    Ok(v["SequenceNumber"].as_str().unwrap().to_string())
}

/// Data of every record of the one-shard stream `a`.
async fn read(e: &Arc<Engine>) -> Vec<Vec<u8>> {
    use base64::Engine as _;
    let it = call(
        e,
        "GetShardIterator",
        json!({"StreamName": "a", "ShardId": "shardId-000000000000", "ShardIteratorType": "TRIM_HORIZON"}),
    )
    .await
    .unwrap();
    let v = call(
        e,
        "GetRecords",
        json!({"ShardIterator": it["ShardIterator"]}),
    )
    .await
    .unwrap();
    v["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            base64::engine::general_purpose::STANDARD
                .decode(r["Data"].as_str().unwrap())
                .unwrap()
        })
        .collect()
}

async fn stop(e: Arc<Engine>, writer: tokio::task::JoinHandle<Result<(), crate::EngineError>>) {
    e.stop_writer();
    writer.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_full_disk_changes_nothing_and_writes_resume_once_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    let (e, writer) = Engine::open(config(dir.path())).await.unwrap();
    call(
        &e,
        "CreateStream",
        json!({"StreamName": "a", "ShardCount": 1}),
    )
    .await
    .unwrap();
    let first = put(&e, b"one").await.unwrap();

    set_full(dir.path(), true);
    let failed = put(&e, b"lost").await.unwrap_err();
    assert_eq!(failed.status, 500);
    assert!(
        failed.message.contains("kinesis.log") && failed.message.contains("os error 28"),
        "the error says what failed: {}",
        failed.message
    );
    // Stream changes that answered 500 are not visible.
    let created = call(
        &e,
        "CreateStream",
        json!({"StreamName": "b", "ShardCount": 1}),
    )
    .await;
    assert_eq!(created.unwrap_err().status, 500);
    assert_eq!(names(&e).await, ["a"]);
    let deleted = call(&e, "DeleteStream", json!({"StreamName": "a"})).await;
    assert_eq!(deleted.unwrap_err().status, 500);
    assert_eq!(names(&e).await, ["a"]);
    assert_eq!(read(&e).await, [b"one".to_vec()]);

    // Space is back: the same engine serves again, without a restart.
    set_full(dir.path(), false);
    let again = put(&e, b"two").await.unwrap();
    assert!(again > first);
    call(
        &e,
        "CreateStream",
        json!({"StreamName": "b", "ShardCount": 1}),
    )
    .await
    .unwrap();
    assert_eq!(names(&e).await, ["a", "b"]);
    assert_eq!(read(&e).await, [b"one".to_vec(), b"two".to_vec()]);
    stop(e, writer).await;

    // What the failed writes left in the file was cut: the log opens clean
    // and holds exactly what was acknowledged.
    let (e, writer) = Engine::open(config(dir.path())).await.unwrap();
    assert_eq!(names(&e).await, ["a", "b"]);
    assert_eq!(read(&e).await, [b"one".to_vec(), b"two".to_vec()]);
    assert!(put(&e, b"three").await.unwrap() > again);
    stop(e, writer).await;
}

/// Writes a data dir as the engine did before format 2: frames
/// `[len][crc][payload]` with no segment header.
fn write_format1(dir: &Path, records: &[&[u8]]) {
    let meta = StreamMeta {
        name: "a".into(),
        incarnation: 0,
        arn: "arn:aws:kinesis:us-east-1:000000000000:stream/a".into(),
        created_ms: 0,
        active_at_ms: 0,
        on_demand: false,
        retention_hours: 24 * 365 * 100,
        tags: Default::default(),
        shards: vec![ShardMeta {
            start: "0".into(),
            end: u128::MAX.to_string(),
            parent: None,
            adjacent: None,
            created_ms: 0,
            closed_end: None,
        }],
        consumers: Vec::new(),
        settings: Box::default(),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let batch = RecordBatch {
        incarnation: 0,
        recs: records
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let rec = Rec {
                    ts_ms: now,
                    pk: "k".into(),
                    data: bytes::Bytes::copy_from_slice(d),
                };
                (0, i as u64, rec)
            })
            .collect(),
    };
    let mut out = Vec::new();
    for payload in [encode_meta(&MetaOp::Upsert(meta)), encode_records(&batch)] {
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
    }
    std::fs::write(dir.join("kinesis.log"), out).unwrap();
}

#[tokio::test]
async fn a_data_dir_of_the_earlier_format_opens_and_is_continued_in_format_2() {
    let dir = tempfile::tempdir().unwrap();
    write_format1(dir.path(), &[b"old-1", b"old-2"]);
    let old = std::fs::read(dir.path().join("kinesis.log")).unwrap();
    let (e, writer) = Engine::open(config(dir.path())).await.unwrap();
    assert_eq!(read(&e).await, [b"old-1".to_vec(), b"old-2".to_vec()]);
    put(&e, b"new").await.unwrap();
    stop(e, writer).await;
    // The old segment was sealed as it is; appends went to a new segment of
    // format 2 that lists it.
    let sealed = std::fs::read(dir.path().join("kinesis-0000000000.log")).unwrap();
    assert_eq!(sealed, old);
    let active = std::fs::read(dir.path().join("kinesis.log")).unwrap();
    assert_eq!(&active[..8], b"WRYDLOG\x02");
    let (e, writer) = Engine::open(config(dir.path())).await.unwrap();
    assert_eq!(
        read(&e).await,
        [b"old-1".to_vec(), b"old-2".to_vec(), b"new".to_vec()]
    );
    stop(e, writer).await;
    // Losing the old segment is now a hole.
    std::fs::remove_file(dir.path().join("kinesis-0000000000.log")).unwrap();
    let refused = Engine::open(config(dir.path())).await.err().unwrap();
    assert!(
        refused.to_string().contains("kinesis-0000000000.log"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_damaged_frame_of_the_earlier_format_followed_by_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_format1(dir.path(), &[b"old-1", b"old-2"]);
    let log = dir.path().join("kinesis.log");
    let mut bytes = std::fs::read(&log).unwrap();
    // A byte of the metadata frame: the record frame after it is intact.
    bytes[12] ^= 0xff;
    std::fs::write(&log, &bytes).unwrap();
    let refused = Engine::open(config(dir.path())).await.err().unwrap();
    assert!(
        refused.to_string().contains("damaged at offset 0"),
        "{refused}"
    );
    assert_eq!(std::fs::read(&log).unwrap(), bytes, "nothing changed");
}

#[tokio::test]
async fn a_full_disk_during_a_segment_rotation_changes_nothing_and_writes_resume() {
    let dir = tempfile::tempdir().unwrap();
    let config = || Config {
        segment_bytes: 1 << 10,
        ..config(dir.path())
    };
    let (e, writer) = Engine::open(config()).await.unwrap();
    call(
        &e,
        "CreateStream",
        json!({"StreamName": "a", "ShardCount": 1}),
    )
    .await
    .unwrap();
    // Past the segment size: the next write starts a new segment.
    let big = vec![b'x'; 2 << 10];
    put(&e, &big).await.unwrap();

    set_full(dir.path(), true);
    let failed = put(&e, b"lost").await.unwrap_err();
    assert_eq!(failed.status, 500);
    assert!(
        failed.message.contains("starting a new log segment"),
        "{}",
        failed.message
    );
    let created = call(
        &e,
        "CreateStream",
        json!({"StreamName": "b", "ShardCount": 1}),
    )
    .await;
    assert_eq!(created.unwrap_err().status, 500);

    assert_eq!(names(&e).await, ["a"]);

    // Space is back: the log is reopened (the write that finds it so may
    // fail too: it was queued against the state before the reopen) and
    // writes succeed again, without a restart.
    set_full(dir.path(), false);
    let mut expected = vec![big];
    if put(&e, b"retry").await.is_ok() {
        expected.push(b"retry".to_vec());
    }
    put(&e, b"two").await.unwrap();
    expected.push(b"two".to_vec());
    assert_eq!(names(&e).await, ["a"]);
    assert_eq!(read(&e).await, expected);
    stop(e, writer).await;

    let (e, writer) = Engine::open(config()).await.unwrap();
    assert_eq!(read(&e).await, expected);
    stop(e, writer).await;
}
