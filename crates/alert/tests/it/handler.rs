//! The Lambda-shaped handler: one alert per crossing across events, the
//! partial batch response when the sink fails, and the detector's state
//! rolled back to just before the first failed record.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use alert::{Alert, AlertHandler, AlertSink, Collect, SinkError};
use async_trait::async_trait;
use aws_lambda_events::kinesis::KinesisEvent;
use process::stream::{to_event, EventSource};
use sensor::{Status, StatusTime};

fn record(seq: u64, name: &str, magic: i64) -> kinesis::Record {
    let status = Status {
        name: name.into(),
        status_time: StatusTime::from_millis(1_496_654_229_000 + seq as i64 * 1000),
        latitude: 40.749167,
        longitude: -73.985184,
        distance: 30.0,
        magic_points: magic,
        health_points: 150,
    };
    kinesis::Record {
        sequence_number: format!("{seq:056}"),
        partition_key: name.into(),
        arrival: None,
        data: status.to_json_line().into(),
    }
}

fn event(records: &[kinesis::Record]) -> KinesisEvent {
    let source = EventSource {
        arn: "arn:aws:kinesis:us-east-1:000000000000:stream/wildrydes".into(),
        region: "us-east-1".into(),
    };
    to_event(&source, "shardId-000000000000", records)
}

fn names_and_points(alerts: &[Alert]) -> Vec<(String, i64)> {
    alerts
        .iter()
        .map(|a| (a.name.clone(), a.magic_points))
        .collect()
}

#[tokio::test]
async fn once_per_crossing_across_events_and_re_armed() {
    let sink = Arc::new(Collect::new("memory"));
    let handler = AlertHandler::new(50, sink.clone());
    let first = [
        record(1, "Shadowfax", 51),
        record(2, "Rocinante", 70),
        record(3, "Shadowfax", 49),
        record(4, "Shadowfax", 48),
    ];
    let response = handler.handle(event(&first)).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(names_and_points(&sink.alerts()), [("Shadowfax".into(), 49)]);
    // Still below in the next event: nothing; back to 50 then down: again.
    let second = [
        record(5, "Shadowfax", 47),
        record(6, "Shadowfax", 50),
        record(7, "Shadowfax", 49),
        record(8, "Rocinante", 20),
    ];
    let outcome = handler.process(event(&second)).await;
    assert_eq!(outcome.alerts_sent, 2);
    assert_eq!(
        names_and_points(&sink.alerts()),
        [
            ("Shadowfax".into(), 49),
            ("Shadowfax".into(), 49),
            ("Rocinante".into(), 20)
        ]
    );
    assert_eq!(
        sink.alerts()[1].status_time.to_string(),
        "2017-06-05 09:17:16.000"
    );
}

#[tokio::test]
async fn invalid_records_are_skipped_not_failed() {
    let sink = Arc::new(Collect::new("memory"));
    let handler = AlertHandler::new(50, sink.clone());
    let mut bad = record(2, "x", 0);
    bad.data = bytes::Bytes::from_static(b"not json\n");
    let outcome = handler
        .process(event(&[record(1, "A", 10), bad, record(3, "B", 10)]))
        .await;
    assert_eq!(outcome.invalid, 1);
    assert!(outcome.response.batch_item_failures.is_empty());
    assert_eq!(sink.alerts().len(), 2);
}

/// Sends the first `accept` alerts of each call, then fails (once).
struct Flaky {
    accept: usize,
    failures: AtomicUsize,
    inner: Collect,
}

#[async_trait]
impl AlertSink for Flaky {
    fn destination(&self) -> &str {
        "flaky"
    }

    async fn send(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        if self.failures.fetch_add(1, Ordering::SeqCst) == 0 {
            self.inner.send(&alerts[..self.accept]).await?;
            return Err(SinkError {
                sent: self.accept,
                total: alerts.len(),
                destination: "flaky".into(),
                retryable: true,
                source: "throttled".into(),
            });
        }
        self.inner.send(alerts).await
    }
}

#[tokio::test]
async fn a_failed_send_is_retried_from_its_record_with_nothing_lost_or_repeated() {
    let sink = Arc::new(Flaky {
        accept: 1,
        failures: AtomicUsize::new(0),
        inner: Collect::new("flaky"),
    });
    let handler = AlertHandler::new(50, sink.clone());
    let records = [
        record(1, "A", 40), // alert 0: sent
        record(2, "B", 60),
        record(3, "B", 45), // alert 1: fails
        record(4, "C", 30), // alert 2: not sent
        record(5, "A", 39),
    ];
    let outcome = handler.process(event(&records)).await;
    assert_eq!(outcome.first_failure, Some(2));
    assert_eq!(outcome.alerts_sent, 1);
    let failures: Vec<_> = outcome
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(failures, [records[2].sequence_number.clone()]);
    // The state is that of just before record 2: A below, B not.
    let state = handler.state().await;
    assert_eq!(state.below.iter().collect::<Vec<_>>(), ["A"]);
    // Lambda's retry starts at the failed record.
    let retry = handler.process(event(&records[2..])).await;
    assert!(retry.response.batch_item_failures.is_empty());
    assert_eq!(
        names_and_points(&sink.inner.alerts()),
        [("A".into(), 40), ("B".into(), 45), ("C".into(), 30)]
    );
}
