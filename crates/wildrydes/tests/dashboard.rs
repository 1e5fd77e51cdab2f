//! The live map in a real browser: `wildrydes up` serves the page, the real
//! producers feed it (five lively unicorns and one whose magic runs low),
//! and headless Chromium shows it. The page reports what it draws once a
//! second (see `dashboard::browser`): a marker for every unicorn, each
//! moving between two reports, a summary row, the low unicorn's alert in
//! the list with its marker highlighted, and no error, neither caught by
//! the page nor in Chromium's console. Two screenshots differ.
//!
//! Skipped, with a note, when Chromium is not installed (`apt-get install
//! chromium`; or set WILDRYDES_CHROMIUM). `WILDRYDES_SCREENSHOT=/abs/path.png`
//! keeps the last screenshot (the README's docs/dashboard.png).
#![cfg(unix)]

use std::collections::BTreeMap;
use std::time::Duration;

use dashboard::browser::{find_chromium, screenshot, Browser, Report, Reports};
use tokio::process::{Child, Command};

mod common;
mod live_common;

use common::workspace_bin;
use live_common::{field, up};

const FLEET: [&str; 5] = ["Shadowfax", "Rocinante", "Bucephalus", "Pegasus", "Silver"];
const LOW: &str = "Sleipnir";

fn producer(url: &str, args: &[&str]) -> Child {
    Command::new(workspace_bin("producer"))
        .args(["-endpoint", url, "-duration", "3m", "-quiet"])
        .args(args)
        .kill_on_drop(true)
        .spawn()
        .expect("start producer")
}

#[tokio::test]
async fn the_page_shows_the_fleet_moving_summaries_and_an_alert() {
    let Some(chromium) = find_chromium() else {
        eprintln!(
            "NOTE: skipped: no chromium (apt-get install chromium, or set WILDRYDES_CHROMIUM)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (_up, banner) = up(&dir.path().join("data")).await;
    let url = field(&banner, "endpoint").to_owned();
    let page = field(&banner, "live map").to_owned();
    let _fleet = producer(&url, &["-unicorns", "5", "-lively", "-seed", "1"]);
    let _low = producer(
        &url,
        &[
            "-name",
            LOW,
            "-low-magic",
            "-seed",
            "2",
            "-interval",
            "250ms",
        ],
    );

    let mut reports = Reports::start().await.unwrap();
    let log = dir.path().join("chromium.log");
    let browser =
        Browser::open(&chromium, &format!("{page}?report={}", reports.url), &log).unwrap();

    let mut everyone: Vec<&str> = FLEET.to_vec();
    everyone.push(LOW);
    let mut first: Option<(i64, BTreeMap<String, [f64; 4]>)> = None;
    let (mut moved, mut summary, mut alert, mut highlighted) = (false, false, false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !(moved && summary && alert && highlighted) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "within 90 s: moved {moved}, summary {summary}, alert {alert}, highlighted {highlighted}"
        );
        let report: Report = reports
            .next(Duration::from_secs(20))
            .await
            .expect("the page reports every second");
        assert!(
            report.errors.is_empty(),
            "errors in the page: {:?}",
            report.errors
        );
        let positions = report.positions.clone().unwrap_or_default();
        let all_there = everyone.iter().all(|n| positions.contains_key(*n));
        if all_there {
            assert_eq!(report.markers, everyone.len(), "one marker per unicorn");
            assert_eq!(report.status, "live");
            match &first {
                None => first = Some((report.time, positions.clone())),
                Some((time, before)) if report.time - time >= 2500 => {
                    for name in &everyone {
                        let (a, b) = (before[*name], positions[*name]);
                        assert!(
                            (a[0], a[1]) != (b[0], b[1]),
                            "{name}'s marker did not move in {} ms",
                            report.time - time
                        );
                    }
                    moved = true;
                }
                Some(_) => {}
            }
        }
        summary |= report.summaries > 0;
        alert |= report.alerts.iter().any(|n| n == LOW);
        highlighted |= report.highlighted.iter().any(|n| n == LOW);
        for name in &report.highlighted {
            assert_eq!(name, LOW, "only the low-magic unicorn is highlighted");
        }
    }
    assert!(
        browser.console().is_empty(),
        "console: {:?}",
        browser.console()
    );
    browser.close().await;

    // Two screenshots of the page, two seconds apart, differ (the fleet moved).
    let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
    screenshot(&chromium, &page, &a).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    screenshot(&chromium, &page, &b).await.unwrap();
    let (a, b) = (std::fs::read(a).unwrap(), std::fs::read(&b).unwrap());
    assert!(
        a.len() > 10_000 && b.len() > 10_000,
        "screenshots are pictures"
    );
    assert_ne!(a, b, "the two screenshots differ");
    if let Some(keep) = std::env::var_os("WILDRYDES_SCREENSHOT") {
        std::fs::write(keep, &b).unwrap();
    }
}

/// `GET path` on `base` (http://host:port/), the body.
async fn get(base: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = base.trim_start_matches("http://").trim_end_matches('/');
    let mut socket = tokio::net::TcpStream::connect(host).await.unwrap();
    let request = format!("GET /{path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_owned()
}

/// `wildrydes dashboard` against any endpoint (as against AWS): the page,
/// and with no alert stream (on AWS alerts go to SNS) the alerts it raises
/// itself from the raw stream.
#[tokio::test]
async fn wildrydes_dashboard_serves_the_page_for_any_endpoint() {
    let engine = engine::spawn_in_memory().await.unwrap();
    let url = engine.url();
    let conn = kinesis::connect(&kinesis::ConnectOptions {
        endpoint: Some(url.clone()),
        ..kinesis::ConnectOptions::default()
    })
    .await
    .unwrap();
    conn.ensure_stream("wildrydes", 1).await.unwrap();
    let mut dashboard = Command::new(common::WILDRYDES)
        .args([
            "dashboard",
            "--port",
            "0",
            "--tiles",
            "none",
            "--endpoint",
            &url,
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = dashboard.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("started within 30 s")
        .unwrap()
        .unwrap();
    let page = first
        .strip_prefix("dashboard: ")
        .expect("prints its URL")
        .to_owned();
    let html = get(&page, "").await;
    assert!(html.contains("<title>Wild Rydes"), "{html}");
    assert!(
        html.contains("\"tiles\":null"),
        "--tiles none reaches the page"
    );
    assert!(
        !html.contains("AWS_") && !html.contains("local"),
        "no credential in the page"
    );
    assert!(get(&page, "leaflet/leaflet.js").await.contains("Leaflet"));

    let _low = producer(
        &url,
        &[
            "-name",
            LOW,
            "-low-magic",
            "-seed",
            "2",
            "-interval",
            "100ms",
        ],
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let snapshot: serde_json::Value =
            serde_json::from_str(&get(&page, "snapshot.json").await).unwrap();
        let alerts = snapshot["alerts"].as_array().unwrap();
        if let Some(alert) = alerts.first() {
            assert_eq!(alert["Name"], LOW);
            assert!(alert["MagicPoints"].as_i64().unwrap() < 50);
            assert_eq!(snapshot["unicorns"][0][0][0], LOW);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no alert within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_busy_dashboard_port_is_a_one_line_error_with_nothing_touched() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(common::WILDRYDES)
            .args(["up", "--port", "0", "--dashboard-port", &port, "--data-dir"])
            .arg(&data)
            .output(),
    )
    .await
    .expect("ended within 60 s")
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("wildrydes: cannot serve the dashboard on 127.0.0.1:")
            && err.contains(&port),
        "{err}"
    );
    assert!(!data.exists(), "the data dir was not created");
}
