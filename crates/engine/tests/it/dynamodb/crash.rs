//! kill -9 of the serving process under BatchWriteItem load, three times:
//! after a restart every acknowledged item is there (new items, and each
//! writer's overwritten item at its acknowledged version or a later one),
//! and the table's ItemCount counts them.
//! Also: the files copied right after the last acknowledgement, while the
//! engine still runs (no shutdown), hold every item.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue as Av, PutRequest, WriteRequest};

use engine::Config;

use super::{batch_write, client, create_workshop_table, query_names, summary, TABLE};

/// Not a test of its own: the server process `every_acknowledged_item_
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

fn item(name: &str, version: u32) -> WriteRequest {
    let item = HashMap::from([
        ("Name".to_string(), Av::S(name.to_string())),
        ("StatusTime".to_string(), Av::S("t".into())),
        ("Version".to_string(), Av::N(version.to_string())),
    ]);
    WriteRequest::builder()
        .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
        .build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_item_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    // name -> the highest version acknowledged.
    let acked: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    for round in 0..3u32 {
        let (mut child, url) = start_child(dir.path()).await;
        let c = client(&url);
        if round == 0 {
            create_workshop_table(&c).await;
        }
        let mut writers = Vec::new();
        for w in 0..4u32 {
            let (c, acked) = (c.clone(), acked.clone());
            writers.push(tokio::spawn(async move {
                for i in 0u32.. {
                    // 24 new items and this writer's one overwritten item.
                    let version = round * 1_000_000 + i;
                    let mut names: Vec<String> =
                        (0..24).map(|j| format!("r{round}-w{w}-{i}-{j}")).collect();
                    names.push(format!("same-{w}"));
                    let requests = names.iter().map(|n| item(n, version)).collect();
                    let Ok(out) = c
                        .batch_write_item()
                        .request_items(TABLE, requests)
                        .send()
                        .await
                    else {
                        return; // the server is gone
                    };
                    assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
                    let mut a = acked.lock().unwrap();
                    for n in names {
                        a.insert(n, version);
                    }
                }
            }));
        }
        // Longer than a checkpoint interval, so that some acknowledged
        // groups are in the B-tree and the last ones only in the journal.
        tokio::time::sleep(Duration::from_millis(1700)).await;
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
        for w in writers {
            w.await.unwrap();
        }
    }
    let (_child, url) = start_child(dir.path()).await;
    let c = client(&url);
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 500, "only {} items acknowledged", acked.len());
    eprintln!("{} items acknowledged across 3 kills", acked.len());
    let mut stored: HashMap<String, u32> = HashMap::new();
    let mut start = None;
    loop {
        let page = c
            .scan()
            .table_name(TABLE)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for it in page.items() {
            let (Some(Av::S(name)), Some(Av::N(v))) = (it.get("Name"), it.get("Version")) else {
                panic!("an item without its attributes: {it:?}");
            };
            stored.insert(name.clone(), v.parse().unwrap());
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    for (name, version) in &acked {
        let got = stored.get(name);
        assert!(
            got.is_some_and(|v| v >= version),
            "{name}: acknowledged at version {version}, found {got:?}"
        );
    }
    let desc = c.describe_table().table_name(TABLE).send().await.unwrap();
    assert_eq!(
        desc.table().unwrap().item_count(),
        Some(stored.len() as i64),
        "ItemCount counts what the table holds"
    );
}

#[tokio::test]
async fn a_durable_engine_keeps_items_without_a_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let copy = tempfile::tempdir().unwrap();
    let config = |d: &std::path::Path| Config {
        data_dir: Some(d.to_path_buf()),
        ..Config::default()
    };
    let e = engine::spawn(config(dir.path())).await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let items: Vec<_> = (0..60).map(|m| summary("Rocinante", m)).collect();
    batch_write(&c, items).await;
    // kill -9: the files as they are on disk right after the last
    // acknowledgement, while the engine still runs and never shut down. A
    // background checkpoint may run meanwhile: the journal files first (one
    // removed after listing was in the B-tree already), then the B-tree
    // (copy-on-write with its header first: one durable commit or the next).
    let src = dir.path().join("dynamodb");
    std::fs::create_dir_all(copy.path().join("dynamodb")).unwrap();
    let mut files: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .map(|f| f.unwrap().file_name())
        .collect();
    files.sort_by_key(|name| name == "tables.redb");
    for name in files {
        match std::fs::copy(src.join(&name), copy.path().join("dynamodb").join(&name)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            r => {
                r.unwrap();
            }
        }
    }
    let e2 = engine::spawn(config(copy.path())).await.unwrap();
    let c2 = client(&e2.url());
    assert_eq!(query_names(&c2, "Rocinante").await.len(), 60);
    let desc = c2.describe_table().table_name(TABLE).send().await.unwrap();
    assert_eq!(desc.table().unwrap().item_count(), Some(60));
    drop(e);
}
