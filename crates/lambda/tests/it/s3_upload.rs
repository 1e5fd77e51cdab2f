//! The load function's handler with the S3 notification AWS documents,
//! against the embedded engine's S3 and DynamoDB: the uploaded ride file
//! (its key URL-encoded in the event, as S3 sends it) becomes items.

use crate::common;

use aws_lambda_events::s3::S3Event;
use aws_sdk_s3::primitives::ByteStream;
use common::{s3_put, status};
use lambda::loader::{Load, LoadFailed, Loaded};
use process::{ItemWriter, Loader, OnBadLine};

async fn function(url: &str) -> (Load, process::aws::Clients) {
    let clients = common::clients(url).await;
    let load = Load::new(Loader {
        writer: ItemWriter::new(clients.dynamodb.clone(), "UnicornSensorData"),
        buckets: clients.buckets.clone(),
        on_bad_line: OnBadLine::Skip,
    });
    (load, clients)
}

fn event(bucket: &str, key: &str) -> S3Event {
    serde_json::from_value(s3_put(bucket, key)).expect("the documented shape")
}

#[tokio::test]
async fn an_uploaded_ride_file_becomes_items() {
    let engine = common::engine(0.0).await;
    let (function, clients) = function(&engine.url()).await;
    process::ensure_table(&clients.dynamodb, "UnicornSensorData")
        .await
        .unwrap();
    engine.ensure_bucket("wildrydes-uploads").unwrap();

    let mut ride = Vec::new();
    for second in 0..30 {
        let at = format!("2017-06-05 09:17:{second:02}.191");
        ride.extend(status("Shadowfax", &at, 30.0, 150 - second, 150));
    }
    ride.extend(b"not json\n");
    testkit::s3(&engine.url())
        .put_object()
        .bucket("wildrydes-uploads")
        .key("rides/May 6, 2017.json")
        .body(ByteStream::from(ride))
        .send()
        .await
        .unwrap();

    let response = function
        .handle(event("wildrydes-uploads", "rides/May+6%2C+2017.json"), None)
        .await
        .unwrap();
    assert_eq!(
        response.loaded,
        [Loaded {
            file: "s3://wildrydes-uploads/rides/May 6, 2017.json".into(),
            lines: 31,
            items_written: 30,
            skipped: 1,
        }]
    );
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(json["loaded"][0]["itemsWritten"], 30);
    let count = clients
        .dynamodb
        .scan()
        .table_name("UnicornSensorData")
        .send()
        .await
        .unwrap()
        .count();
    assert_eq!(count, 30);
}

#[tokio::test]
async fn an_object_that_cannot_be_read_fails_the_invocation() {
    let engine = common::engine(0.0).await;
    let (function, clients) = function(&engine.url()).await;
    process::ensure_table(&clients.dynamodb, "UnicornSensorData")
        .await
        .unwrap();
    engine.ensure_bucket("wildrydes-uploads").unwrap();

    let err = function
        .handle(event("wildrydes-uploads", "missing.json"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, LoadFailed::Load(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("s3://wildrydes-uploads/missing.json"),
        "{err}"
    );
}
