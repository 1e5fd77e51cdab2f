//! The process function's handler with the Kinesis event AWS documents,
//! against the embedded engine's DynamoDB: summaries become items of the
//! table, the response is the partial batch response shape, and records whose
//! items are not written are listed in `batchItemFailures`.

use crate::common;

use std::time::Duration;

use aws_lambda_events::kinesis::KinesisEvent;
use aws_sdk_dynamodb::types::AttributeValue;
use common::{kinesis_event, record, KINESIS};
use lambda::processor::Process;
use process::{ItemWriter, Processor};
use serde_json::{json, Value};

const SUMMARY: &str = r#"{"Name":"Shadowfax","StatusTime":"2017-05-06 17:47:00.000","Distance":9413,"MinMagicPoints":153,"MaxMagicPoints":159,"MinHealthPoints":150,"MaxHealthPoints":157}"#;

fn summary(name: &str, minute: u32) -> Vec<u8> {
    format!(
        r#"{{"Name":"{name}","StatusTime":"2017-05-06 17:{minute:02}:00.000","Distance":1800,"MinMagicPoints":140,"MaxMagicPoints":150,"MinHealthPoints":130,"MaxHealthPoints":155}}"#
    )
    .into_bytes()
}

fn event(records: Vec<Value>) -> KinesisEvent {
    serde_json::from_value(kinesis_event(records)).expect("the documented shape")
}

async fn function(url: &str, table: &str) -> (Process, aws_sdk_dynamodb::Client) {
    let clients = common::clients(url).await;
    let writer = ItemWriter::new(clients.dynamodb.clone(), table)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(50));
    (Process::new(Processor::new(writer)), clients.dynamodb)
}

#[tokio::test]
async fn the_documented_event_with_summaries_writes_the_items() {
    let engine = common::engine(0.0).await;
    let (function, ddb) = function(&engine.url(), "UnicornSensorData").await;
    process::ensure_table(&ddb, "UnicornSensorData")
        .await
        .unwrap();

    let records = vec![
        record(
            KINESIS,
            "49590338271490256608559692538361571095921575989136588898",
            1545084650.987,
            SUMMARY.as_bytes(),
        ),
        record(
            KINESIS,
            "49590338271490256608559692540925702759324208523137515618",
            1545084711.166,
            &summary("Rocinante", 48),
        ),
        // Not a summary: skipped, not a failure (as locally).
        record(
            KINESIS,
            "49590338271490256608559692540925702759324208523137515619",
            1545084712.0,
            b"Hello, this is a test.",
        ),
    ];
    let response = function.handle(event(records), None).await;
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": []})
    );

    let item = ddb
        .get_item()
        .table_name("UnicornSensorData")
        .key("Name", AttributeValue::S("Shadowfax".into()))
        .key(
            "StatusTime",
            AttributeValue::S("2017-05-06 17:47:00.000".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("the summary's item");
    // The summary unchanged: numbers become N.
    assert_eq!(
        item.get("Distance"),
        Some(&AttributeValue::N("9413".into()))
    );
    assert_eq!(
        item.get("MaxHealthPoints"),
        Some(&AttributeValue::N("157".into()))
    );
    assert_eq!(item.len(), 7);
    let count = ddb
        .scan()
        .table_name("UnicornSensorData")
        .send()
        .await
        .unwrap()
        .count();
    assert_eq!(count, 2);
}

#[tokio::test]
async fn records_whose_items_are_not_written_are_reported() {
    let engine = common::engine(0.0).await;
    // No such table: nothing can be written.
    let (function, _) = function(&engine.url(), "NoSuchTable").await;
    let records = vec![
        record(KINESIS, "101", 1545084650.0, &summary("Shadowfax", 1)),
        record(KINESIS, "102", 1545084651.0, b"not a summary"),
        record(KINESIS, "103", 1545084652.0, &summary("Rocinante", 1)),
    ];
    let response = function.handle(event(records), None).await;
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "101"}, {"itemIdentifier": "103"}]})
    );
}

#[tokio::test]
async fn a_batch_still_being_written_at_the_deadline_is_reported_whole() {
    // Every BatchWriteItem request comes back unprocessed: the writer keeps
    // retrying.
    let engine = common::engine(1.0).await;
    let (function, ddb) = function(&engine.url(), "UnicornSensorData").await;
    process::ensure_table(&ddb, "UnicornSensorData")
        .await
        .unwrap();
    let records = vec![
        record(KINESIS, "201", 1545084650.0, &summary("Shadowfax", 2)),
        record(KINESIS, "202", 1545084651.0, &summary("Rocinante", 2)),
    ];
    let response = function
        .handle(event(records), Some(Duration::from_millis(300)))
        .await;
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "201"}, {"itemIdentifier": "202"}]})
    );
}
