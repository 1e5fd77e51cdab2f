//! The front: HTTP, protocol negotiation and the answers every service shares.

pub(crate) mod error;
pub(crate) mod http;
pub(crate) mod validate;
