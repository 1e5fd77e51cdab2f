//! The `wildrydes` command: the local Wild Rydes stack and its stages. Each
//! subcommand lives in its own module; `main` only parses arguments (Go
//! syntax too: `-port 4567`) and dispatches (see the `cli` crate for the
//! rest: logging, errors printed once with their causes, exit codes).
//!
//! Exit codes: 0 stopped cleanly (Ctrl-C, SIGTERM, closed stdout), 1 error,
//! 2 invalid arguments.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod aggregating;
mod alerting;
mod archiving;
mod banner;
mod gen;
mod live;
mod load;
mod processing;
mod querying;
mod repair;
mod serve;
mod up;

#[derive(Debug, Parser)]
#[command(
    name = "wildrydes",
    version = cli::VERSION,
    about = "Wild Rydes: unicorn telemetry over Kinesis, DynamoDB and S3, with a local engine serving all three",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const AFTER_HELP: &str = "\
Examples:
  wildrydes demo --window 10s                 # engine + streams + aggregator + fleet, summaries on stdout
  wildrydes up                                # the local stack on 127.0.0.1:4567, data in ./.wildrydes-data
  wildrydes serve --in-memory --port 4567     # the engine alone
  wildrydes aggregate --endpoint http://127.0.0.1:4567 --window 1m --state agg.json

Exit codes: 0 stopped cleanly (Ctrl-C, SIGTERM), 1 error, 2 invalid arguments.";

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the local stack: the engine, streams `wildrydes` and
    /// `wildrydes-summary`, and the aggregator between them.
    Up(up::UpArgs),
    /// `up` plus a simulated fleet, printing every new summary to stdout.
    Demo(up::DemoArgs),
    /// Serve the embedded engine alone (AWS SDKs, boto3 and the AWS CLI talk
    /// to it with --endpoint-url / AWS_ENDPOINT_URL).
    Serve(serve::ServeArgs),
    /// Aggregate a raw stream into per-unicorn, per-window summaries (the
    /// workshop's Kinesis Data Analytics application), against AWS or any endpoint.
    Aggregate(aggregating::AggregateArgs),
    /// Repair a damaged data dir that `serve` refuses: keeps every intact
    /// record (Kinesis) and write group (DynamoDB journal), prints (and saves
    /// in the dir) exactly what was lost.
    Repair(repair::RepairArgs),
    /// Write each summary of a stream as an item of the DynamoDB table UnicornSensorData.
    Process(processing::ProcessArgs),
    /// Load ride files (JSON lines or CSV, local or s3://BUCKET/KEY) into UnicornSensorData.
    Load(load::LoadArgs),
    /// Raise one alert when a unicorn's MagicPoints fall below a threshold (on `wildrydes-alerts`).
    Alert(alerting::AlertArgs),
    /// Serve the live map of the fleet for streams on AWS or any endpoint.
    Dashboard(live::DashboardArgs),
    /// Archive a stream into time-partitioned objects in S3 or a directory (Firehose).
    Archive(archiving::ArchiveArgs),
    /// SQL over the archive: the table wildrydes (Athena); a prompt without SQL
    /// (runs `wildrydes-query`, installed beside `wildrydes`).
    Query(querying::QueryArgs),
    /// Print the completion script of a shell (bash, zsh, fish, powershell, elvish).
    Completions(gen::CompletionsArgs),
    /// Print the man page, or write one per command to a directory.
    Man(gen::ManArgs),
}

/// Checks between flags that clap cannot express.
fn check(cli: &Cli) -> Result<(), clap::Error> {
    match &cli.command {
        Command::Aggregate(args) => aggregating::check(args),
        _ => Ok(()),
    }
}

/// The engine's allocator (see Cargo.toml).
#[cfg(not(windows))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    cli::main(
        cli::Program::new("wildrydes"),
        check,
        |cli: Cli| async move {
            match cli.command {
                Command::Up(args) => up::up(args).await,
                Command::Demo(args) => up::demo(args).await,
                Command::Serve(args) => serve::run(args).await,
                Command::Aggregate(args) => aggregating::run(args).await,
                Command::Repair(args) => repair::repair(args),
                Command::Process(args) => processing::run(args).await,
                Command::Load(args) => load::run(args).await,
                Command::Alert(args) => alerting::run(args).await,
                Command::Dashboard(args) => live::run(args).await,
                Command::Archive(args) => archiving::run(args).await,
                Command::Query(args) => querying::run(args),
                Command::Completions(args) => gen::completions::<Cli>(args),
                Command::Man(args) => gen::man::<Cli>(args),
            }
        },
    )
}
