//! The `wildrydes` command. Each subcommand is one function; `main` only parses
//! arguments, sets up logging and reports errors once, with their causes.

use std::error::Error;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "wildrydes",
    version,
    about = "Wild Rydes: unicorn telemetry over a Kinesis-compatible stream, offline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the embedded Kinesis-compatible engine (AWS SDKs, boto3 and the AWS CLI
    /// talk to it with --endpoint-url / AWS_ENDPOINT_URL).
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// TCP port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 4567)]
    port: u16,
    /// Address to bind; keep the loopback default unless others must reach it.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
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
    /// Enforce per-shard throughput limits like the real service.
    #[arg(long)]
    enforce_limits: bool,
    /// Fraction of calls failing with InternalFailure (fault injection, 0..1).
    #[arg(long, default_value_t = 0.0)]
    fail_call_ratio: f64,
    /// Fraction of PutRecords entries failing with InternalFailure (0..1).
    #[arg(long, default_value_t = 0.0)]
    fail_entry_ratio: f64,
}

type BoxError = Box<dyn Error + Send + Sync>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return report(&e),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report(e.as_ref()),
    }
}

/// Prints an error and its chain of causes once.
fn report(e: &(dyn Error + 'static)) -> ExitCode {
    let mut msg = format!("error: {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        msg.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    eprintln!("{msg}");
    ExitCode::FAILURE
}

#[derive(Debug)]
struct Context(String, BoxError);

impl std::fmt::Display for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Error for Context {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.1.as_ref())
    }
}

async fn serve(args: ServeArgs) -> Result<(), BoxError> {
    let data_dir = if args.in_memory {
        None
    } else {
        Some(
            args.data_dir
                .unwrap_or_else(|| PathBuf::from(".wildrydes-data")),
        )
    };
    for (name, ratio) in [
        ("--fail-call-ratio", args.fail_call_ratio),
        ("--fail-entry-ratio", args.fail_entry_ratio),
    ] {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(format!("{name} must be between 0 and 1, got {ratio}").into());
        }
    }
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| Context(format!("cannot listen on {addr}"), e.into()))?;
    let config = engine::Config {
        data_dir: data_dir.clone(),
        enforce_limits: args.enforce_limits,
        fail_call_ratio: args.fail_call_ratio,
        fail_entry_ratio: args.fail_entry_ratio,
        cache_bytes: args.cache_mb.saturating_mul(1 << 20),
        ..engine::Config::default()
    };
    let handle = engine::spawn_on(listener, config).await?;
    match &data_dir {
        Some(dir) => tracing::info!(data_dir = %dir.display(), "durable storage"),
        None => tracing::info!("in-memory storage: nothing survives a restart"),
    }
    tracing::info!(endpoint = %handle.url(), "kinesis engine listening");
    println!("{}", handle.url());
    handle.serve_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

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
    tracing::info!("shutting down: finishing in-flight requests");
}
