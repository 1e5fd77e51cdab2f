//! `wildrydes aggregate` as a process against the in-process engine: a seeded
//! fleet is written to `wildrydes`, the aggregator runs (and is killed with
//! SIGKILL and restarted from its state file half-way), every summary is read
//! back from `wildrydes-summary` and compared with a recomputation from the
//! raw records.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use kinesis::writer::{BatchWriter, Record};

use crate::common;
use kinesis::{ConnectOptions, Reader, ReaderOptions, StartPosition};
use sensor::{Ride, Status, StatusTime, Summary};

const WINDOW_MS: i64 = 1000;

async fn read_all(
    conn: &kinesis::Connection,
    stream: &str,
    done: impl Fn(&[kinesis::Record]) -> bool,
) -> Vec<kinesis::Record> {
    let mut reader = Reader::start(
        conn.clone(),
        ReaderOptions::new(stream, StartPosition::TrimHorizon),
    );
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let batch = reader.next().await.expect("read");
            out.extend(batch.records);
            if batch.caught_up && done(&out) {
                break;
            }
        }
    })
    .await
    .expect("condition reached within 60 s");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summaries_match_a_recomputation_across_a_sigkill_and_restart() {
    let engine = engine::spawn_in_memory().await.expect("engine");
    let connect = ConnectOptions {
        endpoint: Some(engine.url()),
        region: Some("us-east-1".into()),
        ..ConnectOptions::default()
    };
    let conn = kinesis::connect(&connect).await.expect("connect");
    conn.ensure_stream("wildrydes", 2).await.expect("source");
    conn.ensure_stream("wildrydes-summary", 1)
        .await
        .expect("destination");

    // A seeded fleet, written in bursts so records span several windows.
    let writer = BatchWriter::new(conn.clone(), "wildrydes");
    let mut rides: Vec<Ride> = (0..5)
        .map(|i| Ride::new(format!("Unicorn{i}"), 42 + i))
        .collect();
    let mut clock = StatusTime::now().as_millis();
    let mut written = 0usize;
    for burst in 0..6 {
        let mut records = Vec::new();
        for _ in 0..40 {
            clock += 1000;
            for ride in &mut rides {
                let status = ride.step(StatusTime::from_millis(clock));
                records.push(Record::new(status.name.clone(), status.to_json_line()));
            }
        }
        if burst == 2 {
            records.push(Record::new("Junk", b"not a status".to_vec()));
        }
        written += records.len();
        writer.put_records(records).await.expect("put");
        // Pacing only (spreads arrivals over windows); correctness waits on conditions.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let aggregator = || {
        tokio::process::Command::new(common::WILDRYDES)
            .args(["aggregate", "-endpoint", &engine.url(), "-window", "1s"])
            .args(["-from", "oldest", "-state"])
            .arg(&state)
            .env("RUST_LOG", "warn")
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start wildrydes aggregate")
    };

    // Independent recomputation from the raw records, by arrival window.
    let raw = read_all(&conn, "wildrydes", |r| r.len() >= written).await;
    assert_eq!(raw.len(), written);
    let mut expected: BTreeMap<(i64, String), Vec<Status>> = BTreeMap::new();
    for record in &raw {
        let Ok(status) = Status::from_json(&record.data) else {
            continue;
        };
        let arrival = StatusTime::from(record.arrival.expect("arrival")).as_millis();
        let start = arrival.div_euclid(WINDOW_MS) * WINDOW_MS;
        expected
            .entry((start, status.name.clone()))
            .or_default()
            .push(status);
    }

    // Kill -9 once part of the windows are written, then restart from the state file.
    let mut first = aggregator();
    read_all(&conn, "wildrydes-summary", |r| {
        r.len() >= expected.len() / 3
    })
    .await;
    first.kill().await.expect("SIGKILL");
    #[cfg_attr(unix, allow(unused_mut))]
    let mut second = aggregator();
    let summaries = read_all(&conn, "wildrydes-summary", |r| {
        distinct(r).expect("re-emitted windows are identical").len() >= expected.len()
    })
    .await;
    #[cfg(unix)]
    common::ctrl_c(&second);
    #[cfg(not(unix))]
    second.kill().await.expect("kill");
    let out = second.wait_with_output().await.expect("aggregator exits");
    // Killed, not stopped, elsewhere: only the exit is checked there.
    #[cfg(not(unix))]
    drop(out);
    #[cfg(unix)]
    {
        let report = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "clean exit on Ctrl-C: {report}");
        assert!(
            report.contains("1 invalid, 0 late; 0 windows open (saved)"),
            "{report}"
        );
    }

    let got = distinct(&summaries).expect("re-emitted windows are identical");
    assert_eq!(got.len(), expected.len());
    let mut totals: BTreeMap<String, (i64, f64)> = BTreeMap::new();
    for (key, statuses) in &expected {
        let summary = &got[key];
        let distance: f64 = statuses.iter().map(|s| s.distance).sum();
        assert_eq!(summary.distance, distance.round() as i64);
        let magic = statuses.iter().map(|s| s.magic_points);
        let health = statuses.iter().map(|s| s.health_points);
        assert_eq!(summary.min_magic_points, magic.clone().min().unwrap());
        assert_eq!(summary.max_magic_points, magic.max().unwrap());
        assert_eq!(summary.min_health_points, health.clone().min().unwrap());
        assert_eq!(summary.max_health_points, health.max().unwrap());
        assert!(summary.min_magic_points <= summary.max_magic_points);
        let t = totals.entry(key.1.clone()).or_default();
        t.0 += summary.distance;
        t.1 += distance;
    }
    assert_eq!(totals.len(), 5);
    for (name, (summed, raw)) in totals {
        assert!(
            (summed as f64 - raw).abs() <= expected.len() as f64,
            "{name}"
        );
    }
    engine.shutdown().await.unwrap();
}

/// Summaries by (window start, name); a window emitted twice must be identical.
fn distinct(records: &[kinesis::Record]) -> Result<BTreeMap<(i64, String), Summary>, String> {
    let mut got = BTreeMap::new();
    for record in records {
        let summary = Summary::from_json(&record.data).expect("summary json");
        assert_eq!(record.partition_key, summary.name);
        let key = (summary.status_time.as_millis(), summary.name.clone());
        if let Some(previous) = got.insert(key, summary.clone()) {
            if previous != summary {
                return Err(format!("{previous:?} then {summary:?}"));
            }
        }
    }
    Ok(got)
}
