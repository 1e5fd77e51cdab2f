//! `wildrydes-bench archive`: the data-archiving module.
//!
//! * Archive rate: statuses pre-loaded into a durable `wildrydes serve`
//!   (8 shards), then the archiver (`archive::archive` over the shared
//!   reader, Firehose's 5 MiB buffers, JSON lines) writes them into the
//!   engine's S3 bucket from TrimHorizon; records/s until the last object
//!   is written (goal 200,000/s).
//! * Query time: `--records` statuses (10 million by default) of a day
//!   archived by the same code into a local directory, as JSON lines and as
//!   Parquet; the group-by `SELECT Name, SUM(Distance), MIN(MagicPoints)
//!   FROM wildrydes GROUP BY Name` and a one-hour query (one unicorn's path
//!   in hour 13, the partition filter `hour = 13`) with `wildrydes-query --stats`
//!   (listing included), best of 3; with `--peers`, DuckDB (PyPI `duckdb`,
//!   installed with pip into the peers dir) on the same files, best of 3.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use archive::{
    archive, BatchSource, Compression, Format, Hints, Location, S3Options, Settings, Store,
};
use bytes::Bytes;
use clap::Args;
use kinesis::{
    Batch, ConnectOptions, Positions, ReadError, Reader, ReaderOptions, Record, StartPosition,
};
use sensor::{Status, StatusTime};

use crate::{engine, procs, stats};

#[derive(Debug, Clone, Args)]
pub struct ArchiveArgs {
    /// Statuses archived into the engine's S3 for the archive rate.
    #[arg(long, default_value_t = 1_000_000)]
    pub archive_records: u64,
    /// Shards of the source stream (GetRecords reads 50,000 records/s per shard at most).
    #[arg(long, default_value_t = 8)]
    pub shards: i32,
    /// Statuses of the query archive (one day of `records / 86,400` unicorns).
    #[arg(long, default_value_t = 10_000_000)]
    pub records: u64,
    /// Also run DuckDB on the same files (pip install into the peers dir).
    #[arg(long)]
    pub peers: bool,
    /// Where DuckDB is installed [default: ~/.cache/wildrydes/peers].
    #[arg(long, value_name = "DIR")]
    pub peers_dir: Option<PathBuf>,
    /// Skip the archive rate (query times only).
    #[arg(long)]
    pub skip_rate: bool,
    /// Keep the query archives in DIR (`DIR/json`, `DIR/parquet`) and reuse
    /// them on the next run instead of writing them again [default: a
    /// temporary directory, removed]
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
    /// Only this format's archive (query times).
    #[arg(long, value_enum)]
    pub only: Option<OnlyFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnlyFormat {
    Json,
    Parquet,
}

/// A reader that says when `target` records were handed out.
struct Until {
    reader: Reader,
    seen: u64,
    target: u64,
    done: Option<tokio::sync::oneshot::Sender<()>>,
}

impl BatchSource for Until {
    async fn next_batch(&mut self) -> Result<Batch, ReadError> {
        let batch = self.reader.next().await?;
        self.seen += batch.records.len() as u64;
        if self.seen >= self.target {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
        }
        Ok(batch)
    }
}

fn status(n: u64, unicorns: u64, t0: i64) -> Status {
    let (step, u) = (n / unicorns, n % unicorns);
    Status {
        name: format!("unicorn-{u}"),
        status_time: StatusTime::from_millis(t0 + step as i64 * 1000),
        latitude: 40.749167 + (step % 1000) as f64 * 1e-5,
        longitude: -73.985184 - (u % 100) as f64 * 1e-4,
        distance: 29.0 + ((n * 7) % 21) as f64 / 10.0,
        magic_points: 50 + ((n * 13 + u) % 101) as i64,
        health_points: 50 + ((n * 17 + u) % 101) as i64,
    }
}

async fn archive_rate(args: &ArchiveArgs) -> Result<f64> {
    let mut server = procs::start_ours(false)?;
    engine::wait_ready(&mut server, Duration::from_secs(30)).await?;
    let c = engine::client(&server.url);
    engine::create_stream(&c, "wildrydes", args.shards).await?;
    testkit::s3(&server.url)
        .create_bucket()
        .bucket("wildrydes-data")
        .send()
        .await
        .map_err(engine::sdk)?;
    let n = args.archive_records;
    let unicorns = 1000;
    let t0 = StatusTime::now().as_millis() - 3_600_000;
    let (stored, load_secs) =
        engine::put_records_phase(&c, "wildrydes", n, 4, Duration::from_secs(300), move |i| {
            let s = status(i, unicorns, t0);
            (s.name.clone(), s.to_json_line())
        })
        .await?;
    if stored != n {
        bail!("pre-loaded {stored} of {n} records");
    }
    println!("pre-loaded {stored} records in {load_secs:.1} s");
    let connect = ConnectOptions {
        endpoint: Some(server.url.clone()),
        region: Some("us-east-1".into()),
        ..ConnectOptions::default()
    };
    let conn = kinesis::connect(&connect).await?;
    let s3 = S3Options {
        region: Some("us-east-1".into()),
        endpoint: Some(server.url.clone()),
    };
    let store = Store::open(&Location::parse("s3://wildrydes-data/bench")?, &s3).await?;
    let (done, finished) = tokio::sync::oneshot::channel();
    let started = Instant::now();
    let reader = Reader::start(
        conn,
        ReaderOptions::new("wildrydes", StartPosition::TrimHorizon),
    );
    let durable = reader.positions();
    let mut source = Until {
        reader,
        seen: 0,
        target: n,
        done: Some(done),
    };
    let state = server.dir.path().join("archive-state.json");
    let stats = archive(
        &mut source,
        &store,
        &Settings::default(),
        durable,
        Some(&state),
        async {
            let _ = finished.await;
        },
    )
    .await?;
    let secs = started.elapsed().as_secs_f64();
    let rate = stats.records as f64 / secs;
    println!(
        "archived {} records into {} objects ({:.0} MB) of s3://wildrydes-data/bench/ in {secs:.2} s = {} (goal 200,000/s: {})",
        stats.records,
        stats.objects,
        stats.bytes as f64 / 1e6,
        stats::rate(Some(rate)),
        if rate >= 200_000.0 { "holds" } else { "FAILS" }
    );
    Ok(rate)
}

/// Archives `records` statuses of one day into `dir` (JSON and Parquet).
async fn write_day(dir: &Path, records: u64, format: Format) -> Result<(u64, f64)> {
    let unicorns = records.div_ceil(86_400).max(1);
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")?.timestamp_millis();
    let store = Store::open(&Location::Dir(dir.to_owned()), &S3Options::default()).await?;
    let settings = Settings {
        format,
        compression: match format {
            Format::Json => Compression::None,
            Format::Parquet => Compression::Snappy,
        },
        hints: Hints {
            size: 64 << 20,
            interval: Duration::from_secs(900),
        },
        ..Settings::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch>(8);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let task = tokio::spawn(async move {
        archive(
            &mut rx,
            &store,
            &settings,
            Positions::default(),
            None,
            async {
                let _ = stopped.await;
            },
        )
        .await
    });
    let mut i = 0;
    while i < records {
        let end = (i + 10_000).min(records);
        let batch: Vec<Record> = (i..end)
            .map(|n| {
                let s = status(n, unicorns, t0);
                Record {
                    sequence_number: n.to_string(),
                    partition_key: String::new(),
                    arrival: Some(s.status_time.to_datetime()),
                    data: Bytes::from(s.to_json_line()),
                }
            })
            .collect();
        tx.send(Batch {
            shard_id: "shardId-000000000000".into(),
            records: batch,
            millis_behind_latest: 0,
            shard_ended: false,
            caught_up: true,
        })
        .await?;
        i = end;
    }
    while tx.capacity() < 8 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = stop.send(());
    let stats = task.await??;
    Ok((stats.bytes, started.elapsed().as_secs_f64()))
}

const GROUP_BY: &str = "SELECT Name, SUM(Distance), MIN(MagicPoints) FROM wildrydes GROUP BY Name";
const ONE_HOUR: &str = "SELECT Name, StatusTime, Latitude, Longitude FROM wildrydes \
     WHERE year = 2026 AND month = 12 AND day = 1 AND hour = 13 AND Name = 'unicorn-7' ORDER BY StatusTime";

/// A query's best of 3 with a fresh session each time (listing included).
struct Timed {
    /// Seconds, opening the session included.
    secs: f64,
    /// Of which opening the session (listing the archive, the table).
    open_secs: f64,
    rows: usize,
    /// Objects read.
    read: usize,
}

/// A query run by `wildrydes-query --stats` (a process, as a user runs it;
/// the figures are its own: opening the archive and the statement, not the
/// process's start), best of 3.
fn ours(dir: &Path, sql: &str) -> Result<Timed> {
    let query = procs::sibling_binary("wildrydes-query")?;
    let mut best = Timed {
        secs: f64::MAX,
        open_secs: 0.0,
        rows: 0,
        read: 0,
    };
    for _ in 0..3 {
        let out = Command::new(&query)
            .arg("--archive")
            .arg(dir)
            .args(["--format", "json", "--stats", sql])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", query.display()))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            bail!("wildrydes-query failed: {stderr}");
        }
        let stats: serde_json::Value = stderr
            .lines()
            .rev()
            .find_map(|l| serde_json::from_str(l).ok())
            .with_context(|| format!("no --stats line in: {stderr}"))?;
        let figure = |name: &str| stats[name].as_f64().unwrap_or_default();
        if figure("seconds") < best.secs {
            best = Timed {
                secs: figure("seconds"),
                open_secs: figure("open_seconds"),
                rows: figure("rows") as usize,
                read: figure("objects_read") as usize,
            };
        }
    }
    Ok(best)
}

const DUCKDB_SCRIPT: &str = r#"
import json, sys, time, duckdb
root, kind = sys.argv[1], sys.argv[2]
cols = "{'Name':'VARCHAR','StatusTime':'TIMESTAMP','Latitude':'DOUBLE','Longitude':'DOUBLE','Distance':'DOUBLE','MagicPoints':'BIGINT','HealthPoints':'BIGINT'}"
def source(glob):
    if kind == "parquet":
        return f"read_parquet('{glob}.parquet')"
    return f"read_json('{glob}', format='newline_delimited', columns={cols})"
queries = {
    "group_by": f"SELECT Name, SUM(Distance), MIN(MagicPoints) FROM {source(root + '/*/*/*/*/*')} GROUP BY Name",
    "one_hour": f"SELECT Name, StatusTime, Latitude, Longitude FROM {source(root + '/2026/12/01/13/*')} WHERE Name = 'unicorn-7' ORDER BY StatusTime",
}
out = {}
for name, sql in queries.items():
    best, rows = None, 0
    for _ in range(3):
        con = duckdb.connect()
        con.execute('SET enable_progress_bar = false')
        t = time.perf_counter()
        rows = len(con.execute(sql).fetchall())
        s = time.perf_counter() - t
        best = s if best is None else min(best, s)
        con.close()
    out[name] = [best, rows]
print(json.dumps(out))
"#;

fn install_duckdb(peers: &Path) -> Result<PathBuf> {
    let target = peers.join("duckdb");
    if target.join("duckdb").is_dir() {
        return Ok(target);
    }
    eprintln!("installing duckdb with pip into {}", target.display());
    let out = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--target"])
        .arg(&target)
        .arg("duckdb")
        .stdin(Stdio::null())
        .output()
        .context("running pip install duckdb")?;
    if !out.status.success() {
        bail!(
            "pip install duckdb failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(target)
}

fn duckdb(path: &Path, dir: &Path, kind: &str) -> Result<serde_json::Value> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(DUCKDB_SCRIPT)
        .arg(dir)
        .arg(kind)
        .env("PYTHONPATH", path)
        .stdin(Stdio::null())
        .output()
        .context("running duckdb")?;
    if !out.status.success() {
        bail!(
            "duckdb failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub async fn run(args: &ArchiveArgs) -> Result<()> {
    println!(
        "== archive: archive rate ({} statuses, {} shards, durable `wildrydes serve`, its S3); query times over {} archived statuses, JSON and Parquet{}",
        args.archive_records,
        args.shards,
        args.records,
        if args.peers { ", next to DuckDB" } else { "" }
    );
    println!("load: {} (1-minute load average)", procs::load_average());
    if !args.skip_rate {
        archive_rate(args).await?;
    }
    let duck = if args.peers {
        Some(install_duckdb(
            &args
                .peers_dir
                .clone()
                .unwrap_or_else(procs::default_peers_dir),
        )?)
    } else {
        None
    };
    let tmp = tempfile::Builder::new()
        .prefix("wildrydes-bench-archive-")
        .tempdir()?;
    let root = args.keep.clone().unwrap_or_else(|| tmp.path().to_owned());
    let formats = [
        (Format::Parquet, "parquet", OnlyFormat::Parquet),
        (Format::Json, "json", OnlyFormat::Json),
    ];
    for (format, kind, _) in formats
        .into_iter()
        .filter(|(_, _, f)| args.only.is_none_or(|only| only == *f))
    {
        let dir = root.join(kind);
        if args.keep.is_some() && dir.is_dir() {
            println!("{kind}: the archive kept in {dir:?}");
        } else {
            let (bytes, secs) = write_day(&dir, args.records, format).await?;
            println!(
                "{kind}: {} statuses archived into {dir:?} ({:.0} MB) in {secs:.1} s",
                args.records,
                bytes as f64 / 1e6
            );
        }
        let objects = walk(&dir)?;
        let hour: usize = walk(&dir.join("2026/12/01/13"))?;
        let g = ours(&dir, GROUP_BY)?;
        let h = ours(&dir, ONE_HOUR)?;
        println!(
            "  ours   group-by:  {:.3} s ({} rows; opening the archive {:.3} s)",
            g.secs, g.rows, g.open_secs
        );
        println!(
            "  ours   one hour:  {:.3} s ({} rows; read {} of {objects} objects, the hour has {hour})",
            h.secs, h.rows, h.read
        );
        let (g, h) = (g.secs, h.secs);
        if let Some(path) = &duck {
            let d = duckdb(path, &dir, kind)?;
            let (dg, dh) = (
                d["group_by"][0].as_f64().unwrap_or(f64::NAN),
                d["one_hour"][0].as_f64().unwrap_or(f64::NAN),
            );
            println!(
                "  duckdb group-by:  {dg:.3} s ({} rows)  ours/duckdb {:.2}x",
                d["group_by"][1],
                g / dg
            );
            println!(
                "  duckdb one hour:  {dh:.3} s ({} rows)  ours/duckdb {:.2}x",
                d["one_hour"][1],
                h / dh
            );
        }
        if args.keep.is_none() {
            // The JSON copy is large: gone before the next one is written.
            std::fs::remove_dir_all(&dir).ok();
        }
    }
    println!("load: {} (1-minute load average)", procs::load_average());
    Ok(())
}

/// Files below `dir` (recursively).
fn walk(dir: &Path) -> Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            n += walk(&entry.path())?;
        } else {
            n += 1;
        }
    }
    Ok(n)
}
