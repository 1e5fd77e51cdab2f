//! The `wildrydes` command: the local Wild Rydes stack and its stages. Each
//! subcommand is one function; `main` only parses arguments (Go syntax too:
//! `-port 4567`), sets up logging and reports errors once, with their causes.
//!
//! Exit codes: 0 stopped cleanly (Ctrl-C, SIGTERM, closed stdout), 1 error,
//! 2 invalid arguments.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

mod archiving;
mod banner;
mod load;
mod processing;
mod repair;

#[derive(Debug, Parser)]
#[command(
    name = "wildrydes",
    version,
    about = "Wild Rydes: unicorn telemetry over Kinesis, with a local Kinesis-compatible engine",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const AFTER_HELP: &str = "\
Examples:
  wildrydes demo --window 10s                 # engine + streams + aggregator + fleet, summaries on stdout
  wildrydes up                                # the local stack on 127.0.0.1:4567, data in ./.wildrydes-data
  wildrydes serve --in-memory --port 4567     # the engine alone
  wildrydes aggregate --endpoint http://127.0.0.1:4567 --window 1m --state agg.json

Exit codes: 0 stopped cleanly (Ctrl-C, SIGTERM), 1 error, 2 invalid arguments.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local stack: the engine, streams `wildrydes` and
    /// `wildrydes-summary`, and the aggregator between them.
    Up(UpArgs),
    /// `up` plus a simulated fleet, printing every new summary to stdout.
    Demo(DemoArgs),
    /// Serve the embedded Kinesis-compatible engine alone (AWS SDKs, boto3 and
    /// the AWS CLI talk to it with --endpoint-url / AWS_ENDPOINT_URL).
    Serve(ServeArgs),
    /// Aggregate a raw stream into per-unicorn, per-window summaries (the
    /// workshop's Kinesis Data Analytics application), against AWS or any endpoint.
    Aggregate(AggregateArgs),
    /// Repair a damaged data dir that `serve` refuses: keeps every intact
    /// record, prints (and saves in the dir) exactly what was lost.
    Repair(repair::RepairArgs),
    /// Write each summary of a stream as an item of the DynamoDB table UnicornSensorData.
    Process(processing::ProcessArgs),
    /// Load ride files (JSON lines or CSV, local or s3://BUCKET/KEY) into UnicornSensorData.
    Load(load::LoadArgs),
    /// Archive a stream into time-partitioned objects in S3 or a directory (Firehose).
    Archive(archiving::ArchiveArgs),
    /// SQL over the archive: the table wildrydes (Athena); a prompt without SQL.
    #[cfg(feature = "query")]
    Query(query::cli::QueryArgs),
}

#[derive(Debug, Args)]
struct ListenArgs {
    /// TCP port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 4567)]
    port: u16,
    /// Address to bind; keep the loopback default unless others must reach it.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
}

#[derive(Debug, Args)]
struct UpArgs {
    #[command(flatten)]
    listen: ListenArgs,
    /// Directory for durable data (created if missing).
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".wildrydes-data",
        conflicts_with = "in_memory"
    )]
    data_dir: PathBuf,
    /// Keep everything in memory; nothing survives a restart.
    #[arg(long)]
    in_memory: bool,
    /// Aggregation window, e.g. 60s, 1m, 10s.
    #[arg(long, value_name = "D", default_value = "60s", value_parser = parse_window)]
    window: Duration,
    /// Shards of each stream the stack creates.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=500))]
    shards: i32,
    /// Require AWS Signature Version 4 on every request, made with this
    /// access key id and secret (repeatable for several keys), as AWS does (the stack's own clients sign
    /// with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, which must be one of them):
    /// unsigned, malformed, wrongly signed or unknown-key requests get
    /// MissingAuthenticationTokenException, IncompleteSignatureException,
    /// InvalidSignatureException or UnrecognizedClientException. Without it
    /// any request is accepted, signed or not.
    #[arg(long, value_name = "ACCESS_KEY:SECRET", value_parser = parse_auth)]
    auth: Vec<(String, String)>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    listen: ListenArgs,
    /// Keep data in DIR (default: in memory, nothing kept).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Aggregation window; short so summaries appear within seconds.
    #[arg(long, value_name = "D", default_value = "10s", value_parser = parse_window)]
    window: Duration,
    /// Number of simulated unicorns.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    unicorns: u64,
    /// Seed of the rides.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Debug, Args)]
struct ServeArgs {
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
    #[arg(long, value_name = "D", default_value = "0ms", value_parser = parse_duration)]
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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TimeArg {
    /// Arrival time at the stream (like Kinesis Data Analytics' ROWTIME).
    Processing,
    /// The record's own StatusTime, with --lateness allowed.
    Event,
}

#[derive(Debug, Args)]
struct AggregateArgs {
    /// Stream of raw status records.
    #[arg(long, default_value = "wildrydes", value_parser = kinesis::goflags::stream_name)]
    source: String,
    /// Stream the summaries are written to (not the source).
    #[arg(long, default_value = "wildrydes-summary", value_parser = kinesis::goflags::stream_name)]
    destination: String,
    /// Window length, e.g. 60s, 1m, 10s.
    #[arg(long, value_name = "D", default_value = "60s", value_parser = parse_window)]
    window: Duration,
    /// Which time cuts the windows.
    #[arg(long, value_enum, default_value_t = TimeArg::Processing)]
    time: TimeArg,
    /// Event time: how late a record may arrive before it is counted as late.
    #[arg(long, value_name = "D", default_value = "10s", value_parser = parse_duration)]
    lateness: Duration,
    /// Save open windows and source positions to FILE (atomically) and resume
    /// from it; without it nothing survives a restart. Its directory must
    /// exist; a state file of another source stream (or of one deleted and
    /// created again since) is refused.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Where a first run (no state yet) starts: latest, trim_horizon (oldest),
    /// a time, a duration ago (15m), at:SEQ, after:SEQ.
    #[arg(long, value_name = "POS", default_value = "latest", value_parser = consumer::parse_from)]
    from: kinesis::StartPosition,
    /// AWS region [default: AWS_REGION, the profile, else us-east-1]
    #[arg(long)]
    region: Option<String>,
    /// Kinesis-compatible endpoint, e.g. http://127.0.0.1:4567 [default:
    /// AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    aggregate::parse_duration(text).map_err(|e| e.to_string())
}

fn parse_window(text: &str) -> Result<Duration, String> {
    let window = parse_duration(text)?;
    if window < Duration::from_millis(100) {
        return Err(format!("window {text:?} is too short: use at least 100ms"));
    }
    Ok(window)
}

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let timeout = parse_duration(text)?;
    if timeout.is_zero() {
        return Err(format!("timeout {text:?} must be longer than zero"));
    }
    Ok(timeout)
}

/// `ACCESS_KEY:SECRET` (split at the first colon; access key ids have none).
fn parse_auth(text: &str) -> Result<(String, String), String> {
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

/// A durable engine keeps one open file per retained log segment (128 MiB
/// each): raise the soft open-files limit to the hard one so that a long
/// retention does not run out of descriptors at the usual soft limit of 1024.
#[cfg(unix)]
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open files limit"),
        Err(err) => tracing::warn!(error = %err, "could not raise the open files limit"),
    }
}

#[cfg(not(unix))]
fn raise_open_files_limit() {}

/// Checks between `aggregate` flags that clap cannot express.
fn check_aggregate_args(args: &AggregateArgs) -> Result<(), clap::Error> {
    if args.source == args.destination {
        let mut command = Cli::command();
        command.build();
        let aggregate = command
            .find_subcommand_mut("aggregate")
            .expect("aggregate is a subcommand");
        return Err(aggregate.error(
            clap::error::ErrorKind::ArgumentConflict,
            format!(
                "--source and --destination are both {:?}: the summaries would be aggregated again",
                args.source
            ),
        ));
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = kinesis::goflags::rewrite(std::env::args_os(), &[] as &[&str]);
    let parsed = Cli::try_parse_from(args).and_then(|cli| match &cli.command {
        Command::Aggregate(args) => check_aggregate_args(args).map(|()| cli),
        _ => Ok(cli),
    });
    let cli = match parsed {
        Ok(_) if kinesis::goflags::parse_only() => return ExitCode::SUCCESS,
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    if !matches!(cli.command, Command::Aggregate(_)) {
        raise_open_files_limit();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("wildrydes: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => up(args).await,
            Command::Demo(args) => demo(args).await,
            Command::Serve(args) => serve(args).await,
            Command::Aggregate(args) => run_aggregate(args).await,
            Command::Repair(args) => repair::repair(args),
            Command::Process(args) => processing::run(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Archive(args) => archiving::run(args).await,
            #[cfg(feature = "query")]
            Command::Query(args) => query::cli::run(args).await,
        }
    });
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("wildrydes: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bind(listen: &ListenArgs) -> Result<tokio::net::TcpListener> {
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
fn warn_if_exposed(addr: Option<SocketAddr>, authenticated: bool) {
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

async fn start_stack(
    listen: &ListenArgs,
    data_dir: Option<PathBuf>,
    window: Duration,
    shards: i32,
    engine: engine::Config,
) -> Result<stack::Stack> {
    let listener = bind(listen).await?;
    warn_if_exposed(listener.local_addr().ok(), !engine.auth.is_empty());
    let options = stack::StackOptions {
        data_dir: data_dir.clone(),
        window,
        shards,
        engine,
    };
    let what = match &data_dir {
        Some(dir) => format!("starting the local stack with data dir {}", dir.display()),
        None => "starting the local stack in memory".to_owned(),
    };
    stack::Stack::start(listener, options).await.context(what)
}

async fn up(args: UpArgs) -> Result<()> {
    let data_dir = (!args.in_memory).then_some(args.data_dir);
    if !args.auth.is_empty() {
        // The stack's own producer and aggregator sign with the standard
        // credential chain; without a matching key they would be refused.
        let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default();
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
        if !args.auth.iter().any(|(k, s)| *k == key && *s == secret) {
            anyhow::bail!(
                "with --auth the stack's own clients sign with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: export one of the --auth pairs in them"
            );
        }
    }
    let engine = engine::Config {
        auth: args.auth,
        ..engine::Config::default()
    };
    let stack = start_stack(&args.listen, data_dir, args.window, args.shards, engine).await?;
    println!("{}", banner::banner(&stack));
    stack.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn demo(args: DemoArgs) -> Result<()> {
    let engine = engine::Config::default();
    let mut stack = start_stack(&args.listen, args.data_dir, args.window, 2, engine).await?;
    // stdout carries the summaries; the banner goes to stderr.
    eprintln!("{}", banner::banner(&stack));
    eprintln!(
        "demo: {} unicorns report every second; a summary per unicorn every {}.",
        args.unicorns,
        humantime::format_duration(args.window)
    );
    let demo = stack::DemoOptions {
        unicorns: usize::try_from(args.unicorns).unwrap_or(usize::MAX),
        seed: args.seed,
        ..stack::DemoOptions::default()
    };
    stack.add_demo(demo, std::io::stdout());
    stack.run_until(shutdown_signal()).await?;
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<()> {
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
    tracing::info!(endpoint = %url, listening = %handle.addr(), "kinesis engine listening");
    println!("{url}");
    handle.serve_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

async fn run_aggregate(args: AggregateArgs) -> Result<()> {
    // A state file that cannot be saved fails now, not after reading.
    if let Some(path) = &args.state {
        aggregate::runner::check_state_file(path)?;
    }
    let start = args.from;
    let time = match args.time {
        TimeArg::Processing => aggregate::TimeMode::Processing,
        TimeArg::Event => aggregate::TimeMode::Event {
            allowed_lateness: args.lateness,
        },
    };
    let connect = kinesis::ConnectOptions {
        region: args.region,
        endpoint: args.endpoint,
        ..kinesis::ConnectOptions::default()
    };
    let conn = kinesis::connect(&connect).await?;
    for stream in [&args.source, &args.destination] {
        conn.check_stream(stream).await?;
    }
    tracing::info!(
        source = %args.source,
        destination = %args.destination,
        window = %humantime::format_duration(args.window),
        endpoint = %conn.location(),
        "aggregating"
    );
    let options = aggregate::RunOptions {
        connect,
        source: args.source,
        destination: args.destination,
        aggregation: aggregate::AggregatorConfig {
            window: args.window,
            time,
        },
        state_file: args.state,
        start,
        ..aggregate::RunOptions::default()
    };
    let stats = aggregate::run(options, shutdown_signal()).await?;
    let counters = stats.counters;
    eprintln!(
        "aggregate: read {} records, wrote {} summaries; {} invalid, {} late; {} windows open{}",
        stats.records_read,
        stats.summaries_written,
        counters.invalid,
        counters.late,
        stats.open_windows,
        if stats.saves > 0 {
            " (saved)"
        } else {
            " (not saved: no --state)"
        }
    );
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutting down: finishing in-flight work");
}
