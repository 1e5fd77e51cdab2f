//! Storage: DescribeTable's figures kept as items are written (never a
//! count per call), and a damaged file refused at start, unchanged.

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
