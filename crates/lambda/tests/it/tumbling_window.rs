//! The aggregate function's handler with Kinesis tumbling-window events
//! shaped exactly as AWS documents them, writing to the embedded engine:
//! state in and out as strings under one key, summaries written to the
//! summary stream only on the window's final invocation, and partial batch
//! failures when they cannot be written.

use crate::common;

use std::time::Duration;

use common::{record, status, tumbling, TUMBLING};
use lambda::aggregator::{
    read_state, Aggregate, AggregateError, TumblingWindowEvent, TumblingWindowResponse, STATE_KEY,
};
use serde_json::{json, Value};

/// 2020-12-09T07:04:00Z, the start of the window in the tests.
const START: f64 = 1_607_497_440.0;
const WINDOW: (&str, &str) = ("2020-12-09T07:04:00Z", "2020-12-09T07:05:00Z");

fn event(value: Value) -> TumblingWindowEvent {
    serde_json::from_value(value).expect("the documented shape")
}

/// The response as Lambda receives it, and its state as Lambda passes it on.
fn wire(response: &TumblingWindowResponse) -> (Value, Value) {
    let json = serde_json::to_value(response).unwrap();
    (json.clone(), json["state"].clone())
}

fn kinesis_record(sequence: &str, at: f64, data: &[u8]) -> Value {
    record(TUMBLING, sequence, at, data)
}

async fn function(engine: &engine::EngineHandle, stream: &str) -> (Aggregate, kinesis::Connection) {
    let conn = common::kinesis(&engine.url()).await;
    let writer = kinesis::writer::BatchWriter::new(conn.clone(), stream)
        .with_backoff(Duration::from_millis(10), Duration::from_millis(50));
    (Aggregate::new(writer), conn)
}

#[tokio::test]
async fn the_documented_event_is_answered_with_state_and_no_failure() {
    let engine = common::engine(0.0).await;
    let (function, conn) = function(&engine, "wildrydes-summary").await;
    conn.ensure_stream("wildrydes-summary", 1).await.unwrap();

    let documented: Value = serde_json::from_str(TUMBLING).unwrap();
    let response = function.handle(event(documented), None).await.unwrap();
    let (json, _) = wire(&response);
    // The contract: a `state` object (this function's entry a string) and
    // an empty `batchItemFailures`.
    assert!(json["state"][STATE_KEY].is_string(), "{json}");
    assert_eq!(json["batchItemFailures"], json!([]));
    // The documented record ("Hello, this is a test.") is no status: counted
    // and skipped, not a failure; the other function's state is not ours.
    let state = read_state(&response.state).unwrap().unwrap();
    assert_eq!((state.counters.invalid, state.counters.accepted), (1, 0));
    // Not the final invocation: nothing written yet.
    assert!(common::read_stream(&conn, "wildrydes-summary")
        .await
        .is_empty());
}

#[tokio::test]
async fn a_window_over_three_invocations_writes_its_summaries_on_the_final_one() {
    let engine = common::engine(0.0).await;
    let (function, conn) = function(&engine, "wildrydes-summary").await;
    conn.ensure_stream("wildrydes-summary", 2).await.unwrap();

    let first = tumbling(
        vec![
            kinesis_record(
                "1",
                START + 1.0,
                &status("Shadowfax", "2020-12-09 07:04:01.000", 30.2, 150, 150),
            ),
            kinesis_record(
                "2",
                START + 2.0,
                &status("Rocinante", "2020-12-09 07:04:02.000", 29.5, 100, 120),
            ),
        ],
        WINDOW,
        json!({}),
        false,
    );
    let response = function.handle(event(first), None).await.unwrap();
    let (json, state) = wire(&response);
    assert_eq!(json["batchItemFailures"], json!([]));

    // Lambda's arrival times are approximate: a record it assigned to this
    // window counts in it even when its timestamp reads just past the end.
    let second = tumbling(
        vec![
            kinesis_record(
                "3",
                START + 30.0,
                &status("Shadowfax", "2020-12-09 07:04:30.000", 30.4, 149, 151),
            ),
            kinesis_record(
                "4",
                START + 59.9,
                &status("Rocinante", "2020-12-09 07:04:59.900", 29.6, 101, 119),
            ),
            kinesis_record(
                "5",
                START + 60.2,
                &status("Shadowfax", "2020-12-09 07:05:00.200", 29.0, 150, 150),
            ),
        ],
        WINDOW,
        state,
        false,
    );
    let response = function.handle(event(second), None).await.unwrap();
    let (_, state) = wire(&response);
    assert!(common::read_stream(&conn, "wildrydes-summary")
        .await
        .is_empty());

    let last = tumbling(Vec::new(), WINDOW, state, true);
    let response = function.handle(event(last), None).await.unwrap();
    let (json, _) = wire(&response);
    assert!(json["state"].is_object(), "{json}");
    assert_eq!(json["batchItemFailures"], json!([]));

    let mut summaries: Vec<sensor::Summary> = common::read_stream(&conn, "wildrydes-summary")
        .await
        .iter()
        .map(|data| {
            assert!(data.ends_with(b"\n"), "a JSON line");
            serde_json::from_slice(data).unwrap()
        })
        .collect();
    summaries.sort_by(|a, b| a.name.cmp(&b.name));
    let at: sensor::StatusTime = "2020-12-09 07:04:00.000".parse().unwrap();
    assert_eq!(
        summaries,
        [
            sensor::Summary {
                name: "Rocinante".into(),
                status_time: at,
                distance: 59,
                min_magic_points: 100,
                max_magic_points: 101,
                min_health_points: 119,
                max_health_points: 120,
            },
            sensor::Summary {
                name: "Shadowfax".into(),
                status_time: at,
                distance: 90,
                min_magic_points: 149,
                max_magic_points: 150,
                min_health_points: 150,
                max_health_points: 151,
            },
        ]
    );
}

#[tokio::test]
async fn summaries_that_cannot_be_written_fail_the_final_invocation_or_report_its_records() {
    let engine = common::engine(0.0).await;
    let (function, _) = function(&engine, "no-such-stream").await;

    let first = tumbling(
        vec![kinesis_record(
            "1",
            START + 1.0,
            &status("Shadowfax", "2020-12-09 07:04:01.000", 30.0, 150, 150),
        )],
        WINDOW,
        json!({}),
        false,
    );
    let (_, state) = wire(&function.handle(event(first), None).await.unwrap());

    // The usual final invocation has no records: the invocation fails and
    // Lambda retries it.
    let err = function
        .handle(
            event(tumbling(Vec::new(), WINDOW, state.clone(), true)),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, AggregateError::Write { count: 1, .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("\"no-such-stream\"") && message.contains("retries"),
        "{message}"
    );

    // With records, they are reported as failed and the state given back
    // unchanged, so Lambda retries them without counting them twice.
    let last = tumbling(
        vec![
            kinesis_record(
                "7",
                START + 58.0,
                &status("Shadowfax", "2020-12-09 07:04:58.000", 30.0, 149, 150),
            ),
            kinesis_record("8", START + 59.0, &b"not a status"[..]),
        ],
        WINDOW,
        state.clone(),
        true,
    );
    let response = function.handle(event(last), None).await.unwrap();
    let (json, returned) = wire(&response);
    assert_eq!(returned, state);
    assert_eq!(
        json["batchItemFailures"],
        json!([{"itemIdentifier": "7"}, {"itemIdentifier": "8"}])
    );
}

#[tokio::test]
async fn writing_past_the_deadline_reports_the_batch_or_fails_the_invocation() {
    // Every PutRecords entry fails (retryably): the writer would retry
    // until the function is stopped.
    let engine = common::engine(1.0).await;
    let (function, conn) = function(&engine, "wildrydes-summary").await;
    conn.ensure_stream("wildrydes-summary", 1).await.unwrap();
    let budget = Some(Duration::from_millis(300));

    let last = tumbling(
        vec![kinesis_record(
            "9",
            START + 5.0,
            &status("Shadowfax", "2020-12-09 07:04:05.000", 30.0, 150, 150),
        )],
        WINDOW,
        json!({}),
        true,
    );
    let response = function.handle(event(last), budget).await.unwrap();
    assert_eq!(
        wire(&response).0["batchItemFailures"],
        json!([{"itemIdentifier": "9"}])
    );
    assert_eq!(wire(&response).1, json!({}));

    let first = tumbling(
        vec![kinesis_record(
            "9",
            START + 5.0,
            &status("Shadowfax", "2020-12-09 07:04:05.000", 30.0, 150, 150),
        )],
        WINDOW,
        json!({}),
        false,
    );
    let (_, state) = wire(&function.handle(event(first), budget).await.unwrap());
    let err = function
        .handle(event(tumbling(Vec::new(), WINDOW, state, true)), budget)
        .await
        .unwrap_err();
    assert!(
        matches!(err, AggregateError::TimedOut { count: 1, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_event_without_a_window_or_with_a_state_not_ours_is_refused() {
    let engine = common::engine(0.0).await;
    let (function, _) = function(&engine, "wildrydes-summary").await;

    let mut no_window: Value = serde_json::from_str(TUMBLING).unwrap();
    no_window.as_object_mut().unwrap().remove("window");
    let err = function.handle(event(no_window), None).await.unwrap_err();
    assert!(err.to_string().contains("TumblingWindowInSeconds"), "{err}");

    for bad in [json!("not json"), json!(5), json!("{\"windows\": 3}")] {
        let e = tumbling(Vec::new(), WINDOW, json!({ STATE_KEY: bad }), false);
        let err = function.handle(event(e), None).await.unwrap_err();
        assert!(
            matches!(err, AggregateError::BadState { .. }),
            "{bad}: {err:?}"
        );
    }

    // `"state": null` is the empty state.
    let e = tumbling(Vec::new(), WINDOW, Value::Null, false);
    assert!(function.handle(event(e), None).await.is_ok());
}
