//! The `producer` command line: its flags and what it does with them (dots
//! or a status line, totals, Ctrl-C). `main.rs` parses and calls [`run`].

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::{fleet, fleet_names, replay_pace, OnBadLine, Options, Replay, Source, MAX_UNICORNS};
use anyhow::Context;
use clap::{CommandFactory, Parser, ValueEnum};
use kinesis::writer::{BatchWriter, WriterStats};
use kinesis::ConnectOptions;
use sensor::RideConfig;

/// Simulates unicorns on a Wild Ryde and sends their position and vitals to
/// Amazon Kinesis Data Streams (or any Kinesis-compatible endpoint), one
/// record per unicorn per second. Flags take Go syntax too: -name X, -name=X.
#[derive(Debug, Parser)]
#[command(name = "producer", version = cli::VERSION, after_help = AFTER_HELP)]
pub struct Cli {
    /// Unicorn name (repeat the flag or separate with commas for a fleet)
    #[arg(long, value_delimiter = ',', default_value = "Shadowfax", value_parser = unicorn_name)]
    name: Vec<String>,
    /// Stream name
    #[arg(long, default_value = "wildrydes", value_parser = cli::goflags::stream_name)]
    stream: String,
    #[command(flatten)]
    aws: cli::AwsArgs,
    /// Stop after N records per unicorn (with -replay: N records in all)
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Stop after this long, e.g. 30s, 5m, 1h
    #[arg(long, value_name = "D", value_parser = cli::goflags::positive_duration)]
    duration: Option<Duration>,
    /// Seed for reproducible rides [default: random]
    #[arg(long, value_name = "S")]
    seed: Option<u64>,
    /// Simulate a fleet of N unicorns (named ones first, then well-known horses), 1 to 100000
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_UNICORNS as u64))]
    unicorns: u64,
    /// Time between two records of one unicorn
    #[arg(long, value_name = "D", default_value = "1s", value_parser = cli::goflags::positive_duration)]
    interval: Duration,
    /// Records per second in all (sets the interval of a fleet; pace of a replay)
    #[arg(long, value_name = "R", value_parser = cli::goflags::positive_number, allow_negative_numbers = true)]
    rate: Option<f64>,
    /// Rides that turn and slowly lose magic instead of straight lines
    #[arg(long)]
    lively: bool,
    /// Rides whose magic runs low: start at 60 points, MagicPoints drain
    /// below 50 within about half a minute (to see `wildrydes alert` fire)
    #[arg(long, conflicts_with = "lively")]
    low_magic: bool,
    /// Send each line of a JSON-lines file, or each row of a CSV file as a JSON object
    #[arg(long, value_name = "FILE")]
    replay: Option<PathBuf>,
    /// Field of replayed records used as the partition key (the line number when absent)
    #[arg(long, value_name = "FIELD", default_value = "Name")]
    key: String,
    /// What to do with a malformed replay line
    #[arg(long, value_enum, default_value_t = BadLine::Stop)]
    on_bad_line: BadLine,
    /// Use PutRecords even for a single unicorn
    #[arg(long)]
    batch: bool,
    /// Print neither dots nor a status line
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    gen: cli::gen::GenArgs,
}

const AFTER_HELP: &str = "\
Examples:
  producer -name Rocinante                                  # the workshop, against AWS
  producer -endpoint http://127.0.0.1:4567 -name Rocinante  # against `wildrydes up`
  producer -unicorns 1000 -duration 5m -seed 7              # a fleet, with PutRecords
  producer -replay trips.csv -key vendor_id -rate 100       # replay a file

Output: a `.` per record on stdout like the original; on a terminal, a status
line on stderr instead. Ctrl-C stops after the calls in flight and prints totals.

Exit codes: 0 done (count, duration, end of replay, Ctrl-C or a closed stdout),
1 error (unknown stream, no credentials, unreachable endpoint, rejected record,
bad replay line), 2 invalid flags.";

/// A unicorn name is its records' partition key: 1 to 256 characters.
fn unicorn_name(name: &str) -> Result<String, String> {
    if (1..=256).contains(&name.chars().count()) {
        Ok(name.to_owned())
    } else {
        Err("a name (the partition key) has 1 to 256 characters".into())
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BadLine {
    Skip,
    Stop,
}

/// The `producer` binary after parsing.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.gen.handle(Cli::command())? {
        return Ok(());
    }
    let conn = kinesis::connect(&ConnectOptions {
        region: cli.aws.region.clone(),
        endpoint: cli.aws.endpoint.clone(),
        ..ConnectOptions::default()
    })
    .await?;
    conn.check_stream(&cli.stream).await?;

    let (mut source, options) = source_and_options(&cli)?;
    let writer = BatchWriter::new(conn, &cli.stream).with_max_in_flight(4);
    let stats = writer.stats().clone();

    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let ctrl_c_tx = stop_tx.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            // Said before the run is told to stop, so it comes before the totals.
            eprintln!("\nproducer: stopping after the calls in flight (Ctrl-C again to quit now)");
            let _ = ctrl_c_tx.send(true);
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let shutdown = async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };

    let status_line = !cli.quiet && std::io::stderr().is_terminal();
    let dots = !cli.quiet && !status_line;
    let status_task = status_line.then(|| tokio::spawn(print_status(stats.clone())));
    let started = Instant::now();
    let mut stdout = std::io::stdout().lock();
    let on_sent = |n: u64| {
        if dots {
            let written = stdout
                .write_all(&b".".repeat(n as usize))
                .and_then(|()| stdout.flush());
            if written.is_err() {
                // A closed stdout (`producer | head -c 10`) ends the run quietly.
                let _ = stop_tx.send(true);
            }
        }
    };
    let result = crate::run(&writer, &mut source, &options, shutdown, on_sent).await;
    if let Some(task) = status_task {
        task.abort();
    }
    if dots {
        let _ = writeln!(std::io::stdout());
    }
    if !cli.quiet {
        eprintln!(
            "{}{} records sent in {:.1}s, {} retried, {} failed",
            if status_line { "\r\x1b[2K" } else { "" },
            WriterStats::get(&stats.sent),
            started.elapsed().as_secs_f64(),
            WriterStats::get(&stats.retried),
            WriterStats::get(&stats.failed),
        );
    }
    if let Source::Replay { replay, .. } = &source {
        if replay.skipped > 0 {
            eprintln!("producer: skipped {} malformed lines", replay.skipped);
        }
    }
    result.with_context(|| format!("cannot write to stream {:?}", cli.stream))?;
    Ok(())
}

fn source_and_options(cli: &Cli) -> anyhow::Result<(Source, Options)> {
    // -rate, -interval and -unicorns were checked by their value parsers.
    let mut options = Options {
        interval: cli.interval,
        count: cli.count,
        duration: cli.duration,
        single_puts: false,
    };
    if let Some(path) = &cli.replay {
        let on_bad_line = match cli.on_bad_line {
            BadLine::Skip => OnBadLine::Skip,
            BadLine::Stop => OnBadLine::Stop,
        };
        let replay = Replay::open(path, &cli.key, on_bad_line)?;
        let rate = cli.rate.unwrap_or(1.0 / cli.interval.as_secs_f64());
        let (period, per_tick) = replay_pace(rate);
        options.interval = period;
        return Ok((
            Source::Replay {
                replay: Box::new(replay),
                per_tick,
            },
            options,
        ));
    }
    let names = fleet_names(&cli.name, cli.unicorns as usize);
    if let Some(rate) = cli.rate {
        options.interval = Duration::from_secs_f64(names.len() as f64 / rate);
    }
    options.single_puts = names.len() == 1 && !cli.batch;
    let seed = cli.seed.unwrap_or_else(rand::random);
    let config = if cli.low_magic {
        crate::low_magic_ride()
    } else if cli.lively {
        RideConfig::lively()
    } else {
        RideConfig::default()
    };
    Ok((Source::Fleet(fleet(&names, seed, &config)), options))
}

/// Rewrites one status line on stderr every second.
async fn print_status(stats: std::sync::Arc<WriterStats>) {
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut last = 0;
    loop {
        ticker.tick().await;
        let sent = stats.sent.load(Ordering::Relaxed);
        eprint!(
            "\r\x1b[2K{sent} sent, {}/s, {} retried, {} throttled, {} failed",
            sent - last,
            WriterStats::get(&stats.retried),
            WriterStats::get(&stats.throttled),
            WriterStats::get(&stats.failed),
        );
        last = sent;
    }
}
