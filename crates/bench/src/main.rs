//! `wildrydes-bench`: benchmarks (not timed tests). Each subcommand measures one
//! component and prints figures; `engine` measures the embedded Kinesis engine
//! (or any Kinesis endpoint) through the AWS SDK for Rust.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType, StreamStatus};
use aws_sdk_kinesis::Client;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "wildrydes-bench",
    about = "Benchmarks for wildrydes components"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// PutRecords/PutRecord/GetRecords throughput and latency of a Kinesis engine.
    Engine(EngineArgs),
}

#[derive(Debug, Args)]
struct EngineArgs {
    /// Benchmark this endpoint instead of an in-process durable engine.
    #[arg(long)]
    endpoint: Option<String>,
    /// Run the in-process engine in memory instead of durable in a temp dir.
    #[arg(long, conflicts_with = "endpoint")]
    in_memory: bool,
    /// Records to store with PutRecords (500 per call).
    #[arg(long, default_value_t = 500_000)]
    records: u64,
    /// Concurrent PutRecords callers.
    #[arg(long, default_value_t = 8)]
    callers: u64,
    /// Shards of the benchmark stream.
    #[arg(long, default_value_t = 4)]
    shards: i32,
    /// Sequential PutRecord calls for the latency figures.
    #[arg(long, default_value_t = 2_000)]
    latency_calls: usize,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Engine(args) => engine_bench(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn client(url: &str) -> Client {
    let conf = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("bench", "bench", None, None, "bench"))
        .endpoint_url(url)
        .build();
    Client::from_conf(conf)
}

fn rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// A ~150-byte JSON record like the unicorn sensor's.
fn payload(i: u64) -> Vec<u8> {
    format!(
        "{{\"Name\":\"Unicorn{:05}\",\"StatusTime\":\"2026-11-25 06:00:00.000\",\"Latitude\":40.749167,\"Longitude\":-73.985184,\"Distance\":30,\"MagicPoints\":150,\"HealthPoints\":150}}\n",
        i % 100_000
    )
    .into_bytes()
}

async fn engine_bench(args: EngineArgs) -> Result<()> {
    let tmp = tempfile::tempdir().context("creating a temp data dir")?;
    let mut handle = None;
    let url = match &args.endpoint {
        Some(url) => url.clone(),
        None => {
            let config = engine::Config {
                data_dir: (!args.in_memory).then(|| tmp.path().to_path_buf()),
                ..engine::Config::default()
            };
            let h = engine::spawn(config).await.context("starting the engine")?;
            let url = h.url();
            handle = Some(h);
            url
        }
    };
    let mode = match (&args.endpoint, args.in_memory) {
        (Some(_), _) => "remote endpoint",
        (None, true) => "in-process, in memory",
        (None, false) => "in-process, durable (fdatasync per group commit)",
    };
    println!("engine: {url} ({mode})");
    let c = client(&url);
    let stream = format!("bench-{}", rand::random::<u32>());
    c.create_stream()
        .stream_name(&stream)
        .shard_count(args.shards)
        .send()
        .await
        .context("CreateStream")?;
    loop {
        let d = c
            .describe_stream_summary()
            .stream_name(&stream)
            .send()
            .await?;
        if d.stream_description_summary.map(|s| s.stream_status) == Some(StreamStatus::Active) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // PutRecords throughput.
    let calls = args.records.div_ceil(500);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.callers.max(1) {
        let c = c.clone();
        let stream = stream.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut stored = 0u64;
            loop {
                let call = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if call >= calls {
                    return Ok::<u64, anyhow::Error>(stored);
                }
                let mut entries: Vec<PutRecordsRequestEntry> = (0..500)
                    .map(|i| {
                        let n = call * 500 + i;
                        PutRecordsRequestEntry::builder()
                            .partition_key(format!("Unicorn{:05}", n % 100_000))
                            .data(Blob::new(payload(n)))
                            .build()
                            .expect("entry")
                    })
                    .collect();
                // Resend failed entries (throttling is off, but be a correct client).
                while !entries.is_empty() {
                    let out = c
                        .put_records()
                        .stream_name(&stream)
                        .set_records(Some(entries.clone()))
                        .send()
                        .await
                        .context("PutRecords")?;
                    let failed: Vec<_> = entries
                        .into_iter()
                        .zip(out.records())
                        .filter(|(_, r)| r.error_code.is_some())
                        .map(|(e, _)| e)
                        .collect();
                    stored += 500 - failed.len() as u64;
                    entries = failed;
                }
            }
        }));
    }
    let mut stored = 0;
    for t in tasks {
        stored += t.await??;
    }
    let put_secs = start.elapsed().as_secs_f64();
    println!(
        "PutRecords: {stored} records ({} callers, 500 x ~150 B per call) in {put_secs:.2} s = {:.0} records/s",
        args.callers,
        stored as f64 / put_secs
    );
    if handle.is_some() {
        if let Some(rss) = rss_mb() {
            println!("RSS after storing {stored} records: {rss:.0} MB");
        }
    }

    // Single PutRecord latency.
    let mut lat = Vec::with_capacity(args.latency_calls);
    for i in 0..args.latency_calls {
        let t = Instant::now();
        c.put_record()
            .stream_name(&stream)
            .partition_key(format!("Unicorn{i}"))
            .data(Blob::new(payload(i as u64)))
            .send()
            .await
            .context("PutRecord")?;
        lat.push(t.elapsed());
    }
    lat.sort();
    if !lat.is_empty() {
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        println!(
            "PutRecord latency over {} sequential calls: p50 {:.2} ms, p99 {:.2} ms",
            lat.len(),
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3
        );
    }

    // GetRecords: read everything back, one reader per shard.
    let shards = c
        .list_shards()
        .stream_name(&stream)
        .send()
        .await?
        .shards
        .unwrap_or_default();
    let start = Instant::now();
    let mut readers = Vec::new();
    for s in shards {
        let c = c.clone();
        let stream = stream.clone();
        readers.push(tokio::spawn(async move {
            let mut it = c
                .get_shard_iterator()
                .stream_name(&stream)
                .shard_id(s.shard_id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator;
            let mut n = 0u64;
            while let Some(i) = it {
                let page = c
                    .get_records()
                    .shard_iterator(i)
                    .limit(10_000)
                    .send()
                    .await?;
                if page.records.is_empty() {
                    break;
                }
                n += page.records.len() as u64;
                it = page.next_shard_iterator;
            }
            Ok::<u64, anyhow::Error>(n)
        }));
    }
    let mut read = 0;
    for r in readers {
        read += r.await??;
    }
    let get_secs = start.elapsed().as_secs_f64();
    println!(
        "GetRecords: {read} records in {get_secs:.2} s = {:.0} records/s",
        read as f64 / get_secs
    );
    if handle.is_some() {
        if let Some(rss) = rss_mb() {
            println!("RSS at the end: {rss:.0} MB");
        }
    }
    if let Some(h) = handle {
        h.shutdown().await.context("stopping the engine")?;
    }
    Ok(())
}
