//! `wildrydes up` and `wildrydes demo`: the local stack, and the stack with a
//! simulated fleet printing its summaries.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::serve::{
    bind, parse_auth, parse_window, raise_open_files_limit, warn_if_exposed, ListenArgs,
};
use crate::{banner, live};
use cli::shutdown_signal;

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    dashboard: live::StackDashboardArgs,
    /// Directory for durable data (created if missing).
    #[arg(
        long,
        value_name = "DIR",
        default_value = ".wildrydes-data",
        conflicts_with = "in_memory"
    )]
    data_dir: PathBuf,
    /// Keep everything in memory; nothing survives a restart.
    #[arg(long)]
    in_memory: bool,
    /// Aggregation window, e.g. 60s, 1m, 10s.
    #[arg(long, value_name = "D", default_value = "60s", value_parser = parse_window)]
    window: Duration,
    /// Shards of each stream the stack creates.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=500))]
    shards: i32,
    /// Require AWS Signature Version 4 on every request, made with this
    /// access key id and secret (repeatable for several keys), as AWS does (the stack's own clients sign
    /// with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, which must be one of them):
    /// unsigned, malformed, wrongly signed or unknown-key requests get
    /// MissingAuthenticationTokenException, IncompleteSignatureException,
    /// InvalidSignatureException or UnrecognizedClientException. Without it
    /// any request is accepted, signed or not.
    #[arg(long, value_name = "ACCESS_KEY:SECRET", value_parser = parse_auth)]
    auth: Vec<(String, String)>,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    listen: ListenArgs,
    #[command(flatten)]
    dashboard: live::StackDashboardArgs,
    /// Keep data in DIR (default: in memory, nothing kept).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Aggregation window; short so summaries appear within seconds.
    #[arg(long, value_name = "D", default_value = "10s", value_parser = parse_window)]
    window: Duration,
    /// Number of simulated unicorns.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    unicorns: u64,
    /// Seed of the rides.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub async fn up(args: UpArgs) -> Result<()> {
    let data_dir = (!args.in_memory).then_some(args.data_dir);
    if !args.auth.is_empty() {
        // The stack's own producer and aggregator sign with the standard
        // credential chain; without a matching key they would be refused.
        let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default();
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
        if !args.auth.iter().any(|(k, s)| *k == key && *s == secret) {
            anyhow::bail!(
                "with --auth the stack's own clients sign with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: export one of the --auth pairs in them"
            );
        }
    }
    let engine = engine::Config {
        auth: args.auth,
        ..engine::Config::default()
    };
    engine_port_free(&args.listen).await?;
    let map = live::bind(&args.listen, &args.dashboard).await?;
    let stack = start_stack(&args.listen, data_dir, args.window, args.shards, engine).await?;
    let (stack, map) = live::serve(stack, map, args.dashboard).await?;
    println!("{}", banner::banner(&stack, &map));
    stack.run_until(shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

pub async fn demo(args: DemoArgs) -> Result<()> {
    let engine = engine::Config::default();
    engine_port_free(&args.listen).await?;
    let map = live::bind(&args.listen, &args.dashboard).await?;
    let stack = start_stack(&args.listen, args.data_dir, args.window, 2, engine).await?;
    let (mut stack, map) = live::serve(stack, map, args.dashboard).await?;
    // stdout carries the summaries; the banner goes to stderr.
    eprintln!("{}", banner::banner(&stack, &map));
    eprintln!(
        "demo: {} unicorns report every second; a summary per unicorn every {}.",
        args.unicorns,
        humantime::format_duration(args.window)
    );
    let demo = stack::DemoOptions {
        unicorns: usize::try_from(args.unicorns).unwrap_or(usize::MAX),
        seed: args.seed,
        ..stack::DemoOptions::default()
    };
    stack.add_demo(demo, std::io::stdout());
    stack.run_until(shutdown_signal()).await?;
    Ok(())
}

/// Fails on a busy engine port before the live map takes the next one, so
/// a second `up` on the same port names the engine's (a port of 0 is any
/// free one).
async fn engine_port_free(listen: &ListenArgs) -> Result<()> {
    if listen.port != 0 {
        drop(crate::serve::bind(listen).await?);
    }
    Ok(())
}

async fn start_stack(
    listen: &ListenArgs,
    data_dir: Option<PathBuf>,
    window: Duration,
    shards: i32,
    engine: engine::Config,
) -> Result<stack::Stack> {
    raise_open_files_limit();
    let listener = bind(listen).await?;
    warn_if_exposed(listener.local_addr().ok(), !engine.auth.is_empty());
    let options = stack::StackOptions {
        data_dir: data_dir.clone(),
        window,
        shards,
        engine,
    };
    let what = match &data_dir {
        Some(dir) => format!("starting the local stack with data dir {}", dir.display()),
        None => "starting the local stack in memory".to_owned(),
    };
    stack::Stack::start(listener, options).await.context(what)
}
