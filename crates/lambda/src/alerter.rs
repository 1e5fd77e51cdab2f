//! The alert function: `wildrydes` → an SNS topic (and the alert stream)
//! when a unicorn's MagicPoints fall below the threshold, over
//! [`alert::AlertHandler`], the handler `wildrydes alert` drives locally.
//!
//! The detector remembers which unicorns are below the threshold, so that a
//! crossing raises one alert. Lambda keeps no state between invocations of a
//! plain Kinesis trigger, and the batches of a shard may reach any instance of
//! the function: the detector's state is kept per shard in a DynamoDB table
//! ([`StateTable`], one small item per shard, read at the start of an
//! invocation and written when it changed). Without it, a cold instance would
//! alert again for a unicorn already below, and an instance with an old
//! state could miss a crossing.
//!
//! Alerts go to the alert stream first (partition key Name, the alert's JSON
//! line: what the local stage writes and the dashboard reads), then to the
//! topic, one `Publish` each (the subject names the unicorn; the message is
//! the alert's sentence and its JSON line). When sending fails, the record of
//! the first alert not published is the batch's first failure and the state
//! saved is that of just before it, so Lambda's retry raises it again.

use std::sync::Arc;
use std::time::Duration;

use alert::{Alert, AlertHandler, AlertSink, DetectorState, KinesisSink, SinkError};
use async_trait::async_trait;
use aws_lambda_events::kinesis::KinesisEvent;
use aws_lambda_events::streams::KinesisEventResponse;
use aws_sdk_dynamodb::types::AttributeValue;
use kinesis::writer::BatchWriter;
use process::aws::AwsOptions;
use process::stream::shard_of;

use crate::env::{self, ConfigError};

/// Longest SNS subject.
const MAX_SUBJECT: usize = 100;

/// Alerts as SNS messages, in order, one `Publish` each.
#[derive(Debug, Clone)]
pub struct SnsSink {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsSink {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

/// An SNS subject for the alert: printable ASCII, at most 100 characters.
pub fn subject(alert: &Alert) -> String {
    let text = format!("Wild Rydes: {} is low on magic", alert.name);
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(MAX_SUBJECT)
        .collect()
}

/// The message: the alert's sentence, then its JSON record.
pub fn message(alert: &Alert) -> String {
    format!(
        "{}\n{}",
        alert.message(),
        String::from_utf8_lossy(&alert.to_json_line()).trim_end()
    )
}

#[async_trait]
impl AlertSink for SnsSink {
    fn destination(&self) -> &str {
        &self.topic_arn
    }

    async fn send(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        for (sent, alert) in alerts.iter().enumerate() {
            let result = self
                .client
                .publish()
                .topic_arn(&self.topic_arn)
                .subject(subject(alert))
                .message(message(alert))
                .send()
                .await;
            if let Err(err) = result {
                let kind = kinesis::retry::classify(&err);
                return Err(SinkError {
                    sent,
                    total: alerts.len(),
                    destination: self.topic_arn.clone(),
                    retryable: kind.is_retryable(),
                    source: Box::new(err),
                });
            }
        }
        Ok(())
    }
}

/// The alert stream (when there is one), then the topic.
#[derive(Debug)]
pub struct StreamThenTopic {
    stream: Option<KinesisSink>,
    topic: SnsSink,
}

impl StreamThenTopic {
    pub fn new(stream: Option<KinesisSink>, topic: SnsSink) -> Self {
        Self { stream, topic }
    }
}

#[async_trait]
impl AlertSink for StreamThenTopic {
    fn destination(&self) -> &str {
        self.topic.destination()
    }

    async fn send(&self, alerts: &[Alert]) -> Result<(), SinkError> {
        if let Some(stream) = &self.stream {
            stream.send(alerts).await?;
        }
        self.topic.send(alerts).await
    }
}

/// The detector's state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("alert state in table {table:?}: {detail}")]
pub struct StateError {
    pub table: String,
    pub detail: String,
}

/// The detector's state per shard: items `{ShardId: S, State: S (JSON)}`.
#[derive(Debug, Clone)]
pub struct StateTable {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl StateTable {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn error(&self, detail: String) -> StateError {
        StateError {
            table: self.table.clone(),
            detail,
        }
    }

    /// The shard's saved state, if any.
    pub async fn load(&self, shard: &str) -> Result<Option<DetectorState>, StateError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("ShardId", AttributeValue::S(shard.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.error(kinesis::retry::describe(&e)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let Some(AttributeValue::S(json)) = item.get("State") else {
            return Err(self.error(format!("the item of {shard} has no State string")));
        };
        serde_json::from_str(json)
            .map(Some)
            .map_err(|e| self.error(format!("the State of {shard} is not a detector state: {e}")))
    }

    pub async fn save(&self, shard: &str, state: &DetectorState) -> Result<(), StateError> {
        let json = serde_json::to_string(state).map_err(|e| self.error(e.to_string()))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("ShardId", AttributeValue::S(shard.to_owned()))
            .item("State", AttributeValue::S(json))
            .send()
            .await
            .map_err(|e| self.error(kinesis::retry::describe(&e)))?;
        Ok(())
    }
}

/// The handler.
#[derive(Clone)]
pub struct AlertFunction {
    threshold: i64,
    sink: Arc<dyn AlertSink>,
    state: StateTable,
}

impl std::fmt::Debug for AlertFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertFunction")
            .field("threshold", &self.threshold)
            .field("destination", &self.sink.destination())
            .field("state", &self.state.table)
            .finish()
    }
}

impl AlertFunction {
    pub fn new(threshold: i64, sink: Arc<dyn AlertSink>, state: StateTable) -> Self {
        Self {
            threshold,
            sink,
            state,
        }
    }

    /// `TOPIC_ARN`, `STATE_TABLE`, `MAGIC_POINTS_THRESHOLD` (default 50) and
    /// `ALERT_STREAM` (optional).
    pub async fn from_env() -> Result<Self, ConfigError> {
        let topic = env::required(env::TOPIC_ARN)?;
        let table = env::required(env::STATE_TABLE)?;
        let threshold = match env::optional(env::MAGIC_POINTS_THRESHOLD) {
            None => alert::DEFAULT_THRESHOLD,
            Some(value) => {
                value
                    .parse()
                    .map_err(|e: std::num::ParseIntError| ConfigError::Invalid {
                        var: env::MAGIC_POINTS_THRESHOLD,
                        value,
                        reason: e.to_string(),
                    })?
            }
        };
        let clients = process::aws::connect(&AwsOptions::default())
            .await
            .map_err(|e| ConfigError::Client(e.to_string()))?;
        let sdk = kinesis::client::load_sdk(&kinesis::client::SdkOptions {
            region: None,
            endpoint: None,
            endpoint_vars: &["AWS_ENDPOINT_URL_SNS", "AWS_ENDPOINT_URL"],
            operation_timeout: Duration::from_secs(20),
            attempt_timeout: Duration::from_secs(5),
            sdk_max_attempts: 3,
        })
        .await
        .map_err(|e| ConfigError::Client(e.to_string()))?;
        let sns = aws_sdk_sns::Client::new(&sdk.config);
        let stream = match env::optional(env::ALERT_STREAM) {
            None => None,
            Some(name) => {
                let conn = kinesis::connect(&kinesis::ConnectOptions::default())
                    .await
                    .map_err(|e| ConfigError::Client(e.to_string()))?;
                Some(KinesisSink::new(BatchWriter::new(conn, name)))
            }
        };
        let sink = StreamThenTopic::new(stream, SnsSink::new(sns, topic));
        Ok(Self::new(
            threshold,
            Arc::new(sink),
            StateTable::new(clients.dynamodb, table),
        ))
    }

    /// One batch (of one shard); `budget` bounds sending.
    pub async fn handle(
        &self,
        event: KinesisEvent,
        budget: Option<Duration>,
    ) -> KinesisEventResponse {
        let Some(first) = event.records.first() else {
            return KinesisEventResponse::default();
        };
        let shard = shard_of(first).to_owned();
        let first_sequence = first.kinesis.sequence_number.clone();
        let fail_all = |why: &dyn std::fmt::Display| {
            tracing::warn!(shard, error = %why, "the batch is reported as failed");
            let mut response = KinesisEventResponse::default();
            response.set_failures([first_sequence.clone()]);
            response
        };
        let loaded = match self.state.load(&shard).await {
            Ok(state) => state,
            Err(err) => return fail_all(&err),
        };
        let state = loaded
            .clone()
            .filter(|s| s.threshold == self.threshold)
            .unwrap_or_else(|| DetectorState::new(self.threshold));
        let handler = AlertHandler::with_state(state, self.sink.clone());
        let outcome = match budget {
            Some(budget) => match tokio::time::timeout(budget, handler.process(event)).await {
                Ok(outcome) => outcome,
                Err(_) => return fail_all(&"alerts were not sent before the function's deadline"),
            },
            None => handler.process(event).await,
        };
        let after = handler.state().await;
        if loaded.as_ref() != Some(&after) {
            if let Err(err) = self.state.save(&shard, &after).await {
                // The alerts are out; an old state may repeat one of them.
                tracing::warn!(shard, error = %err, "alert state not saved");
            }
        }
        if outcome.alerts_sent > 0 {
            tracing::info!(shard, alerts = outcome.alerts_sent, "alerts sent");
        }
        outcome.response
    }
}
