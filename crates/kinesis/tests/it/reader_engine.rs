//! The shard reader against the embedded engine: every shard, resharding,
//! expired iterators, resuming from positions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use kinesis::reader::{Positions, Reader, ReaderOptions, StartPosition};
use kinesis::{connect, ConnectOptions, Connection};

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

async fn put(conn: &Connection, stream: &str, key: &str, n: usize) {
    conn.client
        .put_record()
        .stream_name(stream)
        .partition_key(key)
        .data(aws_sdk_kinesis::primitives::Blob::new(format!("{key}:{n}")))
        .send()
        .await
        .unwrap();
}

async fn wait_active(conn: &Connection, stream: &str) {
    conn.ensure_stream(stream, 1).await.unwrap();
}

/// Reads until `want` records arrived; returns key -> values in read order.
async fn read_n(reader: &mut Reader, want: usize) -> BTreeMap<String, Vec<usize>> {
    let mut seen = BTreeMap::<String, Vec<usize>>::new();
    let mut total = 0;
    // Empty batches keep coming while records are missing: bound the whole read.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while total < want {
        let batch = tokio::time::timeout_at(deadline, reader.next())
            .await
            .unwrap_or_else(|_| panic!("reader stalled: {total} of {want} records"))
            .unwrap();
        for r in &batch.records {
            let text = std::str::from_utf8(&r.data).unwrap();
            let (key, n) = text.split_once(':').unwrap();
            assert_eq!(key, r.partition_key);
            assert!(r.arrival.is_some());
            seen.entry(key.to_owned())
                .or_default()
                .push(n.parse().unwrap());
            total += 1;
        }
    }
    seen
}

fn assert_in_order(seen: &BTreeMap<String, Vec<usize>>, per_key: usize) {
    for (key, values) in seen {
        let expected: Vec<usize> = (0..per_key).collect();
        assert_eq!(values, &expected, "key {key}");
    }
}

/// Puts `rounds` records per key, a round at a time: every key's `key:0`,
/// then every key's `key:1`, and so on.
async fn put_rounds(conn: &Connection, stream: &str, keys: &[&str], rounds: usize) {
    for n in 0..rounds {
        for key in keys {
            put(conn, stream, key, n).await;
        }
    }
}

/// Reads the records of [`put_rounds`]: every key, each in order.
async fn read_rounds(reader: &mut Reader, keys: usize, rounds: usize) {
    let seen = read_n(reader, keys * rounds).await;
    assert_eq!(seen.len(), keys);
    assert_in_order(&seen, rounds);
}

/// Splits the stream's first shard in the middle of its hash range.
async fn split_first_shard(conn: &Connection, stream: &str) {
    conn.client
        .split_shard()
        .stream_name(stream)
        .shard_to_split("shardId-000000000000")
        .new_starting_hash_key("170141183460469231731687303715884105728")
        .send()
        .await
        .unwrap();
    wait_active(conn, stream).await;
}

#[tokio::test]
async fn reads_every_shard_and_reports_caught_up() {
    let (_engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 4).await.unwrap();
    put_rounds(&conn, "s", &["a", "b", "c", "d", "e", "f", "g", "h"], 20).await;
    let mut reader = Reader::start(
        conn.clone(),
        ReaderOptions::new("s", StartPosition::TrimHorizon),
    );
    read_rounds(&mut reader, 8, 20).await;
    assert_eq!(reader.shards().len(), 4);
    loop {
        let batch = reader.next().await.unwrap();
        assert!(batch.records.is_empty());
        if batch.caught_up {
            break;
        }
    }
    let positions = reader.positions();
    assert_eq!(positions.shards.len() + positions.finished.len(), 4);
}

/// ListShards answers 1,000 shards per page: shards on the second page are
/// read too.
#[tokio::test]
async fn shards_past_the_first_list_page_are_read() {
    // A connection per shard at first, both ends in this process.
    rlimit::increase_nofile_limit(u64::MAX).unwrap();
    let (_engine, conn) = engine_with(engine::Config {
        shard_limit: 1100,
        ..engine::Config::default()
    })
    .await;
    conn.ensure_stream("s", 1002).await.unwrap();
    // The lowest hash key lands in the first shard, the highest in the last
    // (shardId-000000001001, on the second page).
    for (key, hash) in [("first", "0"), ("last", &u128::MAX.to_string())] {
        for n in 0..3 {
            conn.client
                .put_record()
                .stream_name("s")
                .partition_key(key)
                .explicit_hash_key(hash)
                .data(aws_sdk_kinesis::primitives::Blob::new(format!("{key}:{n}")))
                .send()
                .await
                .unwrap();
        }
    }
    let mut reader = Reader::start(
        conn.clone(),
        ReaderOptions::new("s", StartPosition::TrimHorizon),
    );
    let seen = read_n(&mut reader, 6).await;
    assert_eq!(seen.len(), 2);
    assert_in_order(&seen, 3);
    let shards = reader.shards();
    assert_eq!(shards.len(), 1002);
    assert!(shards.contains(&"shardId-000000001001".to_owned()));
}

#[tokio::test]
async fn split_and_merge_while_reading_lose_nothing_and_keep_order() {
    let (_engine, conn) = engine_with(engine::Config::default()).await;
    wait_active(&conn, "s").await;
    let keys: Vec<String> = (0..10).map(|i| format!("k{i}")).collect();
    let mut reader = Reader::start(
        conn.clone(),
        ReaderOptions::new("s", StartPosition::TrimHorizon),
    );
    let per_key = 30;
    for n in 0..per_key {
        for key in &keys {
            put(&conn, "s", key, n).await;
        }
        if n == 10 {
            split_first_shard(&conn, "s").await;
        }
        if n == 20 {
            conn.client
                .merge_shards()
                .stream_name("s")
                .shard_to_merge("shardId-000000000001")
                .adjacent_shard_to_merge("shardId-000000000002")
                .send()
                .await
                .unwrap();
            wait_active(&conn, "s").await;
        }
    }
    let seen = read_n(&mut reader, keys.len() * per_key).await;
    assert_in_order(&seen, per_key);
    let positions = reader.positions();
    assert!(positions.finished.contains("shardId-000000000000"));
    assert!(positions.finished.contains("shardId-000000000001"));
    assert!(positions.finished.contains("shardId-000000000002"));
}

#[tokio::test]
async fn resumes_after_saved_positions_without_rereading() {
    let (_engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 2).await.unwrap();
    for n in 0..10 {
        for key in ["a", "b", "c"] {
            put(&conn, "s", key, n).await;
        }
    }
    let mut reader = Reader::start(
        conn.clone(),
        ReaderOptions::new("s", StartPosition::TrimHorizon),
    );
    read_n(&mut reader, 30).await;
    let json = serde_json::to_string(&reader.positions()).unwrap();
    drop(reader);
    for n in 10..20 {
        for key in ["a", "b", "c"] {
            put(&conn, "s", key, n).await;
        }
    }
    let mut options = ReaderOptions::new("s", StartPosition::TrimHorizon);
    options.positions = serde_json::from_str::<Positions>(&json).unwrap();
    let mut reader = Reader::start(conn.clone(), options);
    let seen = read_n(&mut reader, 30).await;
    for values in seen.values() {
        assert_eq!(values, &(10..20).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn latest_reads_only_new_records_even_in_idle_shards_after_resume() {
    let (_engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 2).await.unwrap();
    put(&conn, "s", "old", 0).await;
    let mut reader = Reader::start(conn.clone(), ReaderOptions::new("s", StartPosition::Latest));
    // Wait until both shards have an iterator (a first batch each).
    let mut started = HashMap::new();
    while started.len() < 2 {
        let batch = reader.next().await.unwrap();
        started.insert(batch.shard_id.clone(), ());
    }
    put(&conn, "s", "new", 0).await;
    let seen = read_n(&mut reader, 1).await;
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["new"]);
    // A restart with these positions must not fall back to the trim horizon
    // in the shard that delivered nothing.
    let positions = reader.positions();
    assert!(positions.since.is_some());
    drop(reader);
    let mut options = ReaderOptions::new("s", StartPosition::TrimHorizon);
    options.positions = positions;
    let mut reader = Reader::start(conn.clone(), options);
    put(&conn, "s", "newer", 0).await;
    let seen = read_n(&mut reader, 1).await;
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["newer"]);
}

#[tokio::test]
async fn expired_iterators_resume_after_the_last_record() {
    let clock = Arc::new(engine::ManualClock::new());
    let config = engine::Config {
        clock: clock.clone(),
        ..engine::Config::default()
    };
    let (_engine, conn) = engine_with(config).await;
    wait_active(&conn, "s").await;
    for n in 0..5 {
        put(&conn, "s", "a", n).await;
    }
    let mut reader = Reader::start(
        conn.clone(),
        ReaderOptions::new("s", StartPosition::TrimHorizon),
    );
    read_n(&mut reader, 5).await;
    // Every iterator the reader holds is now older than five minutes.
    clock.advance(Duration::from_secs(301));
    for n in 5..10 {
        put(&conn, "s", "a", n).await;
    }
    let seen = read_n(&mut reader, 5).await;
    assert_eq!(seen["a"], (5..10).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_deleted_stream_ends_the_reader_with_a_clear_error() {
    let (_engine, conn) = engine_with(engine::Config::default()).await;
    wait_active(&conn, "s").await;
    let mut reader = Reader::start(
        conn.clone(),
        ReaderOptions::new("s", StartPosition::TrimHorizon),
    );
    reader.next().await.unwrap();
    conn.client
        .delete_stream()
        .stream_name("s")
        .send()
        .await
        .unwrap();
    let err = loop {
        match tokio::time::timeout(Duration::from_secs(20), reader.next())
            .await
            .expect("reader did not stop")
        {
            Ok(_) => continue,
            Err(err) => break err,
        }
    };
    assert!(err.to_string().contains("not found"), "{err}");
}

/// Half of all calls (ListShards, GetShardIterator, GetRecords) fail with
/// InternalFailure: the reader retries them and still reads every record once,
/// in order.
#[tokio::test]
async fn transient_errors_are_retried_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let durable = || engine::Config {
        data_dir: Some(dir.path().to_owned()),
        ..engine::Config::default()
    };
    let (engine, conn) = engine_with(durable()).await;
    conn.ensure_stream("s", 2).await.unwrap();
    put_rounds(&conn, "s", &["a", "b", "c", "d"], 10).await;
    engine.shutdown().await.unwrap();
    let (_engine, conn) = engine_with(engine::Config {
        fail_call_ratio: 0.5,
        ..durable()
    })
    .await;
    let mut reader = Reader::start(conn, ReaderOptions::new("s", StartPosition::TrimHorizon));
    read_rounds(&mut reader, 4, 10).await;
}

/// Started at LATEST on a stream resharded earlier: the children wait for
/// their closed parent, and records they receive meanwhile are read.
#[tokio::test]
async fn latest_children_of_a_closed_parent_miss_nothing() {
    let (_engine, conn) = engine_with(engine::Config::default()).await;
    wait_active(&conn, "s").await;
    split_first_shard(&conn, "s").await;
    let mut reader = Reader::start(conn.clone(), ReaderOptions::new("s", StartPosition::Latest));
    // Shards start inside `next`: these records reach the children before
    // the parent is read to its end.
    put_rounds(&conn, "s", &["a", "b", "c", "d"], 5).await;
    read_rounds(&mut reader, 4, 5).await;
}

/// Positions saying an open shard was read to its end belong to another
/// stream (or a deleted one of the same name): refused, not silently skipped.
#[tokio::test]
async fn positions_of_another_stream_are_refused() {
    let (_engine, conn) = engine_with(engine::Config::default()).await;
    wait_active(&conn, "s").await;
    let mut options = ReaderOptions::new("s", StartPosition::TrimHorizon);
    options.positions.finish("shardId-000000000000");
    // Refused when a second listing agrees with the first.
    options.discovery_interval = Duration::from_secs(1);
    let mut reader = Reader::start(conn, options);
    let err = tokio::time::timeout(Duration::from_secs(20), reader.next())
        .await
        .expect("reader stalled")
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "shard shardId-000000000000 of stream \"s\" was read to its end, but it is open"
        ),
        "{err}"
    );
}

/// A first run's positions resume from where it started even when it read
/// nothing; a sequence-number start is applied again instead.
#[tokio::test]
async fn a_first_run_that_read_nothing_resumes_from_its_start() {
    let (_engine, conn) = engine_with(engine::Config::default()).await;
    wait_active(&conn, "s").await;
    let first = Reader::start(
        conn.clone(),
        ReaderOptions::new("s", StartPosition::TrimHorizon),
    );
    let saved = first.positions();
    drop(first);
    let after = Reader::start(
        conn.clone(),
        ReaderOptions::new("s", StartPosition::AfterSequence("1".into())),
    );
    assert!(after.positions().is_empty());
    drop(after);
    put_rounds(&conn, "s", &["a"], 3).await;
    // Resumed with "latest" as the configured start: the saved trim horizon wins.
    let mut options = ReaderOptions::new("s", StartPosition::Latest);
    options.positions = saved;
    let mut reader = Reader::start(conn, options);
    let seen = read_n(&mut reader, 3).await;
    assert_in_order(&seen, 3);
}

/// A start time ahead of the service's clock (this machine's clock runs
/// fast) is refused by Kinesis: the reader starts at latest instead of
/// failing.
#[tokio::test]
async fn a_start_time_ahead_of_the_service_reads_from_latest() {
    let (_engine, conn) = engine_with(engine::Config::default()).await;
    wait_active(&conn, "s").await;
    put(&conn, "s", "old", 0).await;
    let ahead = chrono::Utc::now() + chrono::Duration::hours(1);
    let mut reader = Reader::start(
        conn.clone(),
        ReaderOptions::new("s", StartPosition::AtTimestamp(ahead)),
    );
    // The shard starts inside `next`: wait for its first (empty) answer.
    let batch = tokio::time::timeout(Duration::from_secs(20), reader.next())
        .await
        .expect("reader stalled")
        .unwrap();
    assert!(batch.records.is_empty());
    put_rounds(&conn, "s", &["a"], 3).await;
    let seen = read_n(&mut reader, 3).await;
    assert_eq!(seen.keys().collect::<Vec<_>>(), ["a"]);
    assert_in_order(&seen, 3);
}

/// What the reader logs, as the binaries print it (debug and up).
#[derive(Clone, Default)]
struct Log(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A fan-out subscription that ends (every 5 minutes on AWS, every second
/// here) is renewed with a debug line, never a warning, and so is a reader
/// dropped while its subscription is open (a program exiting). Runs on one
/// thread, so the log captured here is every task's.
#[tokio::test]
async fn renewed_fan_out_subscriptions_log_at_debug_and_never_warn() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("warn,kinesis=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let (engine, conn) = engine_with(engine::Config {
        subscription_ttl: Duration::from_secs(1),
        subscribe_cooldown: Duration::from_millis(200),
        ..engine::Config::default()
    })
    .await;
    wait_active(&conn, "s").await;
    let mut options = ReaderOptions::new("s", StartPosition::TrimHorizon);
    options.fan_out = Some("hq".into());
    let mut reader = Reader::start(conn.clone(), options);
    let renewals = || log.text().matches("subscription ended").count();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut rounds = 0;
    while renewals() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no 3 renewals in 30 s:\n{}",
            log.text()
        );
        // Pacing only: a record every 50 ms across the renewals.
        tokio::time::sleep(Duration::from_millis(50)).await;
        put(&conn, "s", "a", rounds).await;
        let seen = read_n(&mut reader, 1).await;
        assert_eq!(seen["a"], [rounds], "one record per round, in order");
        rounds += 1;
    }
    drop(reader);
    drop(engine);
    // Let whatever still runs see its connection close.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    let text = log.text();
    let warnings: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert!(
        text.contains("DEBUG kinesis::reader::fanout: subscription ended"),
        "{text}"
    );
}
