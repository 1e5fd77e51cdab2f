//! Storage: DescribeTable's figures kept as items are written (never a
//! count per call), a damaged file refused at start, unchanged, and the key
//! layouts (the partition hash order of new tables, plain keys of old ones).

use std::collections::HashMap;
use std::path::Path;

use aws_sdk_dynamodb::types::AttributeValue as Av;
use engine::Config;

use super::{batch_write, client, create_workshop_table, TABLE};

fn durable(dir: &Path) -> Config {
    Config {
        data_dir: Some(dir.to_path_buf()),
        ..Config::default()
    }
}

/// An item of known size: DynamoDB counts attribute names and values.
fn item(i: u32, pad: usize) -> (HashMap<String, Av>, u64) {
    let name = format!("R{i:03}");
    let item = HashMap::from([
        ("Name".to_string(), Av::S(name.clone())),
        ("StatusTime".to_string(), Av::S("t".into())),
        ("Pad".to_string(), Av::S("p".repeat(pad))),
    ]);
    let size = 4 + name.len() + 10 + 1 + 3 + pad;
    (item, size as u64)
}

async fn figures(c: &aws_sdk_dynamodb::Client) -> (i64, i64) {
    let t = c
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    (t.item_count.unwrap(), t.table_size_bytes.unwrap())
}

#[tokio::test]
async fn describe_table_figures_follow_every_write_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine::spawn(durable(dir.path())).await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    assert_eq!(figures(&c).await, (0, 0));
    let (mut items, mut total) = (Vec::new(), 0);
    for i in 0..50 {
        let (it, size) = item(i, 100);
        items.push(it);
        total += size;
    }
    batch_write(&c, items).await;
    assert_eq!(figures(&c).await, (50, total as i64));
    // Replace one with a larger item, delete another.
    let (bigger, size) = item(7, 1000);
    c.put_item()
        .table_name(TABLE)
        .set_item(Some(bigger))
        .send()
        .await
        .unwrap();
    total += size - item(7, 100).1;
    c.delete_item()
        .table_name(TABLE)
        .key("Name", Av::S("R008".into()))
        .key("StatusTime", Av::S("t".into()))
        .send()
        .await
        .unwrap();
    total -= item(8, 100).1;
    assert_eq!(figures(&c).await, (49, total as i64));
    e.shutdown().await.unwrap();
    let e = engine::spawn(durable(dir.path())).await.unwrap();
    let c = client(&e.url());
    assert_eq!(figures(&c).await, (49, total as i64));
}

/// Writes a table, stops, damages the file with `damage`, and checks the
/// engine refuses to start naming the file, which is left as it was.
async fn refused_after(damage: impl FnOnce(&Path)) -> String {
    let dir = tempfile::tempdir().unwrap();
    let e = engine::spawn(durable(dir.path())).await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let items = (0..200)
        .map(|i| {
            let mut it = item(i, 300).0;
            it.insert("Mark".into(), Av::S(format!("MARKER-{i:04}-ABCDEFGH")));
            it
        })
        .collect();
    batch_write(&c, items).await;
    e.shutdown().await.unwrap();
    let file = dir.path().join("dynamodb").join("tables.redb");
    damage(&file);
    let before = std::fs::read(&file).unwrap();
    // `run` is what `wildrydes serve` runs: it returns the error at once.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let run = engine::run(listener, durable(dir.path()), std::future::pending());
    let err = match tokio::time::timeout(std::time::Duration::from_secs(30), run).await {
        Ok(Err(e)) => e.to_string(),
        Ok(Ok(())) => panic!("the engine stopped without an error"),
        Err(_) => panic!("the engine started on a damaged file"),
    };
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(!err.contains('\n'), "one line: {err}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the file was changed"
    );
    err
}

#[tokio::test]
async fn a_truncated_or_tampered_file_is_named_and_refused() {
    let err = refused_after(|f| std::fs::File::create(f).map(drop).unwrap()).await;
    assert!(err.contains("empty"), "{err}");
    refused_after(|f| {
        // Cut the file where the items are (its tail is free space redb
        // allocated ahead; a cut there loses nothing).
        let bytes = std::fs::read(f).unwrap();
        let at = bytes.windows(11).position(|w| w == b"MARKER-0100").unwrap();
        let file = std::fs::OpenOptions::new().write(true).open(f).unwrap();
        file.set_len(at as u64).unwrap();
    })
    .await;
    refused_after(|f| {
        // Change every copy of one item's bytes.
        let mut bytes = std::fs::read(f).unwrap();
        let needle = b"MARKER-0100-ABCDEFGH";
        let mut found = 0;
        for i in 0..bytes.len() - needle.len() {
            if &bytes[i..i + needle.len()] == needle {
                bytes[i + 7] = b'9';
                found += 1;
            }
        }
        assert!(found > 0);
        std::fs::write(f, bytes).unwrap();
    })
    .await;
}

/// The `S` values of the `Key` attribute of a Scan's items, in order.
async fn scan_keys(
    c: &aws_sdk_dynamodb::Client,
    table: &str,
    segment: Option<(i32, i32)>,
) -> Vec<String> {
    let out = c
        .scan()
        .table_name(table)
        .set_segment(segment.map(|s| s.0))
        .set_total_segments(segment.map(|s| s.1))
        .send()
        .await
        .unwrap();
    let key = if table == TABLE { "Name" } else { "Key" };
    out.items()
        .iter()
        .map(|i| i[key].as_s().unwrap().clone())
        .collect()
}

/// Tables created since 2026-12-03 keep their keys behind the partition
/// hash, so a Scan comes in the service's order (recorded by dynalite's
/// suite) and a segment of 4,096 holds the items the service puts there; a
/// table an earlier version stored keeps its plain keys and still works.
#[tokio::test]
async fn new_tables_scan_in_the_services_hash_order_and_old_tables_keep_working() {
    use redb::ReadableTable;
    let dir = tempfile::tempdir().unwrap();
    let e = engine::spawn(durable(dir.path())).await.unwrap();
    create_workshop_table(&client(&e.url())).await;
    e.shutdown().await.unwrap();
    // The workshop's table as an earlier version described it: no layout.
    {
        let db = redb::Database::open(dir.path().join("dynamodb").join("tables.redb")).unwrap();
        let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(meta).unwrap();
            let stored = t.get(TABLE).unwrap().unwrap().value().to_vec();
            let mut desc: serde_json::Value = serde_json::from_slice(&stored).unwrap();
            assert!(desc.as_object_mut().unwrap().remove("key_layout").is_some());
            t.insert(TABLE, serde_json::to_vec(&desc).unwrap().as_slice())
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let e = engine::spawn(durable(dir.path())).await.unwrap();
    let c = client(&e.url());
    super::conformance::ok(
        &e.url(),
        "CreateTable",
        serde_json::json!({
            "TableName": "Fresh",
            "AttributeDefinitions": [{"AttributeName": "Key", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "Key", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        }),
    )
    .await;
    let recorded = [
        "2", "8", "9", "1", "6", "hello", "0", "5", "4", "äáöü", "aardman", "7", "3", "zapf",
    ];
    let mut keys: Vec<&str> = recorded.to_vec();
    keys.sort();
    keys.extend(["3635", "228", "1668", "3435"]);
    for k in &keys {
        let item = HashMap::from([("Key".to_string(), Av::S(k.to_string()))]);
        c.put_item()
            .table_name("Fresh")
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    let scanned = scan_keys(&c, "Fresh", None).await;
    let in_recorded: Vec<&str> = scanned
        .iter()
        .map(String::as_str)
        .filter(|k| recorded.contains(k))
        .collect();
    assert_eq!(in_recorded, recorded);
    let seg0 = scan_keys(&c, "Fresh", Some((0, 4096))).await;
    assert!(
        seg0.contains(&"3635".to_string()) && seg0.contains(&"228".to_string()),
        "{seg0:?}"
    );
    assert!(scan_keys(&c, "Fresh", Some((1, 4096)))
        .await
        .contains(&"1668".to_string()));
    // More segments than slots: some hold none.
    assert!(scan_keys(&c, "Fresh", Some((1, 1_000_000)))
        .await
        .is_empty());
    assert!(scan_keys(&c, "Fresh", Some((4, 4096)))
        .await
        .contains(&"3435".to_string()));

    // The old table: written, read, queried, scanned whole and in segments.
    let items: Vec<_> = (0..40).map(|i| item(i, 10).0).collect();
    super::batch_write(&c, items).await;
    assert_eq!(super::query_names(&c, "R007").await, ["t"]);
    // Plain keys scan in key order.
    let all = scan_keys(&c, TABLE, None).await;
    let names: Vec<String> = (0..40).map(|i| format!("R{i:03}")).collect();
    assert_eq!(all, names);
    let mut segments = Vec::new();
    for s in 0..3 {
        segments.extend(scan_keys(&c, TABLE, Some((s, 3))).await);
    }
    segments.sort();
    assert_eq!(segments, all);
    e.shutdown().await.unwrap();
}
