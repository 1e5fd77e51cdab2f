//! `wildrydes-bench engine`: one workload, through the AWS SDK for Rust,
//! against our engine and (with `--peers`) kinesalite and kinesis-mock.

mod table;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_kinesis::config::retry::RetryConfig;
use aws_sdk_kinesis::config::timeout::TimeoutConfig;
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, Shard, ShardIteratorType, StreamStatus};
use aws_sdk_kinesis::Client;
use clap::Args;

use crate::procs::{self, Server};
use crate::stats;

#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Also run kinesalite and kinesis-mock (installed with npm into
    /// --peers-dir, reused when present) and print ratios ours/peer.
    #[arg(long)]
    pub peers: bool,
    /// Where the peers are installed [default: $XDG_CACHE_HOME/wildrydes/peers
    /// or ~/.cache/wildrydes/peers].
    #[arg(long, value_name = "DIR")]
    pub peers_dir: Option<std::path::PathBuf>,
    /// Benchmark this endpoint instead of starting `wildrydes serve`
    /// (no RSS figure then).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// Run our engine with --in-memory instead of a durable --data-dir.
    #[arg(long, conflicts_with = "endpoint")]
    pub in_memory: bool,
    #[command(flatten)]
    pub workload: Workload,
}

/// The workload, identical for every engine; each phase stops at its count
/// or after --budget, whichever comes first.
#[derive(Debug, Clone, Args)]
pub struct Workload {
    /// Records to store with PutRecords (500 per call, ~150 bytes each).
    #[arg(long, default_value_t = 500_000)]
    pub records: u64,
    /// Concurrent PutRecords callers.
    #[arg(long, default_value_t = 8)]
    pub callers: u64,
    /// Shards of the benchmark stream.
    #[arg(long, default_value_t = 4)]
    pub shards: i32,
    /// Sequential PutRecord calls for the latency figures.
    #[arg(long, default_value_t = 2_000)]
    pub latency_calls: usize,
    /// Records timed from PutRecord until a GetRecords poller (1-shard stream,
    /// 5 ms between empty polls) returns them.
    #[arg(long, default_value_t = 300)]
    pub e2e_records: usize,
    /// Time budget of each phase, seconds.
    #[arg(long, default_value_t = 12.0)]
    pub budget: f64,
}

/// Figures of one engine.
#[derive(Debug, Clone, Default)]
pub struct EngineResult {
    pub label: String,
    pub put_records: u64,
    pub put_rate: Option<f64>,
    pub put_p50: Option<f64>,
    pub put_p99: Option<f64>,
    pub put_calls: usize,
    pub get_records: u64,
    pub get_rate: Option<f64>,
    pub e2e_p50: Option<f64>,
    pub e2e_p99: Option<f64>,
    pub e2e_samples: usize,
    pub rss_mb: Option<f64>,
    pub peak_rss_mb: Option<f64>,
    pub error: Option<String>,
}

/// The test kit's Kinesis client for `url`, with the SDK's standard retries
/// (as a user's client has) and a 60 s operation timeout.
pub fn client(url: &str) -> Client {
    let conf = testkit::kinesis(url)
        .config()
        .to_builder()
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(60))
                .build(),
        )
        .build();
    Client::from_conf(conf)
}

/// A ~150-byte JSON record like the unicorn sensor's.
pub fn payload(i: u64) -> Vec<u8> {
    format!(
        "{{\"Name\":\"Unicorn{:05}\",\"StatusTime\":\"2026-11-25 06:00:00.000\",\"Latitude\":40.749167,\"Longitude\":-73.985184,\"Distance\":30,\"MagicPoints\":150,\"HealthPoints\":150}}\n",
        i % 100_000
    )
    .into_bytes()
}

/// Waits until the endpoint answers ListStreams (or the process died).
pub async fn wait_ready(server: &mut Server, timeout: Duration) -> Result<()> {
    let c = client(&server.url);
    let start = Instant::now();
    loop {
        match c.list_streams().send().await {
            Ok(_) => return Ok(()),
            Err(e) => {
                if let Some(status) = server.proc.exited() {
                    bail!(
                        "{} exited ({status}) before answering: {}",
                        server.label,
                        server.log_tail()
                    );
                }
                if start.elapsed() > timeout {
                    bail!(
                        "{} did not answer ListStreams within {timeout:?}: {}",
                        server.label,
                        aws_sdk_kinesis::error::DisplayErrorContext(e)
                    );
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The shards of `stream`.
async fn list_shards(c: &Client, stream: &str) -> Result<Vec<Shard>> {
    Ok(c.list_shards()
        .stream_name(stream)
        .send()
        .await
        .map_err(sdk)
        .context("ListShards")?
        .shards
        .unwrap_or_default())
}

/// An iterator of one shard of `stream`.
async fn shard_iterator(
    c: &Client,
    stream: &str,
    shard_id: &str,
    kind: ShardIteratorType,
) -> Result<Option<String>> {
    Ok(c.get_shard_iterator()
        .stream_name(stream)
        .shard_id(shard_id)
        .shard_iterator_type(kind)
        .send()
        .await
        .map_err(sdk)
        .context("GetShardIterator")?
        .shard_iterator)
}

/// An iterator of the first shard of `stream`.
pub async fn first_shard_iterator(
    c: &Client,
    stream: &str,
    kind: ShardIteratorType,
) -> Result<Option<String>> {
    let shard = list_shards(c, stream)
        .await?
        .into_iter()
        .next()
        .with_context(|| format!("stream {stream} has no shard"))?;
    shard_iterator(c, stream, &shard.shard_id, kind).await
}

/// Creates a stream and waits until it is ACTIVE (kinesalite and
/// kinesis-mock keep new streams CREATING for ~500 ms).
pub async fn create_stream(c: &Client, stream: &str, shards: i32) -> Result<()> {
    c.create_stream()
        .stream_name(stream)
        .shard_count(shards)
        .send()
        .await
        .map_err(sdk)
        .with_context(|| format!("CreateStream {stream}"))?;
    let start = Instant::now();
    loop {
        let d = c
            .describe_stream_summary()
            .stream_name(stream)
            .send()
            .await
            .map_err(sdk)
            .context("DescribeStreamSummary")?;
        if d.stream_description_summary.map(|s| s.stream_status) == Some(StreamStatus::Active) {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(30) {
            bail!("stream {stream} not ACTIVE after 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Stores up to `records` records with concurrent PutRecords calls of 500
/// within `budget`; returns (stored, seconds).
pub async fn put_records_phase(
    c: &Client,
    stream: &str,
    records: u64,
    callers: u64,
    budget: Duration,
    make: impl Fn(u64) -> (String, Vec<u8>) + Send + Sync + 'static,
) -> Result<(u64, f64)> {
    let calls = records.div_ceil(500);
    let next = Arc::new(AtomicU64::new(0));
    let make = Arc::new(make);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers.max(1) {
        let c = c.clone();
        let stream = stream.to_owned();
        let next = next.clone();
        let make = make.clone();
        tasks.push(tokio::spawn(async move {
            let mut stored = 0u64;
            loop {
                let call = next.fetch_add(1, Ordering::Relaxed);
                if call >= calls || start.elapsed() > budget {
                    return Ok::<u64, anyhow::Error>(stored);
                }
                let first = call * 500;
                let last = (first + 500).min(records);
                let mut entries: Vec<PutRecordsRequestEntry> = (first..last)
                    .map(|n| {
                        let (key, data) = make(n);
                        PutRecordsRequestEntry::builder()
                            .partition_key(key)
                            .data(Blob::new(data))
                            .build()
                            .expect("partition key and data are set")
                    })
                    .collect();
                // Resend failed entries, like a correct client.
                let mut attempts = 0;
                while !entries.is_empty() {
                    attempts += 1;
                    if attempts > 20 {
                        bail!("PutRecords: entries still failing after 20 attempts");
                    }
                    let out = c
                        .put_records()
                        .stream_name(&stream)
                        .set_records(Some(entries.clone()))
                        .send()
                        .await
                        .map_err(sdk)
                        .context("PutRecords")?;
                    let sent = entries.len() as u64;
                    let failed: Vec<_> = entries
                        .into_iter()
                        .zip(out.records())
                        .filter(|(_, r)| r.error_code.is_some())
                        .map(|(e, _)| e)
                        .collect();
                    stored += sent - failed.len() as u64;
                    if !failed.is_empty() {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    entries = failed;
                }
            }
        }));
    }
    let mut stored = 0;
    for t in tasks {
        stored += t.await??;
    }
    Ok((stored, start.elapsed().as_secs_f64()))
}

/// The whole workload against one endpoint.
pub async fn run_workload(url: &str, w: &Workload) -> Result<EngineResult> {
    let budget = Duration::from_secs_f64(w.budget);
    let c = client(url);
    let stream = format!("bench-{}", rand::random::<u32>());
    create_stream(&c, &stream, w.shards).await?;
    let mut r = EngineResult::default();

    // 1. PutRecords throughput.
    let (stored, secs) = put_records_phase(&c, &stream, w.records, w.callers, budget, |n| {
        (format!("Unicorn{:05}", n % 100_000), payload(n))
    })
    .await?;
    r.put_records = stored;
    r.put_rate = Some(stored as f64 / secs);

    // 2. Single PutRecord latency, sequential.
    let mut lat = Vec::with_capacity(w.latency_calls);
    let start = Instant::now();
    for i in 0..w.latency_calls {
        if start.elapsed() > budget {
            break;
        }
        let t = Instant::now();
        c.put_record()
            .stream_name(&stream)
            .partition_key(format!("Unicorn{i}"))
            .data(Blob::new(payload(i as u64)))
            .send()
            .await
            .map_err(sdk)
            .context("PutRecord")?;
        lat.push(t.elapsed());
    }
    (r.put_p50, r.put_p99) = stats::p50_p99(&lat);
    r.put_calls = lat.len();

    // 3. GetRecords: read everything back, one reader per shard.
    let (read, secs) = read_all(&c, &stream, budget).await?;
    r.get_records = read;
    r.get_rate = Some(read as f64 / secs);

    // 4. Put-to-get latency: a poller on a 1-shard stream.
    let (p50, p99, n) = put_to_get(&c, w.e2e_records, budget).await?;
    (r.e2e_p50, r.e2e_p99, r.e2e_samples) = (p50, p99, n);
    Ok(r)
}

/// Reads a stream from TrimHorizon to its tip, one GetRecords loop (limit
/// 10,000) per shard, within `budget`; returns (records, seconds).
pub async fn read_all(c: &Client, stream: &str, budget: Duration) -> Result<(u64, f64)> {
    let shards = list_shards(c, stream).await?;
    let start = Instant::now();
    let mut readers = Vec::new();
    for s in shards {
        let c = c.clone();
        let stream = stream.to_owned();
        readers.push(tokio::spawn(async move {
            let mut it =
                shard_iterator(&c, &stream, &s.shard_id, ShardIteratorType::TrimHorizon).await?;
            let mut n = 0u64;
            while let Some(i) = it {
                if start.elapsed() > budget {
                    break;
                }
                let page = c
                    .get_records()
                    .shard_iterator(i)
                    .limit(10_000)
                    .send()
                    .await
                    .map_err(sdk)
                    .context("GetRecords")?;
                if page.records.is_empty() && page.millis_behind_latest.unwrap_or(0) == 0 {
                    break;
                }
                n += page.records.len() as u64;
                it = page.next_shard_iterator;
            }
            Ok::<u64, anyhow::Error>(n)
        }));
    }
    let mut read = 0;
    for reader in readers {
        read += reader.await??;
    }
    Ok((read, start.elapsed().as_secs_f64()))
}

async fn put_to_get(
    c: &Client,
    samples: usize,
    budget: Duration,
) -> Result<(Option<f64>, Option<f64>, usize)> {
    let stream = format!("bench-e2e-{}", rand::random::<u32>());
    create_stream(c, &stream, 1).await?;
    let it = first_shard_iterator(c, &stream, ShardIteratorType::Latest).await?;
    let origin = Instant::now();
    let (done_tx, mut done_rx) = tokio::sync::watch::channel(false);
    let poller = {
        let c = c.clone();
        tokio::spawn(async move {
            let mut it = it;
            let mut lat = Vec::new();
            while let Some(i) = it {
                let page = c
                    .get_records()
                    .shard_iterator(i)
                    .limit(1000)
                    .send()
                    .await
                    .map_err(sdk)
                    .context("GetRecords")?;
                let now = origin.elapsed();
                for rec in &page.records {
                    let text = String::from_utf8_lossy(rec.data.as_ref());
                    if let Some(us) = text.split(' ').next().and_then(|s| s.parse::<u64>().ok()) {
                        lat.push(now.saturating_sub(Duration::from_micros(us)));
                    }
                }
                it = page.next_shard_iterator;
                if lat.len() >= samples || (*done_rx.borrow_and_update() && page.records.is_empty())
                {
                    break;
                }
                if page.records.is_empty() {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                        _ = done_rx.changed() => {}
                    }
                }
            }
            Ok::<_, anyhow::Error>(lat)
        })
    };
    let start = Instant::now();
    let mut sent = 0;
    while sent < samples && start.elapsed() < budget {
        let us = origin.elapsed().as_micros();
        let data = format!("{us} {}", String::from_utf8_lossy(&payload(sent as u64)));
        c.put_record()
            .stream_name(&stream)
            .partition_key("e2e")
            .data(Blob::new(data))
            .send()
            .await
            .map_err(sdk)
            .context("PutRecord")?;
        sent += 1;
        // Spread the puts over the poller's cycle.
        let pause = 10 + rand::random::<u64>() % 10;
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    // Give the last records time to be read, then stop the poller.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = done_tx.send(true);
    let lat = tokio::time::timeout(Duration::from_secs(30), poller)
        .await
        .context("the put-to-get poller did not stop")???;
    let (p50, p99) = stats::p50_p99(&lat);
    Ok((p50, p99, lat.len()))
}

/// Runs the workload against a started server and adds its RSS.
async fn bench_server(server: &mut Server, w: &Workload) -> Result<EngineResult> {
    wait_ready(server, Duration::from_secs(60)).await?;
    let mut r = run_workload(&server.url, w)
        .await
        .with_context(|| format!("{} at {}", server.label, server.url))?;
    r.label = server.label.clone();
    r.rss_mb = server.rss_mb();
    r.peak_rss_mb = server.proc.sample().map(|s| s.peak_rss_mb);
    Ok(r)
}

/// Everything `engine` prints, for `all`'s summary.
pub struct EngineReport {
    pub results: Vec<EngineResult>,
}

pub async fn run(args: &EngineArgs) -> Result<EngineReport> {
    let w = &args.workload;
    println!(
        "== engine: PutRecords of up to {} records (500 x ~150 B per call, {} callers, {} shards), {} sequential PutRecord, GetRecords of everything, {} put-to-get samples; each phase bounded by {} s",
        w.records, w.callers, w.shards, w.latency_calls, w.e2e_records, w.budget
    );
    let mut results = Vec::new();
    match &args.endpoint {
        Some(url) => {
            let mut r = run_workload(url, w)
                .await
                .with_context(|| format!("endpoint {url}"))?;
            r.label = url.clone();
            results.push(r);
        }
        None => {
            let mut ours = procs::start_ours(args.in_memory)?;
            println!(
                "wildrydes serve at {} ({}, pid {})",
                ours.url,
                if args.in_memory {
                    "--in-memory"
                } else {
                    "durable --data-dir in a temp dir"
                },
                ours.proc.pid()
            );
            let mut r = bench_server(&mut ours, w).await?;
            r.label = if args.in_memory {
                "wildrydes (in memory)".into()
            } else {
                "wildrydes (durable)".into()
            };
            results.push(r);
            drop(ours);
        }
    }
    if args.peers {
        let dir = args
            .peers_dir
            .clone()
            .unwrap_or_else(procs::default_peers_dir);
        match procs::install_peers(&dir) {
            Err(e) => println!("note: peers skipped: {e:#}"),
            Ok(()) => {
                type Start = fn(&std::path::Path) -> Result<Server>;
                let starts: [(&str, Start); 2] = [
                    ("kinesalite", procs::start_kinesalite),
                    ("kinesis-mock", procs::start_kinesis_mock),
                ];
                for (label, start) in starts {
                    let started = Instant::now();
                    let outcome = async {
                        let mut server = start(&dir)?;
                        println!(
                            "{label} at {} (pid {}), from {}",
                            server.url,
                            server.proc.pid(),
                            dir.display()
                        );
                        bench_server(&mut server, w).await
                    }
                    .await;
                    match outcome {
                        Ok(r) => {
                            println!("{label}: done in {:.0} s", started.elapsed().as_secs_f64());
                            results.push(r)
                        }
                        Err(e) => {
                            println!("note: {label} failed: {e:#}");
                            results.push(EngineResult {
                                label: label.into(),
                                error: Some(format!("{e:#}")),
                                ..EngineResult::default()
                            });
                        }
                    }
                }
            }
        }
    } else {
        println!("note: our engine alone; add --peers to compare with kinesalite and kinesis-mock (needs node and npm)");
    }
    table::print_engine_table(&results);
    Ok(EngineReport { results })
}

/// An SDK error with its chain of sources (the SDK's Display alone says
/// only "service error" or "dispatch failure").
pub fn sdk<E: std::error::Error>(e: E) -> anyhow::Error {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    anyhow::anyhow!("{}", parts.join(": "))
}
