//! Per-shard positions saved to a file (atomic writes), so readers resume where they stopped.
//!
//! The file is the JSON form of [`Positions`], written by
//! [`state_file::save`]: a crash (even `kill -9` or a power cut) leaves
//! either the old or the new checkpoint, never a torn one.
//!
//! Positions belong to one stream: [`bind`] refuses to use them on another
//! stream, or on a stream of the same name deleted and created again since
//! (whose sequence numbers mean nothing to the saved ones).

use std::path::{Path, PathBuf};

use crate::client::StreamIdentity;
use crate::reader::Positions;
use crate::state_file::{self, LoadError};

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
    #[error("{}", other_stream(path, saved, current))]
    OtherStream {
        path: PathBuf,
        /// The stream the positions were saved on.
        saved: StreamIdentity,
        /// The stream they were about to be used on.
        current: StreamIdentity,
    },
}

fn other_stream(path: &Path, saved: &StreamIdentity, current: &StreamIdentity) -> String {
    let path = path.display();
    let start_over = format!(
        "to start over, delete {path} and run again (-from says where to start, e.g. -from oldest)"
    );
    if saved.arn == current.arn {
        format!(
            "checkpoint {path} was saved on stream {saved}, but stream {:?} was deleted and created again since ({current}): the saved positions mean nothing in it; {start_over}",
            current.name()
        )
    } else {
        format!(
            "checkpoint {path} was saved on stream {saved}, not on stream {:?} ({current}): it is for reading stream {:?}; {start_over}",
            current.name(),
            saved.name(),
        )
    }
}

/// Ties `positions` (loaded from `path`, or new) to the stream `current` they
/// are about to be used on: positions saved on another stream, or on a
/// stream of the same name that was deleted and created again since, are
/// refused. Positions saved before the stream was recorded are accepted as
/// belonging to `current` and get it, with a warning. Returns whether
/// `positions` changed in a way worth saving at once (an upgraded file).
pub fn bind(
    path: &Path,
    positions: &mut Positions,
    current: &StreamIdentity,
) -> Result<bool, CheckpointError> {
    match &positions.stream {
        Some(saved) if saved == current => Ok(false),
        Some(saved) => Err(CheckpointError::OtherStream {
            path: path.to_owned(),
            saved: saved.clone(),
            current: current.clone(),
        }),
        None => {
            let upgraded = !positions.is_empty();
            if upgraded {
                tracing::warn!(
                    "checkpoint {} does not say which stream it was saved on (an older version wrote it); assuming stream {current} and recording it there",
                    path.display()
                );
            }
            positions.stream = Some(current.clone());
            Ok(upgraded)
        }
    }
}

/// Loads saved positions; `Ok(None)` when the file does not exist yet.
pub fn load(path: &Path) -> Result<Option<Positions>, CheckpointError> {
    state_file::load(path).map_err(|err| match err {
        LoadError::Read(source) => CheckpointError::Read {
            path: path.to_owned(),
            source,
        },
        LoadError::Corrupt(source) => CheckpointError::Corrupt {
            path: path.to_owned(),
            source,
        },
    })
}

/// Saves `positions` atomically (see [`state_file::save`]).
pub fn save(path: &Path, positions: &Positions) -> Result<(), CheckpointError> {
    state_file::save(path, positions).map_err(|source| CheckpointError::Write {
        path: path.to_owned(),
        source,
    })
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

    fn identity(name: &str, created_ms: i64) -> StreamIdentity {
        StreamIdentity {
            arn: format!("arn:aws:kinesis:us-east-1:000000000000:stream/{name}"),
            created: chrono::DateTime::from_timestamp_millis(created_ms).unwrap(),
        }
    }

    fn saved_on(stream: Option<StreamIdentity>) -> Positions {
        let mut positions = Positions::default();
        positions.advance("shardId-000000000000", "4959");
        positions.stream = stream;
        positions
    }

    #[test]
    fn positions_are_refused_on_another_stream_or_a_recreated_one() {
        let path = Path::new("dir/re.json");
        let re = identity("re", 1_764_633_600_123);
        let mut same = saved_on(Some(re.clone()));
        assert!(!bind(path, &mut same, &re).unwrap());
        assert_eq!(same, saved_on(Some(re.clone())));

        let recreated = identity("re", 1_764_633_900_456);
        let err = bind(path, &mut saved_on(Some(re.clone())), &recreated).unwrap_err();
        let text = err.to_string();
        for part in [
            "checkpoint dir/re.json was saved on stream arn:aws:kinesis:us-east-1:000000000000:stream/re created 2025-12-02T00:00:00.123Z",
            "\"re\" was deleted and created again since (arn:aws:kinesis:us-east-1:000000000000:stream/re created 2025-12-02T00:05:00.456Z)",
            "delete dir/re.json",
            "-from oldest",
        ] {
            assert!(text.contains(part), "{part:?} missing in {text}");
        }

        let other = identity("wildrydes", 1_764_633_600_123);
        let text = bind(path, &mut saved_on(Some(re.clone())), &other)
            .unwrap_err()
            .to_string();
        for part in [
            "saved on stream arn:aws:kinesis:us-east-1:000000000000:stream/re created",
            "not on stream \"wildrydes\" (arn:aws:kinesis:us-east-1:000000000000:stream/wildrydes created",
            "it is for reading stream \"re\"",
            "delete dir/re.json",
            "-from oldest",
        ] {
            assert!(text.contains(part), "{part:?} missing in {text}");
        }
    }

    #[test]
    fn old_checkpoints_are_accepted_and_upgraded_new_ones_just_bound() {
        let path = Path::new("re.json");
        let re = identity("re", 1_764_633_600_123);
        // A file written before the stream was recorded: no "stream" field.
        let old: Positions =
            serde_json::from_str(r#"{"shards":{"shardId-000000000000":"4959"},"finished":[]}"#)
                .unwrap();
        let mut upgraded = old.clone();
        assert!(bind(path, &mut upgraded, &re).unwrap(), "worth saving");
        assert_eq!(upgraded, saved_on(Some(re.clone())));
        // Saved and loaded again, it is bound from then on.
        let text = serde_json::to_string(&upgraded).unwrap();
        let reloaded: Positions = serde_json::from_str(&text).unwrap();
        assert_eq!(reloaded.stream.as_ref(), Some(&re));
        let recreated = identity("re", 1_764_633_900_456);
        assert!(bind(path, &mut reloaded.clone(), &recreated).is_err());

        // A first run: nothing to upgrade, nothing to announce.
        let mut fresh = Positions::default();
        assert!(!bind(path, &mut fresh, &re).unwrap());
        assert_eq!(fresh.stream, Some(re));
        assert!(fresh.is_empty(), "still a first run");
    }
}
