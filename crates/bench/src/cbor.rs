//! `wildrydes-bench cbor`: PutRecords records/s of our engine when the
//! requests come in CBOR (`application/x-amz-cbor-1.1`, as the AWS SDK for
//! Java v2 and the KCL send them) next to the same requests in JSON 1.1.
//!
//! Both encodings go through the same raw client (`http.rs`) with bodies
//! encoded once beforehand, so the difference is the engine's decoding and
//! encoding. Rounds alternate the order of the two encodings, so a drift of
//! the machine weighs on both; the medians are compared.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine as _;
use ciborium::Value;
use clap::Args;

use crate::engine::{create_stream, payload, wait_ready};
use crate::http;
use crate::procs;
use crate::stats;

#[derive(Debug, Clone, Args)]
pub struct CborArgs {
    /// Records stored per encoding and round (500 per PutRecords call).
    #[arg(long, default_value_t = 200_000)]
    pub records: u64,
    /// Concurrent callers, one keep-alive connection each.
    #[arg(long, default_value_t = 8)]
    pub callers: u64,
    /// Shards of the benchmark stream.
    #[arg(long, default_value_t = 4)]
    pub shards: i32,
    /// Rounds; each round runs both encodings.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Run our engine with --in-memory (the protocol's cost without the
    /// disk's) instead of a durable --data-dir.
    #[arg(long)]
    pub in_memory: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    Json,
    Cbor,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/x-amz-json-1.1",
            Encoding::Cbor => "application/x-amz-cbor-1.1",
        }
    }
}

/// One PutRecords body of 500 sensor-like records.
fn body(encoding: Encoding, stream: &str) -> Result<Vec<u8>> {
    let records = (0..500u64).map(|i| (format!("Unicorn{i:05}"), payload(i)));
    Ok(match encoding {
        Encoding::Json => {
            let records: Vec<_> = records
                .map(|(key, data)| {
                    serde_json::json!({
                        "Data": base64::engine::general_purpose::STANDARD.encode(data),
                        "PartitionKey": key,
                    })
                })
                .collect();
            serde_json::to_vec(&serde_json::json!({"StreamName": stream, "Records": records}))?
        }
        Encoding::Cbor => {
            let records = records
                .map(|(key, data)| {
                    Value::Map(vec![
                        (Value::Text("Data".into()), Value::Bytes(data)),
                        (Value::Text("PartitionKey".into()), Value::Text(key)),
                    ])
                })
                .collect();
            let request = Value::Map(vec![
                (Value::Text("StreamName".into()), Value::Text(stream.into())),
                (Value::Text("Records".into()), Value::Array(records)),
            ]);
            let mut out = Vec::new();
            ciborium::into_writer(&request, &mut out)?;
            out
        }
    })
}

/// FailedRecordCount of a PutRecords answer.
fn failed(encoding: Encoding, answer: &[u8]) -> Option<u64> {
    match encoding {
        Encoding::Json => {
            let v: serde_json::Value = serde_json::from_slice(answer).ok()?;
            v.get("FailedRecordCount")?.as_u64()
        }
        Encoding::Cbor => {
            let v: Value = ciborium::from_reader(answer).ok()?;
            let Value::Map(members) = v else { return None };
            members.iter().find_map(|(k, v)| match (k, v) {
                (Value::Text(k), Value::Integer(n)) if k == "FailedRecordCount" => {
                    u64::try_from(i128::from(*n)).ok()
                }
                _ => None,
            })
        }
    }
}

/// Sends `calls` PutRecords of `body` from `callers` connections; returns
/// records stored per second.
async fn phase(
    url: &str,
    encoding: Encoding,
    body: Arc<Vec<u8>>,
    calls: u64,
    callers: u64,
) -> Result<f64> {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..callers.max(1) {
        let (url, body, next) = (url.to_string(), body.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = http::Conn::open(&url).await?;
            let auth = http::dummy_auth("kinesis", "host;x-amz-date;x-amz-target");
            let headers = [
                ("Content-Type", encoding.content_type()),
                ("X-Amz-Target", "Kinesis_20131202.PutRecords"),
                ("X-Amz-Date", "20261202T000000Z"),
                ("Authorization", auth.as_str()),
            ];
            let mut stored = 0u64;
            while next.fetch_add(1, Ordering::Relaxed) < calls {
                let a = conn.call("POST", "/", &headers, &body, 64 << 10).await?;
                if a.status != 200 {
                    bail!(
                        "PutRecords ({encoding:?}) answered {}: {}",
                        a.status,
                        a.text()
                    );
                }
                let failed = failed(encoding, &a.body)
                    .with_context(|| format!("no FailedRecordCount in the {encoding:?} answer"))?;
                stored += 500 - failed.min(500);
            }
            Ok::<u64, anyhow::Error>(stored)
        }));
    }
    let mut stored = 0;
    for t in tasks {
        stored += t.await??;
    }
    Ok(stored as f64 / start.elapsed().as_secs_f64())
}

pub async fn run(args: &CborArgs) -> Result<()> {
    println!(
        "== cbor: PutRecords of {} records per encoding and round (500 x ~150 B per call, {} callers, {} shards), {} rounds, JSON 1.1 and CBOR through one raw client",
        args.records, args.callers, args.shards, args.rounds
    );
    let mut ours = procs::start_ours(args.in_memory)?;
    wait_ready(&mut ours, Duration::from_secs(60)).await?;
    println!(
        "wildrydes serve at {} ({})",
        ours.url,
        if args.in_memory {
            "--in-memory"
        } else {
            "durable --data-dir in a temp dir"
        }
    );
    let sdk = crate::engine::client(&ours.url);
    let stream = "bench-cbor";
    create_stream(&sdk, stream, args.shards).await?;
    let json = Arc::new(body(Encoding::Json, stream)?);
    let cbor = Arc::new(body(Encoding::Cbor, stream)?);
    println!(
        "body of one call: JSON {} bytes, CBOR {} bytes",
        json.len(),
        cbor.len()
    );
    let calls = args.records.div_ceil(500);
    let (mut json_rates, mut cbor_rates) = (Vec::new(), Vec::new());
    let mut rows = Vec::new();
    for round in 0..args.rounds {
        let order = if round % 2 == 0 {
            [Encoding::Json, Encoding::Cbor]
        } else {
            [Encoding::Cbor, Encoding::Json]
        };
        for e in order {
            let b = if e == Encoding::Json { &json } else { &cbor };
            let rate = phase(&ours.url, e, b.clone(), calls, args.callers).await?;
            if e == Encoding::Json {
                json_rates.push(rate);
            } else {
                cbor_rates.push(rate);
            }
        }
        rows.push(vec![
            format!("{}", round + 1),
            stats::thousands(json_rates[round]),
            stats::thousands(cbor_rates[round]),
            format!("{:.2}", cbor_rates[round] / json_rates[round]),
        ]);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        stats::percentile(v, 0.5)
    };
    let (j, c) = (median(&mut json_rates), median(&mut cbor_rates));
    rows.push(vec![
        "median".into(),
        stats::rate(j),
        stats::rate(c),
        stats::ratio(c, j),
    ]);
    stats::print_table(
        &[
            "round".into(),
            "JSON records/s".into(),
            "CBOR records/s".into(),
            "CBOR / JSON".into(),
        ],
        &rows,
    );
    println!("goal: CBOR PutRecords within 10 % of JSON (ratio 0.90 or more)");
    Ok(())
}
