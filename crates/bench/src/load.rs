//! `wildrydes-bench load`: the DynamoDB stages through a durable
//! `wildrydes serve` (release binaries, as a user runs them):
//!
//! * `wildrydes load` of a 1,000,000-line ride file into UnicornSensorData,
//!   items/s (goal 50,000/s), checked by counting the table;
//! * the processor's lag: `wildrydes process` running, bursts of one summary
//!   per unicorn (10,000 unicorns, as the aggregator emits them when a window
//!   closes) put on `wildrydes-summary`; for 100 sampled summaries per burst,
//!   the time from their PutRecords acknowledgement until BatchGetItem
//!   returns their item, p50/p99 (goal p99 <= 1 s).

use std::collections::HashMap;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use clap::Args;
use kinesis::writer::{BatchWriter, Record};

use crate::engine::{self as bench_engine};
use crate::procs;
use crate::stats;

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Lines of the ride file.
    #[arg(long, default_value_t = 1_000_000)]
    pub lines: u64,
    /// Unicorns of the ride file (one line per unicorn per second).
    #[arg(long, default_value_t = 1_000)]
    pub unicorns: u64,
    /// `wildrydes load --in-flight`.
    #[arg(long, default_value_t = process::LOAD_IN_FLIGHT)]
    pub in_flight: u64,
    /// Goal of the load, items/s.
    #[arg(long, default_value_t = 50_000.0)]
    pub goal: f64,
    /// Unicorns feeding the processor (summaries per burst).
    #[arg(long, default_value_t = 10_000)]
    pub lag_unicorns: u64,
    /// Bursts of summaries for the lag figure.
    #[arg(long, default_value_t = 10)]
    pub bursts: u64,
}

async fn dynamodb(url: &str) -> Result<aws_sdk_dynamodb::Client> {
    let clients = process::aws::connect(&process::aws::AwsOptions {
        region: Some("us-east-1".into()),
        endpoint: Some(url.to_owned()),
    })
    .await?;
    Ok(clients.dynamodb)
}

pub async fn run(args: &LoadArgs) -> Result<()> {
    println!(
        "== load: `wildrydes load` of a {}-line ride file into UnicornSensorData of a durable `wildrydes serve`; then `wildrydes process` lag with {} unicorns",
        args.lines, args.lag_unicorns
    );
    let bin = procs::sibling_binary("wildrydes")?;
    let mut server = procs::start_ours(false)?;
    bench_engine::wait_ready(&mut server, Duration::from_secs(30)).await?;
    let ddb = dynamodb(&server.url).await?;
    process::ensure_table(&ddb, process::TABLE).await?;

    let file = server.dir.path().join("rides.json");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        let unicorns = args.unicorns.max(1);
        let mut rides: Vec<sensor::Ride> = (0..unicorns)
            .map(|u| sensor::Ride::new(format!("Unicorn{u:05}"), 7 + u))
            .collect();
        let t0 = sensor::StatusTime::now().as_millis() - 3 * 3600 * 1000;
        for n in 0..args.lines {
            let (step, u) = (n / unicorns, n % unicorns);
            let at = sensor::StatusTime::from_millis(t0 + step as i64 * 1000);
            out.write_all(&rides[u as usize].step(at).to_json_line())?;
        }
        out.flush()?;
    }
    let started = Instant::now();
    let output = tokio::process::Command::new(&bin)
        .arg("load")
        .arg(&file)
        .args(["--endpoint", &server.url, "--in-flight"])
        .arg(args.in_flight.to_string())
        .env("RUST_LOG", "warn")
        .output()
        .await
        .context("running wildrydes load")?;
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("wildrydes load failed: {stderr}");
    }
    print!("{stderr}");
    let items = testkit::count_items(&ddb, process::TABLE)
        .await
        .context("Scan")?;
    if items != args.lines as i64 {
        bail!("the table holds {items} items, not {}", args.lines);
    }
    let rate = args.lines as f64 / secs;
    println!(
        "load: {} items in {secs:.2} s (process start to exit) = {} (goal {}); table counted: {items}",
        args.lines,
        stats::rate(Some(rate)),
        stats::rate(Some(args.goal))
    );

    let (p50, p99) = lag(args, &bin, &server.url, &ddb).await?;
    println!(
        "processor lag (PutRecords ack -> item readable), {} bursts of {} summaries: p50 {} p99 {} (goal p99 <= 1 s)",
        args.bursts,
        args.lag_unicorns,
        stats::ms(p50),
        stats::ms(p99)
    );
    Ok(())
}

async fn lag(
    args: &LoadArgs,
    bin: &std::path::Path,
    url: &str,
    ddb: &aws_sdk_dynamodb::Client,
) -> Result<(Option<f64>, Option<f64>)> {
    let conn = kinesis::connect(&kinesis::ConnectOptions {
        endpoint: Some(url.to_owned()),
        region: Some("us-east-1".into()),
        ..kinesis::ConnectOptions::default()
    })
    .await?;
    conn.ensure_stream("wildrydes-summary", 2).await?;
    let mut cmd = tokio::process::Command::new(bin);
    cmd.args(["process", "--endpoint", url, "--from", "trim_horizon"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let _processor = cmd.spawn().context("starting wildrydes process")?;
    let writer = BatchWriter::new(conn, "wildrydes-summary").with_max_in_flight(4);
    let unicorns = args.lag_unicorns.max(1);
    let base = sensor::StatusTime::now().as_millis() - 24 * 3600 * 1000;
    // Not timed: the processor's start (reader, table check), until a first
    // summary is readable.
    let warmup = sensor::Summary {
        name: "Warmup".into(),
        status_time: sensor::StatusTime::from_millis(base),
        distance: 1,
        min_magic_points: 1,
        max_magic_points: 1,
        min_health_points: 1,
        max_health_points: 1,
    };
    writer
        .put_records(vec![Record::new("Warmup", warmup.to_json_line())])
        .await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = ddb
            .get_item()
            .table_name(process::TABLE)
            .key("Name", AttributeValue::S("Warmup".into()))
            .key(
                "StatusTime",
                AttributeValue::S(warmup.status_time.to_string()),
            )
            .send()
            .await
            .context("GetItem")?;
        if got.item.is_some() {
            break;
        }
        if Instant::now() > deadline {
            bail!("the processor wrote nothing in 120 s");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut samples = Vec::new();
    for burst in 0..args.bursts {
        let at = sensor::StatusTime::from_millis(base + (burst as i64 + 1) * 60_000);
        let summaries: Vec<sensor::Summary> = (0..unicorns)
            .map(|u| sensor::Summary {
                name: format!("Lag{u:05}"),
                status_time: at,
                distance: 1800,
                min_magic_points: 100,
                max_magic_points: 110,
                min_health_points: 100,
                max_health_points: 110,
            })
            .collect();
        let step = (unicorns / 100).max(1) as usize;
        let mut acked: HashMap<String, Instant> = HashMap::new();
        // Put in calls of 500 (as the aggregator does), noting each ack.
        for chunk in summaries.chunks(500) {
            let records = chunk
                .iter()
                .map(|s| Record::new(s.name.clone(), s.to_json_line()))
                .collect();
            writer.put_records(records).await?;
            let now = Instant::now();
            for s in chunk {
                let index: usize = s.name[3..].parse().unwrap_or(0);
                if index % step == step - 1 || index == 0 {
                    acked.insert(s.name.clone(), now);
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !acked.is_empty() {
            if Instant::now() > deadline {
                bail!("{} sampled items not readable after 30 s", acked.len());
            }
            let mut keys = KeysAndAttributes::builder();
            for name in acked.keys().take(100) {
                keys = keys.keys(HashMap::from([
                    ("Name".to_owned(), AttributeValue::S(name.clone())),
                    ("StatusTime".to_owned(), AttributeValue::S(at.to_string())),
                ]));
            }
            let out = ddb
                .batch_get_item()
                .request_items(process::TABLE, keys.build()?)
                .send()
                .await
                .context("BatchGetItem")?;
            let now = Instant::now();
            for item in out
                .responses()
                .and_then(|r| r.get(process::TABLE))
                .into_iter()
                .flatten()
            {
                if let Some(AttributeValue::S(name)) = item.get("Name") {
                    if let Some(put) = acked.remove(name) {
                        samples.push(now - put);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(stats::p50_p99(&samples))
}
