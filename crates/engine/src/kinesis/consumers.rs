//! Enhanced fan-out consumers: RegisterStreamConsumer,
//! DescribeStreamConsumer, ListStreamConsumers and DeregisterStreamConsumer
//! (SubscribeToShard is in [`super::fanout`]).
//!
//! Consumers are stored with their stream's metadata. Like streams, they go
//! through the service's states for the engine's state delay
//! (`Config::stream_activation_delay`, 0 by default): CREATING after
//! RegisterStreamConsumer (stored: a consumer still CREATING at a restart
//! becomes ACTIVE when its time comes), DELETING after
//! DeregisterStreamConsumer (kept in memory only, like a DELETING stream:
//! the consumer is gone from the stored metadata at once).

use serde_json::{json, Value};

use super::iterator::{bad_token, decode_token, encode_token};
use super::names::{not_found, ts};
use super::request::{stream_of_arn, ListStreamConsumers, OnConsumer, StreamRef};
use super::state::ConsumerMeta;
use super::{ApiResult, Engine, ACCOUNT};
use crate::front::error::{err, internal, ApiError, Code};

/// Registered consumers per stream (the real service's limit).
const MAX_CONSUMERS: usize = 20;

/// A deregistered consumer, shown as DELETING until the state delay passed.
pub(crate) struct Leaving {
    stream: String,
    incarnation: u64,
    consumer: ConsumerMeta,
    until_ms: u64,
}

/// A consumer's state, as Describe and List report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConsumerStatus {
    Creating,
    Active,
    Deleting,
}

impl ConsumerStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ConsumerStatus::Creating => "CREATING",
            ConsumerStatus::Active => "ACTIVE",
            ConsumerStatus::Deleting => "DELETING",
        }
    }
}

pub(crate) fn consumer_not_found(arn: &str) -> ApiError {
    err(
        Code::ResourceNotFoundException,
        format!("Consumer {arn} under account {ACCOUNT} not found."),
    )
}

/// The stream name inside a consumer ARN
/// (`arn:aws:kinesis:REGION:ACCOUNT:stream/NAME/consumer/CONSUMER:SECONDS`).
fn stream_of_consumer(arn: &str) -> Result<String, ApiError> {
    let invalid = || {
        err(Code::InvalidArgumentException,
            format!("Invalid ConsumerARN {arn}: expected arn:aws:kinesis:REGION:ACCOUNT:stream/STREAM/consumer/NAME:TIMESTAMP"),
        )
    };
    let (stream_arn, _) = arn.split_once("/consumer/").ok_or_else(invalid)?;
    stream_of_arn(stream_arn)
        .map(str::to_string)
        .ok_or_else(invalid)
}

fn consumer_json(c: &ConsumerMeta, status: ConsumerStatus) -> Value {
    json!({
        "ConsumerName": c.name,
        "ConsumerARN": c.arn,
        "ConsumerStatus": status.as_str(),
        "ConsumerCreationTimestamp": ts(c.created_ms),
    })
}

/// A consumer found by [`Engine::find_consumer`].
pub(crate) struct Found {
    pub(crate) stream: String,
    pub(crate) consumer: ConsumerMeta,
    pub(crate) status: ConsumerStatus,
}

impl Engine {
    fn lock_leaving(&self) -> std::sync::MutexGuard<'_, Vec<Leaving>> {
        let mut leaving = self
            .leaving_consumers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let now = self.now();
        leaving.retain(|l| l.until_ms > now);
        leaving
    }

    fn registered_status(&self, c: &ConsumerMeta) -> ConsumerStatus {
        if self.now() < c.active_at_ms {
            ConsumerStatus::Creating
        } else {
            ConsumerStatus::Active
        }
    }

    /// The consumer a request names (by ARN, or by stream ARN and name);
    /// with `leaving`, also one still DELETING.
    pub(crate) fn find_consumer(&self, r: &OnConsumer, leaving: bool) -> Result<Found, ApiError> {
        let by_arn = r.consumer_arn.clone();
        let name = match &by_arn {
            Some(arn) => stream_of_consumer(arn)?,
            None => StreamRef {
                stream_name: None,
                stream_arn: r.stream_arn.clone(),
            }
            .name()?,
        };
        let by_name = match &by_arn {
            Some(_) => None,
            None => Some(r.consumer_name.clone().ok_or_else(|| {
                err(
                    Code::InvalidArgumentException,
                    "Either ConsumerARN or both StreamARN and ConsumerName must be provided.",
                )
            })?),
        };
        let is_it = |c: &ConsumerMeta| match (&by_arn, &by_name) {
            (Some(arn), _) => &c.arn == arn,
            (None, Some(n)) => &c.name == n,
            (None, None) => false,
        };
        let incarnation = {
            let st = self.lock();
            let s = st.streams.get(&name).ok_or_else(|| not_found(&name))?;
            if let Some(c) = s.meta.consumers.iter().find(|c| is_it(c)) {
                return Ok(Found {
                    stream: name,
                    status: self.registered_status(c),
                    consumer: c.clone(),
                });
            }
            s.meta.incarnation
        };
        let ghost = leaving
            .then(|| {
                self.lock_leaving()
                    .iter()
                    .find(|l| {
                        l.stream == name && l.incarnation == incarnation && is_it(&l.consumer)
                    })
                    .map(|l| l.consumer.clone())
            })
            .flatten();
        match ghost {
            Some(consumer) => Ok(Found {
                stream: name,
                consumer,
                status: ConsumerStatus::Deleting,
            }),
            None => Err(consumer_not_found(
                by_arn.as_deref().or(by_name.as_deref()).unwrap_or_default(),
            )),
        }
    }

    pub(super) async fn register_stream_consumer(&self, r: OnConsumer) -> ApiResult {
        let name = StreamRef {
            stream_name: None,
            stream_arn: r.stream_arn.clone(),
        }
        .name()?;
        let consumer = r.consumer_name.clone().unwrap_or_default();
        let tags = crate::kinesis::actions::settings::check_tags(
            crate::kinesis::request::tag_map(r.tags),
            &name,
        )?;
        let now = self.now();
        let delay = self.config.stream_activation_delay.as_millis() as u64;
        let mut created = None;
        self.update_meta(&name, |m| {
            if m.consumers.iter().any(|c| c.name == consumer) {
                return Err(err(Code::ResourceInUseException,
                    format!("Consumer {consumer} under stream {name} under account {ACCOUNT} already exists."),
                ));
            }
            if m.consumers.len() >= MAX_CONSUMERS {
                return Err(err(Code::LimitExceededException,
                    format!("Stream {name} under account {ACCOUNT} already has {MAX_CONSUMERS} consumers, the maximum."),
                ));
            }
            let c = ConsumerMeta {
                arn: format!("{}/consumer/{consumer}:{}", m.arn, now / 1000),
                name: consumer.clone(),
                created_ms: now,
                active_at_ms: now + delay,
                tags,
                policy: None,
            };
            created = Some(c.clone());
            m.consumers.push(c);
            Ok(())
        })
        .await?;
        let c = created.ok_or_else(|| internal("consumer not registered"))?;
        // Like the real service, the answer says CREATING (even without a
        // state delay, when Describe and List report ACTIVE from then on).
        Ok(json!({ "Consumer": consumer_json(&c, ConsumerStatus::Creating) }))
    }

    pub(super) fn describe_stream_consumer(&self, r: OnConsumer) -> ApiResult {
        let found = self.find_consumer(&r, true)?;
        let st = self.lock();
        let name = &found.stream;
        let s = st.streams.get(name).ok_or_else(|| not_found(name))?;
        let mut description = consumer_json(&found.consumer, found.status);
        description["StreamARN"] = json!(s.meta.arn);
        Ok(json!({ "ConsumerDescription": description }))
    }

    pub(super) fn list_stream_consumers(&self, r: ListStreamConsumers) -> ApiResult {
        let name = StreamRef {
            stream_name: None,
            stream_arn: Some(r.stream_arn.clone()),
        }
        .name()?;
        // Up to 10,000 is valid; the service answers 100 at most (a stream
        // has 20 consumers at most, so this cannot show).
        let max = r.max_results.map_or(100, |n| n as usize).min(100);
        let start = match r.next_token.as_deref() {
            Some(t) => Some(
                decode_token(t)
                    .and_then(|p| p.first().and_then(|n| n.parse::<usize>().ok()))
                    .ok_or_else(bad_token)?,
            ),
            None => None,
        };
        // The registered consumers, then those still DELETING.
        let (mut all, incarnation): (Vec<Value>, u64) = {
            let st = self.lock();
            let s = st.streams.get(&name).ok_or_else(|| not_found(&name))?;
            let listed = s
                .meta
                .consumers
                .iter()
                .map(|c| consumer_json(c, self.registered_status(c)))
                .collect();
            (listed, s.meta.incarnation)
        };
        all.extend(
            self.lock_leaving()
                .iter()
                .filter(|l| l.stream == name && l.incarnation == incarnation)
                .map(|l| consumer_json(&l.consumer, ConsumerStatus::Deleting)),
        );
        let start = start.unwrap_or(0);
        if start > all.len() {
            return Err(bad_token());
        }
        let next = start.saturating_add(max);
        let more = next < all.len();
        let page: Vec<Value> = all.drain(start..).take(max).collect();
        let mut out = json!({ "Consumers": page });
        if more {
            out["NextToken"] = json!(encode_token(&[&next.to_string()]));
        }
        Ok(out)
    }

    pub(super) async fn deregister_stream_consumer(&self, r: OnConsumer) -> ApiResult {
        let found = self.find_consumer(&r, false)?;
        let c = found.consumer;
        let delay = self.config.stream_activation_delay.as_millis() as u64;
        let until_ms = self.now() + delay;
        let mut leaving = None;
        self.update_meta(&found.stream, |m| {
            m.consumers.retain(|x| x.arn != c.arn);
            if delay > 0 {
                leaving = Some(Leaving {
                    stream: m.name.clone(),
                    incarnation: m.incarnation,
                    consumer: c.clone(),
                    until_ms,
                });
            }
            Ok(())
        })
        .await?;
        // Described and listed as DELETING until the delay passed, once
        // its removal is stored.
        if let Some(l) = leaving {
            self.lock_leaving().push(l);
        }
        // Its subscriptions wake up with the change, find the consumer gone
        // and end with a ResourceNotFoundException event.
        self.forget_subscriptions(&c.arn);
        Ok(json!({}))
    }

    /// Whether the consumer is still registered on the stream.
    pub(crate) fn consumer_registered(&self, stream: &str, consumer_arn: &str) -> bool {
        self.lock()
            .streams
            .get(stream)
            .is_some_and(|s| s.meta.consumers.iter().any(|c| c.arn == consumer_arn))
    }
}

#[cfg(test)]
mod tests {
    use super::ConsumerMeta;

    #[test]
    fn consumers_stored_before_states_existed_are_active() {
        let stored = r#"{"name":"hq","arn":"arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/hq:1","created_ms":1000}"#;
        let c: ConsumerMeta = serde_json::from_str(stored).unwrap();
        assert_eq!(c.active_at_ms, 0);
        // And a consumer that never had a delay is stored as before.
        assert_eq!(serde_json::to_string(&c).unwrap(), stored);
    }
}
