//! The integration tests of `process`, one test binary (one link step)
//! with a module per subject.

mod s3_event;
mod writer;
