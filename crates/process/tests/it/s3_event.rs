//! The S3-triggered loader as Lambda would call it: an `S3Event` (the shape
//! S3 sends, key URL-encoded) in, the object it names read (here from an
//! in-memory bucket) and its lines written with BatchWriteItem; other events
//! ignored.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use process::events::s3::S3Event;
use process::{Loader, OnBadLine};

const LINE: &str = r#"{"Name":"Rocinante","StatusTime":"2017-06-05 09:17:09.191","Latitude":42.2,"Longitude":-71.9,"Distance":29.75,"MagicPoints":110,"HealthPoints":151}"#;

fn event(name: &str, key: &str) -> S3Event {
    serde_json::from_value(serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2026-12-02T03:00:00.000Z",
            "eventName": name,
            "userIdentity": {"principalId": "local"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "wildrydes-loader",
                "bucket": {"name": "wildrydes-uploads", "arn": "arn:aws:s3:::wildrydes-uploads"},
                "object": {"key": key, "size": 100, "eTag": "x", "sequencer": "01"}
            }
        }]
    }))
    .unwrap()
}

#[tokio::test]
async fn an_object_created_event_loads_the_object() {
    // Only the decoded key holds the file: a loader reading the key as sent
    // ("May+6%2C+2017.json") would find nothing.
    let bucket = Arc::new(InMemory::new());
    bucket
        .put(
            &Path::from("rides/May 6, 2017.json"),
            PutPayload::from(format!("{LINE}\nnot json\n")),
        )
        .await
        .unwrap();
    let buckets = objects::Buckets::default().with_store("wildrydes-uploads", bucket);
    let written = Arc::new(Mutex::new(0usize));
    let w = written.clone();
    let put = mock!(aws_sdk_dynamodb::Client::batch_write_item).then_compute_output(move |r| {
        *w.lock().unwrap() += r
            .request_items()
            .and_then(|m| m.get("UnicornSensorData"))
            .map_or(0, Vec::len);
        BatchWriteItemOutput::builder().build()
    });
    let ddb = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&put]);
    let loader = Loader {
        writer: process::ItemWriter::new(ddb, "UnicornSensorData"),
        buckets,
        on_bad_line: OnBadLine::Skip,
    };
    let done = loader
        .handle(event("ObjectCreated:Put", "rides/May+6%2C+2017.json"))
        .await
        .unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(
        done[0].file,
        "s3://wildrydes-uploads/rides/May 6, 2017.json"
    );
    assert_eq!(
        (done[0].items_written, done[0].skipped, done[0].lines),
        (1, 1, 2)
    );
    assert_eq!(*written.lock().unwrap(), 1);
    // A deletion is not a file to load (reading it would fail: no such key).
    let done = loader
        .handle(event("ObjectRemoved:Delete", "rides.json"))
        .await
        .unwrap();
    assert!(done.is_empty());
}

#[test]
fn s3_urls_and_event_keys_are_read_as_s3_writes_them() {
    use process::file::{decode_key, parse_s3_url};
    assert_eq!(
        parse_s3_url("s3://wildrydes-uploads/a/b.json"),
        Some(("wildrydes-uploads".into(), "a/b.json".into()))
    );
    assert_eq!(parse_s3_url("s3://bucket"), None);
    assert_eq!(parse_s3_url("s3:///key"), None);
    assert_eq!(decode_key("a+b%2Bc%3Dd%26e.json"), "a b+c=d&e.json");
}
