//! Per-shard positions saved to a file (atomic writes), so readers resume where they stopped.
