//! JSON state files written atomically: the checkpoints of the consumer and
//! of every stage (`--state FILE`).
//!
//! [`save`] writes a temporary file in the same directory, syncs it, renames
//! it over the old one and syncs the directory, so a crash (even `kill -9` or
//! a power cut) leaves either the old or the new file, never a torn one.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

/// A state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    Read(std::io::Error),
    #[error("{0}")]
    Corrupt(serde_json::Error),
}

/// Reads the JSON file at `path`; `Ok(None)` when it does not exist yet.
pub fn load<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, LoadError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(LoadError::Corrupt),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(LoadError::Read(err)),
    }
}

/// Writes `value` as indented JSON to `path`, atomically and durably.
pub fn save<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut body = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    body.push(b'\n');
    let mut file = tempfile::NamedTempFile::new_in(&dir)?;
    file.write_all(&body)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
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
    fn missing_saved_overwritten_and_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(load::<Vec<u32>>(&path).unwrap(), None);
        save(&path, &vec![1, 2]).unwrap();
        save(&path, &vec![3]).unwrap();
        assert_eq!(load::<Vec<u32>>(&path).unwrap(), Some(vec![3]));
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        std::fs::write(&path, b"[1,").unwrap();
        assert!(matches!(
            load::<Vec<u32>>(&path),
            Err(LoadError::Corrupt(_))
        ));
        let not_a_file = dir.path().join("missing-dir").join("state.json");
        assert!(save(&not_a_file, &vec![1]).is_err());
    }
}
