//! The S3-triggered loader as Lambda would call it: an `S3Event` (the shape
//! S3 sends, key URL-encoded) in, the object fetched with GetObject and its
//! lines written with BatchWriteItem; other events ignored.

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
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
    let asked = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let a = asked.clone();
    let get = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(move |r| {
            a.lock().unwrap().push((
                r.bucket().unwrap_or_default().to_owned(),
                r.key().unwrap_or_default().to_owned(),
            ));
            true
        })
        .then_output(|| {
            GetObjectOutput::builder()
                .body(ByteStream::from(format!("{LINE}\nnot json\n").into_bytes()))
                .build()
        });
    let s3 = mock_client!(aws_sdk_s3, RuleMode::MatchAny, [&get]);
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
        s3,
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
    assert_eq!(
        asked.lock().unwrap().as_slice(),
        [(
            "wildrydes-uploads".to_owned(),
            "rides/May 6, 2017.json".to_owned()
        )]
    );

    // A deletion is not a file to load.
    let done = loader
        .handle(event("ObjectRemoved:Delete", "rides.json"))
        .await
        .unwrap();
    assert!(done.is_empty());
    assert_eq!(get.num_calls(), 1);
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
