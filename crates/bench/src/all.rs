//! `wildrydes-bench all`: every benchmark with default knobs, then one
//! summary table with the date, the machine and the command.

use anyhow::{bail, Result};
use clap::{Args, Parser};

use crate::{aggregate, consumer, engine, procs, producer, stats};

#[derive(Debug, Args)]
pub struct AllArgs {
    /// Compare the engine with kinesalite and kinesis-mock (npm install, cached).
    #[arg(long)]
    peers: bool,
    /// Where the peers are installed [default: $XDG_CACHE_HOME/wildrydes/peers
    /// or ~/.cache/wildrydes/peers].
    #[arg(long, value_name = "DIR")]
    peers_dir: Option<std::path::PathBuf>,
}

/// The knobs' defaults, as if the subcommand had been given no flag.
fn defaults<T: Args>() -> T {
    #[derive(Parser)]
    struct Wrap<T: Args> {
        #[command(flatten)]
        inner: T,
    }
    Wrap::<T>::parse_from(["wildrydes-bench"]).inner
}

pub async fn all(args: AllArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let load_before = procs::load_average();
    // Shorter phases than the subcommands' defaults keep `all --peers`
    // under 5 minutes on a 2-core machine.
    let mut engine_args: engine::EngineArgs = defaults();
    engine_args.peers = args.peers;
    engine_args.peers_dir = args.peers_dir;
    engine_args.workload.budget = 8.0;
    let mut producer_args: producer::ProducerArgs = defaults();
    producer_args.measure = 8.0;
    let mut failures = Vec::new();
    let engine = engine::run(&engine_args).await;
    println!();
    let producer = producer::run(&producer_args).await;
    println!();
    let consumer = consumer::run(&defaults()).await;
    println!();
    let aggregate = aggregate::run(&defaults()).await;
    println!();

    println!("== summary");
    println!("date:    {date}");
    println!("machine: {}", procs::machine());
    println!("command: {command}");
    println!(
        "load:    {} before, {} after (1-minute load average; above the core count means other work competed)",
        load_before,
        procs::load_average()
    );
    println!("took:    {:.0} s", started.elapsed().as_secs_f64());
    println!();
    let header: Vec<String> = ["component", "figure", "measured", "goal", "verdict"]
        .map(String::from)
        .to_vec();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut row = |a: &str, b: String, c: String, d: &str, e: String| {
        rows.push(vec![a.to_owned(), b, c, d.to_owned(), e]);
    };
    let verdict = |ok: bool| if ok { "holds" } else { "FAILS" }.to_owned();
    match &engine {
        Ok(report) => {
            let ours = &report.results[0];
            let peers: Vec<_> = report.results[1..]
                .iter()
                .filter(|r| r.error.is_none())
                .collect();
            let vs = |get: fn(&engine::EngineResult) -> Option<f64>| {
                peers
                    .iter()
                    .map(|p| format!("{} {}", stats::ratio(get(ours), get(p)), p.label))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let cmp = |get: fn(&engine::EngineResult) -> Option<f64>,
                       f: fn(Option<f64>) -> String| {
                let v = vs(get);
                if v.is_empty() {
                    f(get(ours))
                } else {
                    format!("{} (ours/peer: {v})", f(get(ours)))
                }
            };
            row(
                "engine",
                "PutRecords records/s".into(),
                cmp(|r| r.put_rate, stats::rate),
                "",
                String::new(),
            );
            row(
                "engine",
                "PutRecord latency p50".into(),
                cmp(|r| r.put_p50, stats::ms),
                "",
                String::new(),
            );
            row(
                "engine",
                "PutRecord latency p99".into(),
                cmp(|r| r.put_p99, stats::ms),
                "",
                String::new(),
            );
            row(
                "engine",
                "GetRecords records/s".into(),
                cmp(|r| r.get_rate, stats::rate),
                "",
                String::new(),
            );
            row(
                "engine",
                "put-to-get latency p50".into(),
                cmp(|r| r.e2e_p50, stats::ms),
                "",
                String::new(),
            );
            row(
                "engine",
                "put-to-get latency p99".into(),
                cmp(|r| r.e2e_p99, stats::ms),
                "",
                String::new(),
            );
            row(
                "engine",
                "server RSS at the end".into(),
                cmp(|r| r.rss_mb, stats::mb),
                "",
                String::new(),
            );
            for p in report.results[1..].iter().filter(|r| r.error.is_some()) {
                row(
                    "engine",
                    format!("{} failed", p.label),
                    p.error.clone().unwrap_or_default(),
                    "",
                    String::new(),
                );
            }
            if !engine_args.peers {
                row(
                    "engine",
                    "peers".into(),
                    "not run (add --peers)".into(),
                    "",
                    String::new(),
                );
            }
        }
        Err(e) => {
            row(
                "engine",
                "error".into(),
                format!("{e:#}"),
                "",
                "FAILS".into(),
            );
            failures.push("engine");
        }
    }
    match &producer {
        Ok(report) => {
            for f in &report.fleets {
                row(
                    "producer",
                    format!("-unicorns {}", f.unicorns),
                    format!(
                        "{} of {}/s, {} cores, peak RSS {}, startup {}",
                        stats::rate(f.rate),
                        stats::thousands(f.unicorns as f64),
                        stats::opt(f.cpu_cores, |c| format!("{c:.3}")),
                        stats::mb(f.peak_rss_mb),
                        stats::opt(f.startup_secs, |s| format!("{s:.1} s"))
                    ),
                    "",
                    String::new(),
                );
            }
            row(
                "producer",
                format!("{} unicorns at 1 Hz", report.args.goal_unicorns),
                stats::opt(report.goal.as_ref().and_then(|g| g.cpu_cores), |c| {
                    format!("{c:.3} cores")
                }),
                &format!("< {} core", report.args.goal_cpu),
                report.goal_holds().map_or("-".into(), verdict),
            );
        }
        Err(e) => {
            row(
                "producer",
                "error".into(),
                format!("{e:#}"),
                "",
                "FAILS".into(),
            );
            failures.push("producer");
        }
    }
    match &consumer {
        Ok(r) => {
            row(
                "consumer",
                format!(
                    "put-to-print p50 / p99, -efo ({} records)",
                    r.fan_out.samples
                ),
                format!(
                    "{} / {}",
                    stats::ms(r.fan_out.p50),
                    stats::ms(r.fan_out.p99)
                ),
                &format!("<= {} / {} ms", r.goal_p50, r.goal_p99),
                r.latency_holds().map_or("-".into(), verdict),
            );
            row(
                "consumer",
                format!(
                    "put-to-print p50 / p99, polling ({} records)",
                    r.polling.samples
                ),
                format!(
                    "{} / {}",
                    stats::ms(r.polling.p50),
                    stats::ms(r.polling.p99)
                ),
                "",
                "5 GetRecords/s/shard floor".into(),
            );
            row(
                "consumer",
                "pretty printing vs jq .".into(),
                format!(
                    "{} vs {} = {}",
                    stats::rate(r.printer_rate),
                    stats::rate(r.jq_rate),
                    stats::opt(r.jq_ratio(), |x| format!("{x:.1}x"))
                ),
                &format!(">= {}x", r.goal_jq),
                r.jq_ratio()
                    .map_or("- (no jq)".into(), |x| verdict(x >= r.goal_jq)),
            );
            row(
                "consumer",
                "binary, engine to /dev/null".into(),
                stats::rate(r.binary_rate),
                "",
                String::new(),
            );
        }
        Err(e) => {
            row(
                "consumer",
                "error".into(),
                format!("{e:#}"),
                "",
                "FAILS".into(),
            );
            failures.push("consumer");
        }
    }
    match &aggregate {
        Ok(r) => row(
            "aggregate",
            format!(
                "records/s end to end ({} records, {} summaries)",
                stats::thousands(r.records as f64),
                stats::thousands(r.summaries as f64)
            ),
            format!(
                "{} ({:.2} s; GetRecords alone {})",
                stats::rate(r.rate),
                r.secs,
                stats::rate(Some(r.raw_get_rate))
            ),
            &format!(">= {}/s", stats::thousands(r.goal)),
            r.rate.map_or("-".into(), |x| verdict(x >= r.goal)),
        ),
        Err(e) => {
            row(
                "aggregate",
                "error".into(),
                format!("{e:#}"),
                "",
                "FAILS".into(),
            );
            failures.push("aggregate");
        }
    }
    stats::print_table_left(&header, &rows);
    if !failures.is_empty() {
        bail!("benchmarks failed: {}", failures.join(", "));
    }
    Ok(())
}
