//! The integration tests of `kinesis`, one test binary (one link step)
//! with a module per subject.

mod reader_engine;
mod reader_pacing;
mod writer_retries;
