//! Where alerts go: the [`AlertSink`] trait, a Kinesis stream
//! ([`KinesisSink`], the local stack's `wildrydes-alerts`) and an in-memory
//! collector ([`Collect`], for tests and embedding).

use std::sync::Mutex;

use async_trait::async_trait;
use kinesis::writer::{BatchWriter, Record};

use crate::detector::Alert;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Alerts that could not all be sent.
#[derive(Debug, thiserror::Error)]
#[error("{sent} of {total} alerts sent to {destination}, the rest failed: {source}")]
pub struct SinkError {
    /// How many of the first alerts were sent (the rest were not).
    pub sent: usize,
    pub total: usize,
    /// The stream or topic.
    pub destination: String,
    /// Whether sending again may succeed (throttling, a network error).
    pub retryable: bool,
    pub source: BoxError,
}

/// A destination for alerts. An implementation sends the alerts in order
/// and, on failure, says how many of the first ones were sent: the handler
/// then reports the record of the first unsent alert as the batch's first
/// failure, so nothing is lost and little is repeated.
#[async_trait]
pub trait AlertSink: Send + Sync {
    /// A name for logs and errors (a stream name, a topic ARN).
    fn destination(&self) -> &str;

    async fn send(&self, alerts: &[Alert]) -> Result<(), SinkError>;
}

/// Alerts as records of a Kinesis stream, partition key = the unicorn's
/// name, data = [`Alert::to_json_line`]. Transient errors are retried by the
/// [`BatchWriter`] until every record is stored; its errors are the ones no
/// retry can fix.
#[derive(Debug, Clone)]
pub struct KinesisSink {
    writer: BatchWriter,
}

impl KinesisSink {
    pub fn new(writer: BatchWriter) -> Self {
        Self { writer }
    }

    pub fn writer(&self) -> &BatchWriter {
        &self.writer
    }
}

#[async_trait]
impl AlertSink for KinesisSink {
    fn destination(&self) -> &str {
        self.writer.stream()
    }

    async fn send(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        if alerts.is_empty() {
            return Ok(());
        }
        let records = alerts
            .iter()
            .map(|a| Record::new(a.name.clone(), a.to_json_line()))
            .collect();
        // One call in flight (the writer's default): on an error, the calls
        // before it are stored, but which ones is not reported, so count none.
        self.writer
            .put_records(records)
            .await
            .map(drop)
            .map_err(|err| SinkError {
                sent: 0,
                total: alerts.len(),
                destination: self.writer.stream().to_owned(),
                retryable: false,
                source: Box::new(err),
            })
    }
}

/// Keeps every alert in memory, in order.
#[derive(Debug, Default)]
pub struct Collect {
    name: String,
    alerts: Mutex<Vec<Alert>>,
}

impl Collect {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            alerts: Mutex::default(),
        }
    }

    /// The alerts received so far.
    pub fn alerts(&self) -> Vec<Alert> {
        self.alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[async_trait]
impl AlertSink for Collect {
    fn destination(&self) -> &str {
        &self.name
    }

    async fn send(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        self.alerts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(alerts);
        Ok(())
    }
}
