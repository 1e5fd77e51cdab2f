//! `wildrydes-bench`: benchmarks (not timed tests). Each subcommand measures
//! one component, prints figures and stops by itself; `all` runs them all and
//! ends with one summary table.

mod aggregate;
mod archive;
mod consumer;
mod dynamodb;
mod engine;
mod load;
mod procs;
mod producer;
mod s3;
mod stats;
mod stress;

use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "wildrydes-bench",
    about = "Benchmarks for wildrydes components: prints figures and stops by itself",
    after_help = "Build first: cargo build --release -p bench -p producer -p consumer -p wildrydes\n\
                  (the benchmarks run the producer, consumer and wildrydes binaries found next to this one)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// PutRecords/PutRecord/GetRecords throughput and latency, put-to-get
    /// latency and RSS of our engine, and of kinesalite and kinesis-mock with --peers.
    Engine(engine::EngineArgs),
    /// Fleet capacity of the real `producer` binary: records/s, CPU and peak
    /// RSS for growing -unicorns N against our engine.
    Producer(producer::ProducerArgs),
    /// Put-to-print latency of the real `consumer` binary, and pretty
    /// printing throughput next to `jq .`.
    Consumer(consumer::ConsumerArgs),
    /// Records/s aggregated end to end through our engine by `aggregate::run`.
    Aggregate(aggregate::AggregateArgs),
    /// Many concurrent maximum-size PutRecords against `wildrydes serve`:
    /// its peak RSS and the ListStreams latency meanwhile.
    Stress(stress::StressArgs),
    /// DynamoDB: BatchWriteItem items/s, Query p50/p99, Scan items/s and RSS of our engine, and of dynalite and moto with --peers.
    Dynamodb(dynamodb::DynamoDbArgs),
    /// `wildrydes load` of a 1,000,000-line file into DynamoDB (items/s) and `wildrydes process` lag p50/p99.
    Load(load::LoadArgs),
    /// S3 PutObject/GetObject/ListObjectsV2 and RSS, ours and moto (--peers).
    S3(s3::S3Args),
    /// Archive records/s into the engine's S3, and query times over 10 million archived records (JSON, Parquet; DuckDB with --peers).
    Archive(archive::ArchiveArgs),
    /// Everything above with default knobs, then one summary table with the
    /// date, the machine and the command (about 3-4 minutes with --peers).
    All(AllArgs),
}

#[derive(Debug, Args)]
struct AllArgs {
    /// Compare the engine with kinesalite and kinesis-mock (npm install, cached).
    #[arg(long)]
    peers: bool,
    /// Where the peers are installed [default: $XDG_CACHE_HOME/wildrydes/peers
    /// or ~/.cache/wildrydes/peers].
    #[arg(long, value_name = "DIR")]
    peers_dir: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("error")),
        )
        .init();
    let cli = Cli::parse();
    if kinesis::goflags::parse_only() {
        // The README test checks every documented command line parses.
        return ExitCode::SUCCESS;
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Ctrl-C drops the benchmark's future: its guards kill the processes it
    // started and remove its temp dirs.
    let result = rt.block_on(async {
        tokio::select! {
            r = run(cli) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
        }
    });
    drop(rt);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Engine(args) => engine::run(&args).await.map(|_| ()),
        Command::Producer(args) => producer::run(&args).await.map(|_| ()),
        Command::Consumer(args) => consumer::run(&args).await.map(|_| ()),
        Command::Aggregate(args) => aggregate::run(&args).await.map(|_| ()),
        Command::Stress(args) => stress::run(&args).await.map(|_| ()),
        Command::Dynamodb(args) => dynamodb::run(&args).await.map(|_| ()),
        Command::Load(args) => load::run(&args).await,
        Command::S3(args) => s3::run(&args).await,
        Command::Archive(args) => archive::run(&args).await,
        Command::All(args) => all(args).await,
    }
}

/// The knobs' defaults, as if the subcommand had been given no flag.
fn defaults<T: Args>() -> T {
    #[derive(Parser)]
    struct Wrap<T: Args> {
        #[command(flatten)]
        inner: T,
    }
    Wrap::<T>::parse_from(["wildrydes-bench"]).inner
}

async fn all(args: AllArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let load_before = procs::load_average();
    // Shorter phases than the subcommands' defaults keep `all --peers`
    // under 5 minutes on a 2-core machine.
    let mut engine_args: engine::EngineArgs = defaults();
    engine_args.peers = args.peers;
    engine_args.peers_dir = args.peers_dir;
    engine_args.workload.budget = 8.0;
    let mut producer_args: producer::ProducerArgs = defaults();
    producer_args.measure = 8.0;
    let mut failures = Vec::new();
    let engine = engine::run(&engine_args).await;
    println!();
    let producer = producer::run(&producer_args).await;
    println!();
    let consumer = consumer::run(&defaults()).await;
    println!();
    let aggregate = aggregate::run(&defaults()).await;
    println!();

    println!("== summary");
    println!("date:    {date}");
    println!("machine: {}", procs::machine());
    println!("command: {command}");
    println!(
        "load:    {} before, {} after (1-minute load average; above the core count means other work competed)",
        load_before,
        procs::load_average()
    );
    println!("took:    {:.0} s", started.elapsed().as_secs_f64());
    println!();
    let header: Vec<String> = ["component", "figure", "measured", "goal", "verdict"]
        .map(String::from)
        .to_vec();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |a: &str, b: String, c: String, d: &str, e: String| {
        rows.push(vec![a.to_owned(), b, c, d.to_owned(), e]);
    };
    let verdict = |ok: bool| if ok { "holds" } else { "FAILS" }.to_owned();
    match &engine {
        Ok(report) => {
            let ours = &report.results[0];
            let peers: Vec<_> = report.results[1..]
                .iter()
                .filter(|r| r.error.is_none())
                .collect();
            let vs = |get: fn(&engine::EngineResult) -> Option<f64>| {
                peers
                    .iter()
                    .map(|p| format!("{} {}", stats::ratio(get(ours), get(p)), p.label))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let cmp = |get: fn(&engine::EngineResult) -> Option<f64>,
                       f: fn(Option<f64>) -> String| {
                let v = vs(get);
                if v.is_empty() {
                    f(get(ours))
                } else {
                    format!("{} (ours/peer: {v})", f(get(ours)))
                }
            };
            row(
                "engine",
                "PutRecords records/s".into(),
                cmp(|r| r.put_rate, stats::rate),
                "",
                String::new(),
            );
            row(
                "engine",
                "PutRecord latency p50".into(),
                cmp(|r| r.put_p50, stats::ms),
                "",
                String::new(),
            );
            row(
                "engine",
                "PutRecord latency p99".into(),
                cmp(|r| r.put_p99, stats::ms),
                "",
                String::new(),
            );
            row(
                "engine",
                "GetRecords records/s".into(),
                cmp(|r| r.get_rate, stats::rate),
                "",
                String::new(),
            );
            row(
                "engine",
                "put-to-get latency p50".into(),
                cmp(|r| r.e2e_p50, stats::ms),
                "",
                String::new(),
            );
            row(
                "engine",
                "put-to-get latency p99".into(),
                cmp(|r| r.e2e_p99, stats::ms),
                "",
                String::new(),
            );
            row(
                "engine",
                "server RSS at the end".into(),
                cmp(|r| r.rss_mb, stats::mb),
                "",
                String::new(),
            );
            for p in report.results[1..].iter().filter(|r| r.error.is_some()) {
                row(
                    "engine",
                    format!("{} failed", p.label),
                    p.error.clone().unwrap_or_default(),
                    "",
                    String::new(),
                );
            }
            if !engine_args.peers {
                row(
                    "engine",
                    "peers".into(),
                    "not run (add --peers)".into(),
                    "",
                    String::new(),
                );
            }
        }
        Err(e) => {
            row(
                "engine",
                "error".into(),
                format!("{e:#}"),
                "",
                "FAILS".into(),
            );
            failures.push("engine");
        }
    }
    match &producer {
        Ok(report) => {
            for f in &report.fleets {
                row(
                    "producer",
                    format!("-unicorns {}", f.unicorns),
                    format!(
                        "{} of {}/s, {} cores, peak RSS {}, startup {}",
                        stats::rate(f.rate),
                        stats::thousands(f.unicorns as f64),
                        stats::opt(f.cpu_cores, |c| format!("{c:.3}")),
                        stats::mb(f.peak_rss_mb),
                        stats::opt(f.startup_secs, |s| format!("{s:.1} s"))
                    ),
                    "",
                    String::new(),
                );
            }
            row(
                "producer",
                format!("{} unicorns at 1 Hz", report.args.goal_unicorns),
                stats::opt(report.goal.as_ref().and_then(|g| g.cpu_cores), |c| {
                    format!("{c:.3} cores")
                }),
                &format!("< {} core", report.args.goal_cpu),
                report.goal_holds().map_or("-".into(), verdict),
            );
        }
        Err(e) => {
            row(
                "producer",
                "error".into(),
                format!("{e:#}"),
                "",
                "FAILS".into(),
            );
            failures.push("producer");
        }
    }
    match &consumer {
        Ok(r) => {
            row(
                "consumer",
                format!(
                    "put-to-print p50 / p99, -efo ({} records)",
                    r.fan_out.samples
                ),
                format!(
                    "{} / {}",
                    stats::ms(r.fan_out.p50),
                    stats::ms(r.fan_out.p99)
                ),
                &format!("<= {} / {} ms", r.goal_p50, r.goal_p99),
                r.latency_holds().map_or("-".into(), verdict),
            );
            row(
                "consumer",
                format!(
                    "put-to-print p50 / p99, polling ({} records)",
                    r.polling.samples
                ),
                format!(
                    "{} / {}",
                    stats::ms(r.polling.p50),
                    stats::ms(r.polling.p99)
                ),
                "",
                "5 GetRecords/s/shard floor".into(),
            );
            row(
                "consumer",
                "pretty printing vs jq .".into(),
                format!(
                    "{} vs {} = {}",
                    stats::rate(r.printer_rate),
                    stats::rate(r.jq_rate),
                    stats::opt(r.jq_ratio(), |x| format!("{x:.1}x"))
                ),
                &format!(">= {}x", r.goal_jq),
                r.jq_ratio()
                    .map_or("- (no jq)".into(), |x| verdict(x >= r.goal_jq)),
            );
            row(
                "consumer",
                "binary, engine to /dev/null".into(),
                stats::rate(r.binary_rate),
                "",
                String::new(),
            );
        }
        Err(e) => {
            row(
                "consumer",
                "error".into(),
                format!("{e:#}"),
                "",
                "FAILS".into(),
            );
            failures.push("consumer");
        }
    }
    match &aggregate {
        Ok(r) => row(
            "aggregate",
            format!(
                "records/s end to end ({} records, {} summaries)",
                stats::thousands(r.records as f64),
                stats::thousands(r.summaries as f64)
            ),
            format!(
                "{} ({:.2} s; GetRecords alone {})",
                stats::rate(r.rate),
                r.secs,
                stats::rate(Some(r.raw_get_rate))
            ),
            &format!(">= {}/s", stats::thousands(r.goal)),
            r.rate.map_or("-".into(), |x| verdict(x >= r.goal)),
        ),
        Err(e) => {
            row(
                "aggregate",
                "error".into(),
                format!("{e:#}"),
                "",
                "FAILS".into(),
            );
            failures.push("aggregate");
        }
    }
    stats::print_table_left(&header, &rows);
    if !failures.is_empty() {
        bail!("benchmarks failed: {}", failures.join(", "));
    }
    Ok(())
}
