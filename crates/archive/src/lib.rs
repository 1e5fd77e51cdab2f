//! The archiver of the workshop's data-archiving module, in place of Amazon
//! Kinesis Data Firehose: it reads the `wildrydes` stream and writes its
//! records, buffered by size and age as Firehose does ([`batcher`]), as
//! objects named like Firehose's under `PREFIX/YYYY/MM/DD/HH/` (UTC arrival
//! time, [`key`]): JSON lines exactly as the records arrived, optionally
//! gzip, or Parquet with the status record's schema and a side object for
//! the records that do not fit ([`encode`]). Objects go through
//! [`object_store`] to S3 (AWS or the embedded engine) or a local directory,
//! one code path ([`dest`]); the source positions are saved only once the
//! objects holding the records are durable ([`runner`]), so a kill -9 loses
//! nothing (a record may then be in two objects).
//!
//! The query side (`wildrydes query`, DataFusion) is the `query` crate.

pub mod batcher;
pub mod dest;
pub mod encode;
pub mod key;
pub mod runner;

pub use batcher::{Batcher, Chunk, Entry, Hints};
pub use dest::{Location, LocationError, S3Options, Store};
pub use encode::{Column, Compression, Format, COLUMNS};
pub use key::Kind;
pub use runner::{archive, run, ArchiveError, ArchiveOptions, ArchiveStats, BatchSource, Settings};
