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
    /// A log file is damaged where acknowledged records may be: the engine
    /// does not start (nothing is changed on disk) until `repair` is run.
    #[error("log file {path} is damaged at offset {offset} ({reason}), {following} bytes from there to its end; acknowledged records may be lost, so the engine does not start and changed nothing: run `wildrydes repair {dir}` to keep every intact frame and report what is lost", dir = path.parent().map_or_else(|| ".".into(), |p| p.display().to_string()))]
    Damaged {
        /// The log file.
        path: PathBuf,
        /// Byte offset of the first damaged byte.
        offset: u64,
        /// What is wrong there.
        reason: String,
        /// Bytes from `offset` to the end of the file.
        following: u64,
    },
    /// Log segments are missing between segments that are present.
    #[error("data dir {dir} misses log segment(s) {missing} (not deleted by retention); acknowledged records may be lost, so the engine does not start and changed nothing: run `wildrydes repair {dir}` to accept the loss and report it", dir = dir.display())]
    MissingSegments {
        /// The data dir.
        dir: PathBuf,
        /// The missing file names, comma-separated.
        missing: String,
    },
    /// A background task failed.
    #[error("engine task failed: {0}")]
    Task(String),
}
