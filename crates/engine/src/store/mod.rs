//! The storage wing: log frames, segments, the writer and recovery. It knows
//! nothing of HTTP.

pub(crate) mod log;
