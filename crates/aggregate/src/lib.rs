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

pub use runner::{run, AggregateError, RunOptions, RunStats};
pub use window::{
    Accumulator, Aggregator, AggregatorConfig, AggregatorState, Counters, Pushed, TimeMode,
};
