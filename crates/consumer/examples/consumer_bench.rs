//! Benchmark (not a test): put-to-print latency of the real `consumer` binary
//! against the embedded engine, and pretty-printing throughput next to `jq .`.
//!
//! ```text
//! cargo build --release -p consumer --examples --bins
//! target/release/examples/consumer_bench [path/to/consumer] [records]
//! ```

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_sdk_kinesis::primitives::Blob;
use bytes::Bytes;
use consumer::{decode, Format, Printer};
use kinesis::reader::Record;

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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bin = args.next().unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap_or_default();
        exe.parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("consumer").display().to_string())
            .unwrap_or_else(|| "consumer".into())
    });
    let records: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(200_000);

    // 1. Pretty printing throughput: our printer vs `jq .`.
    let data: Vec<Record> = (0..records)
        .map(|n| Record {
            sequence_number: n.to_string(),
            partition_key: "k".into(),
            arrival: None,
            data: Bytes::from(status(n, 0)),
        })
        .collect();
    let started = Instant::now();
    let mut sink = std::io::BufWriter::with_capacity(1 << 16, std::fs::File::create("/dev/null")?);
    let mut printer = Printer::new(Format::Pretty);
    for r in &data {
        for user in decode(r) {
            printer.write(&mut sink, "shardId-000000000000", r, &user)?;
        }
    }
    sink.flush()?;
    let ours = records as f64 / started.elapsed().as_secs_f64();
    let input = std::env::temp_dir().join(format!("consumer-bench-{}.json", std::process::id()));
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input)?);
        for r in &data {
            f.write_all(&r.data)?;
        }
    }
    let started = Instant::now();
    let jq = Command::new("jq")
        .arg(".")
        .stdin(std::fs::File::open(&input)?)
        .stdout(Stdio::null())
        .status();
    let jq_rate = match jq {
        Ok(s) if s.success() => Some(records as f64 / started.elapsed().as_secs_f64()),
        _ => None,
    };
    let _ = std::fs::remove_file(&input);
    println!("pretty printing to /dev/null: {ours:.0} records/s");
    match jq_rate {
        Some(jq) => println!(
            "jq . on the same records:    {jq:.0} records/s ({:.1}x)",
            ours / jq
        ),
        None => println!("jq not found"),
    }

    // 2. Put-to-print latency against the embedded engine.
    let engine = engine::spawn_in_memory().await?;
    let conn = kinesis::connect(&kinesis::ConnectOptions {
        endpoint: Some(engine.url()),
        ..Default::default()
    })
    .await?;
    conn.ensure_stream("bench", 2).await?;
    let mut child = Command::new(&bin)
        .args([
            "-endpoint",
            &engine.url(),
            "-stream",
            "bench",
            "-format",
            "compact",
        ])
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel::<f64>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(sent) = v["SentMicros"].as_u64() {
                let _ = tx.send((now_us() as f64 - sent as f64) / 1000.0);
            }
        }
    });
    // Let the consumer get its LATEST iterators, then send 10 records/s.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let samples = 300;
    for n in 0..samples {
        conn.client
            .put_record()
            .stream_name("bench")
            .partition_key(format!("Unicorn{}", n % 50))
            .data(Blob::new(status(n, now_us())))
            .send()
            .await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut latencies = Vec::new();
    while latencies.len() < samples {
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(ms) => latencies.push(ms),
            Err(_) => break,
        }
    }
    let _ = child.kill();
    latencies.sort_by(f64::total_cmp);
    if latencies.is_empty() {
        println!("no records printed");
    } else {
        println!(
            "put-to-print latency over {} records: p50 {:.1} ms, p99 {:.1} ms",
            latencies.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
    }
    Ok(())
}
