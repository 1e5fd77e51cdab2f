//! From the streams to the hub: one shared [`kinesis::Reader`] per stream.
//!
//! * the raw stream (`wildrydes`): positions and vitals, from the latest
//!   record on (enhanced fan-out when a consumer name is given);
//! * the summary stream (`wildrydes-summary`): the summaries of the last
//!   [`FeedOptions::summaries_since`];
//! * the alert stream (`wildrydes-alerts`): the alerts of the last
//!   [`FeedOptions::alerts_since`]. Where there is no alert stream (on AWS
//!   the alert function publishes to SNS), the dashboard raises the same
//!   alerts itself from the raw stream with the alert stage's detector, for
//!   display only.
//!
//! A missing summary stream is logged and skipped; a missing raw stream is
//! an error.

use std::sync::Arc;
use std::time::Duration;

use alert::{Alert, Detector};
use kinesis::client::StreamError;
use kinesis::{Connection, ReadError, Reader, ReaderOptions, StartPosition};
use sensor::{Status, Summary};
use tokio::task::JoinSet;

use crate::hub::{Hub, Position};

/// Which streams to read, and how far back.
#[derive(Debug, Clone)]
pub struct FeedOptions {
    /// Raw status records.
    pub raw: String,
    /// Per-minute summaries.
    pub summaries: String,
    /// Alert records.
    pub alerts: String,
    /// Threshold of alerts raised by the dashboard itself (no alert stream).
    pub threshold: i64,
    /// Enhanced fan-out on the raw stream with this consumer name
    /// (registered if missing); `None` polls GetRecords.
    pub fan_out: Option<String>,
    /// How far back summaries are read at start.
    pub summaries_since: Duration,
    /// How far back alerts are read at start.
    pub alerts_since: Duration,
}

impl Default for FeedOptions {
    fn default() -> Self {
        Self {
            raw: "wildrydes".into(),
            summaries: "wildrydes-summary".into(),
            alerts: alert::ALERT_STREAM.into(),
            threshold: alert::DEFAULT_THRESHOLD,
            fan_out: None,
            summaries_since: Duration::from_secs(15 * 60),
            alerts_since: Duration::from_secs(60 * 60),
        }
    }
}

/// Why the feeds stopped.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("the dashboard needs stream {stream}: {source}")]
    RawStream { stream: String, source: StreamError },
    #[error("reading stream {stream} failed: {source}")]
    Read { stream: String, source: ReadError },
}

/// Starts the readers; each runs until it fails (the error is returned by
/// the [`JoinSet`]) or the set is dropped.
pub async fn start(
    conn: &Connection,
    hub: &Arc<Hub>,
    options: &FeedOptions,
) -> Result<JoinSet<Result<(), FeedError>>, FeedError> {
    conn.check_stream(&options.raw)
        .await
        .map_err(|source| FeedError::RawStream {
            stream: options.raw.clone(),
            source,
        })?;
    let mut tasks = JoinSet::new();
    let derive_alerts = match conn.check_stream(&options.alerts).await {
        Ok(_) => {
            let start = since(options.alerts_since);
            tasks.spawn(read(conn.clone(), options.alerts.clone(), start, None, {
                let hub = hub.clone();
                move |records| hub.alerts(parse(records, Alert::from_json))
            }));
            false
        }
        Err(err) => {
            tracing::info!(stream = %options.alerts, error = %err, "no alert stream: the dashboard raises alerts from the raw stream itself");
            true
        }
    };
    match conn.check_stream(&options.summaries).await {
        Ok(_) => {
            let start = since(options.summaries_since);
            tasks.spawn(read(
                conn.clone(),
                options.summaries.clone(),
                start,
                None,
                {
                    let hub = hub.clone();
                    move |records| hub.summaries(parse(records, Summary::from_json))
                },
            ));
        }
        Err(err) => {
            tracing::warn!(stream = %options.summaries, error = %err, "no summary stream: the summary table stays empty")
        }
    }
    let mut detector = derive_alerts.then(|| Detector::new(options.threshold));
    let raw_hub = hub.clone();
    tasks.spawn(read(
        conn.clone(),
        options.raw.clone(),
        StartPosition::Latest,
        options.fan_out.clone(),
        move |records| {
            let mut positions = Vec::with_capacity(records.len());
            let mut alerts = Vec::new();
            for record in records {
                let Ok(status) = Status::from_json(&record.data) else {
                    continue;
                };
                let arrival = record.arrival.map_or(0, |t| t.timestamp_millis());
                positions.push(Position::of(&status, arrival));
                if let Some(alert) = detector.as_mut().and_then(|d| d.observe(&status)) {
                    alerts.push(alert);
                }
            }
            raw_hub.positions(positions);
            raw_hub.alerts(alerts);
        },
    ));
    Ok(tasks)
}

fn since(ago: Duration) -> StartPosition {
    let ago = chrono::Duration::from_std(ago).unwrap_or(chrono::Duration::zero());
    StartPosition::AtTimestamp(chrono::Utc::now() - ago)
}

fn parse<T, E>(records: &[kinesis::Record], f: impl Fn(&[u8]) -> Result<T, E>) -> Vec<T> {
    records.iter().filter_map(|r| f(&r.data).ok()).collect()
}

async fn read(
    conn: Connection,
    stream: String,
    start: StartPosition,
    fan_out: Option<String>,
    mut handle: impl FnMut(&[kinesis::Record]) + Send,
) -> Result<(), FeedError> {
    let mut options = ReaderOptions::new(&stream, start);
    options.fan_out = fan_out;
    let mut reader = Reader::start(conn, options);
    loop {
        let batch = reader.next().await.map_err(|source| FeedError::Read {
            stream: stream.clone(),
            source,
        })?;
        handle(&batch.records);
    }
}
