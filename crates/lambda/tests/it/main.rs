//! The integration tests of `lambda`, one test binary (one link step)
//! with a module per subject.

mod alerts;
mod common;
mod runtime_api;
mod s3_upload;
mod summaries_to_table;
mod tumbling_window;
