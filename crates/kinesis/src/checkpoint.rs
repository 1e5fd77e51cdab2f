//! Per-shard positions saved to a file (atomic writes), so readers resume where they stopped.
//!
//! The file is the JSON form of [`Positions`]. [`save`] writes a temporary
//! file in the same directory, syncs it and renames it over the old one, so
//! a crash (even `kill -9` or a power cut) leaves either the old or the new
//! checkpoint, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::reader::Positions;

/// A checkpoint could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpoint {path} is corrupt ({source}); fix or delete it to start over")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("cannot write checkpoint {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Loads saved positions; `Ok(None)` when the file does not exist yet.
pub fn load(path: &Path) -> Result<Option<Positions>, CheckpointError> {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CheckpointError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| CheckpointError::Corrupt {
            path: path.to_owned(),
            source,
        })
}

/// Saves `positions` atomically (temporary file, fsync, rename, fsync of the
/// directory).
pub fn save(path: &Path, positions: &Positions) -> Result<(), CheckpointError> {
    let write_err = |source| CheckpointError::Write {
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".to_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut body =
        serde_json::to_vec_pretty(positions).map_err(|e| write_err(std::io::Error::other(e)))?;
    body.push(b'\n');
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&body)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(err));
    }
    // Make the rename itself durable (best effort: not every platform can
    // open a directory).
    if let Ok(dir) = std::fs::File::open(&dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_missing_and_corrupt() {
        let dir = std::env::temp_dir().join(format!("wr-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("positions.json");
        let _ = std::fs::remove_file(&path);
        assert_eq!(load(&path).unwrap(), None);
        let mut positions = Positions::default();
        positions.advance("shardId-000000000000", "4959");
        positions.finish("shardId-000000000001");
        save(&path, &positions).unwrap();
        save(&path, &positions).unwrap();
        assert_eq!(load(&path).unwrap(), Some(positions));
        std::fs::write(&path, b"{\"shards\": [").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(
            err.contains("corrupt") && err.contains("delete it"),
            "{err}"
        );
        let leftovers = std::fs::read_dir(&dir).unwrap().count();
        assert_eq!(leftovers, 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
