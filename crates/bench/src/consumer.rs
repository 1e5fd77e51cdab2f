//! `wildrydes-bench consumer`: put-to-print latency of the real `consumer`
//! binary against our engine, polling and with enhanced fan-out (`-efo`),
//! and pretty-printing throughput next to `jq .`.
//! (Formerly `crates/consumer/examples/consumer_bench.rs`.)

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use aws_sdk_kinesis::primitives::Blob;
use bytes::Bytes;
use clap::Args;
use consumer::{decode, Format, Printer};
use kinesis::reader::Record;

use crate::engine::{self, sdk};
use crate::procs::{self, Proc};
use crate::stats::{self, print_table};

#[derive(Debug, Clone, Args)]
pub struct ConsumerArgs {
    /// Records printed (in process and by the binary) and given to `jq .`.
    #[arg(long, default_value_t = 200_000)]
    pub records: usize,
    /// Records timed from PutRecord to their line on the consumer's stdout.
    #[arg(long, default_value_t = 300)]
    pub latency_records: usize,
    /// Shards of the latency stream.
    #[arg(long, default_value_t = 2)]
    pub shards: i32,
    /// Goal: put-to-print p50 at most this, ms (with enhanced fan-out;
    /// polling sits on the 100 ms floor of 5 GetRecords calls/s per shard).
    #[arg(long, default_value_t = 100.0)]
    pub goal_p50: f64,
    /// Goal: put-to-print p99 at most this, ms.
    #[arg(long, default_value_t = 300.0)]
    pub goal_p99: f64,
    /// Goal: pretty printing at least this many times as fast as `jq .`.
    #[arg(long, default_value_t = 3.0)]
    pub goal_jq: f64,
}

/// Put-to-print latency of one run of the consumer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub samples: usize,
}

#[derive(Debug, Clone, Default)]
pub struct ConsumerReport {
    /// Polling GetRecords (the default).
    pub polling: Latency,
    /// Enhanced fan-out (`-efo`): the goals apply to this.
    pub fan_out: Latency,
    pub printer_rate: Option<f64>,
    pub binary_rate: Option<f64>,
    pub jq_rate: Option<f64>,
    pub goal_p50: f64,
    pub goal_p99: f64,
    pub goal_jq: f64,
}

impl ConsumerReport {
    pub fn latency_holds(&self) -> Option<bool> {
        Some(self.fan_out.p50? <= self.goal_p50 && self.fan_out.p99? <= self.goal_p99)
    }
    pub fn jq_ratio(&self) -> Option<f64> {
        Some(self.printer_rate? / self.jq_rate?)
    }
}

fn status(n: usize, sent_us: u128) -> String {
    format!(
        "{{\"Name\":\"Unicorn{}\",\"StatusTime\":\"2017-06-05 09:17:09.191\",\"Latitude\":42.265486935100476,\"Longitude\":-71.97442977859625,\"Distance\":163,\"MagicPoints\":110,\"HealthPoints\":151,\"SentMicros\":{sent_us}}}\n",
        n % 50
    )
}

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_micros()
}

pub async fn run(args: &ConsumerArgs) -> Result<ConsumerReport> {
    let bin = procs::sibling_binary("consumer")?;
    println!(
        "== consumer: {}; {} records printed pretty (in process, by the binary, by jq .); {} records timed put-to-print",
        bin.display(),
        args.records,
        args.latency_records
    );
    let mut report = ConsumerReport {
        goal_p50: args.goal_p50,
        goal_p99: args.goal_p99,
        goal_jq: args.goal_jq,
        ..ConsumerReport::default()
    };
    let tmp = tempfile::Builder::new()
        .prefix("wildrydes-bench-consumer-")
        .tempdir()
        .context("creating a temp dir")?;

    // 1. Pretty printing: the consumer's printer vs `jq .`, same records.
    let records = args.records.max(1);
    let data: Vec<Record> = (0..records)
        .map(|n| Record {
            sequence_number: n.to_string(),
            partition_key: "k".into(),
            arrival: None,
            data: Bytes::from(status(n, 0)),
        })
        .collect();
    let started = Instant::now();
    let devnull = std::fs::File::create("/dev/null").context("opening /dev/null")?;
    let mut sink = std::io::BufWriter::with_capacity(1 << 16, devnull);
    let mut printer = Printer::new(Format::Pretty);
    for r in &data {
        for user in decode(r) {
            printer.write(&mut sink, "shardId-000000000000", r, &user)?;
        }
    }
    sink.flush()?;
    report.printer_rate = Some(records as f64 / started.elapsed().as_secs_f64());
    let input = tmp.path().join("records.json");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input)?);
        for r in &data {
            f.write_all(&r.data)?;
        }
        f.flush()?;
    }
    let started = Instant::now();
    let jq = Command::new("jq")
        .arg(".")
        .stdin(std::fs::File::open(&input)?)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let jq_note = match jq {
        Ok(s) if s.success() => {
            report.jq_rate = Some(records as f64 / started.elapsed().as_secs_f64());
            String::new()
        }
        Ok(s) => format!("jq . failed ({s})"),
        Err(e) => format!("jq not run ({e}); install it (apt-get install -y jq)"),
    };

    // 2. The binary end to end, pretty, to /dev/null, from an engine.
    let mut server = procs::start_ours(false)?;
    engine::wait_ready(&mut server, Duration::from_secs(30)).await?;
    let c = engine::client(&server.url);
    engine::create_stream(&c, "bulk", 4).await?;
    let (stored, _) = engine::put_records_phase(
        &c,
        "bulk",
        records as u64,
        4,
        Duration::from_secs(120),
        |n| {
            (
                format!("Unicorn{}", n % 50),
                status(n as usize, 0).into_bytes(),
            )
        },
    )
    .await?;
    let started = Instant::now();
    let out = Command::new(&bin)
        .args(["-endpoint", &server.url, "-stream", "bulk"])
        .args(["-from", "trim_horizon", "-until-caught-up"])
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create("/dev/null")?)
        .stderr(Stdio::piped())
        .output()
        .context("running consumer -until-caught-up")?;
    if !out.status.success() {
        bail!(
            "consumer -until-caught-up failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    report.binary_rate = Some(stored as f64 / started.elapsed().as_secs_f64());

    // 3. Put-to-print latency: the consumer follows a stream from LATEST,
    // polling, then with enhanced fan-out.
    engine::create_stream(&c, "bench", args.shards).await?;
    let log = tmp.path().join("consumer-polling.log");
    report.polling = latency(&bin, &server.url, &c, "bench", &[], args, &log).await?;
    engine::create_stream(&c, "bench-efo", args.shards).await?;
    let efo = ["-efo", "bench"];
    let log = tmp.path().join("consumer-efo.log");
    report.fan_out = latency(&bin, &server.url, &c, "bench-efo", &efo, args, &log).await?;
    drop(server);

    let header: Vec<String> = ["", "figure", "goal", ""].map(String::from).to_vec();
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "holds".to_owned(),
        Some(false) => "FAILS".to_owned(),
        None => "-".to_owned(),
    };
    let (polling, fan_out) = (report.polling, report.fan_out);
    let rows = vec![
        vec![
            format!("put-to-print p50, -efo ({} records)", fan_out.samples),
            stats::ms(fan_out.p50),
            format!("<= {} ms", args.goal_p50),
            verdict(fan_out.p50.map(|v| v <= args.goal_p50)),
        ],
        vec![
            "put-to-print p99, -efo".into(),
            stats::ms(fan_out.p99),
            format!("<= {} ms", args.goal_p99),
            verdict(fan_out.p99.map(|v| v <= args.goal_p99)),
        ],
        vec![
            format!("put-to-print p50, polling ({} records)", polling.samples),
            stats::ms(polling.p50),
            String::new(),
            "floor: 5 GetRecords/s per shard".into(),
        ],
        vec![
            "put-to-print p99, polling".into(),
            stats::ms(polling.p99),
            format!("<= {} ms", args.goal_p99),
            verdict(polling.p99.map(|v| v <= args.goal_p99)),
        ],
        vec![
            "pretty printing to /dev/null (printer)".into(),
            stats::rate(report.printer_rate),
            String::new(),
            String::new(),
        ],
        vec![
            "jq . to /dev/null".into(),
            stats::rate(report.jq_rate),
            String::new(),
            jq_note,
        ],
        vec![
            "printer / jq".into(),
            stats::opt(report.jq_ratio(), |r| format!("{r:.1}x")),
            format!(">= {}x", args.goal_jq),
            verdict(report.jq_ratio().map(|r| r >= args.goal_jq)),
        ],
        vec![
            "consumer binary, engine -> pretty -> /dev/null".into(),
            stats::rate(report.binary_rate),
            String::new(),
            "-from trim_horizon -until-caught-up, process start included".into(),
        ],
    ];
    println!();
    print_table(&header, &rows);
    Ok(report)
}

/// Put-to-print latency of `consumer <extra>` following `stream` from LATEST.
async fn latency(
    bin: &std::path::Path,
    url: &str,
    c: &aws_sdk_kinesis::Client,
    stream: &str,
    extra: &[&str],
    args: &ConsumerArgs,
    log: &std::path::Path,
) -> Result<Latency> {
    let mut cmd = Command::new(bin);
    cmd.args(["-endpoint", url, "-stream", stream, "-format", "compact"])
        .args(extra)
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log)?);
    let mut child = Proc::spawn("consumer", &mut cmd)?;
    let stdout = child
        .child()
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout"))?;
    let (tx, rx) = mpsc::channel::<f64>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let now = now_us();
            let sent = line
                .split("\"SentMicros\":")
                .nth(1)
                .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|s| s.parse::<u64>().ok());
            if let Some(sent) = sent {
                let ms = (now as f64 - sent as f64) / 1000.0;
                if tx.send(ms).is_err() {
                    break;
                }
            }
        }
    });
    // Warm up: put probes until the consumer prints one (it has its
    // iterators then), and drop what it printed so far.
    let put = |n: usize| {
        let c = c.clone();
        let stream = stream.to_owned();
        async move {
            c.put_record()
                .stream_name(&stream)
                .partition_key(format!("Unicorn{}", n % 50))
                .data(Blob::new(status(n, now_us())))
                .send()
                .await
                .map_err(sdk)
                .context("PutRecord")
        }
    };
    let warm = Instant::now();
    loop {
        put(0).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if rx.try_recv().is_ok() {
            break;
        }
        if child.exited().is_some() || warm.elapsed() > Duration::from_secs(15) {
            bail!(
                "the consumer printed nothing within 15 s: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    while rx.try_recv().is_ok() {}
    // Random gaps so puts land anywhere in the consumer's poll cycle.
    for n in 0..args.latency_records {
        put(n + 1).await?;
        let gap = 20 + rand::random::<u64>() % 60;
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while latencies.len() < args.latency_records {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(ms) => latencies.push(Duration::from_secs_f64(ms.max(0.0) / 1000.0)),
            Err(_) => break,
        }
    }
    drop(child);
    let (p50, p99) = stats::p50_p99(&latencies);
    Ok(Latency {
        p50,
        p99,
        samples: latencies.len(),
    })
}
