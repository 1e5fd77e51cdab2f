//! What the handler tests share: the embedded engine, clients of it, and
//! events built from the JSON AWS documents (`tests/it/events/`), changing only
//! values, never the shape.

#![allow(dead_code)]

use base64::Engine as _;
use serde_json::{json, Value};

pub const KINESIS: &str = include_str!("../events/kinesis.json");
pub const TUMBLING: &str = include_str!("../events/kinesis-tumbling-window.json");
pub const S3_PUT: &str = include_str!("../events/s3-put.json");

/// An in-memory engine; `fail_entry_ratio` of PutRecords entries and
/// BatchWriteItem requests fail (retryably).
pub async fn engine(fail_entry_ratio: f64) -> engine::EngineHandle {
    engine::spawn(engine::Config {
        fail_entry_ratio,
        ..engine::Config::default()
    })
    .await
    .expect("engine starts")
}

pub async fn kinesis(url: &str) -> kinesis::Connection {
    kinesis::connect(&kinesis::ConnectOptions {
        region: Some("us-east-1".into()),
        endpoint: Some(url.to_owned()),
        ..kinesis::ConnectOptions::default()
    })
    .await
    .expect("kinesis client")
}

pub async fn clients(url: &str) -> process::aws::Clients {
    process::aws::connect(&process::aws::AwsOptions {
        region: Some("us-east-1".into()),
        endpoint: Some(url.to_owned()),
    })
    .await
    .expect("dynamodb and s3 clients")
}

/// One status line as the producer writes it.
pub fn status(name: &str, at: &str, distance: f64, magic: i64, health: i64) -> Vec<u8> {
    sensor::Status {
        name: name.into(),
        status_time: at.parse().expect("a StatusTime"),
        latitude: 40.749167,
        longitude: -73.985184,
        distance,
        magic_points: magic,
        health_points: health,
    }
    .to_json_line()
}

/// The documented record (the first of `event`'s) with this sequence
/// number, arrival time (epoch seconds) and data.
pub fn record(event: &str, sequence: &str, arrival: f64, data: &[u8]) -> Value {
    let event: Value = serde_json::from_str(event).expect("documented JSON");
    let mut record = event["Records"][0].clone();
    let shard = record["eventID"]
        .as_str()
        .and_then(|id| id.split_once(':'))
        .map(|(shard, _)| shard.to_owned())
        .expect("eventID is SHARD:SEQUENCE");
    record["eventID"] = json!(format!("{shard}:{sequence}"));
    record["kinesis"]["sequenceNumber"] = json!(sequence);
    record["kinesis"]["approximateArrivalTimestamp"] = json!(arrival);
    record["kinesis"]["data"] = json!(base64::engine::general_purpose::STANDARD.encode(data));
    record
}

/// The documented tumbling-window event with these values.
pub fn tumbling(records: Vec<Value>, window: (&str, &str), state: Value, is_final: bool) -> Value {
    let mut event: Value = serde_json::from_str(TUMBLING).expect("documented JSON");
    event["Records"] = Value::Array(records);
    event["window"] = json!({"start": window.0, "end": window.1});
    event["state"] = state;
    event["isFinalInvokeForWindow"] = json!(is_final);
    event
}

/// The documented Kinesis event with these records.
pub fn kinesis_event(records: Vec<Value>) -> Value {
    let mut event: Value = serde_json::from_str(KINESIS).expect("documented JSON");
    event["Records"] = Value::Array(records);
    event
}

/// The documented S3 notification for this bucket and (URL-encoded) key.
pub fn s3_put(bucket: &str, key: &str) -> Value {
    let mut event: Value = serde_json::from_str(S3_PUT).expect("documented JSON");
    let s3 = &mut event["Records"][0]["s3"];
    s3["bucket"]["name"] = json!(bucket);
    s3["bucket"]["arn"] = json!(format!("arn:aws:s3:::{bucket}"));
    s3["object"]["key"] = json!(key);
    event
}

/// Every record of every shard of `stream`, oldest first per shard.
pub async fn read_stream(conn: &kinesis::Connection, stream: &str) -> Vec<Vec<u8>> {
    use kinesis::sdk::types::ShardIteratorType;
    let shards = conn
        .client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .expect("ListShards");
    let mut out = Vec::new();
    for shard in shards.shards() {
        let mut iterator = conn
            .client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator;
        while let Some(it) = iterator {
            let page = conn
                .client
                .get_records()
                .shard_iterator(it)
                .send()
                .await
                .expect("GetRecords");
            if page.records().is_empty() {
                break;
            }
            out.extend(page.records().iter().map(|r| r.data().as_ref().to_vec()));
            iterator = page.next_shard_iterator;
        }
    }
    out
}
