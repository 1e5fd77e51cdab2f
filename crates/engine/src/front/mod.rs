//! The front: HTTP, protocol negotiation and the answers every service shares.

pub(crate) mod auth;
pub(crate) mod cbor;
mod cbor_answer;
mod cbor_request;
pub(crate) mod conn;
pub(crate) mod error;
pub(crate) mod http;
pub(crate) mod limits;
pub(crate) mod validate;
