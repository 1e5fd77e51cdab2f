//! The embedded engine: Kinesis Data Streams, DynamoDB and S3 on one port,
//! speaking the real wire protocols (AWS SDKs, boto3 and the AWS CLI talk to it
//! unmodified), in memory or durable in a data directory (Kinesis: a
//! group-committed, checksummed append-only log, recovered on restart;
//! DynamoDB and S3: redb, bodies in fsynced files).
//!
//! Start it with [`run`] on a listener you bound, or with [`spawn`] /
//! [`spawn_in_memory`] from tests:
//!
//! ```no_run
//! # async fn demo() -> Result<(), engine::EngineError> {
//! let engine = engine::spawn_in_memory().await?;
//! println!("endpoint: {}", engine.url());
//! engine.shutdown().await?;
//! # Ok(()) }
//! ```

mod clock;
mod dynamodb;
mod error;
mod front;
mod kinesis;
// S3 (issue 16).
mod s3;

mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::EngineError;
// S3 (issue 16): the object-created event log.
pub use s3::{S3EventEntry, S3Events, S3EventsError};
pub use store::repair::RepairReport;

/// Repairs a damaged data dir (the engine must not be running on it): keeps
/// every intact log frame on both sides of each damaged region, accepts
/// missing segments as lost, makes every shard continue past any sequence
/// number a lost record may have had, and reports exactly what was lost (also
/// saved in the data dir with the damaged bytes). The DynamoDB write
/// journal likewise keeps every intact frame and drops each damaged region.
/// Changes nothing when no damage is found.
pub fn repair(dir: &std::path::Path) -> Result<RepairReport, EngineError> {
    let mut report = store::repair::repair(dir)?;
    dynamodb::repair(dir, &mut report)?;
    Ok(report)
}

/// Engine configuration. `Config::default()` is an in-memory engine with the
/// real service's defaults and no limits enforced.
#[derive(Clone)]
pub struct Config {
    /// Where to keep data durably; `None` keeps everything in memory.
    pub data_dir: Option<PathBuf>,
    /// How long a new stream stays CREATING before it becomes ACTIVE.
    /// DynamoDB (issue 15): also how long a table stays CREATING (and a new
    /// global index CREATING) and a deleted table DELETING.
    pub stream_activation_delay: Duration,
    /// Shard count of a stream created in ON_DEMAND mode.
    pub on_demand_shard_count: u32,
    /// Maximum number of open shards over all streams (LimitExceededException beyond).
    pub shard_limit: u32,
    /// Enforce per-shard throughput (1,000 records/s and 1 MiB/s written,
    /// 5 GetRecords/s and 2 MiB/s read) with ProvisionedThroughputExceededException.
    /// DynamoDB (issue 15): the provisioned throughput of each PROVISIONED
    /// table and global index, as token buckets on [`Config::clock`].
    pub enforce_limits: bool,
    /// Fraction (0..=1) of calls failing with HTTP 500 InternalFailure
    /// (DynamoDB, issue 15: InternalServerError).
    pub fail_call_ratio: f64,
    /// Fraction (0..=1) of PutRecords entries failing with InternalFailure
    /// (DynamoDB, issue 15: BatchWriteItem requests left in UnprocessedItems,
    /// BatchGetItem keys in UnprocessedKeys).
    pub fail_entry_ratio: f64,
    /// Time source for arrival timestamps, iterator expiry and retention.
    pub clock: Arc<dyn Clock>,
    /// Durable mode: most bytes of recent records kept in memory (each record
    /// counts its key and data plus ~100 bytes of bookkeeping); older records
    /// are read from the log on disk. Memory then stays bounded by this plus
    /// stream metadata and a sparse index (one small entry per shard and
    /// 256 KiB of log). In-memory mode keeps every record until retention
    /// trims it and ignores this.
    pub cache_bytes: u64,
    /// Durable mode: size at which the active log segment is sealed and a new
    /// one started; sealed segments whose records are all past retention (or
    /// belong to deleted streams) are deleted.
    pub segment_bytes: u64,
    /// How long a SubscribeToShard subscription lasts before the client must
    /// subscribe again (5 minutes in the real service).
    pub subscription_ttl: Duration,
    /// A consumer subscribing to the same shard again within this long of
    /// its last successful SubscribeToShard gets ResourceInUseException
    /// (5 seconds in the real service).
    pub subscribe_cooldown: Duration,
    /// A connection that starts a request and has not sent its complete
    /// headers this long after its first byte is closed (slowloris).
    pub header_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    /// Longer than the usual client pool idle timeout (90 s in the AWS SDKs),
    /// so that clients retire idle connections before the server does.
    pub idle_timeout: Duration,
    /// Time allowed to receive a whole request body; a slower body is
    /// answered 408 RequestTimeoutException and its connection closed.
    /// Responses are never timed: SubscribeToShard streams for minutes.
    pub body_timeout: Duration,
    /// S3 uploads (PutObject, UploadPart): a body is streamed to storage
    /// however large, so it is bounded by the gap between its bytes instead;
    /// no byte for this long is answered 400 RequestTimeout, as S3 does
    /// (20 s), and nothing is stored.
    pub body_idle_timeout: Duration,
    /// Connections served at once; further clients wait (in the listen
    /// backlog) until one closes.
    pub max_connections: usize,
    /// Bytes of request bodies held at once, from reading a body until its
    /// action ran (an eighth of it, at least 1 MiB, is kept for bodies of at
    /// most 64 KiB, so small calls never wait behind large PutRecords);
    /// further requests wait for budget before their body is read, so memory
    /// stays bounded however many large PutRecords arrive together. The
    /// default (8 MiB) runs one maximum-size PutRecords at a time: 40
    /// concurrent ones keep the server under 200 MB with ListStreams
    /// answered within 50 ms (`wildrydes-bench stress`); more does not
    /// write faster. Each action also has its own body limit (14 MiB for
    /// PutRecords and PutRecord, whose records may reach 10 MiB, 1 MiB for
    /// the others), answered 413 beyond.
    pub body_budget: u64,
    /// Request authentication: pairs of access key id and secret access key.
    /// When not empty, every request must carry a valid AWS Signature
    /// Version 4 (header or query-string form) made with one of them, and
    /// is answered MissingAuthenticationTokenException,
    /// IncompleteSignatureException, InvalidSignatureException or
    /// UnrecognizedClientException otherwise. A header signature more than
    /// 5 minutes away from [`Config::clock`] is expired, as on AWS. Empty
    /// (the default) accepts any request, signed or not.
    pub auth: Vec<(String, String)>,
}

/// Storage figures of a running engine (see [`EngineHandle::storage_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Cost of the records held in memory (key + data + per-record bookkeeping).
    pub cached_bytes: u64,
    /// Records held in memory.
    pub cached_records: u64,
    /// Sparse index entries locating records on disk.
    pub index_entries: u64,
    /// Log segment files (durable mode).
    pub segments: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: None,
            stream_activation_delay: Duration::ZERO,
            on_demand_shard_count: 4,
            shard_limit: 500,
            enforce_limits: false,
            fail_call_ratio: 0.0,
            fail_entry_ratio: 0.0,
            clock: Arc::new(SystemClock),
            cache_bytes: 64 << 20,
            segment_bytes: 128 << 20,
            subscription_ttl: Duration::from_secs(300),
            subscribe_cooldown: Duration::from_secs(5),
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            body_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(20),
            max_connections: 512,
            body_budget: 8 << 20,
            auth: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("stream_activation_delay", &self.stream_activation_delay)
            .field("on_demand_shard_count", &self.on_demand_shard_count)
            .field("shard_limit", &self.shard_limit)
            .field("enforce_limits", &self.enforce_limits)
            .field("fail_call_ratio", &self.fail_call_ratio)
            .field("fail_entry_ratio", &self.fail_entry_ratio)
            .field("cache_bytes", &self.cache_bytes)
            .field("segment_bytes", &self.segment_bytes)
            .field("subscription_ttl", &self.subscription_ttl)
            .field("subscribe_cooldown", &self.subscribe_cooldown)
            .field("header_timeout", &self.header_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("body_idle_timeout", &self.body_idle_timeout)
            .field("max_connections", &self.max_connections)
            .field("body_budget", &self.body_budget)
            .field(
                "auth (access key ids)",
                &self.auth.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Serves the Kinesis API on `listener` until `shutdown` completes, then finishes
/// in-flight requests, flushes and syncs storage and returns.
pub async fn run(
    listener: tokio::net::TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EngineError> {
    let front = FrontConfig::of(&config);
    let s3_settings = s3::Settings::of(&config); // S3 (issue 16)
    let (engine, writer) = kinesis::Engine::open(config).await?;
    let s3 = s3::open(s3_settings)?; // S3 (issue 16)

    // Opened before serving: a damaged table file is refused before any
    // request is answered (and before `spawn` returns).
    let tables = dynamodb::open(&engine.config)?;
    serve(listener, engine, writer, tables, s3, front, shutdown).await
}

/// The settings of the HTTP front, taken from [`Config`] before the engine
/// owns it.
#[derive(Debug, Clone, Copy)]
struct FrontConfig {
    conns: front::conn::ConnLimits,
    body_timeout: Duration,
    body_budget: u64,
}

impl FrontConfig {
    fn of(config: &Config) -> Self {
        FrontConfig {
            conns: front::conn::ConnLimits {
                header_timeout: config.header_timeout,
                idle_timeout: config.idle_timeout,
                max_connections: config.max_connections,
            },
            body_timeout: config.body_timeout,
            body_budget: config.body_budget,
        }
    }
}

/// How long a graceful shutdown waits for open connections (a client that
/// stopped reading a subscription, say) before closing them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves until `shutdown`, ends the subscriptions, waits for in-flight
/// requests (at most [`SHUTDOWN_GRACE`]), then stops the writer once
/// everything is flushed, and closes the tables.
async fn serve(
    listener: tokio::net::TcpListener,
    engine: Arc<kinesis::Engine>,
    writer: tokio::task::JoinHandle<Result<(), EngineError>>,
    tables: Arc<dynamodb::Service>,
    s3: s3::Service, // S3 (issue 16)
    settings: FrontConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), EngineError> {
    let bodies = front::limits::BodyLimits::new(settings.body_budget, settings.body_timeout);
    let held = tables.clone();
    let router = front::http::router(engine.clone(), bodies)
        .layer(axum::Extension(tables))
        .layer(axum::Extension(s3)); // S3 (issue 16)
    let closing = engine.clone();
    let server = front::conn::serve(listener, router, settings.conns, async move {
        shutdown.await;
        closing.close_subscriptions();
    });
    // Dropping the server (grace exceeded) closes the connections left.
    tokio::select! {
        () = server => {}
        () = async {
            engine.closed().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!("connections still open {SHUTDOWN_GRACE:?} after shutdown began; closing them");
        }
    }
    engine.stop_writer();
    let written = writer.await.map_err(|e| EngineError::Task(e.to_string()));
    dynamodb::close(held, SHUTDOWN_GRACE).await;
    written?
}

/// A running engine started by [`spawn`]; dropping it stops the server.
pub struct EngineHandle {
    addr: SocketAddr,
    engine: Arc<kinesis::Engine>,
    s3: s3::Service, // S3 (issue 16)
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), EngineError>>>,
}

impl EngineHandle {
    /// The address the engine listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Current storage figures (memory held by cached records, index size).
    pub fn storage_stats(&self) -> StorageStats {
        self.engine.stats()
    }

    /// S3 (issue 16): the object-created events of this engine's buckets,
    /// for a subscriber (the local stand-in for an S3 trigger).
    pub fn s3_events(&self) -> S3Events {
        self.s3.events.clone()
    }

    /// S3 (issue 16): creates the bucket `name` (in us-east-1) unless it
    /// exists, durably; e.g. the workshop's `wildrydes-uploads`.
    pub fn ensure_bucket(&self, name: &str) -> Result<(), EngineError> {
        self.s3.ensure_bucket(name)
    }

    /// S3 (issue 16): every object created in `bucket` (which must exist)
    /// announces itself to the Lambda function `function_arn` in
    /// [`EngineHandle::s3_events`], as a notification configuration with a
    /// rule for `s3:ObjectCreated:*` (Id `wildrydes`) would; durably. A
    /// configuration that names the function already is left as it is.
    pub fn notify_function(&self, bucket: &str, function_arn: &str) -> Result<(), EngineError> {
        self.s3.notify_function(bucket, function_arn)
    }

    /// The endpoint URL to give an SDK, e.g. `http://127.0.0.1:4567`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves until `shutdown` completes (or the server fails), then stops
    /// gracefully and waits until storage is flushed.
    pub async fn serve_until(
        mut self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), EngineError> {
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        tokio::select! {
            done = &mut task => return done.map_err(|e| EngineError::Task(e.to_string()))?,
            () = shutdown => {}
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        task.await.map_err(|e| EngineError::Task(e.to_string()))?
    }

    /// Stops the server gracefully and waits until storage is flushed.
    pub async fn shutdown(mut self) -> Result<(), EngineError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(|e| EngineError::Task(e.to_string()))?,
            None => Ok(()),
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `127.0.0.1:0` and serves `config` in a background task.
pub async fn spawn(config: Config) -> Result<EngineHandle, EngineError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| EngineError::Io {
            context: "binding 127.0.0.1:0".into(),
            source: e,
        })?;
    spawn_on(listener, config).await
}

/// Serves `config` on an already bound listener in a background task. Storage
/// is opened (and recovered) before this returns, so errors such as a locked
/// data dir are reported here.
pub async fn spawn_on(
    listener: tokio::net::TcpListener,
    config: Config,
) -> Result<EngineHandle, EngineError> {
    let addr = listener.local_addr().map_err(|e| EngineError::Io {
        context: "reading the listener address".into(),
        source: e,
    })?;
    let front = FrontConfig::of(&config);
    let s3_settings = s3::Settings::of(&config); // S3 (issue 16)
    let (engine, writer) = kinesis::Engine::open(config).await?;
    let s3 = s3::open(s3_settings)?; // S3 (issue 16)

    // Opened before serving: a damaged table file is refused before any
    // request is answered (and before `spawn` returns).
    let tables = dynamodb::open(&engine.config)?;
    let s3_handle = s3.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle_engine = engine.clone();
    let task = tokio::spawn(serve(
        listener,
        engine,
        writer,
        tables,
        s3,
        front,
        async move {
            let _ = stopped.await;
        },
    ));
    Ok(EngineHandle {
        addr,
        engine: handle_engine,
        s3: s3_handle,
        stop: Some(stop),
        task: Some(task),
    })
}

/// Starts an in-memory engine with default settings on `127.0.0.1:0`.
pub async fn spawn_in_memory() -> Result<EngineHandle, EngineError> {
    spawn(Config::default()).await
}
