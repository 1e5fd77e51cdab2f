//! `consumer`: reads every shard of a Kinesis stream and prints each record's
//! JSON, like the Wild Rydes workshop's Go consumer (and for `jq`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, ValueEnum};
use consumer::{parse_from, Format};
use kinesis::reader::{StartPosition, MIN_POLL_INTERVAL};
use kinesis::ConnectOptions;

/// Reads every shard of an Amazon Kinesis data stream (or a Kinesis-compatible
/// endpoint) and prints each record's JSON indented by 4 spaces, ready for jq.
/// Flags take Go syntax too: -stream X, -stream=X.
#[derive(Debug, Parser)]
#[command(name = "consumer", version = cli::VERSION, after_help = AFTER_HELP)]
struct Cli {
    /// Stream name
    #[arg(long, default_value = "wildrydes", value_parser = cli::goflags::stream_name)]
    stream: String,
    #[command(flatten)]
    aws: cli::AwsArgs,
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
    #[arg(long, value_name = "D", value_parser = cli::goflags::positive_duration)]
    idle_timeout: Option<Duration>,
    /// Wait between two polls of an idle shard (at least 200ms)
    #[arg(long, value_name = "D", default_value = "200ms", value_parser = poll_interval)]
    poll: Duration,
    /// Enhanced fan-out: have records pushed (SubscribeToShard) to the stream consumer NAME, registered if missing, instead of polling; lower latency, billed extra on AWS
    #[arg(long, value_name = "NAME", value_parser = consumer_name)]
    efo: Option<String>,
    #[command(flatten)]
    gen: cli::gen::GenArgs,
}

/// `-poll`: Kinesis allows 5 GetRecords calls per second per shard.
fn poll_interval(text: &str) -> Result<Duration, String> {
    let poll = cli::goflags::positive_duration(text)?;
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

fn main() -> ExitCode {
    let program = cli::Program::new("consumer").default_log("warn");
    cli::main(program, |_: &Cli| Ok(()), run)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.gen.handle(Cli::command())? {
        return Ok(());
    }
    let conn = kinesis::connect(&ConnectOptions {
        region: cli.aws.region,
        endpoint: cli.aws.endpoint,
        ..ConnectOptions::default()
    })
    .await?;
    let options = consumer::RunOptions {
        stream: cli.stream,
        from: cli.from,
        checkpoint: cli.checkpoint,
        format: match cli.format {
            OutputFormat::Pretty => Format::Pretty,
            OutputFormat::Compact => Format::Compact,
            OutputFormat::Envelope => Format::Envelope,
        },
        count: cli.count,
        until_caught_up: cli.until_caught_up,
        idle_timeout: cli.idle_timeout,
        poll: cli.poll,
        efo: cli.efo,
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    consumer::run(conn, options, std::io::stdout().lock(), shutdown).await?;
    Ok(())
}
