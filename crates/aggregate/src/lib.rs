//! The streaming aggregator: per-unicorn, per-window summaries of the raw
//! `wildrydes` stream, written to `wildrydes-summary`.
//!
//! It replaces the seeds' Kinesis Data Analytics SQL application (discontinued).
//! [`window`] holds the pure windowing logic (no I/O; also callable from a
//! Lambda tumbling-window handler through [`window::handle`]); [`runner`] reads
//! the source stream with the shared [`kinesis::Reader`], aggregates, writes
//! the summaries with [`kinesis::writer::BatchWriter`] and saves the open
//! windows together with the source positions in one state file.

pub mod runner;
pub mod window;

use std::time::Duration;

pub use runner::{run, AggregateError, RunOptions, RunStats};
pub use window::{
    Accumulator, Aggregator, AggregatorConfig, AggregatorState, Counters, Pushed, TimeMode,
};

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason} (write e.g. 90s, 1m or 500ms)")]
pub struct DurationError {
    pub input: String,
    pub reason: String,
}

/// Reads `"90s"`, `"1m"`, `"500ms"`, `"1m 30s"`; a bare number means seconds.
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let text = input.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text).map_err(|err| DurationError {
        input: input.to_owned(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("60").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("").is_err());
    }
}
