//! Kill -9 a `wildrydes serve` process while clients write; after a restart every
//! acknowledged record must be there, unchanged.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::{PutRecordsRequestEntry, ShardIteratorType};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use testkit::kinesis as client;

async fn start(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wildrydes"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("start wildrydes serve");
    let stdout = child.stdout.take().expect("stdout");
    let url = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("read endpoint")
        .expect("endpoint line");
    (child, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_record_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start(dir.path()).await;
    let c = client(&url);
    c.create_stream()
        .stream_name("s")
        .shard_count(2)
        .send()
        .await
        .unwrap();

    // seq -> data of every acknowledged record.
    let acked: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
    let (enough_tx, enough_rx) = tokio::sync::watch::channel(false);
    let mut writers = Vec::new();
    for w in 0..4 {
        let c = c.clone();
        let acked = acked.clone();
        let enough_tx = enough_tx.clone();
        writers.push(tokio::spawn(async move {
            for round in 0.. {
                let entries: Vec<_> = (0..50)
                    .map(|i| {
                        PutRecordsRequestEntry::builder()
                            .partition_key(format!("k{w}-{i}"))
                            .data(Blob::new(format!("w{w} r{round} i{i}")))
                            .build()
                            .unwrap()
                    })
                    .collect();
                let Ok(out) = c
                    .put_records()
                    .stream_name("s")
                    .set_records(Some(entries.clone()))
                    .send()
                    .await
                else {
                    return; // the server is gone
                };
                let mut map = acked.lock().unwrap();
                for (e, r) in entries.iter().zip(out.records()) {
                    if let Some(seq) = &r.sequence_number {
                        map.insert(seq.clone(), e.data.as_ref().to_vec());
                    }
                }
                if map.len() >= 2_000 {
                    let _ = enough_tx.send(true);
                }
            }
        }));
    }
    let mut enough_rx = enough_rx;
    enough_rx.wait_for(|e| *e).await.unwrap();
    // Writers are still sending: SIGKILL mid-flight.
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 2_000);

    let (mut child, url) = start(dir.path()).await;
    let c = client(&url);
    let mut stored = HashMap::new();
    for shard in ["shardId-000000000000", "shardId-000000000001"] {
        let mut it = c
            .get_shard_iterator()
            .stream_name("s")
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(i) = it {
            let page = c.get_records().shard_iterator(i).send().await.unwrap();
            if page.records.is_empty() {
                break;
            }
            for r in page.records {
                stored.insert(r.sequence_number, r.data.into_inner());
            }
            it = page.next_shard_iterator;
        }
    }
    for (seq, data) in &acked {
        assert_eq!(
            stored.get(seq),
            Some(data),
            "acknowledged record {seq} lost"
        );
    }
    // The restarted server accepts writes with higher sequence numbers.
    let r = c
        .put_record()
        .stream_name("s")
        .partition_key("k")
        .data(Blob::new("after"))
        .send()
        .await
        .unwrap();
    assert!(stored
        .keys()
        .filter(|s| s[..14] == r.sequence_number[..14])
        .all(|s| *s < r.sequence_number));
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_refuses_a_damaged_log_with_one_line_and_repair_lets_it_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = start(dir.path()).await;
    let c = client(&url);
    c.create_stream()
        .stream_name("s")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    for i in 0..20 {
        c.put_record()
            .stream_name("s")
            .partition_key("k")
            .data(Blob::new(format!("record-{i:02}")))
            .send()
            .await
            .unwrap();
    }
    child.kill().await.unwrap();

    // A flipped byte in the first record frame, with 19 intact frames after it.
    let log = dir.path().join("kinesis.log");
    let mut bytes = std::fs::read(&log).unwrap();
    let meta_len = u32::from_le_bytes(bytes[24..28].try_into().unwrap()) as usize;
    let first = 20 + 16 + meta_len;
    bytes[first + 16 + 10] ^= 0xff;
    std::fs::write(&log, &bytes).unwrap();

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_wildrydes"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8(refused.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("wildrydes: ")
            && stderr.contains(&format!("kinesis.log is damaged at offset {first}"))
            && stderr.contains("wildrydes repair"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&log).unwrap(),
        bytes,
        "nothing changed on disk"
    );

    let repaired = std::process::Command::new(env!("CARGO_BIN_EXE_wildrydes"))
        .arg("repair")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(repaired.status.code(), Some(0));
    let report = String::from_utf8(repaired.stdout).unwrap();
    assert!(
        report.contains("stream s shardId-000000000000 lost sequence numbers")
            && report.contains("repair: 1 damaged region(s)"),
        "{report}"
    );

    let (_child, url) = start(dir.path()).await;
    let c = client(&url);
    let it = c
        .get_shard_iterator()
        .stream_name("s")
        .shard_id("shardId-000000000000")
        .shard_iterator_type(ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let page = c.get_records().shard_iterator(it).send().await.unwrap();
    let data: Vec<Vec<u8>> = page
        .records
        .into_iter()
        .map(|r| r.data.into_inner())
        .collect();
    let expected: Vec<Vec<u8>> = (1..20)
        .map(|i| format!("record-{i:02}").into_bytes())
        .collect();
    assert_eq!(
        data, expected,
        "every intact record after the damage is kept"
    );
}
