//! `wildrydes archive` and `wildrydes query` as a user runs them, against an
//! embedded engine: kill -9 of the archiver while it uploads loses no record
//! (a record may be in two objects), and `wildrydes up` archives the stream
//! into its bucket, where `wildrydes query` finds it without being told.
//! Unix only: the processes are stopped with SIGINT (Ctrl-C) and SIGKILL.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use kinesis::writer::{BatchWriter, Record};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common;

use common::{ctrl_c, WILDRYDES};

const BUCKET: &str = "wildrydes-data";

/// Every key below `prefix`.
async fn keys(client: &aws_sdk_s3::Client, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(BUCKET)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .unwrap();
        out.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            return out;
        }
    }
}

/// How many times each line occurs in the objects below `prefix`.
async fn lines(client: &aws_sdk_s3::Client, prefix: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for key in keys(client, prefix).await {
        let body = client
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap();
        let bytes = body.body.collect().await.unwrap().into_bytes();
        for line in String::from_utf8(bytes.to_vec()).unwrap().lines() {
            *out.entry(line.to_owned()).or_default() += 1;
        }
    }
    out
}

fn status(i: usize) -> String {
    let s = sensor::Status {
        name: format!("unicorn-{}", i % 10),
        status_time: sensor::StatusTime::from_millis(1_764_662_400_000 + i as i64),
        latitude: 40.0,
        longitude: -73.0,
        distance: 30.0,
        magic_points: 150,
        health_points: 150,
    };
    serde_json::to_string(&s).unwrap()
}

async fn put(writer: &BatchWriter, range: std::ops::Range<usize>) -> Vec<String> {
    let sent: Vec<String> = range.map(status).collect();
    for chunk in sent.chunks(500) {
        writer
            .put_records(
                chunk
                    .iter()
                    .map(|s| Record::new(&s[9..20], format!("{s}\n").as_bytes()))
                    .collect(),
            )
            .await
            .unwrap();
    }
    sent
}

fn spawn_archive(url: &str, state: &Path) -> Child {
    Command::new(WILDRYDES)
        .args([
            "archive",
            "-endpoint",
            url,
            "-destination",
            "s3://wildrydes-data/killed",
            "-from",
            "trim_horizon",
            "-buffer-size",
            "2KiB",
            "-buffer-interval",
            "200ms",
            "-state",
        ])
        .arg(state)
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start wildrydes archive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_uploading_loses_no_record() {
    let engine = engine::spawn_in_memory().await.unwrap();
    engine.ensure_bucket(BUCKET).unwrap();
    let conn = kinesis::connect(&kinesis::ConnectOptions {
        endpoint: Some(engine.url()),
        ..kinesis::ConnectOptions::default()
    })
    .await
    .unwrap();
    conn.ensure_stream("wildrydes", 2).await.unwrap();
    let writer = BatchWriter::new(conn, "wildrydes");
    let client = testkit::s3(&engine.url());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("archive-state.json");
    let mut sent = Vec::new();
    let mut mid_work_kills = 0;
    for round in 0..5 {
        sent.extend(put(&writer, round * 600..round * 600 + 600).await);
        let before = keys(&client, "killed/").await.len();
        let mut child = spawn_archive(&engine.url(), &state);
        // Killed once it has written a few objects (2 KiB each, ~10 records).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut now = before;
        while now < before + 5 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
            now = keys(&client, "killed/").await.len();
        }
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        let archived = lines(&client, "killed/").await;
        if sent.iter().any(|s| !archived.contains_key(s)) {
            mid_work_kills += 1;
        }
    }
    assert!(
        mid_work_kills >= 3,
        "only {mid_work_kills} kills before the work was done"
    );
    // A last run from the saved positions writes whatever is missing.
    let mut child = spawn_archive(&engine.url(), &state);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let archived = loop {
        let archived = lines(&client, "killed/").await;
        if sent.iter().all(|s| archived.contains_key(s)) {
            break archived;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "records missing after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ctrl_c(&child);
    let status = child.wait().await.unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("(positions saved)"), "{stderr}");
    // Nothing but the records, each at least once.
    let sent_set: BTreeSet<&String> = sent.iter().collect();
    assert!(archived.keys().all(|l| sent_set.contains(l)));
    let twice = archived.values().filter(|n| **n > 1).count();
    eprintln!("{} records, {twice} of them in two objects", sent.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_archives_the_stream_and_query_finds_it() {
    let mut child = Command::new(WILDRYDES)
        .args(["up", "-port", "0", "-in-memory"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start wildrydes up");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), out.next_line())
        .await
        .expect("banner within 30 s")
        .unwrap()
        .unwrap();
    let url = first.strip_prefix("endpoint: ").unwrap().to_owned();
    let mut banner = String::new();
    while let Ok(Ok(Some(line))) =
        tokio::time::timeout(Duration::from_secs(2), out.next_line()).await
    {
        banner.push_str(&line);
        banner.push('\n');
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    assert!(
        banner.contains(&format!("./wildrydes query --endpoint {url} \"SELECT Name, SUM(Distance) FROM wildrydes GROUP BY Name\"")),
        "{banner}"
    );
    let conn = kinesis::connect(&kinesis::ConnectOptions {
        endpoint: Some(url.clone()),
        ..kinesis::ConnectOptions::default()
    })
    .await
    .unwrap();
    let sent = put(&BatchWriter::new(conn, "wildrydes"), 0..1000).await;
    // The archive's interval is 10 s; `query` finds the bucket by itself
    // (here through AWS_ENDPOINT_URL, as the banner's export line sets it).
    // `wildrydes query` runs `wildrydes-query` from beside `wildrydes`.
    common::workspace_bin("wildrydes-query");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = Command::new(WILDRYDES)
            .args([
                "query",
                "SELECT Name, COUNT(*) AS n FROM wildrydes GROUP BY Name ORDER BY Name",
            ])
            .env("AWS_ENDPOINT_URL", &url)
            .env("RUST_LOG", "warn")
            .output()
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let total: u64 = rows.iter().map(|r| r["n"].as_u64().unwrap()).sum();
        if total == sent.len() as u64 {
            assert_eq!(rows.len(), 10);
            assert_eq!(rows[0], serde_json::json!({"name": "unicorn-0", "n": 100}));
            break;
        }
        assert!(
            total < sent.len() as u64,
            "{total} records archived, more than sent"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "{total} of {} after 60 s",
            sent.len()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    ctrl_c(&child);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops within 30 s")
        .unwrap();
    assert!(status.success());
}
