//! `wildrydes-bench dynamodb`: BatchWriteItem items/s (25 items of ~200 B,
//! several callers), Query p50/p99 of a 1,000-item partition, Scan items/s
//! and server RSS of our engine (durable), and with --peers of dynalite (npm
//! `dynalite`, in memory) and moto (PyPI `moto[server]`, in memory), all
//! driven by the same client in one run.
//!
//! The client is the benchmarks' raw HTTP/1.1 one (`http.rs`: one
//! keep-alive connection per caller, the DynamoDB JSON 1.0 protocol, an
//! unverified SigV4-shaped Authorization header, which dynalite requires).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::http;
use crate::procs::{self, free_port, Proc, Server};
use crate::stats;

#[derive(Debug, Clone, Args)]
pub struct DynamoDbArgs {
    /// Also run dynalite (npm, into --peers-dir) and moto (PyPI
    /// `moto[server]`, in --peers-dir/venv or `moto_server` on PATH) and
    /// print ratios ours/peer.
    #[arg(long)]
    pub peers: bool,
    /// Where the peers are installed [default: $XDG_CACHE_HOME/wildrydes/peers
    /// or ~/.cache/wildrydes/peers].
    #[arg(long, value_name = "DIR")]
    pub peers_dir: Option<std::path::PathBuf>,
    /// Items written with BatchWriteItem (in batches of 25).
    #[arg(long, default_value_t = 20_000)]
    pub items: usize,
    /// Concurrent BatchWriteItem callers.
    #[arg(long, default_value_t = 4)]
    pub callers: usize,
    /// Queries of the 1,000-item partition timed.
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
}

/// DynamoDB's JSON 1.0 over the benchmarks' raw client.
struct Conn(http::Conn);

impl Conn {
    async fn open(url: &str) -> Result<Conn> {
        Ok(Conn(http::Conn::open(url).await?))
    }

    /// Sends one action; returns the status and the body.
    async fn call(&mut self, action: &str, body: &str) -> Result<(u16, String)> {
        let target = format!("DynamoDB_20120810.{action}");
        let auth = http::dummy_auth("dynamodb", "host;x-amz-date;x-amz-target");
        let headers = [
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Amz-Target", target.as_str()),
            ("X-Amz-Date", "20261202T000000Z"),
            ("Authorization", auth.as_str()),
        ];
        let answer = self
            .0
            .call("POST", "/", &headers, body.as_bytes(), usize::MAX)
            .await?;
        Ok((answer.status, answer.text()))
    }

    async fn ok(&mut self, action: &str, body: &str) -> Result<String> {
        let (status, out) = self.call(action, body).await?;
        if status != 200 {
            bail!("{action} answered {status}: {}", &out[..out.len().min(300)]);
        }
        Ok(out)
    }
}

/// The JSON value of member `key` (the first one) in `text`: a number, or
/// a balanced object.
fn member<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    if !rest.starts_with('{') {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        return Some(rest[..end].trim());
    }
    let (mut depth, mut in_str, mut escaped) = (0, false, false);
    for (i, ch) in rest.char_indices() {
        match (in_str, escaped, ch) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '"') => in_str = false,
            (false, _, '"') => in_str = true,
            (false, _, '{') => depth += 1,
            (false, _, '}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(&rest[..=i]);
                }
            }
            _ => {}
        }
    }
    None
}

const TABLE: &str = "BenchTable";

fn item(pk: &str, sk: usize) -> String {
    // ~200 bytes as DynamoDB counts them.
    format!(
        r#"{{"PutRequest":{{"Item":{{"pk":{{"S":"{pk}"}},"sk":{{"S":"{sk:010}"}},"Distance":{{"N":"{}"}},"Data":{{"S":"{}"}}}}}}}}"#,
        sk % 1000,
        "x".repeat(160)
    )
}

/// Writes `items` with BatchWriteItem, retrying unprocessed items.
async fn batch_write(c: &mut Conn, items: Vec<String>) -> Result<()> {
    for chunk in items.chunks(25) {
        let mut body = format!(r#"{{"RequestItems":{{"{TABLE}":[{}]}}}}"#, chunk.join(","));
        for _ in 0..100 {
            let out = c.ok("BatchWriteItem", &body).await?;
            match member(&out, "UnprocessedItems") {
                Some(u) if u.trim_start_matches('{').trim_start().starts_with('"') => {
                    body = format!(r#"{{"RequestItems":{u}}}"#);
                }
                _ => break,
            }
        }
    }
    Ok(())
}

/// The figures of one server.
#[derive(Debug, Default, Clone)]
pub struct DynamoDbResult {
    pub label: String,
    pub write_items_per_s: Option<f64>,
    pub query_p50_ms: Option<f64>,
    pub query_p99_ms: Option<f64>,
    pub scan_items_per_s: Option<f64>,
    pub rss_mb: Option<f64>,
}

async fn workload(server: &Server, args: &DynamoDbArgs) -> Result<DynamoDbResult> {
    let mut c = Conn::open(&server.url).await?;
    let create = format!(
        r#"{{"TableName":"{TABLE}","AttributeDefinitions":[{{"AttributeName":"pk","AttributeType":"S"}},{{"AttributeName":"sk","AttributeType":"S"}}],"KeySchema":[{{"AttributeName":"pk","KeyType":"HASH"}},{{"AttributeName":"sk","KeyType":"RANGE"}}],"BillingMode":"PAY_PER_REQUEST"}}"#
    );
    c.ok("CreateTable", &create).await?;
    let describe = format!(r#"{{"TableName":"{TABLE}"}}"#);
    let ready = Instant::now();
    while !c
        .ok("DescribeTable", &describe)
        .await?
        .contains("\"ACTIVE\"")
    {
        if ready.elapsed() > Duration::from_secs(30) {
            bail!("{TABLE} never became ACTIVE");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // BatchWriteItem: callers write disjoint partitions of 100 items.
    let per = args.items / args.callers.max(1);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..args.callers.max(1) {
        let url = server.url.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&url).await?;
            let items = (0..per)
                .map(|i| item(&format!("c{caller}-{}", i / 100), i))
                .collect();
            batch_write(&mut c, items).await
        }));
    }
    for t in tasks {
        t.await??;
    }
    let written = per * args.callers.max(1);
    let write_rate = written as f64 / start.elapsed().as_secs_f64();
    eprintln!("dynamodb: {}: {written} items written", server.label);
    // A new connection: a long write phase leaves the first one idle past
    // the server's idle limit (it closes it).
    let mut c = Conn::open(&server.url).await?;
    // Query: one partition of 1,000 items, read whole (~230 KB, one page).
    batch_write(&mut c, (0..1000).map(|i| item("hot", i)).collect()).await?;
    let query = format!(
        r#"{{"TableName":"{TABLE}","KeyConditionExpression":"pk = :p","ExpressionAttributeValues":{{":p":{{"S":"hot"}}}}}}"#
    );
    let mut samples = Vec::with_capacity(args.queries);
    for _ in 0..args.queries {
        let t = Instant::now();
        let out = c.ok("Query", &query).await?;
        samples.push(t.elapsed());
        let count = member(&out, "Count").and_then(|n| n.parse::<usize>().ok());
        if count != Some(1000) {
            bail!("a Query of the 1,000-item partition answered Count {count:?}");
        }
    }
    let (p50, p99) = stats::p50_p99(&samples);
    // Scan: the whole table, page after page.
    let start = Instant::now();
    let (mut scanned, mut esk) = (0usize, None::<String>);
    loop {
        let body = match &esk {
            Some(k) => format!(r#"{{"TableName":"{TABLE}","ExclusiveStartKey":{k}}}"#),
            None => format!(r#"{{"TableName":"{TABLE}"}}"#),
        };
        let out = c.ok("Scan", &body).await?;
        scanned += member(&out, "Count")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(0);
        esk = member(&out, "LastEvaluatedKey").map(str::to_string);
        if esk.is_none() {
            break;
        }
    }
    let scan_rate = scanned as f64 / start.elapsed().as_secs_f64();
    if scanned != written + 1000 {
        bail!("Scan read {scanned} items of {}", written + 1000);
    }
    Ok(DynamoDbResult {
        label: server.label.clone(),
        write_items_per_s: Some(write_rate),
        query_p50_ms: p50,
        query_p99_ms: p99,
        scan_items_per_s: Some(scan_rate),
        rss_mb: server.rss_mb(),
    })
}

/// Waits until the server answers ListTables.
async fn wait_ready(server: &mut Server) -> Result<()> {
    let start = Instant::now();
    loop {
        if let Ok(mut c) = Conn::open(&server.url).await {
            if let Ok((200, _)) = c.call("ListTables", "{}").await {
                return Ok(());
            }
        }
        if let Some(status) = server.proc.exited() {
            bail!("{} exited ({status}): {}", server.label, server.log_tail());
        }
        if start.elapsed() > Duration::from_secs(60) {
            bail!(
                "{} not ready after 60 s: {}",
                server.label,
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn start_dynalite(peers: &Path) -> Result<Server> {
    if !peers.join("node_modules/dynalite/package.json").is_file() {
        eprintln!("installing dynalite with npm into {}", peers.display());
        std::fs::create_dir_all(peers)?;
        let ok = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(peers)
            .arg("dynalite")
            .stdin(Stdio::null())
            .status()
            .context("running npm install dynalite")?;
        if !ok.success() {
            bail!("npm install dynalite failed");
        }
    }
    let port = free_port()?;
    let dir = tempfile::Builder::new()
        .prefix("wildrydes-bench-dynalite-")
        .tempdir()?;
    let log = std::fs::File::create(dir.path().join("server.log"))?;
    let script = format!(
        "require('dynalite')({{createTableMs: 0, deleteTableMs: 0, updateTableMs: 0}}).listen({port}, '127.0.0.1')"
    );
    let mut cmd = Command::new("node");
    cmd.arg("-e")
        .arg(script)
        .current_dir(peers)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    Ok(Server {
        label: "dynalite".into(),
        url: format!("http://127.0.0.1:{port}"),
        proc: Proc::spawn("dynalite", &mut cmd)?,
        dir,
    })
}

fn start_moto(peers: &Path) -> Result<Server> {
    // --peers-dir/venv (python3 -m venv; pip install 'moto[server]'), or PATH.
    let python = peers.join("venv/bin/python");
    let port = free_port()?.to_string();
    let mut cmd = if python.is_file() {
        let mut c = Command::new(python);
        c.args(["-m", "moto.server"]);
        c
    } else {
        Command::new("moto_server")
    };
    let dir = tempfile::Builder::new()
        .prefix("wildrydes-bench-moto-")
        .tempdir()?;
    let log = std::fs::File::create(dir.path().join("server.log"))?;
    cmd.args(["-H", "127.0.0.1", "-p", &port])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let proc = Proc::spawn("moto", &mut cmd).context(
        "moto not found: python3 -m venv <peers-dir>/venv && <peers-dir>/venv/bin/pip install 'moto[server]'",
    )?;
    Ok(Server {
        label: "moto".into(),
        url: format!("http://127.0.0.1:{port}"),
        proc,
        dir,
    })
}

pub async fn run(args: &DynamoDbArgs) -> Result<Vec<DynamoDbResult>> {
    let peers_dir = args
        .peers_dir
        .clone()
        .unwrap_or_else(procs::default_peers_dir);
    type Start = Box<dyn Fn() -> Result<Server>>;
    let mut starts: Vec<Start> = vec![Box::new(|| procs::start_ours(false))];
    if args.peers {
        let (d, m) = (peers_dir.clone(), peers_dir.clone());
        starts.push(Box::new(move || start_dynalite(&d)));
        starts.push(Box::new(move || start_moto(&m)));
    }
    let mut results = Vec::new();
    for start in starts {
        let mut server = start()?;
        wait_ready(&mut server).await?;
        let label = server.label.clone();
        eprintln!("dynamodb: {label} …");
        match workload(&server, args).await {
            Ok(r) => {
                eprintln!(
                    "dynamodb: {label}: {} written, Query p50 {} p99 {}, {} scanned, RSS {}",
                    stats::rate(r.write_items_per_s),
                    stats::ms(r.query_p50_ms),
                    stats::ms(r.query_p99_ms),
                    stats::rate(r.scan_items_per_s),
                    stats::mb(r.rss_mb)
                );
                results.push(r)
            }
            Err(e) => {
                eprintln!("dynamodb: {label} failed: {e:#}");
                results.push(DynamoDbResult {
                    label,
                    ..Default::default()
                });
            }
        }
    }
    let ours = results[0].clone();
    let header: Vec<String> = [
        "server",
        "BatchWriteItem items/s",
        "Query p50",
        "Query p99",
        "Scan items/s",
        "RSS",
        "writes ours/peer",
    ]
    .map(String::from)
    .into();
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            vec![
                r.label.clone(),
                stats::rate(r.write_items_per_s),
                stats::ms(r.query_p50_ms),
                stats::ms(r.query_p99_ms),
                stats::rate(r.scan_items_per_s),
                stats::mb(r.rss_mb),
                if r.label == ours.label {
                    "-".into()
                } else {
                    stats::ratio(ours.write_items_per_s, r.write_items_per_s)
                },
            ]
        })
        .collect();
    println!(
        "DynamoDB: {} items of ~200 B in batches of 25 by {} callers, Query of a 1,000-item partition x{}, Scan of all; ours durable, peers in memory; {} (load {})",
        args.items,
        args.callers,
        args.queries,
        procs::machine(),
        procs::load_average()
    );
    stats::print_table(&header, &rows);
    Ok(results)
}
