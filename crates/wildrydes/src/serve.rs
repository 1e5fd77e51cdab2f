//! `wildrydes serve`: the embedded engine alone (Kinesis, DynamoDB and S3 on
//! one port), and the listening flags `up` and `demo` share.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use cli::shutdown_signal;

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// TCP port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 4567)]
    pub port: u16,
    /// Address to bind; keep the loopback default unless others must reach it.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    listen: ListenArgs,
    /// Directory for durable data (created if missing). Default: ./.wildrydes-data
    #[arg(long, value_name = "DIR", conflicts_with = "in_memory")]
    data_dir: Option<PathBuf>,
    /// Keep everything in memory; nothing survives a restart.
    #[arg(long)]
    in_memory: bool,
    /// Durable mode: MiB of recent records kept in memory; older records are
    /// read from disk, so memory stays bounded however much is stored.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 64,
        conflicts_with = "in_memory"
    )]
    cache_mb: u64,
    /// Enforce throughput limits like the real services (Kinesis per shard,
    /// DynamoDB per provisioned table and index).
    #[arg(long)]
    enforce_limits: bool,
    /// Fraction of calls failing with an internal error (Kinesis InternalFailure,
    /// DynamoDB 500 InternalServerError; fault injection, 0..1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_ratio)]
    fail_call_ratio: f64,
    /// Fraction of PutRecords entries failing with InternalFailure, and of
    /// BatchWriteItem / BatchGetItem requests left unprocessed (0..1).
    #[arg(long, default_value_t = 0.0, value_parser = parse_ratio)]
    fail_entry_ratio: f64,
    /// How long a stream (or table) stays CREATING, UPDATING or DELETING, as on AWS
    /// (0ms: changes are ACTIVE at once; e.g. 500ms makes SDK waiters wait).
    #[arg(long, value_name = "D", default_value = "0ms", value_parser = cli::duration)]
    state_delay: Duration,
    /// Open shards allowed over all streams (the account's shard limit).
    #[arg(long, value_name = "N", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    shard_limit: u32,
    /// Close a connection that has not sent a request's complete headers
    /// within D of its first byte (slowloris).
    #[arg(long, value_name = "D", default_value = "10s", value_parser = parse_timeout)]
    header_timeout: Duration,
    /// Close a connection with no request in flight for D (keep it longer
    /// than your clients' pool idle timeout, 90s in the AWS SDKs).
    #[arg(long, value_name = "D", default_value = "120s", value_parser = parse_timeout)]
    idle_timeout: Duration,
    /// Answer 408 and close the connection when a request body is not
    /// received within D. Responses are never cut: SubscribeToShard streams
    /// last minutes.
    #[arg(long, value_name = "D", default_value = "30s", value_parser = parse_timeout)]
    body_timeout: Duration,
    /// Answer 400 RequestTimeout to an S3 upload (PutObject, UploadPart)
    /// whose body sends no byte for D, as S3 does; nothing is stored. An
    /// upload as a whole has no time limit: it may be gigabytes.
    #[arg(long, value_name = "D", default_value = "20s", value_parser = parse_timeout)]
    body_idle_timeout: Duration,
    /// Connections served at once; further clients wait until one closes.
    #[arg(long, value_name = "N", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// MiB of request bodies held at once; further requests wait for memory
    /// instead of growing it. Bodies are also limited per action like the
    /// service (14 MiB for PutRecords and PutRecord, whose records may reach
    /// 10 MiB with UpdateMaxRecordSize; 1 MiB for the others; 413 beyond).
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(8..=4096))]
    body_budget_mb: u64,
    /// Require AWS Signature Version 4 on every request, made with this
    /// access key id and secret (repeatable for several keys), as AWS does:
    /// unsigned, malformed, wrongly signed or unknown-key requests get
    /// MissingAuthenticationTokenException, IncompleteSignatureException,
    /// InvalidSignatureException or UnrecognizedClientException. Without it
    /// any request is accepted, signed or not.
    #[arg(long, value_name = "ACCESS_KEY:SECRET", value_parser = parse_auth)]
    auth: Vec<(String, String)>,
}

pub fn parse_window(text: &str) -> Result<Duration, String> {
    let window = cli::duration(text)?;
    if window < Duration::from_millis(100) {
        return Err(format!("window {text:?} is too short: use at least 100ms"));
    }
    Ok(window)
}

pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = cli::duration(text)?;
    if timeout.is_zero() {
        return Err(format!("timeout {text:?} must be longer than zero"));
    }
    Ok(timeout)
}

/// `ACCESS_KEY:SECRET` (split at the first colon; access key ids have none).
pub fn parse_auth(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((key, secret)) if !key.is_empty() && !secret.is_empty() => {
            Ok((key.to_owned(), secret.to_owned()))
        }
        _ => Err(format!(
            "{text:?} is not ACCESS_KEY:SECRET (an access key id, a colon, its secret)"
        )),
    }
}

fn parse_ratio(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(ratio) if (0.0..=1.0).contains(&ratio) => Ok(ratio),
        _ => Err(format!("{text:?} is not a ratio between 0 and 1")),
    }
}

pub async fn run(args: ServeArgs) -> Result<()> {
    raise_open_files_limit();
    let data_dir = if args.in_memory {
        None
    } else {
        Some(
            args.data_dir
                .unwrap_or_else(|| PathBuf::from(".wildrydes-data")),
        )
    };
    let listener = bind(&args.listen).await?;
    let config = engine::Config {
        data_dir: data_dir.clone(),
        enforce_limits: args.enforce_limits,
        fail_call_ratio: args.fail_call_ratio,
        fail_entry_ratio: args.fail_entry_ratio,
        stream_activation_delay: args.state_delay,
        shard_limit: args.shard_limit,
        auth: args.auth,
        cache_bytes: args.cache_mb.saturating_mul(1 << 20),
        header_timeout: args.header_timeout,
        idle_timeout: args.idle_timeout,
        body_timeout: args.body_timeout,
        body_idle_timeout: args.body_idle_timeout,
        max_connections: args.max_connections as usize,
        body_budget: args.body_budget_mb << 20,
        ..engine::Config::default()
    };
    warn_if_exposed(listener.local_addr().ok(), !config.auth.is_empty());
    let handle = engine::spawn_on(listener, config)
        .await
        .context("starting the kinesis engine")?;
    match &data_dir {
        Some(dir) => tracing::info!(data_dir = %dir.display(), "durable storage"),
        None => tracing::info!("in-memory storage: nothing survives a restart"),
    }
    let url = stack::local_url(handle.addr());
    tracing::info!(endpoint = %url, listening = %handle.addr(), "engine listening (Kinesis, DynamoDB, S3)");
    println!("{url}");
    handle.serve_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

pub async fn bind(listen: &ListenArgs) -> Result<tokio::net::TcpListener> {
    let addr = SocketAddr::new(listen.bind, listen.port);
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot listen on {addr} (is another wildrydes already running there? \
             stop it or choose another --port)"
        )
    })
}

/// An engine reachable from other machines serves anyone who connects
/// (without --auth, it checks no credentials; with it, over plain HTTP).
/// Say so on stderr, whatever the log level.
pub fn warn_if_exposed(addr: Option<SocketAddr>, authenticated: bool) {
    let Some(addr) = addr.filter(|a| !a.ip().is_loopback()) else {
        return;
    };
    let exposure = if authenticated {
        "requests are checked against the --auth keys, but travel in plain HTTP (no TLS)"
    } else {
        "anyone who can reach this machine can read, write and delete every stream \
         (the engine checks no credentials; see --auth)"
    };
    eprintln!(
        "wildrydes: WARNING: listening on {addr}, which is not a loopback address: \
         {exposure}. Use --bind 127.0.0.1 unless that is intended."
    );
}

/// A durable engine keeps one open file per retained log segment (128 MiB
/// each): raise the soft open-files limit to the hard one so that a long
/// retention does not run out of descriptors at the usual soft limit of 1024.
#[cfg(unix)]
pub fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(err) => tracing::warn!(error = %err, "could not raise the open files limit"),
    }
}

#[cfg(not(unix))]
pub fn raise_open_files_limit() {}
