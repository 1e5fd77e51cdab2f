//! Library errors.

use std::path::PathBuf;

/// Errors that stop the engine (API errors are answered to clients instead).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// An I/O operation failed.
    #[error("{context}")]
    Io {
        /// What the engine was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another engine holds the data dir.
    #[error("data dir {0} is locked by another running engine")]
    Locked(PathBuf),
    /// The log holds a well-framed entry the engine cannot understand.
    #[error("data dir {path} holds an unreadable log entry at offset {offset}: {reason}")]
    Corrupt {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the entry.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// A background task failed.
    #[error("engine task failed: {0}")]
    Task(String),
}
