//! The storage wing: log frames and segments, the single writer (group
//! commit), recovery at start and reads of records from disk. It knows
//! nothing of HTTP.

pub(crate) mod codec;
pub(crate) mod dir;
pub(crate) mod log;
pub(crate) mod read;
pub(crate) mod recovery;
pub(crate) mod repair;
pub(crate) mod writer;

#[cfg(test)]
mod tests;
