//! `wildrydes-bench`: benchmarks (not timed tests). Each subcommand measures
//! one component, prints figures and stops by itself; `all` runs them all and
//! ends with one summary table.

mod aggregate;
mod all;
mod archive;
mod cbor;
mod consumer;
mod dashboard;
mod dynamodb;
mod engine;
mod http;
mod load;
mod procs;
mod producer;
mod s3;
mod stats;
mod stress;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

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
    /// PutRecords records/s of our engine in CBOR (as the Java SDK and the
    /// KCL send it) next to the same requests in JSON.
    Cbor(cbor::CborArgs),
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
    /// The live map: put -> browser latency, frames/s in headless Chromium, server CPU per browser (1,000 unicorns at 1 Hz).
    Dashboard(dashboard::DashboardArgs),
    /// Archive records/s into the engine's S3, and query times over 10 million archived records (JSON, Parquet; DuckDB with --peers).
    Archive(archive::ArchiveArgs),
    /// Everything above with default knobs, then one summary table with the
    /// date, the machine and the command (about 3-4 minutes with --peers).
    All(all::AllArgs),
}

fn main() -> ExitCode {
    let program = cli::Program::new("wildrydes-bench").default_log("error");
    // Ctrl-C drops the benchmark's future: its guards kill the processes it
    // started and remove its temp dirs.
    cli::main(
        program,
        |_: &Cli| Ok(()),
        |cli: Cli| async move {
            tokio::select! {
                r = run(cli) => r,
                _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
            }
        },
    )
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Engine(args) => engine::run(&args).await.map(|_| ()),
        Command::Cbor(args) => cbor::run(&args).await,
        Command::Producer(args) => producer::run(&args).await.map(|_| ()),
        Command::Consumer(args) => consumer::run(&args).await.map(|_| ()),
        Command::Aggregate(args) => aggregate::run(&args).await.map(|_| ()),
        Command::Stress(args) => stress::run(&args).await.map(|_| ()),
        Command::Dynamodb(args) => dynamodb::run(&args).await.map(|_| ()),
        Command::Load(args) => load::run(&args).await,
        Command::S3(args) => s3::run(&args).await,
        Command::Dashboard(args) => dashboard::run(&args).await,
        Command::Archive(args) => archive::run(&args).await,
        Command::All(args) => all::all(args).await,
    }
}
