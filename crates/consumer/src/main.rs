//! `consumer`: reads every shard of a Kinesis stream and prints each record's
//! JSON, like the Wild Rydes workshop's Go consumer (and for `jq`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, Parser, ValueEnum};
use consumer::{decode, parse_from, Format, Printer};
use kinesis::reader::{Reader, ReaderOptions, StartPosition, MIN_POLL_INTERVAL};
use kinesis::ConnectOptions;

/// Reads every shard of an Amazon Kinesis data stream (or a Kinesis-compatible
/// endpoint) and prints each record's JSON indented by 4 spaces, ready for jq.
/// Flags take Go syntax too: -stream X, -stream=X.
#[derive(Debug, Parser)]
#[command(name = "consumer", version, after_help = AFTER_HELP)]
struct Cli {
    /// Stream name
    #[arg(long, default_value = "wildrydes", value_parser = kinesis::goflags::stream_name)]
    stream: String,
    /// AWS region [default: AWS_REGION, the profile, else us-east-1]
    #[arg(long)]
    region: Option<String>,
    /// Kinesis-compatible endpoint, e.g. http://127.0.0.1:4567 [default: AWS_ENDPOINT_URL_KINESIS, AWS_ENDPOINT_URL, else AWS]
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Where to start: latest, trim_horizon (oldest), a time (RFC 3339 or "2017-06-05 09:17:09"), a duration ago (15m), at:SEQ, after:SEQ
    #[arg(long, value_name = "POS", default_value = "latest", value_parser = parse_from)]
    from: StartPosition,
    /// Save the last printed sequence number per shard to FILE and resume after it (wins over -from); a checkpoint of another stream, or of a stream since deleted and created again, is refused
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = OutputFormat::Pretty)]
    format: OutputFormat,
    /// Exit after printing N records
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Exit once every shard has been read up to its tip
    #[arg(long, visible_alias = "caught-up")]
    until_caught_up: bool,
    /// Exit after no record arrived for this long, e.g. 30s, 5m
    #[arg(long, value_name = "D", value_parser = kinesis::goflags::positive_duration)]
    idle_timeout: Option<Duration>,
    /// Wait between two polls of an idle shard (at least 200ms)
    #[arg(long, value_name = "D", default_value = "200ms", value_parser = poll_interval)]
    poll: Duration,
    /// Enhanced fan-out: have records pushed (SubscribeToShard) to the stream consumer NAME, registered if missing, instead of polling; lower latency, billed extra on AWS
    #[arg(long, value_name = "NAME", value_parser = consumer_name)]
    efo: Option<String>,
}

/// `-poll`: Kinesis allows 5 GetRecords calls per second per shard.
fn poll_interval(text: &str) -> Result<Duration, String> {
    let poll = kinesis::goflags::positive_duration(text)?;
    if poll < MIN_POLL_INTERVAL {
        return Err(format!(
            "use at least {}: Kinesis allows 5 GetRecords calls per second per shard",
            humantime::format_duration(MIN_POLL_INTERVAL)
        ));
    }
    Ok(poll)
}

/// A stream consumer name as Kinesis accepts it.
fn consumer_name(name: &str) -> Result<String, String> {
    let valid = (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if valid {
        Ok(name.to_owned())
    } else {
        Err("use 1 to 128 letters, digits, '_', '.' or '-'".into())
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    /// Each record's JSON indented by 4 spaces
    Pretty,
    /// One line of JSON per record
    Compact,
    /// One JSON object per line: shard, sequence, partition_key, arrival, encoding, data
    Envelope,
}

const AFTER_HELP: &str = "\
Examples:
  consumer                                            # the workshop: stream wildrydes, from now on
  consumer -stream wildrydes-summary | jq .
  consumer -endpoint http://127.0.0.1:4567 -from oldest -until-caught-up -format compact
  consumer -from 15m -format envelope | jq 'select(.partition_key==\"Shadowfax\")'
  consumer -checkpoint pos.json -from oldest           # resumable: restarts after the last record printed

Data that is not JSON is printed as a JSON string (its text, or base64 when
binary) with a warning on stderr; gzip data is decompressed and KPL aggregated
records are split. Logs go to stderr (RUST_LOG=debug for more).

Exit codes: 0 done (-count, -until-caught-up, -idle-timeout, Ctrl-C, closed
stdout), 1 error (unknown stream, no credentials, access denied, bad
checkpoint or one of another stream), 2 invalid flags.";

fn long_flags() -> Vec<String> {
    let mut names: Vec<String> = Cli::command()
        .get_arguments()
        .filter_map(|a| a.get_long())
        .map(str::to_owned)
        .collect();
    names.extend(["help", "version", "caught-up"].map(str::to_owned));
    names
}

fn main() -> ExitCode {
    let args = kinesis::goflags::rewrite(std::env::args_os(), &long_flags());
    let cli = match Cli::try_parse_from(args) {
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
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("consumer: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        tokio::select! {
            result = run(cli) => result,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    // Shard tasks may be waiting on the network: do not wait for them.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("consumer: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let saved = match &cli.checkpoint {
        Some(path) => kinesis::checkpoint::load(path)?,
        None => None,
    };
    let conn = kinesis::connect(&ConnectOptions {
        region: cli.region.clone(),
        endpoint: cli.endpoint.clone(),
        ..ConnectOptions::default()
    })
    .await?;
    let stream = conn.describe_stream(&cli.stream).await?;
    let mut options = ReaderOptions::new(cli.stream.clone(), cli.from.clone());
    let first_run = saved.is_none();
    options.positions = saved.unwrap_or_default();
    // Positions of another stream (or of a stream deleted and created again)
    // are refused; an old file is upgraded and saved below.
    let upgraded = match &cli.checkpoint {
        Some(path) => kinesis::checkpoint::bind(path, &mut options.positions, &stream)?,
        None => false,
    };
    options.poll_interval = cli.poll;
    options.fan_out = cli.efo.clone();
    let mut reader = Reader::start(conn, options);
    let format = match cli.format {
        OutputFormat::Pretty => Format::Pretty,
        OutputFormat::Compact => Format::Compact,
        OutputFormat::Envelope => Format::Envelope,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut printer = Printer::new(format);
    let mut saved_positions = reader.positions();
    let mut last_record = tokio::time::Instant::now();
    let checkpoint = cli.checkpoint.clone();
    let save = |positions: &kinesis::Positions| -> anyhow::Result<()> {
        if let Some(path) = &checkpoint {
            kinesis::checkpoint::save(path, positions)?;
        }
        Ok(())
    };
    if first_run || upgraded {
        // Where this run starts ("latest" is now): a restart before anything
        // is printed must not skip what arrived meanwhile. A path that cannot
        // be written fails here, before anything is read.
        save(&saved_positions)?;
    }
    loop {
        let batch = match cli.idle_timeout {
            Some(idle) => match tokio::time::timeout_at(last_record + idle, reader.next()).await {
                Ok(batch) => batch?,
                Err(_) => {
                    tracing::info!(
                        "no record for {}; exiting",
                        humantime::format_duration(idle)
                    );
                    return Ok(());
                }
            },
            None => reader.next().await?,
        };
        if !batch.records.is_empty() {
            last_record = tokio::time::Instant::now();
        }
        let mut stop = false;
        let mut last_printed: Option<&str> = None;
        'records: for record in &batch.records {
            for user in decode(record) {
                if cli.count.is_some_and(|n| printer.printed >= n) {
                    stop = true;
                    break 'records;
                }
                if let Err(err) = printer.write(&mut out, &batch.shard_id, record, &user) {
                    return closed_pipe(err);
                }
            }
            // The whole record is printed: a restart resumes after it.
            last_printed = Some(&record.sequence_number);
        }
        if cli.count.is_some_and(|n| printer.printed >= n) {
            stop = true;
        }
        if !batch.records.is_empty() || stop || batch.millis_behind_latest == 0 {
            if let Err(err) = out.flush() {
                return closed_pipe(err);
            }
        }
        let mut positions = reader.positions();
        let complete = last_printed == batch.records.last().map(|r| r.sequence_number.as_str());
        if !complete {
            // Stopped inside the batch: the rest must be read again.
            positions.finished.remove(&batch.shard_id);
            match last_printed.or(saved_positions
                .shards
                .get(&batch.shard_id)
                .map(String::as_str))
            {
                Some(seq) => positions.advance(&batch.shard_id, seq),
                None => {
                    positions.shards.remove(&batch.shard_id);
                }
            }
        }
        if stop {
            if positions != saved_positions {
                save(&positions).context("saving the checkpoint before exiting")?;
            }
            return Ok(());
        }
        if positions != saved_positions {
            save(&positions)?;
            saved_positions = positions;
        }
        if cli.until_caught_up && batch.caught_up {
            return Ok(());
        }
    }
}

/// A closed stdout (`| head`) ends the run quietly; other write errors are errors.
fn closed_pipe(err: std::io::Error) -> anyhow::Result<()> {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(anyhow::Error::new(err).context("writing to stdout"))
    }
}
