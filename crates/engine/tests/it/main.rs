//! The integration tests of `engine`, one test binary (one link step)
//! with a module per subject.

mod common;
mod durability;
mod dynamodb;
mod fanout;
mod fuzz;
mod limits;
mod python_clients;
mod resources;
mod s3;
mod sdk;
mod storage;
