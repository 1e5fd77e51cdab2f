//! `wildrydes archive`: the workshop's Kinesis Data Firehose delivery
//! stream, the raw stream into time-partitioned objects in S3 or a
//! directory (see the `archive` crate).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Newline-delimited records exactly as they arrived.
    Json,
    /// Parquet with the status record's schema (other records go to side objects).
    Parquet,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompressionArg {
    None,
    /// The whole object (.gz) for JSON, the columns for Parquet.
    Gzip,
    /// Parquet only (Firehose's Parquet default).
    Snappy,
}

#[derive(Debug, Args)]
pub struct ArchiveArgs {
    /// Stream of raw status records.
    #[arg(long, default_value = "wildrydes", value_parser = cli::goflags::stream_name)]
    source: String,
    /// Where objects go: s3://BUCKET/PREFIX or a directory.
    #[arg(long, value_name = "LOCATION", default_value = "s3://wildrydes-data/")]
    destination: String,
    /// Write an object when the buffer holds this much (B, KiB, MiB; 1KiB to 128MiB;
    /// Firehose allows 1MiB and more).
    #[arg(long, value_name = "SIZE", default_value = "5MiB", value_parser = parse_size)]
    buffer_size: usize,
    /// Write an object when the buffer's first record is this old (0s to 900s).
    #[arg(long, value_name = "D", default_value = "60s", value_parser = parse_interval)]
    buffer_interval: Duration,
    /// none, gzip, or snappy (Parquet only).
    #[arg(long, value_enum, default_value_t = CompressionArg::None)]
    compression: CompressionArg,
    /// json (lines, as the records arrived) or parquet.
    #[arg(long, value_enum, default_value_t = FormatArg::Json)]
    format: FormatArg,
    /// Object names start with this (Firehose's delivery stream name) [default: the source]
    #[arg(long, value_name = "NAME", value_parser = cli::goflags::stream_name)]
    name: Option<String>,
    /// Save the source positions to FILE (atomically) once the objects
    /// holding the records are written, and resume from it; without it
    /// nothing survives a restart.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Where a first run (no state yet) starts: latest, trim_horizon (oldest),
    /// a time, a duration ago (15m), at:SEQ, after:SEQ.
    #[arg(long, value_name = "POS", default_value = "latest", value_parser = kinesis::parse_from)]
    from: kinesis::StartPosition,
    #[command(flatten)]
    aws: cli::AwsArgs,
}

/// `5MiB`, `512KiB`, `1MB`, `1048576` (bytes).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit_bytes: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kib" | "k" => 1024.0,
        "mib" | "m" => 1024.0 * 1024.0,
        "kb" => 1000.0,
        "mb" => 1e6,
        _ => {
            return Err(format!(
                "{text:?} is not a size: use e.g. 5MiB, 512KiB or 1048576"
            ))
        }
    };
    let bytes = number
        .parse::<f64>()
        .map_err(|_| format!("{text:?} is not a size: use e.g. 5MiB, 512KiB or 1048576"))?
        * unit_bytes;
    if !(1024.0..=128.0 * 1024.0 * 1024.0).contains(&bytes) {
        return Err(format!(
            "buffer size {text:?} is out of range: 1KiB to 128MiB"
        ));
    }
    Ok(bytes as usize)
}

fn parse_interval(text: &str) -> Result<Duration, String> {
    let d = cli::duration(text)?;
    if d > Duration::from_secs(900) {
        return Err(format!(
            "buffer interval {text:?} is too long: Firehose allows 0s to 900s"
        ));
    }
    Ok(d)
}

pub async fn run(args: ArchiveArgs) -> Result<()> {
    if let Some(path) = &args.state {
        aggregate::runner::check_state_file(path)?;
    }
    let format = match args.format {
        FormatArg::Json => archive::Format::Json,
        FormatArg::Parquet => archive::Format::Parquet,
    };
    let compression = match args.compression {
        CompressionArg::None => archive::Compression::None,
        CompressionArg::Gzip => archive::Compression::Gzip,
        CompressionArg::Snappy if matches!(format, archive::Format::Json) => {
            anyhow::bail!(
                "--compression snappy is for --format parquet only (JSON takes none or gzip)"
            )
        }
        CompressionArg::Snappy => archive::Compression::Snappy,
    };
    let destination = archive::Location::parse(&args.destination)?;
    let options = archive::ArchiveOptions {
        connect: kinesis::ConnectOptions {
            region: args.aws.region.clone(),
            endpoint: args.aws.endpoint.clone(),
            ..kinesis::ConnectOptions::default()
        },
        s3: archive::S3Options {
            region: args.aws.region,
            endpoint: args.aws.endpoint,
        },
        settings: archive::Settings {
            name: args.name.unwrap_or_else(|| args.source.clone()),
            hints: archive::Hints {
                size: args.buffer_size,
                interval: args.buffer_interval,
            },
            format,
            compression,
            ..archive::Settings::default()
        },
        source: args.source,
        destination,
        state_file: args.state,
        start: args.from,
        reader: None,
    };
    tracing::info!(
        source = %options.source,
        destination = %options.destination,
        buffer_size = options.settings.hints.size,
        buffer_interval = %humantime::format_duration(options.settings.hints.interval),
        "archiving"
    );
    let saved = options.state_file.is_some();
    let stats = archive::run(options, cli::shutdown_signal()).await?;
    eprintln!(
        "archive: read {} records, wrote {} objects ({} bytes); {} records in side objects{}",
        stats.records,
        stats.objects,
        stats.bytes,
        stats.failed_records,
        if saved {
            " (positions saved)"
        } else {
            " (not saved: no --state)"
        }
    );
    Ok(())
}
