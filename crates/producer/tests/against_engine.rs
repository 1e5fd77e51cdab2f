//! The real `producer` binary against the embedded engine over loopback HTTP:
//! every record it reports as sent is in the stream, intact and in order.

use std::process::{Command, Output};

use aws_sdk_kinesis::types::ShardIteratorType;
use aws_sdk_kinesis::Client;
use sensor::Status;

mod common;
use common::Engine;

fn producer(endpoint: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_producer"))
        .args(["-endpoint", endpoint])
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ENDPOINT_URL_KINESIS")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("producer runs")
}

/// Every record of every shard of `stream`, oldest first per shard.
async fn read_all(client: &Client, stream: &str) -> Vec<(String, Vec<u8>)> {
    let shards = client
        .list_shards()
        .stream_name(stream)
        .send()
        .await
        .unwrap();
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    for shard in shards.shards() {
        let mut iterator = client
            .get_shard_iterator()
            .stream_name(stream)
            .shard_id(shard.shard_id())
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(it) = iterator {
            let page = client
                .get_records()
                .shard_iterator(it)
                .send()
                .await
                .unwrap();
            for r in page.records() {
                out.push((
                    r.partition_key().unwrap_or_default().to_owned(),
                    r.data().as_ref().to_vec(),
                ));
            }
            if page.records().is_empty() && page.millis_behind_latest() == Some(0) {
                break;
            }
            iterator = page.next_shard_iterator().map(str::to_owned);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_original_mode_sends_one_putrecord_per_second_with_dots() {
    let engine = Engine::start().await;
    engine.create_stream("wildrydes", 1).await;
    let out = producer(
        &engine.endpoint,
        &[
            "-name",
            "Rocinante",
            "-count",
            "3",
            "-interval",
            "50ms",
            "-seed",
            "1",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "...\n");

    let records = read_all(&engine.client, "wildrydes").await;
    assert_eq!(records.len(), 3);
    let mut previous: Option<Status> = None;
    for (key, data) in &records {
        assert_eq!(key, "Rocinante");
        assert_eq!(
            *data.last().unwrap(),
            b'\n',
            "each record ends with a newline"
        );
        let status = Status::from_json(data).unwrap();
        assert_eq!(status.name, "Rocinante");
        assert_eq!(
            data,
            &status.to_json_line(),
            "byte-for-byte the record format"
        );
        if let Some(p) = previous {
            assert!(status.status_time >= p.status_time);
        }
        previous = Some(status);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fleet_reports_every_unicorn_every_interval_across_shards() {
    let engine = Engine::start().await;
    engine.create_stream("fleet", 4).await;
    let out = producer(
        &engine.endpoint,
        &[
            "-stream=fleet",
            "--unicorns",
            "600",
            "-count",
            "2",
            "-interval",
            "10ms",
            "-quiet",
            "-seed=9",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = read_all(&engine.client, "fleet").await;
    assert_eq!(records.len(), 1_200);
    let mut per_unicorn = std::collections::HashMap::<String, Vec<Status>>::new();
    for (key, data) in records {
        let status = Status::from_json(&data).unwrap();
        assert_eq!(key, status.name);
        per_unicorn.entry(key).or_default().push(status);
    }
    assert_eq!(per_unicorn.len(), 600);
    for statuses in per_unicorn.values() {
        assert_eq!(statuses.len(), 2, "each unicorn once per interval");
        assert!(
            statuses[0].status_time <= statuses[1].status_time,
            "per-key order kept"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replayed_csv_arrives_as_json_objects() {
    let engine = Engine::start().await;
    engine.create_stream("taxi", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("trips.csv");
    let mut text = String::from("vendor_id,pickup_datetime,passenger_count,trip_distance\n");
    for i in 0..50 {
        text.push_str(&format!(
            "V{},2014-01-01 00:{:02}:00,{},{}.5\n",
            i % 3,
            i % 60,
            i % 4 + 1,
            i
        ));
    }
    std::fs::write(&csv, text).unwrap();
    let out = producer(
        &engine.endpoint,
        &[
            "-stream",
            "taxi",
            "-replay",
            csv.to_str().unwrap(),
            "-key",
            "vendor_id",
            "-rate",
            "1000",
            "-quiet",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut records = read_all(&engine.client, "taxi").await;
    assert_eq!(records.len(), 50);
    records.sort_by_key(|(_, data)| {
        let v: serde_json::Value = serde_json::from_slice(data).unwrap();
        v["trip_distance"].as_f64().unwrap() as i64
    });
    for (i, (key, data)) in records.iter().enumerate() {
        let v: serde_json::Value = serde_json::from_slice(data).unwrap();
        assert_eq!(key, &format!("V{}", i % 3));
        assert_eq!(v["passenger_count"], (i % 4 + 1) as i64);
        assert_eq!(v["trip_distance"].as_f64(), Some(i as f64 + 0.5));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_short_and_name_what_is_wrong() {
    let engine = Engine::start().await;
    let out = producer(
        &engine.endpoint,
        &["-stream", "nope", "-count", "1", "-region", "eu-west-1"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "stream \"nope\" not found in region eu-west-1 at {}",
            engine.endpoint
        )),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");

    let out = producer("http://127.0.0.1:9", &["-count", "1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot reach Kinesis at http://127.0.0.1:9"),
        "{stderr}"
    );

    let out = producer(&engine.endpoint, &["-count", "many"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'many' for '--count <N>'"));

    engine.create_stream("wildrydes", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ride.json");
    std::fs::write(&bad, "{\"Name\":\"a\"}\n{oops\n").unwrap();
    let out = producer(
        &engine.endpoint,
        &["-replay", bad.to_str().unwrap(), "-rate", "100", "-quiet"],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ride.json:2: not JSON"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_failures_are_retried_and_nothing_is_lost() {
    let engine = Engine::start_with_failing_entries(0.3).await;
    engine.create_stream("flaky", 2).await;
    let out = producer(
        &engine.endpoint,
        &[
            "-stream",
            "flaky",
            "-unicorns",
            "50",
            "-count",
            "4",
            "-interval",
            "10ms",
            "-quiet",
            "-seed",
            "3",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = read_all(&engine.client, "flaky").await;
    let mut per_unicorn = std::collections::HashMap::<String, usize>::new();
    for (key, _) in &records {
        *per_unicorn.entry(key.clone()).or_default() += 1;
    }
    assert_eq!(per_unicorn.len(), 50);
    assert!(per_unicorn.values().all(|&n| n == 4), "{per_unicorn:?}");
}
