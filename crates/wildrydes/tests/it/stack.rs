//! The local stack as a user runs it: `wildrydes up` and `wildrydes demo` as
//! processes, the real `producer` and `consumer` binaries against them.
//!
//! `producer` and `consumer` are other packages' binaries: they are found next
//! to this test in the target dir, where `cargo test --workspace` builds them.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sensor::Summary;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::common;

use common::{workspace_bin, WILDRYDES};

/// `wildrydes up` on a free port; returns the process and its endpoint.
async fn up(data_dir: &Path, window: &str) -> (Child, String) {
    let mut child = Command::new(WILDRYDES)
        .args(["up", "-port", "0", "-window", window, "-data-dir"])
        .arg(data_dir)
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
        .expect("read banner")
        .expect("a banner line");
    let url = first
        .strip_prefix("endpoint: ")
        .unwrap_or_else(|| panic!("first line names the endpoint: {first:?}"))
        .to_owned();
    // Keep draining the banner so the process never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, url)
}

async fn output(cmd: &mut Command) -> std::process::Output {
    tokio::time::timeout(Duration::from_secs(90), cmd.output())
        .await
        .expect("finished within 90 s")
        .expect("ran")
}

/// Sends SIGINT like Ctrl-C and waits for a clean exit.
#[cfg(unix)]
async fn interrupt(mut child: Child) {
    common::ctrl_c(&child);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stopped within 30 s after Ctrl-C")
        .expect("wait");
    assert!(status.success(), "clean exit after Ctrl-C: {status:?}");
}

fn summaries(stdout: &[u8]) -> Vec<Summary> {
    serde_json::Deserializer::from_slice(stdout)
        .into_iter::<serde_json::Value>()
        .map(|v| {
            let v = v.expect("every record is JSON");
            Summary::from_json(v.to_string().as_bytes()).expect("a summary record")
        })
        .collect()
}

/// Everything in `wildrydes-summary`, read until the stream is idle for 4 s.
async fn read_summaries(url: &str) -> Vec<Summary> {
    let out = output(
        Command::new(workspace_bin("consumer"))
            .args(["-endpoint", url, "-stream", "wildrydes-summary"])
            .args(["-from", "oldest", "-idle-timeout", "4s"]),
    )
    .await;
    assert!(out.status.success(), "consumer: {out:?}");
    summaries(&out.stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_producer_and_consumer_like_the_workshop() {
    let dir = tempfile::tempdir().unwrap();
    let (child, url) = up(dir.path(), "1s").await;

    let sent = output(
        Command::new(workspace_bin("producer"))
            .args(["-endpoint", &url, "-name", "Rocinante", "-count", "4"])
            .args(["-seed", "7"]),
    )
    .await;
    assert!(sent.status.success(), "producer: {sent:?}");

    // Windows close a little after they end; wait for the 4 records' worth.
    let mut got = Vec::new();
    for _ in 0..10 {
        got = read_summaries(&url).await;
        let distance: i64 = got.iter().map(|s| s.distance).sum();
        if distance >= 4 * 29 {
            break;
        }
    }
    assert!(!got.is_empty(), "summaries arrived");
    assert!(got.iter().all(|s| s.name == "Rocinante"), "{got:?}");
    let distance: i64 = got.iter().map(|s| s.distance).sum();
    assert!(
        (4 * 29..=4 * 31).contains(&distance),
        "4 records of 29..31 m each are summed once: {distance}"
    );
    for s in &got {
        assert!(s.min_magic_points <= s.max_magic_points, "{s:?}");
        assert!(s.min_health_points <= s.max_health_points, "{s:?}");
        assert!(s.status_time.to_string().ends_with(".000"), "{s:?}");
    }

    // The same flow through jq, when it is installed (through `sh`: Unix only).
    if cfg!(unix)
        && std::process::Command::new("jq")
            .arg("--version")
            .output()
            .is_ok()
    {
        let consumer = workspace_bin("consumer");
        let out = output(Command::new("sh").arg("-c").arg(format!(
            "'{}' -endpoint {url} -stream wildrydes-summary -from oldest -count 1 | jq -c .",
            consumer.display()
        )))
        .await;
        assert!(out.status.success(), "consumer | jq: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 1, "jq -c prints one line: {text}");
        assert_eq!(summaries(text.as_bytes()).len(), 1);
    } else {
        eprintln!("note: jq is not installed; the jq pipeline is not checked");
    }

    #[cfg(unix)]
    {
        interrupt(child).await;
        // A second `up` reuses the stored data: the summaries are still there.
        let (child, url) = up(dir.path(), "1s").await;
        let again = read_summaries(&url).await;
        assert_eq!(again.len(), got.len(), "summaries kept across restarts");
        interrupt(child).await;
    }
    #[cfg(not(unix))]
    drop(child);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_errors_for_a_busy_port_a_busy_data_dir_and_a_bad_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (_child, url) = up(dir.path(), "1s").await;
    let port = url.rsplit(':').next().unwrap().to_owned();

    let other = tempfile::tempdir().unwrap();
    // The live map on a free port: the first stack's map may hold the port
    // after its engine's (both were free ports), and the map binds first.
    let busy_port = output(
        Command::new(WILDRYDES)
            .args(["up", "--port", &port, "--dashboard-port", "0", "--data-dir"])
            .arg(other.path()),
    )
    .await;
    assert_eq!(busy_port.status.code(), Some(1));
    let err = String::from_utf8_lossy(&busy_port.stderr);
    assert!(
        err.contains("cannot listen on") && err.contains(&port),
        "{err}"
    );

    let busy_dir = output(
        Command::new(WILDRYDES)
            .args(["up", "--port", "0", "--data-dir"])
            .arg(dir.path()),
    )
    .await;
    assert_eq!(busy_dir.status.code(), Some(1));
    let err = String::from_utf8_lossy(&busy_dir.stderr);
    assert!(err.contains("locked by another running engine"), "{err}");

    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let bad_dir = output(
        Command::new(WILDRYDES)
            .args(["up", "--port", "0", "--data-dir"])
            .arg(&file),
    )
    .await;
    assert_eq!(bad_dir.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad_dir.stderr);
    assert!(err.contains("not-a-dir"), "names the data dir: {err}");

    let bad_flag = output(Command::new(WILDRYDES).args(["up", "--window", "soon"])).await;
    assert_eq!(bad_flag.status.code(), Some(2));

    // The running stack was not disturbed.
    let listed = output(
        Command::new(workspace_bin("consumer"))
            .args(["-endpoint", &url, "-stream", "wildrydes", "-from", "oldest"])
            .arg("-until-caught-up"),
    )
    .await;
    assert!(listed.status.success(), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_summaries_and_stops_when_stdout_closes() {
    let mut child = Command::new(WILDRYDES)
        .args(["demo", "-port", "0", "-window", "1s", "-unicorns", "3"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start wildrydes demo");
    let mut stdout = child.stdout.take().unwrap();
    let mut text = Vec::new();
    let mut buf = [0u8; 4096];
    let names = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let n = stdout.read(&mut buf).await.expect("read");
            assert!(n > 0, "demo stopped early");
            text.extend_from_slice(&buf[..n]);
            // Whole summaries only: stop at the last closing brace.
            let end = text.iter().rposition(|&b| b == b'}').map_or(0, |i| i + 1);
            let got = summaries(&text[..end]);
            let mut names: Vec<String> = got.into_iter().map(|s| s.name).collect();
            names.sort();
            names.dedup();
            if names.len() == 3 {
                return names;
            }
        }
    })
    .await
    .expect("a summary of every unicorn within 60 s");
    assert_eq!(names, ["Bucephalus", "Rocinante", "Shadowfax"]);

    // `wildrydes demo | head`: the reader goes away, the demo ends cleanly.
    drop(stdout);
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stopped within 30 s after stdout closed")
        .expect("wait");
    assert!(status.success(), "{status:?}");
}

/// Without any AWS credentials, so that a client that does not treat the
/// endpoint as local fails instead of finding some.
fn without_aws_credentials(cmd: &mut Command) -> &mut Command {
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_KINESIS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_CONFIG_FILE", "/nonexistent/wildrydes-test")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/wildrydes-test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_on_every_address_warns_and_works() {
    let mut child = without_aws_credentials(
        Command::new(WILDRYDES)
            .args(["up", "--bind", "0.0.0.0", "--port", "0", "--in-memory"])
            .args(["--window", "1s"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true),
    )
    .spawn()
    .expect("start wildrydes up");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let warning = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.contains("WARNING") {
                return line;
            }
        }
        panic!("no warning on stderr before it closed");
    })
    .await
    .expect("a warning within 30 s");
    assert!(
        warning.contains("0.0.0.0") && warning.contains("not a loopback"),
        "{warning}"
    );
    tokio::spawn(async move { while let Ok(Some(_)) = stderr.next_line().await {} });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("banner within 30 s")
        .expect("read banner")
        .unwrap_or_else(|| panic!("up exited: {:?}", child.try_wait()));
    let url = first
        .strip_prefix("endpoint: ")
        .expect("the endpoint")
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    // The aggregator works: records in, summaries out.
    let sent = output(without_aws_credentials(
        Command::new(workspace_bin("producer")).args([
            "-endpoint",
            &url,
            "-name",
            "Shadowfax",
            "-count",
            "3",
        ]),
    ))
    .await;
    assert!(sent.status.success(), "producer: {sent:?}");
    let mut got = Vec::new();
    for _ in 0..10 {
        got = read_summaries(&url).await;
        if got.iter().map(|s| s.distance).sum::<i64>() >= 3 * 29 {
            break;
        }
    }
    assert!(got.iter().any(|s| s.name == "Shadowfax"), "{got:?}");
    #[cfg(unix)]
    interrupt(child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_warns_only_when_exposed() {
    for (bind, warned) in [("127.0.0.1", false), ("0.0.0.0", true)] {
        let mut child = Command::new(WILDRYDES)
            .args(["serve", "--in-memory", "--port", "0", "--bind", bind])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start wildrydes serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the endpoint within 30 s")
            .unwrap()
            .expect("an endpoint line");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        child.start_kill().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .await
            .unwrap();
        assert_eq!(err.contains("WARNING"), warned, "--bind {bind}: {err}");
        let _ = child.wait().await;
    }
}
