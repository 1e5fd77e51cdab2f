//! The real `consumer` binary against an in-process engine.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use kinesis::{connect, ConnectOptions, Connection};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// Checkpoints of another stream and invalid flags.
#[path = "cli/refusals.rs"]
mod refusals;
#[path = "cli/resilience.rs"]
mod resilience;

const BIN: &str = env!("CARGO_BIN_EXE_consumer");
const WAIT: Duration = Duration::from_secs(30);

async fn engine_with(config: engine::Config) -> (engine::EngineHandle, Connection) {
    let engine = engine::spawn(config).await.unwrap();
    let conn = connect(&ConnectOptions {
        endpoint: Some(engine.url()),
        region: Some("us-east-1".into()),
        ..ConnectOptions::default()
    })
    .await
    .unwrap();
    (engine, conn)
}

async fn put(conn: &Connection, key: &str, data: impl Into<Vec<u8>>) {
    conn.client
        .put_record()
        .stream_name("s")
        .partition_key(key)
        .data(Blob::new(data.into()))
        .send()
        .await
        .unwrap();
}

async fn put_json(conn: &Connection, key: &str, n: u64) {
    let body = format!("{{\"Name\":\"{key}\",\"N\":{n},\"Nested\":{{\"x\":[1,2]}}}}\n");
    put(conn, key, body).await;
}

fn command(url: &str, args: &[&str]) -> Command {
    let stream = if args.contains(&"-stream") {
        &[][..]
    } else {
        &["-stream", "s"][..]
    };
    let mut cmd = Command::new(BIN);
    cmd.args(["-endpoint", url])
        .args(stream)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env_remove("AWS_PROFILE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Runs the consumer to its end; returns (success, stdout, stderr).
async fn run(url: &str, args: &[&str]) -> (bool, String, String) {
    let out = tokio::time::timeout(WAIT, command(url, args).output())
        .await
        .expect("consumer did not exit")
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

struct Running {
    child: Child,
    lines: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl Running {
    fn start(url: &str, args: &[&str]) -> Self {
        let mut child = command(url, args).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        Self {
            child,
            lines: BufReader::new(stdout).lines(),
        }
    }

    async fn line(&mut self) -> String {
        tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("no output")
            .unwrap()
            .expect("consumer exited")
    }

    async fn take(&mut self, n: usize) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(serde_json::from_str(&self.line().await).unwrap());
        }
        out
    }
}

/// Waits for the consumer to exit (`why` names what should end it); returns
/// its status and stderr.
async fn finish(child: &mut Child, why: &str) -> (std::process::ExitStatus, String) {
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap_or_else(|_| panic!("consumer kept running after {why}"))
        .unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    (status, stderr)
}

/// Polls `ready` every 10 ms; panics with `failure` after [`WAIT`].
async fn wait_for(failure: &str, mut ready: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !ready() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect(failure);
}

/// Parses concatenated JSON values (pretty output).
fn values(text: &str) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn by_key(values: &[serde_json::Value]) -> BTreeMap<String, Vec<u64>> {
    let mut out = BTreeMap::<String, Vec<u64>>::new();
    for v in values {
        out.entry(v["Name"].as_str().unwrap().to_owned())
            .or_default()
            .push(v["N"].as_u64().unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pretty_and_compact_from_every_shard_parse_back_record_for_record() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 3).await.unwrap();
    let keys = ["Shadowfax", "Rocinante", "Bucephalus", "Pegasus", "Epona"];
    for n in 0..20 {
        for key in keys {
            put_json(&conn, key, n).await;
        }
    }
    let url = engine.url();
    let (ok, stdout, stderr) = run(&url, &["-from", "oldest", "-until-caught-up"]).await;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("\n    \"Name\": "), "{stdout}");
    assert!(
        stdout.contains("\n        \"x\": [\n            1,"),
        "{stdout}"
    );
    let pretty = values(&stdout);
    assert_eq!(pretty.len(), 100);
    let grouped = by_key(&pretty);
    assert_eq!(grouped.len(), 5);
    for ns in grouped.values() {
        assert_eq!(ns, &(0..20).collect::<Vec<u64>>());
    }

    let (ok, stdout, stderr) = run(
        &url,
        &[
            "--from=trim_horizon",
            "-format=compact",
            "--until-caught-up",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    let compact: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(by_key(&compact), grouped);
    // Same records, same order per shard: the key groups match exactly.
    let mut a = pretty.clone();
    let mut b = compact.clone();
    a.sort_by_key(|v| v.to_string());
    b.sort_by_key(|v| v.to_string());
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_stops_after_n_records() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 2).await.unwrap();
    for n in 0..30 {
        put_json(&conn, "a", n).await;
    }
    let (ok, stdout, stderr) = run(&engine.url(), &["-from", "oldest", "-count", "7"]).await;
    assert!(ok, "{stderr}");
    assert_eq!(by_key(&values(&stdout))["a"], (0..7).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_json_binary_gzip_and_kpl_records_are_printed_for_jq() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 1).await.unwrap();
    put(&conn, "t", "plain text, not json").await;
    put(&conn, "b", vec![0xff, 0xfe, 0x00, 0x01]).await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(b"{\"Name\":\"gz\",\"N\":1}").unwrap();
    put(&conn, "g", gz.finish().unwrap()).await;
    let agg = consumer::kpl_aggregate(&[
        ("k1", b"{\"Name\":\"kpl\",\"N\":1}"),
        ("k2", b"{\"Name\":\"kpl\",\"N\":2}"),
    ]);
    put(&conn, "agg", agg).await;
    put_json(&conn, "last", 9).await;

    let url = engine.url();
    let (ok, stdout, stderr) = run(&url, &["-from", "oldest", "-until-caught-up"]).await;
    assert!(ok, "{stderr}");
    let all = values(&stdout);
    assert_eq!(all.len(), 6, "{stdout}");
    assert_eq!(all[0], "plain text, not json");
    assert_eq!(all[1], "//4AAQ==");
    assert_eq!(all[2]["Name"], "gz");
    assert_eq!(all[3]["N"], 1);
    assert_eq!(all[4]["N"], 2);
    assert_eq!(all[5]["N"], 9);
    assert!(stderr.contains("not JSON"), "{stderr}");

    let (ok, stdout, stderr) = run(
        &url,
        &["-from", "oldest", "-until-caught-up", "-format", "envelope"],
    )
    .await;
    assert!(ok, "{stderr}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[0]["encoding"], "text");
    assert_eq!(lines[1]["encoding"], "base64");
    assert_eq!(lines[2]["encoding"], "json");
    assert_eq!(lines[3]["partition_key"], "k1");
    assert_eq!(lines[4]["partition_key"], "k2");
    assert_eq!(lines[4]["sub_sequence"], 1);
    assert_eq!(lines[3]["sequence"], lines[4]["sequence"]);
    assert_eq!(lines[0]["shard"], "shardId-000000000000");
    assert!(lines[0]["arrival"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_exits_zero_without_a_message() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 1).await.unwrap();
    let records: Vec<_> = (0..500)
        .map(|n| {
            aws_sdk_kinesis::types::PutRecordsRequestEntry::builder()
                .partition_key("a")
                .data(Blob::new(format!("{{\"Name\":\"a\",\"N\":{n}}}")))
                .build()
                .unwrap()
        })
        .collect();
    conn.client
        .put_records()
        .stream_name("s")
        .set_records(Some(records))
        .send()
        .await
        .unwrap();
    let mut running = Running::start(&engine.url(), &["-from", "oldest", "-format", "compact"]);
    running.line().await;
    drop(running.lines); // like `| head -1`
                         // The consumer notices at its next write, like any Unix filter.
    put_json(&conn, "a", 500).await;
    let (status, stderr) = finish(&mut running.child, "its stdout closed").await;
    assert!(status.success(), "{status:?} {stderr}");
    assert_eq!(stderr, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_is_the_default_and_errors_are_clear() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 1).await.unwrap();
    put_json(&conn, "old", 0).await;
    let mut running = Running::start(&engine.url(), &["-format", "compact"]);
    // Keep writing until the consumer, started at LATEST, prints something:
    // whatever it prints is new.
    let writer = {
        let conn = conn.clone();
        tokio::spawn(async move {
            for n in 1.. {
                put_json(&conn, "new", n).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let first = running.take(1).await;
    writer.abort();
    assert_eq!(first[0]["Name"], "new");

    let (ok, _, stderr) = run(&engine.url(), &["-stream", "missing", "-count", "1"]).await;
    assert!(!ok);
    assert!(stderr.contains("\"missing\" not found"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let out = tokio::time::timeout(WAIT, command(&engine.url(), &["-format", "yaml"]).output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_exits_zero_after_a_quiet_spell() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 1).await.unwrap();
    for n in 0..3 {
        put_json(&conn, "a", n).await;
    }
    let (ok, stdout, stderr) = run(
        &engine.url(),
        &[
            "-from",
            "oldest",
            "-format",
            "compact",
            // The quiet spell counts from the start: long enough for a slow start.
            "-idle-timeout",
            "3s",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(stderr, "");
    assert_eq!(by_key(&values(&stdout))["a"], [0, 1, 2]);
}

/// Ctrl-C ends the consumer with exit 0 and no message, and leaves a
/// checkpoint that a restart resumes from.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_exits_zero_and_keeps_the_checkpoint() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 1).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("pos.json");
    let ckpt = checkpoint.to_str().unwrap();
    let args = [
        "-from",
        "oldest",
        "-format",
        "envelope",
        "-checkpoint",
        ckpt,
    ];
    let mut running = Running::start(&engine.url(), &args);
    for n in 0..3 {
        put_json(&conn, "a", n).await;
    }
    let last = running.take(3).await.pop().unwrap();
    let last_seq = last["sequence"].as_str().unwrap().to_owned();
    // Wait for the checkpoint of the last printed record, so the restart
    // below has exactly nothing left to print.
    wait_for("no checkpoint of the last record", || {
        let saved = kinesis::checkpoint::load(&checkpoint).ok().flatten();
        saved.is_some_and(|p| p.shards.values().any(|s| *s == last_seq))
    })
    .await;
    let pid = running.child.id().unwrap().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let (status, stderr) = finish(&mut running.child, "Ctrl-C").await;
    assert!(status.success(), "{status:?} {stderr}");
    assert_eq!(stderr, "");
    put_json(&conn, "a", 3).await;
    let (ok, stdout, stderr) = run(
        &engine.url(),
        &[
            "-format",
            "compact",
            "-checkpoint",
            ckpt,
            "-until-caught-up",
        ],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(by_key(&values(&stdout))["a"], [3]);
}

/// A first run that is killed before it printed anything still leaves a
/// checkpoint: the restart prints what arrived meanwhile instead of starting
/// at a new "latest".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_before_anything_was_printed_skips_nothing() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 1).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("pos.json");
    let ckpt = checkpoint.to_str().unwrap();
    let args = ["-format", "compact", "-checkpoint", ckpt];
    let mut first = Running::start(&engine.url(), &args);
    wait_for("no checkpoint written at the start", || checkpoint.exists()).await;
    first.child.start_kill().unwrap(); // SIGKILL
    first.child.wait().await.unwrap();
    for n in 0..3 {
        put_json(&conn, "a", n).await;
    }
    let mut args2 = args.to_vec();
    args2.push("-until-caught-up");
    let (ok, stdout, stderr) = run(&engine.url(), &args2).await;
    assert!(ok, "{stderr}");
    assert_eq!(by_key(&values(&stdout))["a"], [0, 1, 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_cannot_be_written_fails_before_reading() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 1).await.unwrap();
    put_json(&conn, "a", 0).await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-dir").join("pos.json");
    let (ok, stdout, stderr) = run(
        &engine.url(),
        &["-from", "oldest", "-checkpoint", missing.to_str().unwrap()],
    )
    .await;
    assert!(!ok);
    assert_eq!(stdout, "");
    assert!(stderr.contains("cannot write checkpoint"), "{stderr}");
}

/// Deregistering the fan-out consumer while it reads ends the run with a
/// message that says so (not "stream not found").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn efo_consumer_deregistered_while_reading_ends_with_a_clear_error() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 1).await.unwrap();
    let arn = conn.check_stream("s").await.unwrap();
    let mut running = Running::start(&engine.url(), &["-format", "compact", "-efo", "hq"]);
    // Subscribed once the first pushed record is printed.
    let mut n = 0;
    let printed = tokio::time::timeout(WAIT, async {
        loop {
            put_json(&conn, "a", n).await;
            n += 1;
            tokio::select! {
                line = running.lines.next_line() => break line,
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            }
        }
    })
    .await
    .expect("nothing pushed");
    assert!(printed.unwrap().is_some());
    conn.client
        .deregister_stream_consumer()
        .stream_arn(arn)
        .consumer_name("hq")
        .send()
        .await
        .unwrap();
    let (status, stderr) = finish(&mut running.child, "its consumer was deregistered").await;
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is no longer registered"), "{stderr}");
    assert!(!stderr.contains("not found in region"), "{stderr}");
}
