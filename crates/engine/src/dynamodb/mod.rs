//! DynamoDB, the engine's second service: its data model ([`value`], [`number`])
//! and its expression language ([`expr`]), as pure code with no HTTP and no
//! storage, for the actions to call.

// The service's actions are not wired yet (issue 15): until they call these
// modules, most of their items are unused outside the tests.
#![allow(dead_code)]

pub mod expr;
pub mod number;
pub mod value;
