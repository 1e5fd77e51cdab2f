//! Object-created events: a bucket's notification configuration decides
//! which objects produce one; each is appended, in the same transaction as
//! the object it announces, to a durable ordered log that subscribers read
//! after a position and acknowledge by name (the local stand-in for an S3
//! trigger of a Lambda function).

use std::sync::Arc;

use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::store::{db_err, Store, StoreError, CURSORS, EVENTS};

/// A failure of the event log.
#[derive(Debug, thiserror::Error)]
pub enum S3EventsError {
    /// The storage under the log failed.
    #[error("the s3 event log could not be read or written: {0}")]
    Storage(String),
}

impl From<StoreError> for S3EventsError {
    fn from(e: StoreError) -> Self {
        S3EventsError::Storage(e.to_string())
    }
}

/// One rule of a bucket's notification configuration (a
/// `LambdaFunctionConfiguration`, `QueueConfiguration` or
/// `TopicConfiguration`; any ARN is accepted).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) kind: RuleKind,
    pub(crate) id: Option<String>,
    pub(crate) arn: String,
    /// e.g. `s3:ObjectCreated:*`.
    pub(crate) events: Vec<String>,
    pub(crate) prefix: Option<String>,
    pub(crate) suffix: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum RuleKind {
    Lambda,
    Queue,
    Topic,
}

impl Rule {
    /// Whether `event` (e.g. `ObjectCreated:Put`) on `key` is announced.
    pub(crate) fn matches(&self, event: &str, key: &str) -> bool {
        let named = self.events.iter().any(|e| {
            let e = e.strip_prefix("s3:").unwrap_or(e);
            e == event
                || e.strip_suffix('*')
                    .is_some_and(|head| event.starts_with(head))
        });
        named
            && self.prefix.as_deref().is_none_or(|p| key.starts_with(p))
            && self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }
}

/// The first rule of `rules` that announces `event` on `key`.
pub(crate) fn matching<'a>(rules: &'a [Rule], event: &str, key: &str) -> Option<&'a Rule> {
    rules.iter().find(|r| r.matches(event, key))
}

/// A key as S3 writes it in an event: URL-encoded, a space as `+`.
pub(crate) fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What an event announces.
pub(crate) struct Created<'a> {
    pub(crate) name: &'a str,
    /// The id of the request that created the object (its answer's
    /// `x-amz-request-id`).
    pub(crate) request_id: &'a str,
    pub(crate) bucket: &'a str,
    pub(crate) key: &'a str,
    pub(crate) size: u64,
    pub(crate) etag: &'a str,
    pub(crate) region: &'a str,
    pub(crate) time_ms: u64,
}

/// What creates an object: the event's name and the request's id.
#[derive(Clone, Debug)]
pub(crate) struct Cause {
    pub(crate) name: &'static str,
    pub(crate) request_id: String,
}

impl Cause {
    /// The cause of an object created by a request with `extensions` (the
    /// request id [`super::http`] gave it).
    pub(crate) fn of(name: &'static str, extensions: &axum::http::Extensions) -> Cause {
        let request_id = extensions
            .get::<super::http::RequestId>()
            .map_or_else(super::http::new_request_id, |r| r.0.clone());
        Cause { name, request_id }
    }
}

fn event_time(ms: u64) -> String {
    let ts =
        s3s::dto::Timestamp::from(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms));
    let mut out = Vec::new();
    let _ = ts.format(s3s::dto::TimestampFormat::DateTime, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The record of an S3 event notification (one element of `Records`).
fn record(e: &Created<'_>, rule: &Rule, position: u64) -> Value {
    json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": e.region,
        "eventTime": event_time(e.time_ms),
        "eventName": e.name,
        "userIdentity": {"principalId": "AWS:000000000000"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": e.request_id,
            "x-amz-id-2": format!("{:032x}", rand::random::<u128>()),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": rule.id.clone().unwrap_or_else(|| "wildrydes".into()),
            "bucket": {
                "name": e.bucket,
                "ownerIdentity": {"principalId": "000000000000"},
                "arn": format!("arn:aws:s3:::{}", e.bucket),
            },
            "object": {
                "key": encode_key(e.key),
                "size": e.size,
                "eTag": e.etag,
                "sequencer": format!("{position:016X}"),
            },
        },
    })
}

/// Appends the event of `e` to the log in `tx` when a rule announces it;
/// returns its position.
pub(crate) fn append(
    tx: &WriteTransaction,
    rules: &[Rule],
    e: &Created<'_>,
) -> Result<Option<u64>, StoreError> {
    let Some(rule) = matching(rules, e.name, e.key) else {
        return Ok(None);
    };
    let mut t = tx.open_table(EVENTS).map_err(db_err)?;
    let position = match t.last().map_err(db_err)? {
        Some((k, _)) => k.value() + 1,
        None => 1,
    };
    let body = serde_json::to_vec(&record(e, rule, position)).unwrap_or_default();
    t.insert(position, body.as_slice()).map_err(db_err)?;
    Ok(Some(position))
}

/// One object-created event.
#[derive(Debug, Clone, PartialEq)]
pub struct S3EventEntry {
    /// Its position in the log (ascending, from 1).
    pub position: u64,
    /// The bucket of the object.
    pub bucket: String,
    /// The notification as S3 delivers it to a Lambda function:
    /// `{"Records":[...]}`, which `aws_lambda_events::s3::S3Event` parses.
    pub body: Value,
}

/// The object-created event log of an engine (see
/// [`crate::EngineHandle::s3_events`]): events are kept until the engine's
/// data dir is deleted, in the order their objects were acknowledged (so in
/// order per bucket), and each subscriber's acknowledged position is durable,
/// so a subscriber that was down (or an engine that restarted) resumes where
/// it was: delivery is at least once.
#[derive(Clone)]
pub struct S3Events {
    pub(crate) store: Arc<Store>,
    pub(crate) latest: tokio::sync::watch::Receiver<u64>,
}

impl std::fmt::Debug for S3Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Events")
            .field("latest", &*self.latest.borrow())
            .finish()
    }
}

impl S3Events {
    /// At most `max` events after `position` (0: from the first), in order.
    pub fn read(&self, position: u64, max: usize) -> Result<Vec<S3EventEntry>, S3EventsError> {
        let tx = self.store.read()?;
        let t = tx.open_table(EVENTS).map_err(db_err)?;
        let mut out = Vec::new();
        for row in t
            .range(position.saturating_add(1)..)
            .map_err(db_err)?
            .take(max)
        {
            let (k, v) = row.map_err(db_err)?;
            let record: Value = serde_json::from_slice(v.value())
                .map_err(|_| StoreError::Corrupt(format!("event {}", k.value())))?;
            let bucket = record["s3"]["bucket"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            out.push(S3EventEntry {
                position: k.value(),
                bucket,
                body: json!({ "Records": [record] }),
            });
        }
        Ok(out)
    }

    /// The position `subscriber` acknowledged last (0: none).
    pub fn position(&self, subscriber: &str) -> Result<u64, S3EventsError> {
        let tx = self.store.read()?;
        let t = tx.open_table(CURSORS).map_err(db_err)?;
        Ok(t.get(subscriber).map_err(db_err)?.map_or(0, |v| v.value()))
    }

    /// Durably records that `subscriber` processed every event up to
    /// `position` (a position behind the saved one is ignored).
    pub fn ack(&self, subscriber: &str, position: u64) -> Result<(), S3EventsError> {
        self.store.write(|tx| -> Result<(), StoreError> {
            let mut t = tx.open_table(CURSORS).map_err(db_err)?;
            let saved = t.get(subscriber).map_err(db_err)?.map_or(0, |v| v.value());
            if position > saved {
                t.insert(subscriber, position).map_err(db_err)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// The position of the newest event appended since this engine started
    /// (0 before the first).
    pub fn latest(&self) -> u64 {
        *self.latest.borrow()
    }

    /// Waits until an event after `position` has been appended since this
    /// engine started (or returns at once if one has); events already in
    /// the log at start are found by [`S3Events::read`].
    pub async fn wait_past(&self, position: u64) {
        let mut rx = self.latest.clone();
        let _ = rx.wait_for(|latest| *latest > position).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(events: &[&str], prefix: Option<&str>, suffix: Option<&str>) -> Rule {
        Rule {
            kind: RuleKind::Lambda,
            id: None,
            arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            events: events.iter().map(|s| s.to_string()).collect(),
            prefix: prefix.map(Into::into),
            suffix: suffix.map(Into::into),
        }
    }

    #[test]
    fn rules_match_event_names_and_filters() {
        let r = rule(&["s3:ObjectCreated:*"], Some("rides/"), Some(".json"));
        assert!(r.matches("ObjectCreated:Put", "rides/a.json"));
        assert!(r.matches("ObjectCreated:CompleteMultipartUpload", "rides/b.json"));
        assert!(!r.matches("ObjectCreated:Put", "other/a.json"));
        assert!(!r.matches("ObjectCreated:Put", "rides/a.csv"));
        assert!(!r.matches("ObjectRemoved:Delete", "rides/a.json"));
        let put = rule(&["s3:ObjectCreated:Put"], None, None);
        assert!(put.matches("ObjectCreated:Put", "x"));
        assert!(!put.matches("ObjectCreated:Copy", "x"));
    }

    #[test]
    fn keys_are_url_encoded_as_s3_does() {
        assert_eq!(encode_key("a b/c+d.json"), "a+b/c%2Bd.json");
        assert_eq!(encode_key("é"), "%C3%A9");
    }

    #[test]
    fn event_time_is_iso_with_milliseconds() {
        assert_eq!(event_time(1_000), "1970-01-01T00:00:01.000Z");
    }
}
