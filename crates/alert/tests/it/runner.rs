//! The alert stage against the embedded engine: raw records in
//! `wildrydes`, alerts out in `wildrydes-alerts`, once per crossing, and a
//! restart on the same state file neither repeats a crossing nor forgets
//! that a unicorn is below.

use std::time::Duration;

use alert::{Alert, RunOptions};
use kinesis::writer::{BatchWriter, Record};
use kinesis::{connect, ConnectOptions, Connection, Reader, ReaderOptions, StartPosition};
use sensor::{Status, StatusTime};

fn options(endpoint: &str) -> ConnectOptions {
    ConnectOptions {
        endpoint: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        ..ConnectOptions::default()
    }
}

/// Puts one status record; returns its sequence number.
async fn put(conn: &Connection, second: i64, name: &str, magic: i64) -> String {
    let status = Status {
        name: name.into(),
        status_time: StatusTime::from_millis(1_496_654_229_000 + second * 1000),
        latitude: 40.749167,
        longitude: -73.985184,
        distance: 30.0,
        magic_points: magic,
        health_points: 150,
    };
    BatchWriter::new(conn.clone(), "wildrydes")
        .put_record(Record::new(name, status.to_json_line()))
        .await
        .unwrap()
        .sequence_number
}

/// Waits until the stage has saved its state after the record `last`.
async fn wait_saved(state: &std::path::Path, last: &str) -> alert::SavedState {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(saved) = alert::runner::load_state(state).unwrap() {
            if saved.positions.shards.values().any(|seq| seq == last) {
                return saved;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "state never saved after {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Reads alerts until `want` arrived (panics after 30 s), then checks that no
/// more come within the reader's next polls.
async fn read_alerts(reader: &mut Reader, want: usize) -> Vec<Alert> {
    let mut alerts = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while alerts.len() < want {
        let batch = tokio::time::timeout_at(deadline, reader.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {want} alerts", alerts.len()))
            .unwrap();
        for r in &batch.records {
            alerts.push(Alert::from_json(&r.data).unwrap());
        }
    }
    alerts
}

fn start(
    endpoint: &str,
    state: &std::path::Path,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<alert::RunStats>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let options = RunOptions {
        connect: options(endpoint),
        state_file: Some(state.to_owned()),
        start: StartPosition::TrimHorizon,
        ..RunOptions::default()
    };
    let task = tokio::spawn(async move {
        alert::run(options, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap()
    });
    (stop, task)
}

#[tokio::test]
async fn once_per_crossing_and_a_restart_keeps_the_state() {
    let engine = engine::spawn_in_memory().await.unwrap();
    let conn = connect(&options(&engine.url())).await.unwrap();
    conn.ensure_stream("wildrydes", 1).await.unwrap();
    conn.ensure_stream(alert::ALERT_STREAM, 1).await.unwrap();
    let mut alerts_reader = Reader::start(
        conn.clone(),
        ReaderOptions::new(alert::ALERT_STREAM, StartPosition::TrimHorizon),
    );
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("alert.state");

    let (stop, task) = start(&engine.url(), &state);
    put(&conn, 0, "Rocinante", 100).await;
    let mut last = String::new();
    for (s, magic) in [(0, 52), (1, 50), (2, 49), (3, 48), (4, 47)] {
        last = put(&conn, s, "Shadowfax", magic).await;
    }
    let alerts = read_alerts(&mut alerts_reader, 1).await;
    assert_eq!(alerts[0].name, "Shadowfax");
    assert_eq!(alerts[0].magic_points, 49);
    assert_eq!(alerts[0].threshold, 50);
    let saved = wait_saved(&state, &last).await;
    assert_eq!(
        saved.detector.below.iter().collect::<Vec<_>>(),
        ["Shadowfax"]
    );
    stop.send(()).unwrap();
    let first = task.await.unwrap();
    assert_eq!((first.records, first.alerts), (6, 1));

    // Restarted: Shadowfax is still below (no second alert), then re-arms
    // and crosses again; Rocinante crosses for the first time.
    let (stop, task) = start(&engine.url(), &state);
    put(&conn, 5, "Shadowfax", 46).await;
    put(&conn, 6, "Shadowfax", 50).await;
    put(&conn, 7, "Shadowfax", 45).await;
    let last = put(&conn, 1, "Rocinante", 10).await;
    let mut alerts = read_alerts(&mut alerts_reader, 2).await;
    alerts.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<_> = alerts
        .iter()
        .map(|a| (a.name.as_str(), a.magic_points))
        .collect();
    assert_eq!(got, [("Rocinante", 10), ("Shadowfax", 45)]);
    wait_saved(&state, &last).await;
    stop.send(()).unwrap();
    let second = task.await.unwrap();
    // Nothing was read twice: the restart went on from the saved positions.
    assert_eq!((second.records, second.alerts), (4, 2));
}
