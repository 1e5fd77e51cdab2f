//! What the consumer (and its siblings) refuse: a checkpoint of another
//! stream, invalid flags.

use std::path::{Path, PathBuf};

use super::*;

/// Puts `n` JSON records to `stream`.
async fn put_to(conn: &Connection, stream: &str, n: u64) {
    for i in 0..n {
        conn.client
            .put_record()
            .stream_name(stream)
            .partition_key("a")
            .data(Blob::new(format!("{{\"Name\":\"a\",\"N\":{i}}}")))
            .send()
            .await
            .unwrap();
    }
}

/// Runs the consumer; returns (exit code, stdout, stderr).
async fn exit_code(url: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::time::timeout(WAIT, command(url, args).output())
        .await
        .expect("consumer did not exit")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_is_refused_on_a_recreated_stream_and_on_another_stream() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    let url = engine.url();
    conn.ensure_stream("re", 1).await.unwrap();
    put_to(&conn, "re", 5).await;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("re.json");
    let ckpt = checkpoint.to_str().unwrap();
    let read = |stream: &'static str| {
        let ckpt = ckpt.to_owned();
        let url = url.clone();
        async move {
            let args = [
                "-stream",
                stream,
                "-from",
                "oldest",
                "-checkpoint",
                &ckpt,
                "-until-caught-up",
                "-format",
                "compact",
            ];
            exit_code(&url, &args).await
        }
    };
    let (code, stdout, stderr) = read("re").await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 5);

    // Deleted and created again, with 50 new records: the old positions
    // would silently print nothing.
    conn.client
        .delete_stream()
        .stream_name("re")
        .send()
        .await
        .unwrap();
    conn.ensure_stream("re", 1).await.unwrap();
    put_to(&conn, "re", 50).await;
    let (code, stdout, stderr) = read("re").await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stdout, "");
    for part in [
        format!("checkpoint {ckpt} was saved on stream arn:aws:kinesis:"),
        ":stream/re created ".to_owned(),
        "\"re\" was deleted and created again since".to_owned(),
        format!("delete {ckpt}"),
        "-from".to_owned(),
    ] {
        assert!(stderr.contains(&part), "{part:?} not in {stderr}");
    }
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // The checkpoint of stream `re`, used on stream `wildrydes`.
    conn.ensure_stream("wildrydes", 1).await.unwrap();
    put_to(&conn, "wildrydes", 3).await;
    let (code, stdout, stderr) = read("wildrydes").await;
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stdout, "");
    for part in [
        ":stream/re created ",
        "not on stream \"wildrydes\" (arn:aws:kinesis:",
        ":stream/wildrydes created ",
    ] {
        assert!(stderr.contains(part), "{part:?} not in {stderr}");
    }

    // Starting over as the message says.
    std::fs::remove_file(&checkpoint).unwrap();
    let (code, stdout, stderr) = read("re").await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 50);
}

/// A checkpoint saved before checkpoints named their stream is used on the
/// stream it is given with, and upgraded: from then on it belongs to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_checkpoint_without_its_stream_is_accepted_and_upgraded() {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 1).await.unwrap();
    put_to(&conn, "s", 3).await;
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("pos.json");
    let ckpt = checkpoint.to_str().unwrap();
    let args = [
        "-from",
        "oldest",
        "-checkpoint",
        ckpt,
        "-until-caught-up",
        "-format",
        "compact",
    ];
    let (code, _, stderr) = exit_code(&engine.url(), &args).await;
    assert_eq!(code, Some(0), "{stderr}");
    // As an older version wrote it: no "stream".
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert!(saved["stream"]["arn"].is_string(), "{saved}");
    saved.as_object_mut().unwrap().remove("stream");
    std::fs::write(&checkpoint, saved.to_string()).unwrap();

    put_to(&conn, "s", 2).await;
    let (code, stdout, stderr) = exit_code(&engine.url(), &args).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.lines().count(), 2, "resumed after the old positions");
    assert!(
        stderr.contains("does not say which stream it was saved on")
            && stderr.contains(":stream/s created "),
        "{stderr}"
    );
    let upgraded = kinesis::checkpoint::load(&checkpoint).unwrap().unwrap();
    let identity = conn.describe_stream("s").await.unwrap();
    assert_eq!(upgraded.stream, Some(identity));
    // Bound now: no more note.
    let (code, _, stderr) = exit_code(&engine.url(), &args).await;
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

/// A binary of another package, next to `consumer` (`cargo test --workspace`
/// builds them all).
fn sibling(name: &str) -> PathBuf {
    let path = Path::new(BIN).with_file_name(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p wildrydes -p producer` first (or `cargo test --workspace`)",
        path.display()
    );
    path
}

/// Runs `program args` with nothing to connect to; returns (exit code, stderr).
fn invoke(program: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(program)
        .args(args)
        .args(["-endpoint", "http://127.0.0.1:9"])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn invalid_flags_exit_2_with_a_message_in_producer_consumer_and_aggregate() {
    let producer = sibling("producer");
    let wildrydes = sibling("wildrydes");
    let consumer = Path::new(BIN).to_owned();
    let cases: &[(&Path, &[&str], &str)] = &[
        (&producer, &["-stream", ""], "cannot be empty"),
        (&producer, &["-stream", "a b"], "letters, digits"),
        (&producer, &["-interval", "0s"], "longer than zero"),
        (&producer, &["-duration", "0s"], "longer than zero"),
        (&producer, &["-rate", "0"], "greater than zero"),
        (&producer, &["-rate", "NaN"], "greater than zero"),
        (&producer, &["-rate", "-5"], "greater than zero"),
        (&producer, &["-unicorns", "0"], "1..=100000"),
        (&producer, &["-unicorns", "99999999999"], "1..=100000"),
        (&producer, &["-name", ""], "1 to 256 characters"),
        (&consumer, &["-stream", ""], "cannot be empty"),
        (&consumer, &["-idle-timeout", "0s"], "longer than zero"),
        (&consumer, &["-poll", "0s"], "longer than zero"),
        (&consumer, &["-poll", "100ms"], "at least 200ms"),
        (&consumer, &["-from", "bogus"], "invalid -from"),
        (&wildrydes, &["aggregate", "-source", ""], "cannot be empty"),
        (
            &wildrydes,
            &["aggregate", "-destination", ""],
            "cannot be empty",
        ),
        (
            &wildrydes,
            &["aggregate", "-source", "x", "-destination", "x"],
            "aggregated again",
        ),
        (
            &wildrydes,
            &["aggregate", "-from", "bogus"],
            "invalid -from",
        ),
        (&wildrydes, &["aggregate", "-window", "0s"], "too short"),
    ];
    for (program, args, message) in cases {
        let (code, stderr) = invoke(program, args);
        let name = program.file_name().unwrap().to_string_lossy();
        assert_eq!(code, Some(2), "{name} {args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{name} {args:?}: {stderr}");
        assert!(stderr.contains(message), "{name} {args:?}: {stderr}");
    }
}

#[test]
fn aggregate_state_in_a_missing_directory_fails_before_reading() {
    let wildrydes = sibling("wildrydes");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("no-such-dir").join("agg.json");
    // Nothing listens at the endpoint: the state file is checked first.
    let (code, stderr) = invoke(
        &wildrydes,
        &["aggregate", "--state", state.to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot use state file {}", state.display()))
            && stderr.contains("does not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("cannot reach"), "{stderr}");
}
