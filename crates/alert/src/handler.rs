//! The alert stage shaped like the Lambda function it becomes on AWS: a
//! Kinesis event batch of status records in, a partial batch response out.
//!
//! Records are fed to the [`Detector`] in order; the crossings' alerts go to
//! the sink in one call. When the sink fails after sending `k` alerts, the
//! record of alert `k` is the first `batchItemFailure` and the detector's
//! state is that of just before it: Lambda (or [`crate::runner`]) retries
//! from that record and the same alerts are raised again.
//!
//! A record that is not a valid status record is not a failure: it is
//! counted, logged with its shard and sequence number, and skipped.

use std::sync::Arc;

use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use process::stream::shard_of;
use sensor::Status;
use tokio::sync::Mutex;

use crate::detector::{Alert, Detector, DetectorState};
use crate::sink::{AlertSink, SinkError};

/// The result of one event, with what a Lambda response cannot carry.
#[derive(Debug, Default)]
pub struct Outcome {
    pub response: KinesisEventResponse,
    /// Index in the event of the first failed record (records before it
    /// are done).
    pub first_failure: Option<usize>,
    /// Why alerts were not sent, if they were not.
    pub error: Option<SinkError>,
    pub alerts_sent: usize,
    pub invalid: usize,
}

/// The handler. Cheap to share; events are handled one at a time (the
/// detector's state is that of the records handled so far).
pub struct AlertHandler {
    detector: Mutex<Detector>,
    sink: Arc<dyn AlertSink>,
}

impl std::fmt::Debug for AlertHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertHandler")
            .field("destination", &self.sink.destination())
            .finish_non_exhaustive()
    }
}

impl AlertHandler {
    pub fn new(threshold: i64, sink: Arc<dyn AlertSink>) -> Self {
        Self::with_state(DetectorState::new(threshold), sink)
    }

    /// A handler going on from a saved state.
    pub fn with_state(state: DetectorState, sink: Arc<dyn AlertSink>) -> Self {
        Self {
            detector: Mutex::new(Detector::from_state(state)),
            sink,
        }
    }

    /// The detector's state after the records handled so far.
    pub async fn state(&self) -> DetectorState {
        self.detector.lock().await.state().clone()
    }

    pub fn sink(&self) -> &Arc<dyn AlertSink> {
        &self.sink
    }

    /// The Lambda entry point.
    pub async fn handle(&self, event: KinesisEvent) -> KinesisEventResponse {
        self.process(event).await.response
    }

    /// [`AlertHandler::handle`] with the details a local driver needs.
    pub async fn process(&self, event: KinesisEvent) -> Outcome {
        let mut detector = self.detector.lock().await;
        let records = &event.records;
        let statuses: Vec<Option<Status>> = records
            .iter()
            .map(|record| match Status::from_json(&record.kinesis.data.0) {
                Ok(status) => Some(status),
                Err(err) => {
                    tracing::warn!(
                        shard = %shard_of(record),
                        sequence_number = %record.kinesis.sequence_number,
                        error = %err,
                        "skipping a record that is not a valid status record"
                    );
                    None
                }
            })
            .collect();
        let mut outcome = Outcome {
            invalid: statuses.iter().filter(|s| s.is_none()).count(),
            ..Outcome::default()
        };
        let mut after = detector.clone();
        // (record index, alert) of every crossing.
        let alerts: Vec<(usize, Alert)> = statuses
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, after.observe(s.as_ref()?)?)))
            .collect();
        if alerts.is_empty() {
            *detector = after;
            return outcome;
        }
        let to_send: Vec<Alert> = alerts.iter().map(|(_, a)| a.clone()).collect();
        match self.sink.send(&to_send).await {
            Ok(()) => {
                *detector = after;
                outcome.alerts_sent = alerts.len();
            }
            Err(err) => {
                let sent = err.sent.min(alerts.len() - 1);
                let first = alerts[sent].0;
                // The state of just before the first record not done.
                for status in statuses[..first].iter().flatten() {
                    detector.observe(status);
                }
                tracing::warn!(error = %err, "alerts not sent; their records are reported as failed");
                outcome.alerts_sent = sent;
                outcome.first_failure = Some(first);
                outcome.error = Some(err);
                // Lambda resumes from the first failure; the records after
                // it are handled again with it.
                outcome
                    .response
                    .set_failures([records[first].kinesis.sequence_number.clone()]);
            }
        }
        outcome
    }
}
