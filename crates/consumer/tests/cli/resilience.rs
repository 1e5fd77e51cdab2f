//! Nothing lost or repeated when the consumer is killed, when shards split
//! and merge under it, or when its iterators expire.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_and_restart_with_checkpoint_skips_nothing() {
    kill_9_and_restart(&[]).await;
}

/// With enhanced fan-out the restart also meets Kinesis's 5-second rule
/// (the killed process's subscriptions are younger than that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn efo_kill_9_and_restart_with_checkpoint_skips_nothing() {
    let (_engine, conn) = kill_9_and_restart(&["-efo", "hq"]).await;
    // Both runs used the one consumer they registered.
    let arn = conn.check_stream("s").await.unwrap();
    let consumers = conn
        .client
        .list_stream_consumers()
        .stream_arn(arn)
        .send()
        .await
        .unwrap()
        .consumers
        .unwrap();
    let names: Vec<&str> = consumers.iter().map(|c| c.consumer_name()).collect();
    assert_eq!(names, ["hq"]);
}

async fn kill_9_and_restart(extra: &[&str]) -> (engine::EngineHandle, Connection) {
    let (engine, conn) = engine_with(engine::Config::default()).await;
    conn.ensure_stream("s", 2).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let checkpoint = dir.path().join("pos.json");
    let ckpt = checkpoint.to_str().unwrap();
    let url = engine.url();
    let keys = ["a", "b", "c", "d"];
    for n in 0..10 {
        for key in keys {
            put_json(&conn, key, n).await;
        }
    }
    let mut args = vec!["-from", "oldest", "-format", "compact", "-checkpoint", ckpt];
    args.extend(extra);
    let mut first = Running::start(&url, &args);
    let mut seen = first.take(40).await;
    for n in 10..20 {
        for key in keys {
            put_json(&conn, key, n).await;
        }
    }
    seen.extend(first.take(40).await);
    // The checkpoint is written after each printed batch; wait for one.
    wait_for("no checkpoint written", || {
        kinesis::checkpoint::load(&checkpoint)
            .ok()
            .flatten()
            .is_some()
    })
    .await;
    first.child.start_kill().unwrap(); // SIGKILL
    first.child.wait().await.unwrap();
    for n in 20..30 {
        for key in keys {
            put_json(&conn, key, n).await;
        }
    }
    let mut args2 = args.clone();
    args2.push("-until-caught-up");
    let (ok, stdout, stderr) = run(&url, &args2).await;
    assert!(ok, "{stderr}");
    let second: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(second.len() < 120, "restart read everything again");
    let second_keys = by_key(&second);
    for key in keys {
        // The restart continues a key where some earlier record left off…
        let ns = &second_keys[key];
        assert!(ns.windows(2).all(|w| w[1] == w[0] + 1), "{key}: {ns:?}");
        assert_eq!(*ns.last().unwrap(), 29);
    }
    seen.extend(second);
    // …and nothing is missing.
    for (key, mut ns) in by_key(&seen) {
        ns.sort();
        ns.dedup();
        assert_eq!(ns, (0..30).collect::<Vec<u64>>(), "{key}");
    }
    (engine, conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_and_merge_while_reading_lose_nothing_and_keep_per_key_order() {
    split_and_merge(engine::Config::default(), &[]).await;
}

/// Enhanced fan-out through a split, a merge and subscriptions that end
/// (every 2 s here, 5 minutes on AWS) and are renewed from their
/// continuation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn efo_split_merge_and_renewed_subscriptions_lose_nothing_and_keep_per_key_order() {
    let config = engine::Config {
        subscription_ttl: Duration::from_secs(2),
        subscribe_cooldown: Duration::from_millis(500),
        ..engine::Config::default()
    };
    split_and_merge(config, &["-efo", "hq"]).await;
}

async fn split_and_merge(config: engine::Config, extra: &[&str]) {
    let (engine, conn) = engine_with(config).await;
    conn.ensure_stream("s", 1).await.unwrap();
    let keys: Vec<String> = (0..8).map(|i| format!("k{i}")).collect();
    let mut args = vec!["-from", "oldest", "-format", "compact"];
    args.extend(extra);
    let mut running = Running::start(&engine.url(), &args);
    let per_key = 24;
    for n in 0..per_key {
        for key in &keys {
            put_json(&conn, key, n).await;
        }
        if n == 8 {
            conn.client
                .split_shard()
                .stream_name("s")
                .shard_to_split("shardId-000000000000")
                .new_starting_hash_key("170141183460469231731687303715884105728")
                .send()
                .await
                .unwrap();
            conn.ensure_stream("s", 1).await.unwrap();
        }
        if n == 12 {
            // Outlive a fan-out subscription (2 s in the fan-out case).
            tokio::time::sleep(Duration::from_millis(2500)).await;
        }
        if n == 16 {
            conn.client
                .merge_shards()
                .stream_name("s")
                .shard_to_merge("shardId-000000000001")
                .adjacent_shard_to_merge("shardId-000000000002")
                .send()
                .await
                .unwrap();
            conn.ensure_stream("s", 1).await.unwrap();
        }
    }
    let got = running.take(keys.len() * per_key as usize).await;
    for (key, ns) in by_key(&got) {
        assert_eq!(ns, (0..per_key).collect::<Vec<_>>(), "{key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_iterators_lose_nothing() {
    let clock = Arc::new(engine::ManualClock::new());
    let (engine, conn) = engine_with(engine::Config {
        clock: clock.clone(),
        ..engine::Config::default()
    })
    .await;
    conn.ensure_stream("s", 2).await.unwrap();
    for n in 0..5 {
        put_json(&conn, "a", n).await;
    }
    let mut running = Running::start(&engine.url(), &["-from", "oldest", "-format", "compact"]);
    let mut got = running.take(5).await;
    clock.advance(Duration::from_secs(6 * 60));
    for n in 5..10 {
        put_json(&conn, "a", n).await;
    }
    got.extend(running.take(5).await);
    assert_eq!(by_key(&got)["a"], (0..10).collect::<Vec<u64>>());
}
