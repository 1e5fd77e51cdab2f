//! Where objects go and come from: `s3://BUCKET/PREFIX` or a local
//! directory, both as an [`ObjectStore`], so the AWS path and the local one
//! are one code path. A bucket is opened by [`objects::open_bucket`]
//! (credentials, region and endpoint as every wildrydes client resolves them).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

pub use objects::S3Options;

/// `--destination` / `--archive`: `s3://BUCKET/PREFIX` or a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    S3 { bucket: String, prefix: String },
    Dir(PathBuf),
}

/// A location that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error("{0:?} has no bucket: expected s3://BUCKET or s3://BUCKET/PREFIX")]
    NoBucket(String),
    #[error("cannot use S3 bucket {bucket:?}")]
    S3 {
        bucket: String,
        source: objects::ObjectsError,
    },
    #[error("cannot use directory {}: {source}", path.display())]
    Dir {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl Location {
    pub fn parse(text: &str) -> Result<Location, LocationError> {
        if let Some(rest) = text.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(LocationError::NoBucket(text.to_owned()));
            }
            return Ok(Location::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.trim_matches('/').to_owned(),
            });
        }
        Ok(Location::Dir(PathBuf::from(text)))
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}/"),
            Location::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}/"),
            Location::Dir(dir) => write!(f, "{}", dir.display()),
        }
    }
}

/// An opened location: the store, the prefix inside it, and for a local
/// directory its root (writes are synced to disk there).
#[derive(Debug, Clone)]
pub struct Store {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: Path,
    pub local_root: Option<PathBuf>,
    pub location: Location,
}

impl Store {
    /// Opens `location` (a directory is created if missing).
    pub async fn open(location: &Location, options: &S3Options) -> Result<Store, LocationError> {
        match location {
            Location::Dir(dir) => {
                let dir_err =
                    |source: Box<dyn std::error::Error + Send + Sync>| LocationError::Dir {
                        path: dir.clone(),
                        source,
                    };
                std::fs::create_dir_all(dir).map_err(|e| dir_err(e.into()))?;
                let root = std::fs::canonicalize(dir).map_err(|e| dir_err(e.into()))?;
                let fs = LocalFileSystem::new_with_prefix(&root).map_err(|e| dir_err(e.into()))?;
                Ok(Store {
                    store: Arc::new(fs),
                    prefix: Path::default(),
                    local_root: Some(root),
                    location: location.clone(),
                })
            }
            Location::S3 { bucket, prefix } => {
                let s3 = objects::open_bucket(bucket, options)
                    .await
                    .map_err(|source| LocationError::S3 {
                        bucket: bucket.clone(),
                        source,
                    })?;
                Ok(Store {
                    store: s3,
                    prefix: Path::from(prefix.as_str()),
                    local_root: None,
                    location: location.clone(),
                })
            }
        }
    }

    /// A store over any [`ObjectStore`] (tests, wrappers).
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: &str) -> Store {
        Store {
            store,
            prefix: Path::from(prefix),
            local_root: None,
            location: Location::S3 {
                bucket: "memory".into(),
                prefix: prefix.to_owned(),
            },
        }
    }

    /// The full path of `key` (below the prefix).
    pub fn path(&self, key: &str) -> Path {
        let prefix = self.prefix.as_ref();
        if prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{prefix}/{key}"))
        }
    }

    /// Writes `body` at `key` and returns once it is durable: acknowledged by
    /// S3 (a single PUT, or a multipart upload's completion), or in a local
    /// directory written, renamed into place and fsynced with its directory.
    pub async fn put_durable(&self, key: &str, body: bytes::Bytes) -> object_store::Result<()> {
        let path = self.path(key);
        self.store.put(&path, PutPayload::from_bytes(body)).await?;
        if let Some(root) = &self.local_root {
            let file = root.join(path.as_ref());
            tokio::task::spawn_blocking(move || sync_file_and_dir(&file))
                .await
                .map_err(|e| object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: e.into(),
                })?
                .map_err(|e| object_store::Error::Generic {
                    store: "LocalFileSystem",
                    source: e.into(),
                })?;
        }
        Ok(())
    }
}

fn sync_file_and_dir(file: &FsPath) -> std::io::Result<()> {
    std::fs::File::open(file)?.sync_all()?;
    #[cfg(unix)]
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}
