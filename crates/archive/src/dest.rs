//! Where objects go and come from: `s3://BUCKET/PREFIX` or a local
//! directory, both as an [`ObjectStore`], so the AWS path and the local one
//! are one code path. S3 credentials and region come from the standard AWS
//! chain, resolved by the same code as every other wildrydes client
//! ([`kinesis::connect`]): profiles and SSO work, and a loopback endpoint
//! needs no configuration. An endpoint means path-style addressing (the
//! engine serves every bucket on one host).

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use kinesis::client::{load_sdk, ConnectError, SdkOptions};
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    ClientOptions, CredentialProvider, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
};

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
    #[error("cannot use S3 bucket {bucket:?}: {source}")]
    S3 {
        bucket: String,
        source: object_store::Error,
    },
    #[error("cannot use S3 bucket {0:?}")]
    Connect(String, #[source] ConnectError),
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

/// How to reach S3.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// `--region` [default: the standard chain, else us-east-1].
    pub region: Option<String>,
    /// `--endpoint` [default: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, else AWS].
    pub endpoint: Option<String>,
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

/// The aws-config credential chain, as object_store's credential provider.
#[derive(Debug)]
struct ChainCredentials(SharedCredentialsProvider);

#[async_trait::async_trait]
impl CredentialProvider for ChainCredentials {
    type Credential = AwsCredential;

    async fn get_credential(&self) -> object_store::Result<Arc<AwsCredential>> {
        let c = self
            .0
            .provide_credentials()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "S3",
                source: format!("no AWS credentials: {e}").into(),
            })?;
        Ok(Arc::new(AwsCredential {
            key_id: c.access_key_id().to_owned(),
            secret_key: c.secret_access_key().to_owned(),
            token: c.session_token().map(str::to_owned),
        }))
    }
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
                // Region, credentials and endpoint as every wildrydes client
                // resolves them (`kinesis::client::load_sdk`).
                let sdk = load_sdk(&SdkOptions {
                    region: options.region.clone(),
                    endpoint: options.endpoint.clone(),
                    endpoint_vars: &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
                    operation_timeout: Duration::from_secs(120),
                    attempt_timeout: Duration::from_secs(120),
                    sdk_max_attempts: 1,
                })
                .await
                .map_err(|e| LocationError::Connect(bucket.clone(), e))?;
                let (region, endpoint) = (sdk.region, sdk.endpoint);
                let credentials = sdk.config.credentials_provider();
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(&region)
                    .with_retry(RetryConfig {
                        max_retries: 4,
                        retry_timeout: Duration::from_secs(60),
                        ..RetryConfig::default()
                    })
                    .with_client_options(
                        ClientOptions::new()
                            .with_connect_timeout(Duration::from_secs(3))
                            .with_timeout(Duration::from_secs(120)),
                    );
                if let Some(credentials) = credentials {
                    builder = builder.with_credentials(Arc::new(ChainCredentials(credentials)));
                }
                if let Some(endpoint) = &endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"))
                        .with_virtual_hosted_style_request(false);
                }
                let s3 = builder.build().map_err(|source| LocationError::S3 {
                    bucket: bucket.clone(),
                    source,
                })?;
                Ok(Store {
                    store: Arc::new(s3),
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
