//! SQL over archives the archiver wrote (JSON lines, gzip JSON lines,
//! Parquet, and all three mixed) in a local directory: the workshop's
//! queries give what an independent recomputation over the raw records
//! gives, and a filter on the partition columns reads only the matching
//! objects (counted by a wrapper around the store).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use archive::{archive, Compression, Format, Hints, Location, S3Options, Settings, Store};
use bytes::Bytes;
use chrono::{DateTime, TimeZone, Utc};
use kinesis::{Batch, Positions, Record};
use object_store::ObjectStore;
use query::{write_stream, CountingStore, OutputFormat, Session};
use sensor::{Status, StatusTime};

const UNICORNS: [&str; 3] = ["Shadowfax", "Rocinante", "Bucephalus"];

/// Three hours of three unicorns, one record every 20 s each; every value
/// is exact in binary, so sums do not depend on the order of addition.
fn records() -> Vec<Status> {
    let start = Utc
        .with_ymd_and_hms(2026, 12, 2, 9, 0, 0)
        .unwrap()
        .timestamp_millis();
    let mut out = Vec::new();
    for step in 0..540i64 {
        for (u, name) in UNICORNS.iter().enumerate() {
            let u = u as i64;
            out.push(Status {
                name: (*name).into(),
                status_time: StatusTime::from_millis(start + step * 20_000 + u * 7),
                latitude: 40.75 + (step as f64) / 1024.0,
                longitude: -73.98 - (u as f64) / 8.0,
                distance: 28.0 + ((step + u * 3) % 5) as f64 / 2.0,
                magic_points: 60 + (step * 3 + u) % 120,
                health_points: 90 + (step * 5 + u) % 80,
            });
        }
    }
    out
}

fn arrival(s: &Status) -> DateTime<Utc> {
    s.status_time.to_datetime()
}

/// Archives `records` into `dir` as the archiver does, in 16 KiB objects.
async fn write_archive(
    dir: &std::path::Path,
    records: &[Status],
    format: Format,
    compression: Compression,
) {
    let store = Store::open(&Location::Dir(dir.to_owned()), &S3Options::default())
        .await
        .unwrap();
    let settings = Settings {
        hints: Hints {
            size: 16 * 1024,
            interval: Duration::from_secs(900),
        },
        format,
        compression,
        ..Settings::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
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
    for (i, chunk) in records.chunks(100).enumerate() {
        let batch = Batch {
            shard_id: "shardId-000000000000".into(),
            records: chunk
                .iter()
                .enumerate()
                .map(|(j, s)| Record {
                    sequence_number: format!("{:020}", i * 100 + j),
                    partition_key: s.name.clone(),
                    arrival: Some(arrival(s)),
                    data: Bytes::from(format!("{}\n", serde_json::to_string(s).unwrap())),
                })
                .collect(),
            millis_behind_latest: 0,
            shard_ended: false,
            caught_up: true,
        };
        tx.send(batch).await.unwrap();
    }
    // Let the loop take every batch before stopping it.
    while tx.capacity() < 4 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    let stats = task.await.unwrap().unwrap();
    assert_eq!(stats.records as usize, records.len());
}

async fn open(dir: &std::path::Path) -> (Session, Arc<CountingStore>) {
    let fs = object_store::local::LocalFileSystem::new_with_prefix(dir).unwrap();
    let counting = Arc::new(CountingStore::new(Arc::new(fs)));
    let store: Arc<dyn ObjectStore> = counting.clone();
    let session = Session::open(store, object_store::path::Path::default())
        .await
        .unwrap();
    (session, counting)
}

/// A query's rows as JSON objects (through the JSON lines output).
async fn rows(session: &Session, sql: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let stream = session
        .stream(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = Vec::new();
    write_stream(stream, OutputFormat::Json, &mut out)
        .await
        .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn time(text: &str) -> i64 {
    text.parse::<StatusTime>().unwrap().as_millis()
}

async fn check_workshop_queries(session: &Session, raw: &[Status]) {
    // The seeds' check: SELECT Name, SUM(Distance) FROM wildrydes GROUP BY Name
    // (and the benchmark's MIN(MagicPoints) with it).
    let got = rows(
        session,
        "SELECT Name, SUM(Distance) AS distance, MIN(MagicPoints) AS magic FROM wildrydes GROUP BY Name ORDER BY Name",
    )
    .await;
    let mut want: BTreeMap<&str, (f64, i64)> = BTreeMap::new();
    for s in raw {
        let e = want.entry(&s.name).or_insert((0.0, i64::MAX));
        e.0 += s.distance;
        e.1 = e.1.min(s.magic_points);
    }
    let got: BTreeMap<String, (f64, i64)> = got
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                (
                    r["distance"].as_f64().unwrap(),
                    r["magic"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    let want: BTreeMap<String, (f64, i64)> =
        want.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(got, want);

    // A unicorn's path in a time range.
    let (from, to) = ("2026-12-02 09:30:00.000", "2026-12-02 10:15:00.000");
    let got = rows(
        session,
        &format!(
            "SELECT StatusTime, Latitude, Longitude FROM wildrydes WHERE Name = 'Rocinante' \
             AND StatusTime BETWEEN '{from}' AND '{to}' ORDER BY StatusTime"
        ),
    )
    .await;
    let want: Vec<(i64, f64, f64)> = raw
        .iter()
        .filter(|s| s.name == "Rocinante")
        .map(|s| (s.status_time.as_millis(), s.latitude, s.longitude))
        .filter(|(t, _, _)| (time(from)..=time(to)).contains(t))
        .collect();
    let got: Vec<(i64, f64, f64)> = got
        .iter()
        .map(|r| {
            (
                time(r["statustime"].as_str().unwrap()),
                r["latitude"].as_f64().unwrap(),
                r["longitude"].as_f64().unwrap(),
            )
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    // The moments a unicorn's vitals were below 100.
    let got = rows(
        session,
        "SELECT Name, StatusTime FROM wildrydes WHERE HealthPoints < 100 OR MagicPoints < 100",
    )
    .await;
    let got: BTreeSet<(String, i64)> = got
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                time(r["statustime"].as_str().unwrap()),
            )
        })
        .collect();
    let want: BTreeSet<(String, i64)> = raw
        .iter()
        .filter(|s| s.health_points < 100 || s.magic_points < 100)
        .map(|s| (s.name.clone(), s.status_time.as_millis()))
        .collect();
    assert!(!want.is_empty() && want.len() < raw.len());
    assert_eq!(got, want);

    // The points after a given StatusTime.
    let after = "2026-12-02 10:40:00.000";
    let got = rows(
        session,
        &format!("SELECT COUNT(*) AS n FROM wildrydes WHERE StatusTime > '{after}'"),
    )
    .await;
    let want = raw
        .iter()
        .filter(|s| s.status_time.as_millis() > time(after))
        .count();
    assert_eq!(got[0]["n"].as_u64().unwrap() as usize, want);
}

/// Every object of the archive, by hour directory.
fn objects_by_hour(dir: &std::path::Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for hour in ["09", "10", "11"] {
        let path = dir.join(format!("2026/12/02/{hour}"));
        for entry in std::fs::read_dir(&path).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            out.entry(hour.to_owned())
                .or_default()
                .insert(format!("2026/12/02/{hour}/{name}"));
        }
    }
    out
}

async fn check_pruning(
    session: &Session,
    counting: &CountingStore,
    dir: &std::path::Path,
    raw: &[Status],
) {
    let all = objects_by_hour(dir);
    assert!(
        all.values().all(|o| o.len() > 1),
        "several objects an hour: {all:?}"
    );
    counting.reset();
    let got = rows(
        session,
        "SELECT COUNT(*) AS n, SUM(Distance) AS d FROM wildrydes WHERE year = 2026 AND month = 12 AND day = 2 AND hour = 10",
    )
    .await;
    let hour10: Vec<&Status> = raw
        .iter()
        .filter(|s| arrival(s).format("%H").to_string() == "10")
        .collect();
    assert_eq!(got[0]["n"].as_u64().unwrap() as usize, hour10.len());
    assert_eq!(
        got[0]["d"].as_f64().unwrap(),
        hour10.iter().map(|s| s.distance).sum::<f64>()
    );
    let read: BTreeSet<String> = counting.reads().into_keys().collect();
    assert_eq!(read, all["10"], "the one-hour query read other objects");

    // A range of hours reads those hours only; no filter reads everything.
    counting.reset();
    // (A sum: a maximum may come from the Parquet footers' statistics, cached.)
    rows(
        session,
        "SELECT SUM(Distance) FROM wildrydes WHERE hour BETWEEN 10 AND 11",
    )
    .await;
    let read: BTreeSet<String> = counting.reads().into_keys().collect();
    let want: BTreeSet<String> = all["10"].union(&all["11"]).cloned().collect();
    assert_eq!(read, want);
    counting.reset();
    rows(session, "SELECT SUM(Distance) FROM wildrydes").await;
    let read: BTreeSet<String> = counting.reads().into_keys().collect();
    let want: BTreeSet<String> = all.values().flatten().cloned().collect();
    assert_eq!(read, want);
}

async fn check_format(format: Format, compression: Compression) {
    let raw = records();
    let dir = tempfile::tempdir().unwrap();
    write_archive(dir.path(), &raw, format, compression).await;
    let (session, counting) = open(dir.path()).await;
    check_workshop_queries(&session, &raw).await;
    check_pruning(&session, &counting, dir.path(), &raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_archive() {
    check_format(Format::Json, Compression::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_json_lines_archive() {
    check_format(Format::Json, Compression::Gzip).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_archive() {
    check_format(Format::Parquet, Compression::Snappy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_archive_is_one_table_with_case_insensitive_columns() {
    let raw = records();
    let (first, second) = raw.split_at(raw.len() / 2);
    let dir = tempfile::tempdir().unwrap();
    write_archive(dir.path(), first, Format::Json, Compression::Gzip).await;
    write_archive(dir.path(), second, Format::Parquet, Compression::None).await;
    // A stray file and a side object are not part of the table.
    std::fs::create_dir_all(dir.path().join("format-conversion-failed/2026/12/02/09")).unwrap();
    std::fs::write(
        dir.path().join("format-conversion-failed/2026/12/02/09/x"),
        "{}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("README"), "not a record\n").unwrap();
    let (session, _) = open(dir.path()).await;
    assert_eq!(session.inventory().objects.len(), 2);
    assert_eq!(session.inventory().other, 2);
    check_workshop_queries(&session, &raw).await;
    let got = rows(
        &session,
        "select name, year, month, day, hour from WildRydes where StatusTime = '2026-12-02 11:00:00.000'",
    )
    .await;
    assert_eq!(got.len(), 1);
    assert_eq!(
        serde_json::Value::Object(got[0].clone()),
        serde_json::json!({"name": "Shadowfax", "year": 2026, "month": 12, "day": 2, "hour": 11})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_archive_is_an_empty_table_and_csv_has_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let (session, _) = open(dir.path()).await;
    let stream = session
        .stream("SELECT Name, StatusTime FROM wildrydes")
        .await
        .unwrap();
    let mut out = Vec::new();
    let n = write_stream(stream, OutputFormat::Csv, &mut out)
        .await
        .unwrap();
    assert_eq!(n, 0);
    assert_eq!(String::from_utf8(out).unwrap(), "name,statustime\n");
    // Bad SQL is an error, not a panic.
    let err = session.stream("SELEC nothing").await.err().unwrap();
    // Said once, as the parser words it (no repeated chain).
    assert_eq!(
        err.to_string(),
        "sql parser error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1"
    );
    assert!(std::error::Error::source(&err).is_none());
    assert!(session.stream("SELECT nope FROM wildrydes").await.is_err());
}

/// The prompt (`wildrydes query` without SQL) at a real terminal: the binary
/// runs in a pseudo-terminal (Python's `pty` module, `pty_prompt.py`) and
/// gets lines as a user types them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompt_at_a_terminal_runs_statements_and_survives_errors() {
    let pty = std::process::Command::new("python3")
        .args(["-c", "import os, pty; os.close(os.openpty()[0])"])
        .output();
    if !pty.is_ok_and(|o| o.status.success()) {
        eprintln!("note: python3 cannot open a pseudo-terminal here; the prompt test is skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    write_archive(dir.path(), &records(), Format::Json, Compression::None).await;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(include_str!("pty_prompt.py"))
        .arg(env!("CARGO_BIN_EXE_wildrydes-query"))
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "the driver failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let screen = report["screen"].as_str().unwrap_or_default();
    assert_eq!(
        report["code"], 0,
        "exit status; the terminal showed:\n{screen}"
    );
    // The banner names the table and how to leave.
    assert!(screen.contains("table wildrydes over"), "{screen}");
    assert!(screen.contains("\\q leaves"), "{screen}");
    // A statement over two lines: the second line gets the continuation prompt.
    assert!(screen.contains("      -> "), "{screen}");
    // At a terminal the result is an aligned table, one row per unicorn.
    for name in UNICORNS {
        let row = screen
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{screen}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells, ["", name, "540", ""], "{screen}");
    }
    assert!(screen.contains("+-"), "{screen}");
    // A bad statement prints its error and the prompt goes on (`\q` after it
    // was read, and the exit status is 0).
    let said = "error: sql parser error: Expected: an SQL statement, found: SELEC at Line: 1";
    assert_eq!(screen.matches(said).count(), 1, "{screen}");
    let error = screen.find("error:").expect("the error is shown");
    assert!(screen[error..].contains("wildrydes> "), "{screen}");
}

/// `--stats`: one JSON line on stderr per statement, with its rows and the
/// objects it read (an hour's filter reads that hour's objects only; a
/// LIMIT may stop before all of them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_give_the_rows_and_the_objects_read() {
    let dir = tempfile::tempdir().unwrap();
    write_archive(dir.path(), &records(), Format::Json, Compression::None).await;
    let all = objects_by_hour(dir.path());
    let stats = |sql: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wildrydes-query"))
            .arg("--archive")
            .arg(dir.path())
            .args(["--format", "csv", "--stats", sql])
            .output()
            .expect("wildrydes-query runs");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{stderr}");
        let line: serde_json::Value = serde_json::from_str(stderr.trim())
            .unwrap_or_else(|e| panic!("one JSON line on stderr ({e}): {stderr}"));
        line
    };
    let hour10 = records()
        .iter()
        .filter(|s| arrival(s).format("%H").to_string() == "10")
        .count();
    let hour = stats("SELECT Name FROM wildrydes WHERE hour = 10");
    assert_eq!(hour["rows"], hour10, "{hour}");
    assert_eq!(hour["objects_read"], all["10"].len(), "{hour}");
    let seconds = hour["seconds"].as_f64().unwrap();
    let open = hour["open_seconds"].as_f64().unwrap();
    assert!(open > 0.0 && open <= seconds, "{hour}");
    let every = stats("SELECT SUM(Distance) FROM wildrydes");
    assert_eq!(every["rows"], 1, "{every}");
    assert_eq!(
        every["objects_read"],
        all.values().map(BTreeSet::len).sum::<usize>(),
        "{every}"
    );
}

/// `--stats` at the prompt: one line per statement, each with its own
/// figures (a statement's reads are not counted again in the next one's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_at_the_prompt_are_per_statement() {
    use std::io::Write as _;
    let dir = tempfile::tempdir().unwrap();
    write_archive(dir.path(), &records(), Format::Json, Compression::None).await;
    let all = objects_by_hour(dir.path());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_wildrydes-query"))
        .arg("--archive")
        .arg(dir.path())
        .args(["--format", "csv", "--stats"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wildrydes-query runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"SELECT COUNT(*) FROM wildrydes;\nSELECT COUNT(*) FROM wildrydes WHERE hour = 11;\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    let every = all.values().map(BTreeSet::len).sum::<usize>();
    assert_eq!(lines[0]["objects_read"], every, "{stderr}");
    assert_eq!(lines[1]["objects_read"], all["11"].len(), "{stderr}");
    assert_eq!(lines[1]["open_seconds"], 0.0, "{stderr}");
}
