//! The item writer and the stream handler against scripted DynamoDB
//! answers, on a paused clock: UnprocessedItems and throttling are retried
//! until every item is written; refusals and exhausted retries name the
//! unwritten items (and their records), never silently.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::batch_write_item::{
    BatchWriteItemError, BatchWriteItemInput, BatchWriteItemOutput,
};
use aws_sdk_dynamodb::types::{AttributeValue, WriteRequest};
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, MockResponse, RuleMode};
use process::events::kinesis::KinesisEvent;
use process::item::{key_of, Item, Key};
use process::writer::{ItemWriter, WriteError, MAX_ITEMS_PER_CALL};
use process::Processor;

fn item(name: &str, i: usize) -> Item {
    let summary = sensor::Summary {
        name: name.into(),
        status_time: sensor::StatusTime::from_millis(i as i64 * 60_000),
        distance: i as i64,
        min_magic_points: 1,
        max_magic_points: 2,
        min_health_points: 3,
        max_health_points: 4,
    };
    process::item::summary_item(&summary)
}

fn writer(client: Client) -> ItemWriter {
    ItemWriter::new(client, "UnicornSensorData")
        .with_backoff(Duration::from_millis(100), Duration::from_secs(2))
        .with_max_in_flight(4)
}

fn requests(input: &BatchWriteItemInput) -> Vec<WriteRequest> {
    input
        .request_items()
        .and_then(|m| m.get("UnicornSensorData"))
        .cloned()
        .unwrap_or_default()
}

fn key(r: &WriteRequest) -> Key {
    key_of(r.put_request().unwrap().item()).unwrap()
}

fn unprocessed(left: Vec<WriteRequest>) -> BatchWriteItemOutput {
    let mut map = HashMap::new();
    if !left.is_empty() {
        map.insert("UnicornSensorData".to_owned(), left);
    }
    BatchWriteItemOutput::builder()
        .set_unprocessed_items(Some(map))
        .build()
}

fn error(code: &str) -> BatchWriteItemError {
    BatchWriteItemError::generic(
        ErrorMetadata::builder()
            .code(code)
            .message("scripted")
            .build(),
    )
}

#[tokio::test(start_paused = true)]
async fn unprocessed_items_are_sent_again_until_every_item_is_written() {
    // Every call stores only its first item and returns the rest unprocessed.
    let stored = Arc::new(Mutex::new(Vec::<Key>::new()));
    let sizes = Arc::new(Mutex::new(Vec::<usize>::new()));
    let (s, z) = (stored.clone(), sizes.clone());
    let rule = mock!(Client::batch_write_item).then_compute_output(move |input| {
        let mut reqs = requests(input);
        z.lock().unwrap().push(reqs.len());
        let first = reqs.remove(0);
        s.lock().unwrap().push(key(&first));
        unprocessed(reqs)
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
    let writer = writer(client);
    let items: Vec<Item> = (0..60).map(|i| item("Rocinante", i)).collect();
    let written = writer.write_all(items).await.unwrap();
    assert_eq!(written, 60);
    let stored = stored.lock().unwrap();
    let unique: HashSet<&Key> = stored.iter().collect();
    assert_eq!(stored.len(), 60, "each item stored once");
    assert_eq!(unique.len(), 60);
    let sizes = sizes.lock().unwrap();
    assert!(sizes.iter().all(|&n| n <= MAX_ITEMS_PER_CALL), "{sizes:?}");
    // Three calls of 25, 25 and 10 to start with.
    assert_eq!(sizes.iter().filter(|&&n| n == 25).count(), 2);
    let stats = writer.stats();
    assert_eq!(process::WriterStats::get(&stats.written), 60);
    assert_eq!(process::WriterStats::get(&stats.calls), 60);
    // 24 + 23 + ... + 1 left over twice, 9 + ... + 1 once.
    assert_eq!(
        process::WriterStats::get(&stats.unprocessed),
        300 + 300 + 45
    );
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_with_growing_jittered_waits() {
    let calls = Arc::new(Mutex::new(0usize));
    let c = calls.clone();
    let rule = mock!(Client::batch_write_item).then_compute_response(move |_| {
        let mut n = c.lock().unwrap();
        *n += 1;
        match *n {
            1..=3 => MockResponse::Error(error("ThrottlingException")),
            4 => MockResponse::Error(error("InternalServerError")),
            _ => MockResponse::Output(unprocessed(Vec::new())),
        }
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], |c| {
        c.retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
    });
    let writer = writer(client);
    let started = tokio::time::Instant::now();
    assert_eq!(
        writer.write_all(vec![item("Shadowfax", 1)]).await.unwrap(),
        1
    );
    assert_eq!(*calls.lock().unwrap(), 5);
    // Waits within [50,100], [100,200], [200,400], [400,800] ms.
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(750) && waited <= Duration::from_millis(1500),
        "{waited:?}"
    );
    assert_eq!(process::WriterStats::get(&writer.stats().throttled), 3);
    assert_eq!(process::WriterStats::get(&writer.stats().errors), 1);
}

#[tokio::test(start_paused = true)]
async fn the_same_key_twice_is_written_once_with_its_last_version() {
    let seen = Arc::new(Mutex::new(Vec::<Vec<WriteRequest>>::new()));
    let s = seen.clone();
    let rule = mock!(Client::batch_write_item).then_compute_output(move |input| {
        s.lock().unwrap().push(requests(input));
        unprocessed(Vec::new())
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
    let mut newer = item("Rocinante", 1);
    newer.insert("Distance".into(), AttributeValue::N("999".into()));
    let items = vec![item("Rocinante", 1), item("Rocinante", 2), newer];
    assert_eq!(writer(client).write_all(items).await.unwrap(), 2);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    let first = seen[0][0].put_request().unwrap().item();
    assert_eq!(first["Distance"], AttributeValue::N("999".into()));
}

#[tokio::test(start_paused = true)]
async fn refusals_and_exhausted_retries_name_the_unwritten_items() {
    let missing = mock!(Client::batch_write_item).then_error(|| error("ResourceNotFoundException"));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&missing]);
    let items: Vec<Item> = (0..30).map(|i| item("Rocinante", i)).collect();
    let err = writer(client).write_all(items.clone()).await.unwrap_err();
    assert!(matches!(err, WriteError::NotFound { .. }), "{err:?}");
    assert!(!err.is_retryable());
    assert_eq!(err.unwritten().len(), 30);
    assert_eq!(missing.num_calls(), 2, "no retries of a missing table");
    assert!(
        err.to_string().contains("aws dynamodb create-table"),
        "{err}"
    );

    let never =
        mock!(Client::batch_write_item).then_compute_output(|input| unprocessed(requests(input)));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&never]);
    let err = writer(client)
        .with_max_attempts(4)
        .write_all(items)
        .await
        .unwrap_err();
    assert!(
        matches!(err, WriteError::GaveUp { attempts: 4, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert_eq!(err.unwritten().len(), 30);
    assert_eq!(never.num_calls(), 8, "4 attempts for each of the 2 calls");
}

fn event(records: &[(&str, &str)]) -> KinesisEvent {
    let json = serde_json::json!({
        "Records": records.iter().map(|(seq, data)| serde_json::json!({
            "eventID": format!("shardId-000000000007:{seq}"),
            "eventSource": "aws:kinesis",
            "kinesis": {
                "approximateArrivalTimestamp": 1_700_000_000.0,
                "data": base64(data.as_bytes()),
                "partitionKey": "Rocinante",
                "sequenceNumber": seq,
            }
        })).collect::<Vec<_>>()
    });
    serde_json::from_value(json).unwrap()
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn summary(name: &str, minute: i64) -> String {
    String::from_utf8(
        sensor::Summary {
            name: name.into(),
            status_time: sensor::StatusTime::from_millis(minute * 60_000),
            distance: 10,
            min_magic_points: 1,
            max_magic_points: 2,
            min_health_points: 3,
            max_health_points: 4,
        }
        .to_json_line(),
    )
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_handler_reports_failed_records_and_skips_invalid_ones() {
    let records = [
        ("1", summary("Rocinante", 1)),
        ("2", "not a summary".to_owned()),
        ("3", summary("Shadowfax", 1)),
        ("4", summary("Rocinante", 1)), // a replay of record 1
    ];
    let records: Vec<(&str, &str)> = records.iter().map(|(s, d)| (*s, d.as_str())).collect();
    let ok = mock!(Client::batch_write_item).then_compute_output(|_| unprocessed(Vec::new()));
    let processor = Processor::new(writer(mock_client!(
        aws_sdk_dynamodb,
        RuleMode::MatchAny,
        [&ok]
    )));
    let outcome = processor.process(event(&records)).await;
    assert!(outcome.response.batch_item_failures.is_empty());
    assert_eq!((outcome.items_written, outcome.invalid), (2, 1));

    // Shadowfax's item is never processed: its record is the one failure.
    let partial = mock!(Client::batch_write_item).then_compute_output(|input| {
        unprocessed(
            requests(input)
                .into_iter()
                .filter(|r| key(r).0 == "Shadowfax")
                .collect(),
        )
    });
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&partial]);
    let processor = Processor::new(writer(client).with_max_attempts(3));
    let response = processor.handle(event(&records)).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(failed, ["3"]);

    // The table is missing: every valid record fails, the invalid one does not.
    let missing = mock!(Client::batch_write_item).then_error(|| error("ResourceNotFoundException"));
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&missing]);
    let outcome = Processor::new(writer(client))
        .process(event(&records))
        .await;
    let failed: Vec<_> = outcome
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(failed, ["1", "3", "4"]);
    assert_eq!(outcome.first_failure, Some(0));
}
