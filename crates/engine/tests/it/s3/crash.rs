//! kill -9 of the serving process while clients upload: after a restart,
//! every acknowledged object is whole (the acknowledged version or a later
//! attempt, never a mix), and nothing written aside is left.

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;

use super::client;

/// The bytes of version `v` of `key` (so a torn or mixed object is detected).
fn content(key: &str, v: u32) -> Vec<u8> {
    let size = if v.is_multiple_of(2) {
        1000
    } else {
        150_000 + (v as usize % 7) * 10_000
    };
    let seed = format!("{key}#{v}#");
    seed.bytes().cycle().take(size).collect()
}

/// Not a test of its own: the server process `every_acknowledged_object_
/// survives_sigkill` starts (this test binary again) and kills with SIGKILL.
#[tokio::test]
async fn child_server_for_the_sigkill_test() {
    crate::common::child::serve_if_child().await;
}

async fn start_child(dir: &std::path::Path) -> (tokio::process::Child, String) {
    // The test's name in the harness: its module path without the crate.
    let module = module_path!().split_once("::").map_or("", |(_, m)| m);
    crate::common::child::start(dir, &format!("{module}::child_server_for_the_sigkill_test")).await
}

#[derive(Default)]
struct Acked {
    /// key → the versions acknowledged, and the last version attempted.
    keys: std::collections::HashMap<String, (Option<u32>, u32)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_object_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Acked::default()));
    for round in 0..3u32 {
        let (mut child, url) = start_child(dir.path()).await;
        let c = client(&url);
        if round == 0 {
            c.create_bucket().bucket("crash").send().await.unwrap();
        }
        let mut writers = Vec::new();
        for w in 0..4u32 {
            let (c, acked) = (c.clone(), acked.clone());
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    // A new key each time, and one key per writer overwritten.
                    for key in [format!("r{round}/w{w}/{i}"), format!("same/{w}")] {
                        let v = {
                            let mut a = acked.lock().unwrap();
                            let entry = a.keys.entry(key.clone()).or_insert((None, 0));
                            if entry.0.is_some() || entry.1 > 0 {
                                entry.1 += 1;
                            }
                            entry.1
                        };
                        let sent = c
                            .put_object()
                            .bucket("crash")
                            .key(&key)
                            .body(ByteStream::from(content(&key, v)))
                            .send()
                            .await;
                        if sent.is_err() {
                            return;
                        }
                        let mut a = acked.lock().unwrap();
                        let entry = a.keys.get_mut(&key).unwrap();
                        entry.0 = Some(entry.0.map_or(v, |old| old.max(v)));
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
        for w in writers {
            w.await.unwrap();
        }
    }
    let (_child, url) = start_child(dir.path()).await;
    let c = client(&url);
    let keys: Vec<(String, (Option<u32>, u32))> = {
        let a = acked.lock().unwrap();
        a.keys.iter().map(|(k, v)| (k.clone(), *v)).collect()
    };
    let acked_count = keys.iter().filter(|(_, (v, _))| v.is_some()).count();
    assert!(
        acked_count > 20,
        "only {acked_count} objects were acknowledged"
    );
    eprintln!("{acked_count} keys acknowledged across 3 kills");
    for (key, (done, tried)) in keys {
        let got = c.get_object().bucket("crash").key(&key).send().await;
        let Some(done) = done else {
            // Never acknowledged: absent, or whole.
            if let Ok(got) = got {
                let bytes = got.body.collect().await.unwrap().into_bytes();
                assert!(
                    (0..=tried).any(|v| bytes[..] == content(&key, v)[..]),
                    "{key} is torn"
                );
            }
            continue;
        };
        let bytes = got
            .unwrap_or_else(|e| panic!("acknowledged {key} is lost: {e:?}"))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert!(
            (done..=tried).any(|v| bytes[..] == content(&key, v)[..]),
            "{key}: not the acknowledged version {done} or a later attempt (up to {tried})"
        );
    }
    // Files written aside by requests the kill cut are gone.
    assert_eq!(
        std::fs::read_dir(dir.path().join("s3/tmp"))
            .unwrap()
            .count(),
        0
    );
}
