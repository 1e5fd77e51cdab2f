//! Alerts as a user sees them: `wildrydes up`, the real `producer -low-magic`
//! and `consumer -stream wildrydes-alerts`: exactly one alert per crossing
//! of the records in `wildrydes` (computed here from the records
//! themselves), and none more once the alert stage has read them all.
#![cfg(unix)]

use std::time::Duration;

use sensor::Status;
use tokio::process::Command;

mod common;
mod live_common;

use common::workspace_bin;
use live_common::{field, up};

async fn output(cmd: &mut Command) -> Vec<u8> {
    let out = tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("finished within 90 s")
        .expect("ran");
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    out.stdout
}

/// Every record of `stream` as the consumer prints it with `-format envelope`.
async fn envelopes(url: &str, stream: &str) -> Vec<serde_json::Value> {
    let out = output(Command::new(workspace_bin("consumer")).args([
        "-endpoint",
        url,
        "-stream",
        stream,
        "-from",
        "oldest",
        "-until-caught-up",
        "-format",
        "envelope",
    ]))
    .await;
    out.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("an envelope line"))
        .collect()
}

#[tokio::test]
async fn up_raises_one_alert_per_crossing_and_the_consumer_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let (up, banner) = up(dir.path()).await;
    let url = field(&banner, "endpoint").to_owned();
    output(Command::new(workspace_bin("producer")).args([
        "-endpoint",
        &url,
        "-name",
        "Pegasus",
        "-low-magic",
        "-seed",
        "3",
        "-count",
        "80",
        "-interval",
        "100ms",
        "-quiet",
    ]))
    .await;

    // The crossings, from the records themselves.
    let records = envelopes(&url, "wildrydes").await;
    assert_eq!(records.len(), 80);
    let mut below = false;
    let mut expected = Vec::new();
    for r in &records {
        let status = Status::from_json(r["data"].to_string().as_bytes()).unwrap();
        if status.magic_points < 50 && !below {
            expected.push((status.status_time.to_string(), status.magic_points));
        }
        below = status.magic_points < 50;
    }
    assert!(!expected.is_empty(), "the low-magic ride crossed below 50");

    // Once the alert stage has saved its state after the last record, the
    // alert stream holds exactly those alerts.
    let last = records.last().unwrap()["sequence"]
        .as_str()
        .unwrap()
        .to_owned();
    let state = dir.path().join(stack::ALERT_STATE_FILE);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let saved = std::fs::read(&state).ok();
        let saved: Option<alert::SavedState> = saved.and_then(|s| serde_json::from_slice(&s).ok());
        if saved.is_some_and(|s| s.positions.shards.values().any(|seq| *seq == last)) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "alert stage never caught up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let alerts: Vec<(String, i64)> = envelopes(&url, stack::ALERT_STREAM)
        .await
        .iter()
        .map(|e| {
            assert_eq!(e["partition_key"], "Pegasus");
            let alert = alert::Alert::from_json(e["data"].to_string().as_bytes()).unwrap();
            assert_eq!((alert.name.as_str(), alert.threshold), ("Pegasus", 50));
            (alert.status_time.to_string(), alert.magic_points)
        })
        .collect();
    assert_eq!(alerts, expected);

    // `consumer -stream wildrydes-alerts` prints them as the workshop's consumer does.
    let pretty = output(Command::new(workspace_bin("consumer")).args([
        "-endpoint",
        &url,
        "-stream",
        "wildrydes-alerts",
        "-from",
        "oldest",
        "-count",
        "1",
    ]))
    .await;
    let text = String::from_utf8(pretty).unwrap();
    assert!(
        text.starts_with("{\n    \"Name\": \"Pegasus\",\n    \"StatusTime\": "),
        "{text}"
    );
    assert!(text.contains("\"Threshold\": 50"), "{text}");
    drop(up);
}
