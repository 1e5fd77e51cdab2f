//! The archiver end to end against the embedded engine's S3 (the same
//! object_store code path as AWS: endpoint, plain HTTP, path style): every
//! record put on the stream ends up, exactly, in an object under
//! `PREFIX/YYYY/MM/DD/HH/` of the bucket, Parquet included, and the saved
//! positions cover them.

use std::collections::BTreeSet;
use std::time::Duration;

use archive::key::partition_of;
use archive::{ArchiveOptions, Format, Hints, Location, S3Options, Settings, Store};
use futures_util::TryStreamExt;
use kinesis::writer::{BatchWriter, Record};
use object_store::ObjectStoreExt;

async fn setup() -> (engine::EngineHandle, BatchWriter) {
    let engine = engine::spawn_in_memory().await.unwrap();
    engine.ensure_bucket("wildrydes-data").unwrap();
    let conn = kinesis::connect(&kinesis::ConnectOptions {
        endpoint: Some(engine.url()),
        ..kinesis::ConnectOptions::default()
    })
    .await
    .unwrap();
    conn.ensure_stream("wildrydes", 2).await.unwrap();
    (engine, BatchWriter::new(conn, "wildrydes"))
}

fn status(i: u64) -> String {
    let s = sensor::Status {
        name: format!("unicorn-{}", i % 7),
        status_time: sensor::StatusTime::from_millis(1_764_662_400_000 + i as i64 * 1000),
        latitude: 40.0 + i as f64 / 1e4,
        longitude: -73.0 - i as f64 / 1e4,
        distance: 29.5 + (i % 3) as f64 / 2.0,
        magic_points: 100 + (i % 50) as i64,
        health_points: 150 - (i % 60) as i64,
    };
    format!("{}\n", serde_json::to_string(&s).unwrap())
}

/// Runs the archiver until the bucket holds `want` records below `prefix`;
/// returns the records found (as lines, or as names for Parquet).
async fn archive_until(
    engine: &engine::EngineHandle,
    prefix: &str,
    format: Format,
    want: usize,
) -> (
    Vec<(String, bytes::Bytes)>,
    std::path::PathBuf,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    let options = ArchiveOptions {
        connect: kinesis::ConnectOptions {
            endpoint: Some(engine.url()),
            ..kinesis::ConnectOptions::default()
        },
        source: "wildrydes".into(),
        destination: Location::parse(&format!("s3://wildrydes-data/{prefix}")).unwrap(),
        s3: S3Options {
            region: None,
            endpoint: Some(engine.url()),
        },
        settings: Settings {
            hints: Hints {
                size: 64 * 1024,
                interval: Duration::from_millis(300),
            },
            format,
            ..Settings::default()
        },
        state_file: Some(state.clone()),
        start: kinesis::StartPosition::TrimHorizon,
        reader: None,
    };
    let location = options.destination.clone();
    let s3 = options.s3.clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(archive::run(options, async {
        let _ = stopped.await;
    }));
    let store = Store::open(&location, &s3).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let metas: Vec<_> = store
            .store
            .list(Some(&store.prefix))
            .try_collect()
            .await
            .unwrap();
        let mut objects = Vec::new();
        for meta in &metas {
            let body = store
                .store
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            objects.push((meta.location.to_string(), body));
        }
        let have: usize = objects
            .iter()
            .map(|(k, b)| match format {
                Format::Json => b.iter().filter(|c| **c == b'\n').count(),
                Format::Parquet if k.ends_with(".parquet") => {
                    parquet::file::reader::FileReader::metadata(
                        &parquet::file::serialized_reader::SerializedFileReader::new(b.clone())
                            .unwrap(),
                    )
                    .file_metadata()
                    .num_rows() as usize
                }
                Format::Parquet => b.iter().filter(|c| **c == b'\n').count(),
            })
            .sum();
        if have >= want {
            stop.send(()).unwrap();
            let stats = task.await.unwrap().unwrap();
            assert_eq!(stats.records as usize, want);
            return (objects, state, dir);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{have} of {want} records after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_reaches_the_engines_bucket_exactly() {
    let (engine, writer) = setup().await;
    let sent: Vec<String> = (0..3000).map(status).collect();
    for (c, chunk) in sent.chunks(500).enumerate() {
        writer
            .put_records(
                chunk
                    .iter()
                    .enumerate()
                    .map(|(i, s)| Record::new(format!("k{c}-{i}"), s.as_bytes()))
                    .collect(),
            )
            .await
            .unwrap();
    }
    let (objects, state, _dir) = archive_until(&engine, "raw/json", Format::Json, sent.len()).await;
    assert!(objects.len() > 3, "64 KiB objects: {}", objects.len());
    let mut lines = Vec::new();
    for (key, body) in &objects {
        let rest = key.strip_prefix("raw/json/").unwrap();
        assert!(partition_of(rest).is_some(), "{key}");
        assert!(
            rest.rsplit('/').next().unwrap().starts_with("wildrydes-1-"),
            "{key}"
        );
        lines.extend(
            String::from_utf8(body.to_vec())
                .unwrap()
                .split_inclusive('\n')
                .map(str::to_owned),
        );
    }
    assert_eq!(lines.len(), sent.len());
    let got: BTreeSet<&String> = lines.iter().collect();
    let want: BTreeSet<&String> = sent.iter().collect();
    assert_eq!(got, want);
    // The saved positions cover both shards.
    let positions = kinesis::checkpoint::load(&state).unwrap().unwrap();
    assert_eq!(positions.shards.len(), 2, "{positions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parquet_objects_and_side_objects_in_the_engines_bucket() {
    let (engine, writer) = setup().await;
    let mut sent: Vec<String> = (0..500).map(status).collect();
    sent.push("not a status\n".into());
    writer
        .put_records(
            sent.iter()
                .map(|s| Record::new("k", s.as_bytes()))
                .collect(),
        )
        .await
        .unwrap();
    let (objects, _state, _dir) = archive_until(&engine, "", Format::Parquet, sent.len()).await;
    let parquet = objects
        .iter()
        .filter(|(k, _)| k.ends_with(".parquet"))
        .count();
    let side: Vec<&String> = objects
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with("format-conversion-failed/"))
        .collect();
    assert!(parquet >= 1);
    assert_eq!(side.len(), 1, "{objects:?}");
    assert!(partition_of(side[0].strip_prefix("format-conversion-failed/").unwrap()).is_some());
}
