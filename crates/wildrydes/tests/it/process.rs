//! `wildrydes process` as a user runs it, against an embedded engine: every
//! summary becomes an item of UnicornSensorData while the engine leaves
//! writes unprocessed, invalid records are skipped (and dead-lettered), a
//! kill -9 in the middle of the work loses nothing; and `wildrydes up`
//! creates the table and fills it. Unix only: the processes are stopped with
//! SIGINT (Ctrl-C) and SIGKILL.
#![cfg(unix)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use kinesis::writer::{BatchWriter, Record};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common;

use common::{ctrl_c, WILDRYDES};

const SUMMARIES: &str = "wildrydes-summary";

/// Polls until the table holds `n` items (panics after `secs`).
async fn wait_for(client: &aws_sdk_dynamodb::Client, n: i64, secs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let have = testkit::count_items(client, process::TABLE).await.unwrap();
        assert!(have <= n, "{have} items, more than the {n} summaries");
        if have == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {have} of {n} items after {secs} s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn summary(name: &str, minute: i64) -> sensor::Summary {
    sensor::Summary {
        name: name.into(),
        status_time: sensor::StatusTime::from_millis(1_500_000_000_000 + minute * 60_000),
        distance: 100 + minute,
        min_magic_points: 1,
        max_magic_points: 2 + minute,
        min_health_points: 3,
        max_health_points: 4 + minute,
    }
}

/// Puts summaries `from..to` of three unicorns; returns how many.
async fn put_summaries(writer: &BatchWriter, from: i64, to: i64) -> usize {
    let records: Vec<Record> = (from..to)
        .flat_map(|m| ["Rocinante", "Shadowfax", "Bucephalus"].map(|n| summary(n, m)))
        .map(|s| Record::new(s.name.clone(), s.to_json_line()))
        .collect();
    let n = records.len();
    writer.put_records(records).await.unwrap();
    n
}

/// An engine (in memory) with the summary stream and the table.
async fn setup(fail_entry_ratio: f64) -> (engine::EngineHandle, BatchWriter) {
    let engine = engine::spawn(engine::Config {
        fail_entry_ratio,
        ..engine::Config::default()
    })
    .await
    .unwrap();
    let conn = kinesis::connect(&kinesis::ConnectOptions {
        endpoint: Some(engine.url()),
        ..kinesis::ConnectOptions::default()
    })
    .await
    .unwrap();
    conn.ensure_stream(SUMMARIES, 2).await.unwrap();
    conn.ensure_stream("dead-letters", 1).await.unwrap();
    process::ensure_table(&testkit::dynamodb(&engine.url()), process::TABLE)
        .await
        .unwrap();
    (engine, BatchWriter::new(conn, SUMMARIES))
}

fn spawn_process(url: &str, state: &Path) -> Child {
    Command::new(WILDRYDES)
        .args([
            "process",
            "-endpoint",
            url,
            "-from",
            "trim_horizon",
            "-state",
        ])
        .arg(state)
        .args(["-dead-letter", "dead-letters"])
        .env("RUST_LOG", "warn")
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start wildrydes process")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_summary_becomes_an_item_while_writes_are_left_unprocessed() {
    // A third of the writes come back as UnprocessedItems (and a third of
    // the PutRecords entries fail, which the test's own writer retries).
    let (engine, writer) = setup(0.3).await;
    let n = put_summaries(&writer, 0, 200).await as i64;
    let junk = ["not json", r#"{"Name":"Rocinante"}"#, ""];
    writer
        .put_records(
            junk.iter()
                .map(|j| Record::new("junk", j.as_bytes()))
                .collect(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_process(&engine.url(), &dir.path().join("state.json"));
    let client = testkit::dynamodb(&engine.url());
    wait_for(&client, n, 120).await;

    // The workshop's item, exactly.
    let item = client
        .get_item()
        .table_name(process::TABLE)
        .key("Name", AttributeValue::S("Rocinante".into()))
        .key(
            "StatusTime",
            AttributeValue::S(summary("Rocinante", 7).status_time.to_string()),
        )
        .send()
        .await
        .unwrap()
        .item
        .expect("Rocinante's item of minute 7");
    let n_attr = |k: &str| item[k].as_n().unwrap().clone();
    assert_eq!(item.len(), 7);
    assert_eq!(n_attr("Distance"), "107");
    assert_eq!(n_attr("MaxMagicPoints"), "9");
    assert_eq!(n_attr("MaxHealthPoints"), "11");

    // The invalid records went to the dead-letter stream, unchanged.
    let conn = kinesis::connect(&kinesis::ConnectOptions {
        endpoint: Some(engine.url()),
        ..kinesis::ConnectOptions::default()
    })
    .await
    .unwrap();
    let mut reader = kinesis::Reader::start(
        conn,
        kinesis::ReaderOptions::new("dead-letters", kinesis::StartPosition::TrimHorizon),
    );
    let mut dead = BTreeSet::new();
    while dead.len() < 3 {
        let batch = tokio::time::timeout(Duration::from_secs(30), reader.next())
            .await
            .expect("dead letters within 30 s")
            .unwrap();
        dead.extend(batch.records.iter().map(|r| r.data.to_vec()));
    }
    let expected: BTreeSet<Vec<u8>> = junk.iter().map(|j| j.as_bytes().to_vec()).collect();
    assert_eq!(dead, expected);

    ctrl_c(&child);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops within 30 s")
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    // Each invalid record logged once, with its shard and sequence number.
    let logged: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("not a valid summary"))
        .collect();
    assert_eq!(logged.len(), 3, "{stderr}");
    assert!(
        logged
            .iter()
            .all(|l| l.contains("shard=shardId-") && l.contains("sequence_number=")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("read {} records", n + 3))
            && stderr.contains("3 invalid (3 dead-lettered) (positions saved)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_the_middle_of_the_work_loses_no_summary() {
    // Half the writes left unprocessed: batches take several calls, so the
    // kills land in the middle of them.
    let (engine, writer) = setup(0.5).await;
    let client = testkit::dynamodb(&engine.url());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let mut sent = 0;
    let mut mid_work_kills = 0;
    for round in 0..6 {
        sent += put_summaries(&writer, round * 100, round * 100 + 100).await as i64;
        let before = testkit::count_items(&client, process::TABLE).await.unwrap();
        let mut child = spawn_process(&engine.url(), &state);
        // Killed as soon as it has written something (or after 20 s).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        let mut at_kill = before;
        while at_kill == before && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            at_kill = testkit::count_items(&client, process::TABLE).await.unwrap();
        }
        child.start_kill().unwrap();
        child.wait().await.unwrap();
        if at_kill < sent {
            mid_work_kills += 1;
        }
    }
    assert!(
        mid_work_kills >= 3,
        "only {mid_work_kills} kills before the work was done"
    );
    // A last run from the saved positions writes whatever is missing.
    let mut child = spawn_process(&engine.url(), &state);
    wait_for(&client, sent, 180).await;
    ctrl_c(&child);
    assert!(child.wait().await.unwrap().success());
    assert_eq!(
        testkit::count_items(&client, process::TABLE).await.unwrap(),
        1800
    );
}

/// `wildrydes up` on a free port, in memory; returns it and its endpoint.
async fn up() -> (Child, String) {
    let mut child = Command::new(WILDRYDES)
        .args(["up", "-port", "0", "-in-memory", "-window", "1s"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start wildrydes up");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("banner within 30 s")
        .unwrap()
        .expect("a banner line");
    let url = first
        .strip_prefix("endpoint: ")
        .expect("endpoint line")
        .to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_creates_the_table_and_rocinantes_items_appear() {
    let (mut child, url) = up().await;
    let client = testkit::dynamodb(&url);
    let table = client
        .describe_table()
        .table_name(process::TABLE)
        .send()
        .await
        .expect("the table exists once up prints its banner")
        .table
        .unwrap();
    let keys: Vec<(String, String)> = table
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("Name".into(), "HASH".into()),
            ("StatusTime".into(), "RANGE".into())
        ]
    );
    assert_eq!(
        table
            .billing_mode_summary()
            .and_then(|b| b.billing_mode())
            .map(|m| m.as_str()),
        Some("PAY_PER_REQUEST")
    );

    let conn = kinesis::connect(&kinesis::ConnectOptions {
        endpoint: Some(url.clone()),
        ..kinesis::ConnectOptions::default()
    })
    .await
    .unwrap();
    let writer = BatchWriter::new(conn, "wildrydes");
    let mut ride = sensor::Ride::new("Rocinante", 7);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    // Statuses every 100 ms until the processor has written an item.
    let items = loop {
        let status = ride.step(sensor::StatusTime::now());
        writer
            .put_records(vec![Record::new("Rocinante", status.to_json_line())])
            .await
            .unwrap();
        let out = client
            .query()
            .table_name(process::TABLE)
            .key_condition_expression("#n = :n")
            .expression_attribute_names("#n", "Name")
            .expression_attribute_values(":n", AttributeValue::S("Rocinante".into()))
            .send()
            .await
            .unwrap();
        if out.count() > 0 {
            break out.items().to_vec();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no item for Rocinante in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let item = &items[0];
    for field in [
        "Distance",
        "MinMagicPoints",
        "MaxMagicPoints",
        "MinHealthPoints",
        "MaxHealthPoints",
    ] {
        assert!(item[field].as_n().is_ok(), "{field} in {item:?}");
    }
    ctrl_c(&child);
    assert!(child.wait().await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ride_file_uploaded_to_the_bucket_is_loaded_into_the_table() {
    let (mut child, url) = up().await;
    let s3 = testkit::s3(&url);
    // A ride file as the workshop's: one status record per line.
    let mut ride = sensor::Ride::new("Shadowfax", 3);
    let lines: String = (0..5)
        .map(|i| {
            let at = sensor::StatusTime::from_millis(1_700_000_000_000 + i * 1000);
            ride.step(at).to_json_line()
        })
        .map(|line| String::from_utf8(line).unwrap())
        .collect();
    s3.put_object()
        .bucket("wildrydes-uploads")
        .key("rides/shadowfax ride.json")
        .body(lines.into_bytes().into())
        .send()
        .await
        .expect("up creates the uploads bucket");
    let client = testkit::dynamodb(&url);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let out = client
            .query()
            .table_name(process::TABLE)
            .key_condition_expression("#n = :n")
            .expression_attribute_names("#n", "Name")
            .expression_attribute_values(":n", AttributeValue::S("Shadowfax".into()))
            .send()
            .await
            .unwrap();
        if out.count() == 5 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the uploaded file was not loaded: {} of 5 items",
            out.count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ctrl_c(&child);
    assert!(child.wait().await.unwrap().success());
}
