//! Kinesis plumbing shared by every wildrydes tool.
//!
//! The producer, the consumer, the aggregator and the benchmarks all talk to
//! Kinesis (AWS or the embedded engine) through this crate, so they resolve
//! region, credentials and endpoint the same way ([`client`]), write with the same retrying batch writer
//! ([`writer`]) and read shards with the same reader ([`reader`]).

pub mod checkpoint;
pub mod client;
pub mod https;
pub mod reader;
pub mod retry;
pub mod start;
pub mod state_file;
pub mod writer;

pub use aws_sdk_kinesis as sdk;
pub use client::{connect, ConnectError, ConnectOptions, Connection, StreamIdentity};
pub use reader::{Batch, Positions, ReadError, Reader, ReaderOptions, Record, StartPosition};
pub use start::parse_from;
