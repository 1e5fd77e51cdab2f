//! S3, the engine's third service: S3's REST protocol on the engine's port
//! (a request without `X-Amz-Target`), path-style and virtual-host-style
//! (`<bucket>.localhost`) addressing. The `s3s` crate implements the
//! protocol (routing, XML, errors, SigV4 and aws-chunked bodies); this module
//! is its storage backend ([`store`], [`blob`]), its operations
//! ([`buckets`], [`objects`], [`deletes`], [`copy`], [`multipart`], [`list`],
//! and [`defaults`], the settings it does not keep, read as a new bucket's)
//! and the object-created event log ([`events`]).

mod blob;
mod buckets;
mod checksum;
mod chunked;
mod copy;
mod defaults;
mod deletes;
pub(crate) mod events;
pub(crate) mod http;
mod list;
mod multipart;
mod objects;
mod store;
mod tagging;
mod upload_checksum;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Response, S3Result, S3};

use crate::clock::Clock;

pub use events::{S3EventEntry, S3Events, S3EventsError};
use store::{Store, StoreError};

/// What the S3 service takes from the engine's [`crate::Config`].
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) data_dir: Option<std::path::PathBuf>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) auth: Vec<(String, String)>,
    /// [`crate::Config::body_idle_timeout`].
    pub(crate) body_idle: Duration,
}

impl Settings {
    pub(crate) fn of(config: &crate::Config) -> Self {
        Settings {
            data_dir: config.data_dir.clone(),
            clock: config.clock.clone(),
            auth: config.auth.clone(),
            body_idle: config.body_idle_timeout,
        }
    }
}

/// The S3 service of an engine: the protocol front and the event log.
#[derive(Clone)]
pub(crate) struct Service {
    pub(crate) s3s: s3s::service::S3Service,
    pub(crate) events: S3Events,
    /// No credentials configured: any signature (or none) is accepted.
    pub(crate) open: bool,
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
}

impl Service {
    /// Creates the bucket `name` in us-east-1 unless it exists (for `up`).
    pub(crate) fn ensure_bucket(&self, name: &str) -> Result<(), crate::EngineError> {
        let fail = |message: String| crate::EngineError::Io {
            context: format!("creating bucket {name}"),
            source: std::io::Error::other(message),
        };
        if !s3s::path::check_bucket_name(name) {
            return Err(fail("not a valid S3 bucket name".into()));
        }
        let meta = store::BucketMeta {
            created_ms: self.clock.now_millis(),
            region: "us-east-1".into(),
            ..store::BucketMeta::default()
        };
        self.store
            .write(|tx| -> Result<(), StoreError> {
                let mut t = tx.open_table(store::BUCKETS).map_err(store::db_err)?;
                if store::bucket_in(&t, name)?.is_none() {
                    t.insert(name, store::encode(&meta).as_slice())
                        .map_err(store::db_err)?;
                }
                Ok(())
            })
            .map_err(|e| fail(e.to_string()))
    }
}

impl Service {
    /// Makes every object created in `bucket` announce itself to the Lambda
    /// function `function_arn` (configuration Id `wildrydes`), durably,
    /// unless the bucket's notification configuration already names that
    /// function: a configuration set since (its filters, its Id) is kept
    /// across restarts of `up`, as S3 keeps it. Other configurations stay,
    /// but those that would take the same events are dropped (S3 refuses
    /// overlapping configurations).
    pub(crate) fn notify_function(
        &self,
        bucket: &str,
        function_arn: &str,
    ) -> Result<(), crate::EngineError> {
        let rule = events::Rule {
            kind: events::RuleKind::Lambda,
            id: Some("wildrydes".to_owned()),
            arn: function_arn.to_owned(),
            events: vec!["s3:ObjectCreated:*".to_owned()],
            prefix: None,
            suffix: None,
        };
        self.store
            .write(|tx| -> S3Result<()> {
                let mut meta = buckets::write_bucket(tx, bucket)?;
                let mut rules = buckets::rules(&meta);
                if rules.iter().any(|r| r.arn == function_arn) {
                    return Ok(());
                }
                rules.retain(|r| !buckets::overlap(r, &rule));
                rules.push(rule);
                meta.notification = serde_json::to_value(rules).ok();
                let mut t = tx.open_table(store::BUCKETS).map_err(store::db_err)?;
                t.insert(bucket, store::encode(&meta).as_slice())
                    .map_err(store::db_err)?;
                Ok(())
            })
            .map_err(|e| {
                let message = e.message().unwrap_or("s3 storage failed").to_owned();
                crate::EngineError::Io {
                    context: format!("setting the notification of bucket {bucket}"),
                    source: std::io::Error::other(message),
                }
            })
    }
}

/// Opens the S3 storage in `<data_dir>/s3/` (or in memory) and builds the service.
pub(crate) fn open(settings: Settings) -> Result<Service, crate::EngineError> {
    let store = Store::open(settings.data_dir.as_deref()).map_err(|e| crate::EngineError::Io {
        context: e.to_string(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let store = Arc::new(store);
    let (latest_tx, latest_rx) = tokio::sync::watch::channel(0);
    let backend = Backend {
        store: store.clone(),
        clock: settings.clock.clone(),
        region: "us-east-1".into(),
        latest: Arc::new(latest_tx),
        body_idle: settings.body_idle,
    };
    let mut builder = s3s::service::S3ServiceBuilder::new(backend);
    builder.set_host(http::Hosts);
    if !settings.auth.is_empty() {
        let mut auth = s3s::auth::SimpleAuth::new();
        for (id, secret) in &settings.auth {
            auth.register(id.clone(), secret.as_str().into());
        }
        builder.set_auth(Keys(auth));
    }
    Ok(Service {
        s3s: builder.build(),
        events: S3Events {
            store: store.clone(),
            latest: latest_rx,
        },
        open: settings.auth.is_empty(),
        store,
        clock: settings.clock,
    })
}

/// The engine's access keys (`--auth`): an unknown key is S3's
/// `InvalidAccessKeyId` (s3s's own answer is `NotSignedUp`).
struct Keys(s3s::auth::SimpleAuth);

#[async_trait::async_trait]
impl s3s::auth::S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<s3s::auth::SecretKey> {
        self.0.lookup(access_key).cloned().ok_or_else(|| {
            s3s::s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )
        })
    }
}

/// The storage backend behind `s3s`.
pub(crate) struct Backend {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    region: String,
    /// The newest event position, for [`S3Events::wait_past`].
    latest: Arc<tokio::sync::watch::Sender<u64>>,
    /// The longest wait for the next bytes of an upload.
    body_idle: Duration,
}

impl Backend {
    fn now(&self) -> u64 {
        self.clock.now_millis()
    }

    /// Runs blocking storage work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> S3Result<T> + Send + 'static,
    ) -> S3Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| internal(format!("storage task failed: {e}")))?
    }

    /// Tells waiting subscribers about a new event.
    fn announce(&self, position: Option<u64>) {
        if let Some(p) = position {
            self.latest.send_if_modified(|latest| {
                let newer = p > *latest;
                if newer {
                    *latest = p;
                }
                newer
            });
        }
    }
}

pub(crate) fn internal(message: impl Into<String>) -> S3Error {
    let message = message.into();
    tracing::error!(%message, "s3 internal error");
    S3Error::with_message(S3ErrorCode::InternalError, message)
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> Self {
        internal(e.to_string())
    }
}

fn store_err(e: StoreError) -> S3Error {
    internal(e.to_string())
}

/// A time as S3 answers it: whole seconds (`….000Z` in XML), as its
/// HTTP-date headers have them.
fn timestamp(ms: u64) -> Timestamp {
    Timestamp::from(UNIX_EPOCH + Duration::from_secs(ms / 1000))
}

/// Milliseconds since the epoch of `ts`.
fn millis(ts: &Timestamp) -> i128 {
    let t: time::OffsetDateTime = ts.clone().into();
    t.unix_timestamp_nanos() / 1_000_000
}

fn quoted(etag: &str) -> ETag {
    ETag::Strong(etag.to_string())
}

#[async_trait::async_trait]
impl S3 for Backend {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        buckets::create(self, req).await
    }
    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        buckets::head(self, req).await
    }
    async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        buckets::list(self, req).await
    }
    async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        buckets::delete(self, req).await
    }
    async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        buckets::location(self, req).await
    }
    async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        buckets::put_notification(self, req).await
    }
    async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        buckets::get_notification(self, req).await
    }
    async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        buckets::put_tagging(self, req).await
    }
    async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        buckets::get_tagging(self, req).await
    }
    async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        buckets::delete_tagging(self, req).await
    }
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        objects::put(self, req).await
    }
    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        objects::get(self, req).await
    }
    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        objects::head(self, req).await
    }
    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        deletes::delete(self, req).await
    }
    async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        deletes::delete_many(self, req).await
    }
    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        copy::copy(self, req).await
    }
    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        list::list_v2(self, req).await
    }
    async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        list::list_v1(self, req).await
    }
    async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        tagging::put(self, req).await
    }
    async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        tagging::get(self, req).await
    }
    async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        tagging::delete(self, req).await
    }
    async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        multipart::create(self, req).await
    }
    async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        multipart::upload_part(self, req).await
    }
    async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        copy::upload_part_copy(self, req).await
    }
    async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        multipart::complete(self, req).await
    }
    async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        multipart::abort(self, req).await
    }
    async fn list_parts(
        &self,
        req: S3Request<ListPartsInput>,
    ) -> S3Result<S3Response<ListPartsOutput>> {
        multipart::list_parts(self, req).await
    }
    async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        multipart::list_uploads(self, req).await
    }
    async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        defaults::versioning(self, req).await
    }
    async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        defaults::cors(self, req).await
    }
    async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        defaults::policy(self, req).await
    }
    async fn get_bucket_encryption(
        &self,
        req: S3Request<GetBucketEncryptionInput>,
    ) -> S3Result<S3Response<GetBucketEncryptionOutput>> {
        defaults::encryption(self, req).await
    }
    async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        defaults::acl(self, req).await
    }
    async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        defaults::object_acl(self, req).await
    }
    async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        defaults::public_access_block(self, req).await
    }
    async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        defaults::ownership_controls(self, req).await
    }
    async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        defaults::lifecycle(self, req).await
    }
    async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
        defaults::website(self, req).await
    }
    async fn get_bucket_logging(
        &self,
        req: S3Request<GetBucketLoggingInput>,
    ) -> S3Result<S3Response<GetBucketLoggingOutput>> {
        defaults::logging(self, req).await
    }
    async fn get_bucket_replication(
        &self,
        req: S3Request<GetBucketReplicationInput>,
    ) -> S3Result<S3Response<GetBucketReplicationOutput>> {
        defaults::replication(self, req).await
    }
    async fn get_bucket_request_payment(
        &self,
        req: S3Request<GetBucketRequestPaymentInput>,
    ) -> S3Result<S3Response<GetBucketRequestPaymentOutput>> {
        defaults::request_payment(self, req).await
    }
    async fn get_object_lock_configuration(
        &self,
        req: S3Request<GetObjectLockConfigurationInput>,
    ) -> S3Result<S3Response<GetObjectLockConfigurationOutput>> {
        defaults::object_lock(self, req).await
    }
    async fn get_bucket_accelerate_configuration(
        &self,
        req: S3Request<GetBucketAccelerateConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketAccelerateConfigurationOutput>> {
        defaults::accelerate(self, req).await
    }
    async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        list::versions(self, req).await
    }
}
