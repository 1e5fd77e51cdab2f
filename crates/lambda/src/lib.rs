//! The Wild Rydes pipeline's stages as AWS Lambda functions.
//!
//! Each function is a thin adapter over the library the local stage already
//! runs (no second implementation of any stage):
//!
//! * [`aggregator`]: the Kinesis tumbling-window function on `wildrydes`
//!   over [`aggregate::window::handle`]; state in and out as Lambda's
//!   tumbling-window contract defines it, the summaries of a window written
//!   to `wildrydes-summary` (with [`kinesis::writer::BatchWriter`]) on the
//!   window's final invocation, partial batch failures reported;
//! * [`processor`]: summaries of `wildrydes-summary` into the table
//!   `UnicornSensorData` over [`process::Processor`] (BatchWriteItem,
//!   `UnprocessedItems` retried, `batchItemFailures`);
//! * [`loader`]: an uploaded ride file (S3 `ObjectCreated`) into the same
//!   table over [`process::Loader`];
//! * [`alerter`]: `wildrydes` → the alerts topic (SNS `Publish`) and the
//!   alert stream when a unicorn's MagicPoints fall below the threshold,
//!   over [`alert::AlertHandler`], the detector's state kept per shard in a
//!   DynamoDB table.
//!
//! The binaries (`src/bin/*.rs`, built by `cargo lambda` through SAM's
//! `BuildMethod: rust-cargolambda`) read their settings from the environment
//! ([`env`]; `deploy/template.yaml` sets them) and hand the handler to
//! `lambda_runtime` ([`runtime`]). AWS clients resolve region, credentials and
//! endpoint like the local tools, so `AWS_ENDPOINT_URL` points a function at
//! the embedded engine (the tests do).

pub mod aggregator;
pub mod alerter;
pub mod env;
pub mod loader;
pub mod processor;
pub mod runtime;

pub use env::ConfigError;
