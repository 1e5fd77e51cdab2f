//! `wildrydes load` as a user runs it, against an embedded engine: a file of
//! 100,000 status records with bad lines in it, `--on-bad-line stop`, CSV,
//! and the same item loaded twice staying one item.

use std::io::Write;
use std::path::Path;
use std::process::Output;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::common;

use common::WILDRYDES;

async fn engine(fail_entry_ratio: f64, tables: &[&str]) -> engine::EngineHandle {
    let engine = engine::spawn(engine::Config {
        fail_entry_ratio,
        ..engine::Config::default()
    })
    .await
    .unwrap();
    for table in tables {
        process::ensure_table(&testkit::dynamodb(&engine.url()), table)
            .await
            .unwrap();
    }
    engine
}

async fn load(url: &str, args: &[&str]) -> (Output, String) {
    let out = tokio::process::Command::new(WILDRYDES)
        .arg("load")
        .args(args)
        .args(["-endpoint", url])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("run wildrydes load");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

/// 100 unicorns x `steps` records, one per second each, with a bad line
/// after every 1,000 good ones (four kinds in turn).
fn ride_file(path: &Path, steps: usize) -> (usize, usize) {
    let mut rides: Vec<sensor::Ride> = (0..100)
        .map(|i| sensor::Ride::new(format!("Unicorn-{i:03}"), i))
        .collect();
    let bad = [
        "not json".to_owned(),
        r#"{"Name":"Rocinante","StatusTime":"2017-06-05 09:17:09.191"}"#.to_owned(),
        r#"{"Name":"Rocinante","StatusTime":"2017-06-05 09:17:09.191","Latitude":500,"Longitude":1,"Distance":1,"MagicPoints":1,"HealthPoints":1}"#.to_owned(),
        r#"{"Name":"Rocinante","StatusTime":"yesterday","Latitude":5,"Longitude":1,"Distance":1,"MagicPoints":1,"HealthPoints":1}"#.to_owned(),
    ];
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let (mut good, mut bad_lines) = (0, 0);
    for step in 0..steps {
        let at = sensor::StatusTime::from_millis(1_500_000_000_000 + step as i64 * 1000);
        for ride in &mut rides {
            out.write_all(&ride.step(at).to_json_line()).unwrap();
            good += 1;
            if good % 1000 == 0 {
                writeln!(out, "{}", bad[bad_lines % bad.len()]).unwrap();
                bad_lines += 1;
            }
        }
    }
    out.flush().unwrap();
    (good, bad_lines)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_of_100000_lines_with_bad_lines_is_loaded_but_the_bad_ones() {
    let engine = engine(0.0, &[process::TABLE, "Stopped"]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rides.json");
    let (good, bad) = ride_file(&file, 1000);
    assert_eq!((good, bad), (100_000, 100));
    let name = file.to_str().unwrap();

    let (out, stderr) = load(&engine.url(), &[name]).await;
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("100000 items written, 100 bad lines skipped, 100100 lines"),
        "{stderr}"
    );
    // Each bad line named with its file and line number (the first 20 of them).
    assert!(
        stderr.contains(&format!("{name}:1001: invalid record: expected ident")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name}:2002: invalid record: missing field")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{name}:3003: invalid record: Latitude")),
        "{stderr}"
    );
    assert!(stderr.contains("only counted from here on"), "{stderr}");
    let client = testkit::dynamodb(&engine.url());
    assert_eq!(
        testkit::count_items(&client, process::TABLE).await.unwrap(),
        100_000
    );

    // Stopping at the first bad line: the 1,000 lines before it are loaded.
    let (out, stderr) = load(
        &engine.url(),
        &[name, "-table", "Stopped", "-on-bad-line", "stop"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{name}:1001: invalid record: expected ident at column 2; stopped there (1000 items of the lines before it written"
        )),
        "{stderr}"
    );
    assert_eq!(
        testkit::count_items(&client, "Stopped").await.unwrap(),
        1000
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_item_twice_stays_one_item_from_json_lines_and_csv() {
    // A third of the writes left unprocessed on the way.
    let engine = engine(0.3, &[process::TABLE]).await;
    let dir = tempfile::tempdir().unwrap();
    let line = r#"{"Name":"Rocinante","StatusTime":"2017-06-05 09:17:09.191","Latitude":42.265486935100476,"Longitude":-71.97442977859625,"Distance":29.75,"MagicPoints":110,"HealthPoints":151}"#;
    let json = dir.path().join("twice.json");
    std::fs::write(&json, format!("{line}\n\n{line}\n")).unwrap();
    let csv = dir.path().join("twice.csv");
    std::fs::write(
        &csv,
        "Name,StatusTime,Latitude,Longitude,Distance,MagicPoints,HealthPoints\n\
         Rocinante,2017-06-05 09:17:09.191,42.265486935100476,-71.97442977859625,29.75,110,151\n\
         Rocinante,2017-06-05 09:17:09.191,42.265486935100476,-71.97442977859625,29.75,110,151\n\
         Rocinante,2017-06-05 09:17:10.191,42.3,-71.9,30,111,151,extra\n",
    )
    .unwrap();
    let (json, csv) = (json.to_str().unwrap(), csv.to_str().unwrap());
    for _ in 0..2 {
        let (out, stderr) = load(&engine.url(), &[json, csv]).await;
        assert!(out.status.success(), "{stderr}");
        assert!(
            stderr.contains(&format!(
                "{json}: 1 items written, 0 bad lines skipped, 2 lines"
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!(
                "{csv}: 1 items written, 1 bad lines skipped, 3 lines"
            )),
            "{stderr}"
        );
        assert!(
            stderr.contains(&format!("{csv}:4: invalid CSV")),
            "{stderr}"
        );
    }
    let client = testkit::dynamodb(&engine.url());
    assert_eq!(
        testkit::count_items(&client, process::TABLE).await.unwrap(),
        1
    );
    let item = client
        .get_item()
        .table_name(process::TABLE)
        .key("Name", AttributeValue::S("Rocinante".into()))
        .key(
            "StatusTime",
            AttributeValue::S("2017-06-05 09:17:09.191".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        item["Latitude"],
        AttributeValue::N("42.265486935100476".into())
    );
    assert_eq!(item["Distance"], AttributeValue::N("29.75".into()));
    assert_eq!(item["MagicPoints"], AttributeValue::N("110".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_or_file_fails_with_what_to_do() {
    let engine = engine(0.0, &[]).await;
    let (out, stderr) = load(&engine.url(), &["/nonexistent/rides.json"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("aws dynamodb create-table --table-name UnicornSensorData"),
        "{stderr}"
    );
    process::ensure_table(&testkit::dynamodb(&engine.url()), process::TABLE)
        .await
        .unwrap();
    let (out, stderr) = load(&engine.url(), &["/nonexistent/rides.json"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("cannot read /nonexistent/rides.json: No such file"),
        "{stderr}"
    );
    // A missing bucket or object, in S3's words.
    let (out, stderr) = load(&engine.url(), &["s3://no-bucket/rides.json"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("cannot read s3://no-bucket/rides.json: no such bucket"),
        "{stderr}"
    );
    engine.ensure_bucket("rides").unwrap();
    let (out, stderr) = load(&engine.url(), &["s3://rides/none.json"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("cannot read s3://rides/none.json: no such key"),
        "{stderr}"
    );
    let (out, stderr) = load(&engine.url(), &["s3://bucket-only"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr.contains("\"s3://bucket-only\" is not s3://BUCKET/KEY"),
        "{stderr}"
    );
}
