//! `wildrydes-bench aggregate`: records/s aggregated end to end through our
//! engine: raw statuses pre-loaded into the source stream, `aggregate::run`
//! from TrimHorizon, timed until every summary is in the destination stream.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aggregate::{AggregatorConfig, RunOptions, TimeMode};
use anyhow::{bail, Context, Result};
use aws_sdk_kinesis::types::ShardIteratorType;
use clap::Args;
use kinesis::{ConnectOptions, StartPosition};
use sensor::{Ride, StatusTime};

use crate::engine::{self, sdk};
use crate::procs;
use crate::stats::{self, print_table};

#[derive(Debug, Clone, Args)]
pub struct AggregateArgs {
    /// Raw status records pre-loaded into the source stream.
    #[arg(long, default_value_t = 500_000)]
    pub records: u64,
    /// Unicorns the records are spread over (one record per unicorn per second
    /// of event time).
    #[arg(long, default_value_t = 1_000)]
    pub unicorns: u64,
    /// Window length, seconds (event time: the records' StatusTime).
    #[arg(long, default_value_t = 10)]
    pub window: u64,
    /// Shards of the source stream. The shared reader never makes more than
    /// 5 GetRecords calls per second per shard (the service's rule) and a call
    /// returns at most 10,000 records, so one shard is read at 50,000
    /// records/s at most: 4 shards would cap the figure at the 200k/s goal.
    #[arg(long, default_value_t = 8)]
    pub shards: i32,
    /// Goal, records/s.
    #[arg(long, default_value_t = 200_000.0)]
    pub goal: f64,
}

#[derive(Debug, Clone, Default)]
pub struct AggregateReport {
    pub records: u64,
    pub summaries: u64,
    pub secs: f64,
    pub rate: Option<f64>,
    /// GetRecords of the same records without aggregating, records/s.
    pub raw_get_rate: f64,
    pub goal: f64,
}

pub async fn run(args: &AggregateArgs) -> Result<AggregateReport> {
    let unicorns = args.unicorns.max(1);
    let window_ms = (args.window.max(1) * 1000) as i64;
    println!(
        "== aggregate: {} statuses of {unicorns} unicorns pre-loaded into {} shards, aggregate::run from TrimHorizon, {} s event-time windows, until every summary is written",
        args.records, args.shards, args.window
    );
    let mut server = procs::start_ours(false)?;
    engine::wait_ready(&mut server, Duration::from_secs(30)).await?;
    let c = engine::client(&server.url);
    engine::create_stream(&c, "wildrydes", args.shards).await?;
    engine::create_stream(&c, "wildrydes-summary", 1).await?;

    // Statuses in event-time order, three hours old: with an hour of allowed
    // lateness no record is late however the shards interleave, and every
    // window closes once the aggregator has caught up.
    let t0 = StatusTime::now().as_millis() - 3 * 3600 * 1000;
    let mut rides: Vec<Ride> = (0..unicorns)
        .map(|u| Ride::new(format!("Unicorn{u:05}"), 7 + u))
        .collect();
    let mut windows = HashSet::new();
    let mut data = Vec::with_capacity(args.records as usize);
    for n in 0..args.records {
        let (step, u) = (n / unicorns, n % unicorns);
        let at = t0 + step as i64 * 1000;
        let status = rides[u as usize].step(StatusTime::from_millis(at));
        windows.insert((u, at.div_euclid(window_ms)));
        data.push((status.name.clone(), status.to_json_line()));
    }
    let expected = windows.len() as u64;
    let data = Arc::new(data);
    let (stored, load_secs) = engine::put_records_phase(
        &c,
        "wildrydes",
        args.records,
        4,
        Duration::from_secs(300),
        move |n| data[n as usize].clone(),
    )
    .await?;
    if stored != args.records {
        bail!("pre-loaded {stored} of {} records", args.records);
    }
    println!("pre-loaded {stored} records in {load_secs:.1} s; {expected} summaries expected");

    // The ceiling: plain GetRecords of the same records, no aggregation.
    let (raw, raw_secs) = engine::read_all(&c, "wildrydes", Duration::from_secs(60)).await?;
    let raw_rate = raw as f64 / raw_secs;
    println!(
        "GetRecords alone (4 SDK readers, no aggregation): {raw} records in {raw_secs:.2} s = {}",
        stats::rate(Some(raw_rate))
    );

    let state = server.dir.path().join("aggregate-state.json");
    let options = RunOptions {
        connect: ConnectOptions {
            endpoint: Some(server.url.clone()),
            region: Some("us-east-1".into()),
            ..ConnectOptions::default()
        },
        source: "wildrydes".into(),
        destination: "wildrydes-summary".into(),
        aggregation: AggregatorConfig {
            window: Duration::from_millis(window_ms as u64),
            time: TimeMode::Event {
                allowed_lateness: Duration::from_secs(3600),
            },
        },
        state_file: Some(state),
        start: StartPosition::TrimHorizon,
        tick: Duration::from_millis(50),
        ..RunOptions::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let runner = tokio::spawn(aggregate::run(options, async {
        let _ = stopped.await;
    }));

    // Count the summaries as they land (GetRecords every 20 ms when idle).
    let mut it =
        engine::first_shard_iterator(&c, "wildrydes-summary", ShardIteratorType::TrimHorizon)
            .await?;
    let mut summaries = 0u64;
    let mut first_summary = None;
    let deadline = Duration::from_secs(120);
    while summaries < expected {
        if runner.is_finished() {
            let r = runner.await?;
            bail!("the aggregator stopped early: {:?}", r.map(|_| ()));
        }
        if started.elapsed() > deadline {
            bail!("only {summaries} of {expected} summaries after {deadline:?}");
        }
        let Some(i) = it.take() else {
            bail!("the summary shard ended");
        };
        let page = c
            .get_records()
            .shard_iterator(i)
            .limit(10_000)
            .send()
            .await
            .map_err(sdk)
            .context("GetRecords on wildrydes-summary")?;
        summaries += page.records.len() as u64;
        if summaries > 0 && first_summary.is_none() {
            first_summary = Some(started.elapsed().as_secs_f64());
        }
        it = page.next_shard_iterator;
        if page.records.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let run_stats = runner
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("aggregate::run")?;
    if run_stats.records_read != args.records {
        bail!(
            "the aggregator read {} records, not {}",
            run_stats.records_read,
            args.records
        );
    }
    drop(server);
    let rate = args.records as f64 / secs;
    let report = AggregateReport {
        records: args.records,
        summaries,
        secs,
        rate: Some(rate),
        raw_get_rate: raw_rate,
        goal: args.goal,
    };
    let header: Vec<String> = ["", "figure", "goal", ""].map(String::from).to_vec();
    let rows = vec![
        vec![
            "records aggregated end to end".into(),
            stats::rate(report.rate),
            format!(">= {}/s", stats::thousands(args.goal)),
            if rate >= args.goal { "holds" } else { "FAILS" }.into(),
        ],
        vec![
            "GetRecords alone, same records".into(),
            stats::rate(Some(raw_rate)),
            String::new(),
            "ceiling set by the engine and the SDK on this machine".into(),
        ],
        vec![
            "records read / summaries written".into(),
            format!(
                "{} / {}",
                stats::thousands(run_stats.records_read as f64),
                stats::thousands(summaries as f64)
            ),
            String::new(),
            format!(
                "in {secs:.2} s (first summary after {:.2} s), late {}",
                first_summary.unwrap_or(secs),
                run_stats.counters.late
            ),
        ],
    ];
    println!();
    print_table(&header, &rows);
    Ok(report)
}
