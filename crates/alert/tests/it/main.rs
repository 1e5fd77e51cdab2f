//! The alert stage's integration tests, in one binary: the Lambda-shaped
//! handler, and the runner against the embedded engine.

mod handler;
mod runner;
