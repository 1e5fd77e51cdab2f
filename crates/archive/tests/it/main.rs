//! The integration tests of `archive`, one test binary (one link step)
//! with a module per subject.

mod boundaries;
mod encode;
mod s3;
