//! `wildrydes-bench stress`: many concurrent maximum-size PutRecords (5 MiB
//! of data each, ~7 MiB of JSON) against `wildrydes serve`, while a small
//! ListStreams is timed every 20 ms: the server's peak RSS and the latency
//! of the small calls show whether request bodies are bounded.
//!
//! The large calls are sent over raw HTTP/1.1 with one prebuilt body, so that
//! the benchmark itself stays light on the shared CPU; ListStreams goes
//! through the AWS SDK like any client.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::engine::{client, sdk, wait_ready};
use crate::procs::{self, Proc, Server};
use crate::stats::{self, print_table};

#[derive(Debug, Clone, Args)]
pub struct StressArgs {
    /// Concurrent callers, each sending maximum-size PutRecords.
    #[arg(long, default_value_t = 40)]
    pub callers: usize,
    /// PutRecords calls per caller.
    #[arg(long, default_value_t = 2)]
    pub rounds: usize,
    /// Server options added to `wildrydes serve` (e.g. "--body-budget-mb 64").
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub serve_args: Option<String>,
    /// Goal: peak RSS of the server, MB.
    #[arg(long, default_value_t = 300.0)]
    pub max_rss_mb: f64,
    /// Goal: ListStreams p99 meanwhile, ms.
    #[arg(long, default_value_t = 50.0)]
    pub max_p99_ms: f64,
}

/// Figures of one stress run.
#[derive(Debug, Clone, Default)]
pub struct StressResult {
    pub calls_ok: usize,
    pub calls_failed: usize,
    pub first_failure: Option<String>,
    pub data_mb_per_s: f64,
    pub put_p50: Option<f64>,
    pub put_p99: Option<f64>,
    pub list_calls: usize,
    pub list_p50: Option<f64>,
    pub list_p99: Option<f64>,
    pub list_max: Option<f64>,
    pub peak_rss_mb: Option<f64>,
    pub rss_after_mb: Option<f64>,
}

/// Data per record ("ABC" repeated, "QUJD" in base64) so that 500 records
/// and their 4-byte keys make just under 5 MiB.
const RECORD_DATA: usize = ((5 << 20) / 500 - 4) / 3 * 3;

/// A PutRecords body with 5 MiB of data and keys (500 records).
fn max_put_records(stream: &str) -> Vec<u8> {
    let data = "QUJD".repeat(RECORD_DATA / 3);
    let records: Vec<String> = (0..500)
        .map(|i| format!("{{\"Data\":\"{data}\",\"PartitionKey\":\"{i:04}\"}}"))
        .collect();
    format!(
        "{{\"StreamName\":\"{stream}\",\"Records\":[{}]}}",
        records.join(",")
    )
    .into_bytes()
}

/// `wildrydes serve --port 0` with a durable data dir in a temp dir and
/// `extra` options; the URL is the first line it prints.
fn start_server(extra: Option<&str>) -> Result<Server> {
    let dir = tempfile::Builder::new()
        .prefix("wildrydes-stress-")
        .tempdir()
        .context("creating a temp dir")?;
    let log = std::fs::File::create(dir.path().join("server.log")).context("creating the log")?;
    let mut cmd = Command::new(procs::sibling_binary("wildrydes")?);
    cmd.args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(extra.unwrap_or("").split_whitespace())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    let mut proc = Proc::spawn("wildrydes serve", &mut cmd)?;
    let stdout = proc.child().stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let url = rx
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_default()
        .trim()
        .to_owned();
    let server = Server {
        label: "wildrydes".into(),
        url,
        proc,
        dir,
    };
    if !server.url.starts_with("http") {
        bail!("wildrydes serve printed no URL: {}", server.log_tail());
    }
    Ok(server)
}

/// One PutRecords over a fresh HTTP/1.1 connection: the status and body.
async fn put_raw(addr: &str, body: &[u8]) -> Result<(u16, String)> {
    let mut conn = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let head = format!(
        "POST / HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-amz-json-1.1\r\n\
         x-amz-target: Kinesis_20131202.PutRecords\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await?;
    conn.write_all(body).await?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP answer: {:?}", &text[..text.len().min(100)]))?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

pub async fn run(args: &StressArgs) -> Result<StressResult> {
    let mut server = start_server(args.serve_args.as_deref())?;
    wait_ready(&mut server, Duration::from_secs(30)).await?;
    let addr = server
        .url
        .strip_prefix("http://")
        .context("an http:// endpoint")?
        .to_owned();
    let c = client(&server.url);
    c.create_stream()
        .stream_name("stress")
        .shard_count(4)
        .send()
        .await
        .map_err(sdk)?;
    let body: Arc<[u8]> = max_put_records("stress").into();
    println!(
        "stress: {} callers x {} PutRecords of 5 MiB of data ({:.1} MiB of JSON each), \
         ListStreams every 20 ms meanwhile",
        args.callers,
        args.rounds,
        body.len() as f64 / (1 << 20) as f64
    );

    let done = Arc::new(tokio::sync::Notify::new());
    let prober = {
        let c = c.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let start = Instant::now();
                c.list_streams().send().await.map_err(sdk)?;
                latencies.push(start.elapsed());
                tokio::select! {
                    () = done.notified() => return Ok::<_, anyhow::Error>(latencies),
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        })
    };
    // Let the prober measure the quiet server a little first.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..args.callers {
        let body = body.clone();
        let addr = addr.clone();
        let rounds = args.rounds;
        callers.spawn(async move {
            let mut out = Vec::new();
            for _ in 0..rounds {
                let start = Instant::now();
                let answer = put_raw(&addr, &body).await;
                out.push((start.elapsed(), answer));
            }
            out
        });
    }
    let mut result = StressResult::default();
    let mut put_latencies = Vec::new();
    while let Some(joined) = callers.join_next().await {
        for (took, answer) in joined.context("a caller panicked")? {
            match answer {
                Ok((200, body)) if body.contains("\"FailedRecordCount\":0") => {
                    result.calls_ok += 1;
                    put_latencies.push(took);
                }
                Ok((status, body)) => {
                    result.calls_failed += 1;
                    result.first_failure.get_or_insert_with(|| {
                        format!("{status}: {}", &body[..body.len().min(200)])
                    });
                }
                Err(e) => {
                    result.calls_failed += 1;
                    result.first_failure.get_or_insert_with(|| format!("{e:#}"));
                }
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    done.notify_one();
    let list_latencies = prober.await.context("the prober panicked")??;
    result.data_mb_per_s = result.calls_ok as f64 * 5.0 / elapsed.max(1e-9);
    (result.put_p50, result.put_p99) = stats::p50_p99(&put_latencies);
    result.list_calls = list_latencies.len();
    (result.list_p50, result.list_p99) = stats::p50_p99(&list_latencies);
    result.list_max = list_latencies.iter().max().map(|d| d.as_secs_f64() * 1e3);
    result.peak_rss_mb = server.proc.sample().map(|s| s.peak_rss_mb);
    result.rss_after_mb = server.rss_mb();
    if server.proc.exited().is_some() {
        bail!("wildrydes serve died: {}", server.log_tail());
    }
    print(&result, args);
    Ok(result)
}

fn print(r: &StressResult, args: &StressArgs) {
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" }.to_owned();
    let rows = vec![
        vec![
            "PutRecords ok / failed".into(),
            format!("{} / {}", r.calls_ok, r.calls_failed),
            String::new(),
        ],
        vec![
            "data written MiB/s".into(),
            format!("{:.1}", r.data_mb_per_s),
            String::new(),
        ],
        vec![
            "PutRecords p50 / p99 ms".into(),
            format!("{} / {}", stats::ms(r.put_p50), stats::ms(r.put_p99)),
            String::new(),
        ],
        vec![
            format!("ListStreams p50 / p99 / max ms ({} calls)", r.list_calls),
            format!(
                "{} / {} / {}",
                stats::ms(r.list_p50),
                stats::ms(r.list_p99),
                stats::ms(r.list_max)
            ),
            verdict(r.list_p99.is_some_and(|p| p < args.max_p99_ms)),
        ],
        vec![
            "server peak RSS MB".into(),
            stats::mb(r.peak_rss_mb),
            verdict(r.peak_rss_mb.is_some_and(|m| m < args.max_rss_mb)),
        ],
        vec![
            "server RSS after MB".into(),
            stats::mb(r.rss_after_mb),
            String::new(),
        ],
    ];
    print_table(
        &[
            "figure".into(),
            "value".into(),
            format!(
                "goal: RSS < {} MB, p99 < {} ms",
                args.max_rss_mb, args.max_p99_ms
            ),
        ],
        &rows,
    );
    if let Some(failure) = &r.first_failure {
        println!("first failure: {failure}");
    }
}
