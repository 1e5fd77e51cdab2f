//! Reads every shard of a stream, following resharding.
