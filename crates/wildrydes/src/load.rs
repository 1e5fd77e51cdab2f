//! `wildrydes load`: the file-processing stage of the workshop, ride files
//! (JSON lines or CSV, local or `s3://BUCKET/KEY`) into the DynamoDB table.

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnBadLine {
    /// Report the line (file and line number) and load the others.
    Skip,
    /// Report the line and stop there (the lines before it are loaded).
    Stop,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Ride files: one status record per line (JSON, as the producer writes
    /// them) or CSV with a header of the same field names; local paths or
    /// s3://BUCKET/KEY.
    #[arg(required = true, value_name = "FILE|s3://BUCKET/KEY")]
    files: Vec<String>,
    /// DynamoDB table, with Name (S) as partition key and StatusTime (S) as sort key.
    #[arg(long, default_value = process::TABLE, value_parser = process::table::table_name)]
    table: String,
    /// What a line that is not a valid status record does.
    #[arg(long, value_enum, default_value_t = OnBadLine::Skip)]
    on_bad_line: OnBadLine,
    /// BatchWriteItem calls in flight.
    #[arg(long, value_name = "N", default_value_t = process::LOAD_IN_FLIGHT,
          value_parser = clap::value_parser!(u64).range(1..=256))]
    in_flight: u64,
    #[command(flatten)]
    aws: cli::AwsArgs,
}

pub async fn run(args: LoadArgs) -> Result<()> {
    let clients = process::aws::connect(&process::aws::AwsOptions {
        region: args.aws.region,
        endpoint: args.aws.endpoint,
    })
    .await?;
    process::table::check_table(&clients, &args.table).await?;
    let writer = process::ItemWriter::new(clients.dynamodb.clone(), &args.table)
        .with_location(clients.dynamodb_location())
        // At most 256 (the flag's range): no truncation.
        .with_max_in_flight(args.in_flight as usize);
    let on_bad_line = match args.on_bad_line {
        OnBadLine::Skip => process::OnBadLine::Skip,
        OnBadLine::Stop => process::OnBadLine::Stop,
    };
    let started = Instant::now();
    let (mut items, mut skipped, mut lines) = (0, 0, 0);
    for file in &args.files {
        let summary = process::file::load(file, &writer, &clients.buckets, on_bad_line).await?;
        eprintln!("load: {summary}");
        items += summary.items_written;
        skipped += summary.skipped;
        lines += summary.lines;
    }
    if args.files.len() > 1 {
        let secs = started
            .elapsed()
            .max(Duration::from_micros(1))
            .as_secs_f64();
        eprintln!(
            "load: {} files: {items} items written, {skipped} bad lines skipped, {lines} lines in {secs:.2}s ({:.0} items/s)",
            args.files.len(),
            items as f64 / secs
        );
    }
    Ok(())
}
