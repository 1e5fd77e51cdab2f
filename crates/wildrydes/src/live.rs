//! The live map: `wildrydes dashboard` (streams on AWS or any endpoint) and
//! the dashboard flags of `up` and `demo` (see the `dashboard` crate).

use std::net::{IpAddr, SocketAddr};

use anyhow::{Context, Result};
use clap::Args;

/// `wildrydes dashboard`.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// TCP port of the page (0 picks a free one).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    port: u16,
    /// Address to bind; keep the loopback default unless others must see the page.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    #[command(flatten)]
    tiles: TilesArg,
    /// Stream of raw status records.
    #[arg(long, default_value = "wildrydes", value_parser = cli::goflags::stream_name)]
    source: String,
    /// Stream of per-minute summaries (skipped when missing).
    #[arg(long, default_value = "wildrydes-summary", value_parser = cli::goflags::stream_name)]
    summaries: String,
    /// Stream of alerts; when missing (on AWS alerts go to SNS) the page
    /// raises them itself from the raw stream, at --threshold.
    #[arg(long, default_value = alert::ALERT_STREAM, value_parser = cli::goflags::stream_name)]
    alerts: String,
    /// MagicPoints below which the page's own alerts fire (without an alert stream).
    #[arg(long, value_name = "N", default_value_t = alert::DEFAULT_THRESHOLD)]
    threshold: i64,
    /// Read the raw stream with enhanced fan-out through this stream consumer
    /// (registered if missing; on AWS it is billed per shard-hour) instead of
    /// polling GetRecords.
    #[arg(long, value_name = "CONSUMER")]
    fan_out: Option<String>,
    /// AWS region [default: AWS_REGION, the profile, else us-east-1]
    #[arg(long)]
    region: Option<String>,
    /// Kinesis endpoint, e.g. http://127.0.0.1:4567 [default: AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
}

/// The dashboard flags of `up` and `demo`.
#[derive(Debug, Args)]
pub struct StackDashboardArgs {
    /// TCP port of the live map, on the engine's --bind address [default:
    /// the engine's --port + 1, a free one when that is 0]
    #[arg(long, value_name = "PORT")]
    dashboard_port: Option<u16>,
    #[command(flatten)]
    tiles: TilesArg,
}

#[derive(Debug, Args)]
struct TilesArg {
    /// Map tiles: a {z}/{x}/{y} URL template, or none (a plain background
    /// with a scale; the fleet still shows)
    #[arg(long, value_name = "URL|none", default_value = dashboard::OSM_TILES)]
    tiles: dashboard::Tiles,
}

const DEFAULT_PORT: u16 = 4568;

/// Binds the map's port; `flag` is the option that sets it.
async fn listen(bind: IpAddr, port: u16, flag: &str) -> Result<tokio::net::TcpListener> {
    let addr = SocketAddr::new(bind, port);
    tokio::net::TcpListener::bind(addr).await.with_context(|| {
        format!(
            "cannot serve the dashboard on {addr} (is another wildrydes already running there? \
             stop it or choose another {flag})"
        )
    })
}

/// Binds the live map's port, before the stack starts (a busy port fails
/// before anything is touched).
pub async fn bind(
    engine: &crate::serve::ListenArgs,
    args: &StackDashboardArgs,
) -> Result<tokio::net::TcpListener> {
    let port = match (args.dashboard_port, engine.port) {
        (Some(port), _) => port,
        (None, 0) => 0,
        (None, port) => port
            .checked_add(1)
            .context("no port after the engine's: set --dashboard-port")?,
    };
    listen(engine.bind, port, "--dashboard-port").await
}

/// Serves the live map of `stack` on `listener`; returns the stack and the
/// page's URL. If it cannot start, the stack is stopped cleanly (its engine
/// flushed) before the error is returned.
pub async fn serve(
    mut stack: stack::Stack,
    listener: tokio::net::TcpListener,
    args: StackDashboardArgs,
) -> Result<(stack::Stack, String)> {
    match stack.add_dashboard(listener, args.tiles.tiles).await {
        Ok(url) => Ok((stack, url)),
        Err(err) => {
            if let Err(stop) = stack.run_until(std::future::ready(())).await {
                tracing::warn!(error = %stop, "stopping the stack");
            }
            Err(err.into())
        }
    }
}

pub async fn run(args: DashboardArgs) -> Result<()> {
    let listener = listen(args.bind, args.port, "--port").await?;
    let url = stack::local_url(listener.local_addr()?);
    let options = dashboard::DashboardOptions {
        connect: kinesis::ConnectOptions {
            region: args.region,
            endpoint: args.endpoint,
            ..kinesis::ConnectOptions::default()
        },
        feed: dashboard::FeedOptions {
            raw: args.source,
            summaries: args.summaries,
            alerts: args.alerts,
            threshold: args.threshold,
            fan_out: args.fan_out,
            ..dashboard::FeedOptions::default()
        },
        tiles: args.tiles.tiles,
        ..dashboard::DashboardOptions::default()
    };
    let dashboard = dashboard::Dashboard::start(options).await?;
    println!("dashboard: {url}/");
    dashboard.serve(listener, cli::shutdown_signal()).await?;
    Ok(())
}
