//! The integration tests of `wildrydes`, one test binary (one link step)
//! with a module per subject.

mod aggregate;
mod alerts;
mod archive;
mod common;
mod completions;
mod crash;
mod dashboard;
mod live_common;
mod load;
mod process;
mod readme;
mod stack;
