//! `wildrydes process`: the stream-processing stage of the workshop,
//! summaries of `wildrydes-summary` into the DynamoDB table
//! `UnicornSensorData` (see the `process` crate).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

#[derive(Debug, Args)]
pub struct ProcessArgs {
    /// Stream of summaries (the aggregator's destination).
    #[arg(long, default_value = "wildrydes-summary", value_parser = cli::goflags::stream_name)]
    source: String,
    /// DynamoDB table, with Name (S) as partition key and StatusTime (S) as sort key.
    #[arg(long, default_value = process::TABLE, value_parser = process::table::table_name)]
    table: String,
    /// Where a first run (no state yet) starts: latest, trim_horizon (oldest),
    /// a time, a duration ago (15m), at:SEQ, after:SEQ.
    #[arg(long, value_name = "POS", default_value = "latest", value_parser = kinesis::parse_from)]
    from: kinesis::StartPosition,
    /// Save the source positions to FILE (atomically) once a batch's items
    /// are written, and resume from it; without it nothing survives a restart.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Put records that are not valid summaries on this stream too (they are
    /// always counted, logged and skipped).
    #[arg(long, value_name = "STREAM", value_parser = cli::goflags::stream_name)]
    dead_letter: Option<String>,
    /// BatchWriteItem calls in flight.
    #[arg(long, value_name = "N", default_value_t = 8,
          value_parser = clap::value_parser!(u64).range(1..=256))]
    in_flight: u64,
    #[command(flatten)]
    aws: cli::AwsArgs,
}

pub async fn run(args: ProcessArgs) -> Result<()> {
    if let Some(path) = &args.state {
        aggregate::runner::check_state_file(path)?;
    }
    let options = process::RunOptions {
        connect: kinesis::ConnectOptions {
            region: args.aws.region,
            endpoint: args.aws.endpoint,
            ..kinesis::ConnectOptions::default()
        },
        source: args.source,
        table: args.table,
        state_file: args.state,
        start: args.from,
        dead_letter: args.dead_letter,
        in_flight: usize::try_from(args.in_flight).unwrap_or(8),
        reader: None,
    };
    tracing::info!(source = %options.source, table = %options.table, "processing summaries into the table");
    let saved = options.state_file.is_some();
    let stats = process::run(options, cli::shutdown_signal()).await?;
    eprintln!(
        "process: read {} records, wrote {} items; {} invalid ({} dead-lettered){}",
        stats.records,
        stats.items_written,
        stats.invalid,
        stats.dead_lettered,
        if saved {
            " (positions saved)"
        } else {
            " (not saved: no --state)"
        }
    );
    Ok(())
}
