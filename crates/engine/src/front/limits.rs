//! Request bodies: a size limit per action that matches the service, a time
//! limit to receive a body, and a global budget of body bytes in flight so
//! that many large requests wait for memory instead of growing it.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use http_body::Body as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::front::error::{ApiError, Code};

/// PutRecords carries at most 5 MiB of data and partition keys (or one record
/// of a stream whose UpdateMaxRecordSize allows up to 10 MiB), base64 in JSON:
/// 10 MiB of data is 13.33 MiB of base64, plus up to 500 keys, hash keys and
/// the JSON around them.
pub(crate) const PUT_RECORDS_MAX_BODY: usize = 14 << 20;
/// PutRecord carries one record: 1 MiB of data by default, at most 10 MiB
/// (UpdateMaxRecordSize), 13.33 MiB of base64, and a key.
pub(crate) const PUT_RECORD_MAX_BODY: usize = 14 << 20;
/// Every other action takes a few small fields.
pub(crate) const OTHER_MAX_BODY: usize = 1 << 20;

/// Bodies this small draw from a reserved part of the budget, so that small
/// calls (ListStreams, GetRecords, ...) never queue behind large PutRecords.
pub(crate) const SMALL_BODY: usize = 64 << 10;

/// The largest request body `action` may send.
pub(crate) fn max_body(action: &str) -> usize {
    match action {
        "PutRecords" => PUT_RECORDS_MAX_BODY,
        "PutRecord" => PUT_RECORD_MAX_BODY,
        _ => OTHER_MAX_BODY,
    }
}

/// The body limits shared by every request of a server.
#[derive(Debug, Clone)]
pub(crate) struct BodyLimits {
    /// Time allowed to receive a whole body once its budget is granted.
    timeout: Duration,
    large: Arc<Semaphore>,
    large_bytes: usize,
    small: Arc<Semaphore>,
    small_bytes: usize,
}

impl BodyLimits {
    /// `budget` bytes of request bodies in flight at once: an eighth (at
    /// least 1 MiB) for small bodies, the rest for large ones.
    pub(crate) fn new(budget: u64, timeout: Duration) -> Self {
        let budget = usize::try_from(budget)
            .unwrap_or(usize::MAX)
            .clamp(2 << 20, u32::MAX as usize);
        let small_bytes = (budget / 8).max(1 << 20);
        let large_bytes = budget - small_bytes;
        BodyLimits {
            timeout,
            large: Arc::new(Semaphore::new(large_bytes)),
            large_bytes,
            small: Arc::new(Semaphore::new(small_bytes)),
            small_bytes,
        }
    }

    /// Waits until `bytes` of budget are free (a body larger than its whole
    /// pool waits for the whole pool).
    async fn reserve(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let (pool, size) = if bytes <= SMALL_BODY {
            (&self.small, self.small_bytes)
        } else {
            (&self.large, self.large_bytes)
        };
        let permits = u32::try_from(bytes.clamp(1, size)).unwrap_or(u32::MAX);
        pool.clone().acquire_many_owned(permits).await.ok()
    }
}

/// Why a body was not read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Larger than the action's limit (declared or found while reading).
    TooLarge {
        action: String,
        limit: usize,
        declared: Option<u64>,
    },
    /// Not received within the body timeout.
    Timeout(Duration),
    /// The client's body was malformed (bad chunked encoding) or cut.
    Read(String),
}

impl BodyError {
    /// The answer, as the service gives it: an oversized body is a 413.
    pub(crate) fn to_api(&self) -> ApiError {
        match self {
            BodyError::TooLarge {
                action,
                limit,
                declared,
            } => {
                let size = match declared {
                    Some(n) => format!("of {n} bytes"),
                    None => format!("over {limit} bytes"),
                };
                ApiError {
                    status: 413,
                    code: Code::RequestEntityTooLargeException,
                    message: format!(
                        "request body {size} is too large: {} accepts at most {limit} bytes",
                        if action.is_empty() {
                            "this call"
                        } else {
                            action
                        }
                    ),
                }
            }
            BodyError::Timeout(t) => ApiError {
                status: 408,
                code: Code::RequestTimeoutException,
                message: format!("the request body was not received within {t:?}"),
            },
            BodyError::Read(e) => ApiError {
                status: 400,
                code: Code::SerializationException,
                message: format!("could not read the request body: {e}"),
            },
        }
    }
}

/// A request body read within its limits; the budget it holds is given back
/// when this is dropped (after the action ran).
pub(crate) struct ReadBody {
    pub(crate) bytes: Bytes,
    _budget: Option<OwnedSemaphorePermit>,
}

/// Reads the body of a call to `action` within the limits: refuses a declared
/// length over the action's limit without reading it, waits for budget, then
/// reads with the body timeout.
pub(crate) async fn read_body(
    body: Body,
    action: &str,
    declared: Option<u64>,
    limits: &BodyLimits,
) -> Result<ReadBody, BodyError> {
    let limit = max_body(action);
    let too_large = |declared| BodyError::TooLarge {
        action: action.to_owned(),
        limit,
        declared,
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(declared));
    }
    // Without a declared length, reserve as much as the action may send.
    let expected = declared.map_or(limit, |n| n as usize);
    let budget = limits.reserve(expected).await;
    let read = collect(body, expected, limit);
    match tokio::time::timeout(limits.timeout, read).await {
        Ok(Ok(bytes)) => Ok(ReadBody {
            bytes,
            _budget: budget,
        }),
        Ok(Err(Collect::TooLarge)) => Err(too_large(declared)),
        Ok(Err(Collect::Read(e))) => Err(BodyError::Read(e)),
        Err(_) => Err(BodyError::Timeout(limits.timeout)),
    }
}

enum Collect {
    TooLarge,
    Read(String),
}

async fn collect(mut body: Body, expected: usize, limit: usize) -> Result<Bytes, Collect> {
    let mut buf = bytes::BytesMut::with_capacity(expected.min(limit));
    while let Some(frame) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await
    {
        let frame = frame.map_err(|e| Collect::Read(error_chain(&e)))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(Collect::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_the_service() {
        // 10 MiB of data in base64 plus 500 maximal keys fit.
        let base64 = (10usize << 20).div_ceil(3) * 4;
        assert!(base64 + 500 * (256 + 39 + 64) < PUT_RECORDS_MAX_BODY);
        assert!(base64 + 256 + 39 + 200 < PUT_RECORD_MAX_BODY);
        assert_eq!(max_body("ListStreams"), OTHER_MAX_BODY);
    }

    #[tokio::test]
    async fn a_body_over_its_pool_waits_for_the_whole_pool() {
        let limits = BodyLimits::new(8 << 20, Duration::from_secs(1));
        let first = limits.reserve(PUT_RECORDS_MAX_BODY).await.unwrap();
        assert_eq!(limits.large.available_permits(), 0);
        // Small bodies have their own pool.
        let small = limits.reserve(100).await.unwrap();
        drop(small);
        let waiting = tokio::time::timeout(Duration::from_millis(20), limits.reserve(1 << 20));
        assert!(waiting.await.is_err(), "no budget left for a large body");
        drop(first);
        assert!(limits.reserve(1 << 20).await.is_some());
    }
}
