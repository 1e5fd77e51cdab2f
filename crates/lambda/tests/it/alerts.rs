//! The alert function's handler with the Kinesis event AWS documents: alerts
//! go to the alert stream (the embedded engine) and to SNS (`Publish`,
//! answered by a mock: the engine has no SNS), once per crossing, with the
//! detector's state kept per shard in a DynamoDB table of the engine, so a
//! cold instance neither repeats nor misses an alert.

use crate::common;

use std::sync::{Arc, Mutex};

use alert::{Alert, KinesisSink};
use aws_lambda_events::kinesis::KinesisEvent;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_sns::error::ErrorMetadata;
use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use common::{kinesis_event, record, status, KINESIS};
use kinesis::writer::BatchWriter;
use lambda::alerter::{message, subject, AlertFunction, SnsSink, StateTable, StreamThenTopic};
use serde_json::json;

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:wildrydes-alerts";

/// (subject, message) of every Publish.
type Published = Arc<Mutex<Vec<(String, String)>>>;

fn sns(published: &Published, fail: bool) -> aws_sdk_sns::Client {
    let p = published.clone();
    let rule = if fail {
        mock!(aws_sdk_sns::Client::publish).then_error(|| {
            PublishError::generic(
                ErrorMetadata::builder()
                    .code("InternalError")
                    .message("scripted")
                    .build(),
            )
        })
    } else {
        mock!(aws_sdk_sns::Client::publish).then_compute_output(move |input| {
            assert_eq!(input.topic_arn(), Some(TOPIC));
            p.lock().unwrap().push((
                input.subject().unwrap_or_default().to_owned(),
                input.message().unwrap_or_default().to_owned(),
            ));
            PublishOutput::builder().message_id("m").build()
        })
    };
    mock_client!(aws_sdk_sns, RuleMode::MatchAny, [&rule])
}

async fn state_table(ddb: &aws_sdk_dynamodb::Client) {
    ddb.create_table()
        .table_name("alert-state")
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("ShardId")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("ShardId")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// A fresh instance of the function (nothing in memory).
async fn function(url: &str, published: &Published, fail: bool) -> AlertFunction {
    let clients = common::clients(url).await;
    let conn = common::kinesis(url).await;
    let sink = StreamThenTopic::new(
        Some(KinesisSink::new(BatchWriter::new(conn, "wildrydes-alerts"))),
        SnsSink::new(sns(published, fail), TOPIC),
    );
    AlertFunction::new(
        50,
        Arc::new(sink),
        StateTable::new(clients.dynamodb, "alert-state"),
    )
}

fn event(records: &[(&str, &str, i64)]) -> KinesisEvent {
    let records = records
        .iter()
        .enumerate()
        .map(|(i, (seq, name, magic))| {
            let at = format!("2026-12-02 09:00:{:02}.000", i);
            record(
                KINESIS,
                seq,
                1_796_202_000.0 + i as f64,
                &status(name, &at, 30.0, *magic, 120),
            )
        })
        .collect();
    serde_json::from_value(kinesis_event(records)).expect("the documented shape")
}

fn names(published: &Published) -> Vec<String> {
    published
        .lock()
        .unwrap()
        .iter()
        .map(|(_, message)| {
            let json = message.lines().last().unwrap();
            serde_json::from_str::<serde_json::Value>(json).unwrap()["Name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn one_alert_per_crossing_even_across_cold_instances() {
    let engine = common::engine(0.0).await;
    let url = engine.url();
    state_table(&common::clients(&url).await.dynamodb).await;
    let conn = common::kinesis(&url).await;
    conn.ensure_stream("wildrydes-alerts", 1).await.unwrap();
    let published = Published::default();

    let first = function(&url, &published, false).await;
    let response = first
        .handle(
            event(&[
                ("1", "Shadowfax", 51),
                ("2", "Shadowfax", 49),
                ("3", "Rocinante", 40),
                ("4", "Shadowfax", 48),
            ]),
            None,
        )
        .await;
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": []})
    );
    assert_eq!(names(&published), ["Shadowfax", "Rocinante"]);

    // Another instance, nothing in memory: Shadowfax is still below (no
    // alert), Rocinante recovers and drops again (an alert).
    let cold = function(&url, &published, false).await;
    let response = cold
        .handle(
            event(&[
                ("5", "Shadowfax", 47),
                ("6", "Rocinante", 60),
                ("7", "Rocinante", 45),
            ]),
            None,
        )
        .await;
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": []})
    );
    assert_eq!(names(&published), ["Shadowfax", "Rocinante", "Rocinante"]);

    // The alert stream got the same alerts, as JSON lines keyed by Name.
    let records = common::read_stream(&conn, "wildrydes-alerts").await;
    let alerts: Vec<Alert> = records
        .iter()
        .map(|r| Alert::from_json(r).unwrap())
        .collect();
    let got: Vec<(&str, i64)> = alerts
        .iter()
        .map(|a| (a.name.as_str(), a.magic_points))
        .collect();
    assert_eq!(
        got,
        [("Shadowfax", 49), ("Rocinante", 40), ("Rocinante", 45)]
    );
}

#[tokio::test]
async fn an_alert_not_published_is_raised_again_by_the_retry() {
    let engine = common::engine(0.0).await;
    let url = engine.url();
    state_table(&common::clients(&url).await.dynamodb).await;
    common::kinesis(&url)
        .await
        .ensure_stream("wildrydes-alerts", 1)
        .await
        .unwrap();
    let published = Published::default();

    let batch = [
        ("1", "Shadowfax", 55),
        ("2", "Shadowfax", 49),
        ("3", "Shadowfax", 48),
    ];
    let failing = function(&url, &published, true).await;
    let response = failing.handle(event(&batch), None).await;
    // Lambda retries from the record of the alert not published.
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "2"}]})
    );
    assert!(published.lock().unwrap().is_empty());

    let retry = function(&url, &published, false).await;
    let response = retry.handle(event(&batch[1..]), None).await;
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": []})
    );
    assert_eq!(names(&published), ["Shadowfax"]);
}

#[tokio::test]
async fn without_its_state_table_the_batch_is_retried_and_nothing_is_sent() {
    let engine = common::engine(0.0).await;
    let published = Published::default();
    let function = function(&engine.url(), &published, false).await;
    let response = function
        .handle(
            event(&[("1", "Shadowfax", 40), ("2", "Shadowfax", 41)]),
            None,
        )
        .await;
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        json!({"batchItemFailures": [{"itemIdentifier": "1"}]})
    );
    assert!(published.lock().unwrap().is_empty());
}

#[test]
fn the_sns_subject_is_printable_ascii_of_at_most_100_characters() {
    let mut alert = Alert {
        name: "Shadowfax".into(),
        status_time: "2026-12-02 09:00:00.000".parse().unwrap(),
        magic_points: 49,
        threshold: 50,
        latitude: 40.749167,
        longitude: -73.985184,
    };
    assert_eq!(subject(&alert), "Wild Rydes: Shadowfax is low on magic");
    let text = message(&alert);
    assert!(text.starts_with(&alert.message()), "{text}");
    assert_eq!(
        Alert::from_json(text.lines().last().unwrap().as_bytes()).unwrap(),
        alert
    );

    alert.name = format!("Éclair\n{}", "x".repeat(200));
    let s = subject(&alert);
    assert!(
        s.len() <= 100 && s.chars().all(|c| c.is_ascii_graphic() || c == ' '),
        "{s}"
    );
}
