//! The durable log: one append-only file of checksummed frames
//! `[len u32 LE][crc32 u32 LE][payload]`, written by a single writer task that
//! group-commits every pending append with one `fdatasync`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::EngineError;

/// Largest payload a frame may carry (a PutRecords call is at most ~5 MiB).
const MAX_FRAME: u32 = 64 << 20;

pub(crate) fn frame(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> EngineError {
    let context = context.into();
    move |source| EngineError::Io { context, source }
}

/// An open data dir: the lock file and the log file.
pub(crate) struct DataDir {
    pub(crate) log: File,
    _lock: File,
    pub(crate) log_path: PathBuf,
}

impl DataDir {
    /// Locks `dir`, reads every intact frame of its log and cuts a torn or
    /// corrupt tail.
    pub(crate) fn open(
        dir: &Path,
        mut on_frame: impl FnMut(u64, &[u8]) -> Result<(), EngineError>,
    ) -> Result<Self, EngineError> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating data dir {}", dir.display())))?;
        let lock_path = dir.join("LOCK");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(format!("opening {}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(EngineError::Locked(dir.to_path_buf()))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io(format!("locking {}", lock_path.display()))(e))
            }
        }
        let log_path = dir.join("kinesis.log");
        let mut log = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&log_path)
            .map_err(io(format!("opening {}", log_path.display())))?;
        let mut bytes = Vec::new();
        log.read_to_end(&mut bytes)
            .map_err(io(format!("reading {}", log_path.display())))?;
        let mut at = 0usize;
        let good_end = loop {
            let Some(header) = bytes.get(at..at + 8) else {
                break at;
            };
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            if len > MAX_FRAME {
                break at;
            }
            let Some(payload) = bytes.get(at + 8..at + 8 + len as usize) else {
                break at;
            };
            if crc32fast::hash(payload) != crc {
                break at;
            }
            on_frame(at as u64, payload)?;
            at += 8 + len as usize;
        };
        if good_end < bytes.len() {
            tracing::warn!(
                path = %log_path.display(),
                kept = good_end,
                cut = bytes.len() - good_end,
                "cutting a torn or corrupt log tail"
            );
            log.set_len(good_end as u64)
                .and_then(|()| log.sync_all())
                .map_err(io(format!("truncating {}", log_path.display())))?;
        }
        log.seek(SeekFrom::Start(good_end as u64))
            .map_err(io(format!("seeking {}", log_path.display())))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        drop(bytes);
        Ok(DataDir {
            log,
            _lock: lock,
            log_path,
        })
    }

    /// Appends `bytes` (whole frames) and makes them durable.
    pub(crate) fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.log.write_all(bytes)?;
        self.log.sync_data()
    }
}
