//! What to do with an error (retry it or give up) and how long to wait.
//!
//! Waiting uses `tokio::time`, so tests drive backoff with a paused clock.

use std::time::Duration;

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{ProvideErrorMetadata, SdkError};
use rand::Rng;

/// The kinds of failure callers treat differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Over the shard's throughput: retry after backing off.
    Throttled,
    /// Timeouts, 5xx, dropped connections: retry.
    Transient,
    /// Nothing answered at the endpoint (connection refused, DNS).
    Unreachable,
    /// The stream (or shard) does not exist.
    NotFound,
    /// The iterator is older than five minutes: get a new one.
    ExpiredIterator,
    NoCredentials,
    AccessDenied,
    /// Anything else: a request the service will never accept.
    Fatal,
}

impl ErrorKind {
    /// Whether waiting and sending the same request again can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Transient | Self::Unreachable)
    }
}

/// Error codes the service uses for throttling.
const THROTTLING: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
    "ThrottlingException",
    "Throttling",
    "KMSThrottlingException",
    "RequestLimitExceeded",
    "SlowDown",
];

/// Error codes that say "try again".
const TRANSIENT: &[&str] = &[
    "InternalFailure",
    "InternalFailureException",
    "InternalServerError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Classifies an error code as found in PutRecords entries or error bodies.
pub fn classify_code(code: &str) -> ErrorKind {
    if THROTTLING.contains(&code) {
        ErrorKind::Throttled
    } else if TRANSIENT.contains(&code) {
        ErrorKind::Transient
    } else {
        match code {
            "ResourceNotFoundException" => ErrorKind::NotFound,
            // A GetRecords iterator or a ListShards page token too old to use.
            "ExpiredIteratorException" | "ExpiredNextTokenException" => ErrorKind::ExpiredIterator,
            "AccessDeniedException"
            | "UnrecognizedClientException"
            | "InvalidSignatureException"
            | "KMSAccessDeniedException" => ErrorKind::AccessDenied,
            "ExpiredTokenException" | "IncompleteSignature" | "MissingAuthenticationToken" => {
                ErrorKind::NoCredentials
            }
            _ => ErrorKind::Fatal,
        }
    }
}

/// Classifies any SDK error.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> ErrorKind
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::TimeoutError(_) => ErrorKind::Transient,
        SdkError::ResponseError(_) => ErrorKind::Transient,
        SdkError::DispatchFailure(failure) => {
            if failure.is_timeout() {
                ErrorKind::Transient
            } else if failure.is_io() {
                ErrorKind::Unreachable
            } else if describe(err).contains("credentials") {
                ErrorKind::NoCredentials
            } else {
                ErrorKind::Transient
            }
        }
        SdkError::ServiceError(context) => {
            if let Some(code) = context.err().code() {
                let kind = classify_code(code);
                if kind != ErrorKind::Fatal {
                    return kind;
                }
            }
            let status = context.raw().status().as_u16();
            if status >= 500 {
                ErrorKind::Transient
            } else if status == 429 {
                ErrorKind::Throttled
            } else {
                ErrorKind::Fatal
            }
        }
        _ => {
            if describe(err).contains("credentials") {
                ErrorKind::NoCredentials
            } else {
                ErrorKind::Fatal
            }
        }
    }
}

/// The whole error chain on one line, e.g. for logs and final messages
/// (for HTTP responses and event-stream messages alike).
pub fn describe<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    if let SdkError::ServiceError(context) = err {
        let e = context.err();
        if let (Some(code), Some(message)) = (e.code(), e.message()) {
            return format!("{code}: {message}");
        }
    }
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// Jittered exponential backoff ("full jitter"): the n-th wait is a random
/// duration up to `min(max, base * 2^n)`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_millis(50), Duration::from_secs(5))
    }
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempt: 0,
        }
    }

    /// The ceiling of the next wait (before jitter).
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(20)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The next wait, and counts the attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = ceiling.as_nanos().min(u64::MAX as u128) as u64;
        Duration::from_nanos(rand::rng().random_range(nanos / 2..=nanos))
    }

    /// Sleeps for the next wait.
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Attempts counted since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert_eq!(
            classify_code("ProvisionedThroughputExceededException"),
            ErrorKind::Throttled
        );
        assert_eq!(classify_code("InternalFailure"), ErrorKind::Transient);
        assert_eq!(
            classify_code("ResourceNotFoundException"),
            ErrorKind::NotFound
        );
        assert_eq!(
            classify_code("ExpiredNextTokenException"),
            ErrorKind::ExpiredIterator
        );
        assert_eq!(classify_code("ValidationException"), ErrorKind::Fatal);
        assert!(!ErrorKind::Fatal.is_retryable());
        assert!(ErrorKind::Throttled.is_retryable());
    }

    #[test]
    fn backoff_grows_to_its_cap_with_jitter() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut ceilings = Vec::new();
        for _ in 0..8 {
            let ceiling = backoff.ceiling();
            let delay = backoff.next_delay();
            assert!(
                delay <= ceiling && delay >= ceiling / 2,
                "{delay:?} vs {ceiling:?}"
            );
            ceilings.push(ceiling.as_millis());
        }
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.ceiling(), Duration::from_millis(100));
    }
}
