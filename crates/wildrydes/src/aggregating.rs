//! `wildrydes aggregate`: per-unicorn, per-window summaries of a raw stream
//! (the workshop's Kinesis Data Analytics application), against AWS or any
//! endpoint.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, CommandFactory, ValueEnum};

use crate::serve::parse_window;
use cli::shutdown_signal;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TimeArg {
    /// Arrival time at the stream (like Kinesis Data Analytics' ROWTIME).
    Processing,
    /// The record's own StatusTime, with --lateness allowed.
    Event,
}

#[derive(Debug, Args)]
pub struct AggregateArgs {
    /// Stream of raw status records.
    #[arg(long, default_value = "wildrydes", value_parser = cli::goflags::stream_name)]
    source: String,
    /// Stream the summaries are written to (not the source).
    #[arg(long, default_value = "wildrydes-summary", value_parser = cli::goflags::stream_name)]
    destination: String,
    /// Window length, e.g. 60s, 1m, 10s.
    #[arg(long, value_name = "D", default_value = "60s", value_parser = parse_window)]
    window: Duration,
    /// Which time cuts the windows.
    #[arg(long, value_enum, default_value_t = TimeArg::Processing)]
    time: TimeArg,
    /// Event time: how late a record may arrive before it is counted as late.
    #[arg(long, value_name = "D", default_value = "10s", value_parser = cli::duration)]
    lateness: Duration,
    /// Save open windows and source positions to FILE (atomically) and resume
    /// from it; without it nothing survives a restart. Its directory must
    /// exist; a state file of another source stream (or of one deleted and
    /// created again since) is refused.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Where a first run (no state yet) starts: latest, trim_horizon (oldest),
    /// a time, a duration ago (15m), at:SEQ, after:SEQ.
    #[arg(long, value_name = "POS", default_value = "latest", value_parser = kinesis::parse_from)]
    from: kinesis::StartPosition,
    #[command(flatten)]
    aws: cli::AwsArgs,
}

/// Checks between `aggregate` flags that clap cannot express.
pub fn check(args: &AggregateArgs) -> Result<(), clap::Error> {
    if args.source == args.destination {
        let mut command = crate::Cli::command();
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

pub async fn run(args: AggregateArgs) -> Result<()> {
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
        region: args.aws.region,
        endpoint: args.aws.endpoint,
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
