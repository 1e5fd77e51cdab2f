//! S3 buckets as [`object_store`] stores, for every wildrydes part that
//! reads or writes objects (the archive, the query side, the ride-file
//! loader): region, credentials and endpoint are resolved by the same code
//! as every other wildrydes client ([`kinesis::client::load_sdk`]), so
//! profiles and SSO work and a loopback endpoint needs no configuration. An
//! endpoint means path-style addressing (the engine serves every bucket on
//! one host).
//!
//! The loader reads S3 through this crate rather than the AWS SDK's S3
//! client: object_store is linked for the archive anyway, and the SDK's S3
//! client was the largest crate of a `wildrydes` build.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use kinesis::client::{load_sdk, ConnectError, SdkOptions};
use object_store::aws::{AmazonS3Builder, AwsCredential};
use object_store::path::Path;
use object_store::{ClientOptions, CredentialProvider, ObjectStore, ObjectStoreExt, RetryConfig};

/// How to reach S3.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// `--region` [default: the standard chain, else us-east-1].
    pub region: Option<String>,
    /// `--endpoint` [default: `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL`, else AWS].
    pub endpoint: Option<String>,
}

/// Why a bucket could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    /// The region, endpoint or credentials could not be resolved.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The bucket does not exist (S3's NoSuchBucket).
    #[error("no such bucket")]
    NoSuchBucket,
    /// The bucket has no object under the key (S3's NoSuchKey).
    #[error("no such key")]
    NoSuchKey,
    /// object_store refused the configuration, or a request failed.
    #[error(transparent)]
    Store(#[from] object_store::Error),
    /// A key object_store cannot name as it is (an empty, `.` or `..`
    /// segment, a leading or trailing `/`, a control character).
    #[error("the key {0:?} cannot be read through object_store (empty, `.` or `..` segments, a leading or trailing `/`, or control characters)")]
    Key(String),
}

impl ObjectsError {
    /// A 404 in S3's words instead of object_store's, which quote the
    /// whole response (S3 names the missing bucket with the code
    /// NoSuchBucket in its body; any other 404 is a missing key).
    fn of_read(e: object_store::Error) -> Self {
        match e {
            object_store::Error::NotFound { source, .. }
                if source.to_string().contains("NoSuchBucket") =>
            {
                ObjectsError::NoSuchBucket
            }
            object_store::Error::NotFound { .. } => ObjectsError::NoSuchKey,
            e => ObjectsError::Store(e),
        }
    }
}

/// Opens `bucket` as an object store (no request is made yet).
pub async fn open_bucket(
    bucket: &str,
    options: &S3Options,
) -> Result<Arc<dyn ObjectStore>, ObjectsError> {
    let sdk = load_sdk(&SdkOptions {
        region: options.region.clone(),
        endpoint: options.endpoint.clone(),
        endpoint_vars: &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
        operation_timeout: Duration::from_secs(120),
        attempt_timeout: Duration::from_secs(120),
        sdk_max_attempts: 1,
    })
    .await?;
    let (region, endpoint) = (sdk.region, sdk.endpoint);
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
    if let Some(credentials) = sdk.config.credentials_provider() {
        builder = builder.with_credentials(Arc::new(ChainCredentials(credentials)));
    }
    if let Some(endpoint) = &endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"))
            .with_virtual_hosted_style_request(false);
    }
    Ok(Arc::new(builder.build()?))
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

/// Any bucket by name, each opened once (the loader reads whichever bucket
/// an event names).
#[derive(Debug, Clone, Default)]
pub struct Buckets {
    options: S3Options,
    opened: Arc<Mutex<HashMap<String, Arc<dyn ObjectStore>>>>,
}

impl Buckets {
    pub fn new(options: S3Options) -> Self {
        Self {
            options,
            opened: Arc::default(),
        }
    }

    /// Serves `bucket` from `store` (tests, or a store built elsewhere).
    pub fn with_store(self, bucket: &str, store: Arc<dyn ObjectStore>) -> Self {
        self.lock().insert(bucket.to_owned(), store);
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<dyn ObjectStore>>> {
        // The map is only ever inserted into: a panic elsewhere leaves it whole.
        self.opened.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The store of `bucket`, opened on first use.
    pub async fn bucket(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>, ObjectsError> {
        if let Some(store) = self.lock().get(bucket) {
            return Ok(store.clone());
        }
        let store = open_bucket(bucket, &self.options).await?;
        Ok(self
            .lock()
            .entry(bucket.to_owned())
            .or_insert(store)
            .clone())
    }

    /// The whole object `key` of `bucket`: the key as it is, any UTF-8 S3
    /// takes (`Path::from` would percent-encode `%`, `{`, non-ASCII letters
    /// and others into another key).
    pub async fn get(&self, bucket: &str, key: &str) -> Result<bytes::Bytes, ObjectsError> {
        let path = Path::parse(key)
            .ok()
            .filter(|p| p.as_ref() == key)
            .ok_or_else(|| ObjectsError::Key(key.to_owned()))?;
        let store = self.bucket(bucket).await?;
        let read = store.get(&path).await;
        let object = read.map_err(ObjectsError::of_read)?;
        object.bytes().await.map_err(ObjectsError::of_read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::memory::InMemory;
    use object_store::PutPayload;

    #[tokio::test]
    async fn a_bucket_given_a_store_is_read_from_it() {
        let store = Arc::new(InMemory::new());
        store
            .put(
                &Path::from("rides/a b.json"),
                PutPayload::from_static(b"{}"),
            )
            .await
            .unwrap();
        let buckets = Buckets::new(S3Options::default()).with_store("uploads", store.clone());
        let body = buckets.get("uploads", "rides/a b.json").await.unwrap();
        assert_eq!(&body[..], b"{}");
        // Keys are read as they are: no character is encoded into another key.
        for key in [
            "rides/café ü.json",
            "rides/100%.json",
            "rides/[x]{y}.json",
            "q?h#.json",
        ] {
            store
                .put(&Path::parse(key).unwrap(), PutPayload::from_static(b"[]"))
                .await
                .unwrap();
            assert_eq!(&buckets.get("uploads", key).await.unwrap()[..], b"[]");
        }
        for key in ["/lead.json", "a//b.json", "dir/./x.json", "tail/"] {
            let refused = buckets.get("uploads", key).await.unwrap_err();
            assert!(matches!(refused, ObjectsError::Key(_)), "{refused:?}");
        }
        let missing = buckets.get("uploads", "rides/none.json").await.unwrap_err();
        assert!(matches!(missing, ObjectsError::NoSuchKey), "{missing:?}");
        assert_eq!(missing.to_string(), "no such key");
    }
}
