//! `wildrydes alert`: the workshop's alert when a unicorn's MagicPoints fall
//! below a threshold, one alert record per crossing on `wildrydes-alerts`
//! (see the `alert` crate).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct AlertArgs {
    /// Stream of raw status records (the producer's).
    #[arg(long, default_value = "wildrydes", value_parser = cli::goflags::stream_name)]
    source: String,
    /// Alert when a unicorn's MagicPoints fall below this (once per crossing;
    /// re-armed when it is back at or above it).
    #[arg(long, value_name = "N", default_value_t = alert::DEFAULT_THRESHOLD)]
    threshold: i64,
    /// Stream the alert records are written to.
    #[arg(long, default_value = alert::ALERT_STREAM, value_parser = cli::goflags::stream_name)]
    destination: String,
    /// Where a first run (no state yet) starts: latest, trim_horizon (oldest),
    /// a time, a duration ago (15m), at:SEQ, after:SEQ.
    #[arg(long, value_name = "POS", default_value = "latest", value_parser = kinesis::parse_from)]
    from: kinesis::StartPosition,
    /// Save which unicorns are below and the source positions to FILE
    /// (atomically) once a batch's alerts are written, and resume from it;
    /// without it nothing survives a restart.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// AWS region [default: AWS_REGION, the profile, else us-east-1]
    #[arg(long)]
    region: Option<String>,
    /// Kinesis endpoint, e.g. http://127.0.0.1:4567 [default: AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
}

pub async fn run(args: AlertArgs) -> Result<()> {
    if let Some(path) = &args.state {
        aggregate::runner::check_state_file(path)?;
    }
    let options = alert::RunOptions {
        connect: kinesis::ConnectOptions {
            region: args.region,
            endpoint: args.endpoint,
            ..kinesis::ConnectOptions::default()
        },
        source: args.source,
        destination: args.destination,
        threshold: args.threshold,
        state_file: args.state,
        start: args.from,
        reader: None,
    };
    tracing::info!(
        source = %options.source,
        destination = %options.destination,
        threshold = options.threshold,
        "raising an alert when a unicorn's MagicPoints fall below the threshold"
    );
    let saved = options.state_file.is_some();
    let stats = alert::run(options, cli::shutdown_signal()).await?;
    eprintln!(
        "alert: read {} records, raised {} alerts; {} invalid{}",
        stats.records,
        stats.alerts,
        stats.invalid,
        if saved {
            " (state saved)"
        } else {
            " (not saved: no --state)"
        }
    );
    Ok(())
}
