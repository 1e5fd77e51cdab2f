//! The workshop's two processing modules, as libraries with Lambda-shaped
//! entry points, writing to the DynamoDB table `UnicornSensorData`:
//!
//! * stream processing ([`stream`]): summaries of `wildrydes-summary` into
//!   items; `Processor::handle(KinesisEvent) -> KinesisEventResponse` with
//!   `batchItemFailures`, driven locally by [`runner`] (`wildrydes process`
//!   and the processor stage of `wildrydes up`);
//! * file processing ([`file`]): ride files (JSON lines or CSV, local or in
//!   S3) into items (`wildrydes load`); `Loader::handle(S3Event)` for the
//!   S3-triggered form.
//!
//! Both convert with [`item`] and write with the same [`writer`]
//! (BatchWriteItem, 25 items per call, several calls in flight,
//! `UnprocessedItems` and throttling retried with jittered backoff).

pub mod aws;
pub mod file;
pub mod item;
pub mod runner;
pub mod stream;
pub mod table;
pub mod writer;

pub use aws_lambda_events as events;
pub use file::{LoadError, LoadSummary, Loader, OnBadLine, LOAD_IN_FLIGHT};
pub use item::{Item, Key, TABLE};
pub use runner::{run, ProcessError, RunOptions, RunStats};
pub use stream::Processor;
pub use table::ensure_table;
pub use writer::{ItemWriter, WriteError, WriterStats};
