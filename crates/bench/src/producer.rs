//! `wildrydes-bench producer`: fleet capacity of the real `producer` binary
//! against our engine (`wildrydes serve` in its own process).

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use clap::Args;

use crate::engine;
use crate::procs::{self, Proc, Sample};
use crate::stats::{self, print_table};

#[derive(Debug, Clone, Args)]
pub struct ProducerArgs {
    /// Fleet sizes to run, one after the other (-unicorns N, one record per
    /// unicorn per second).
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = [1_000, 5_000, 10_000, 20_000, 50_000]
    )]
    pub unicorns: Vec<u64>,
    /// Seconds ignored after the first tick's records are stored (process
    /// start, fleet creation and connect come before and are reported apart).
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Seconds measured per fleet size.
    #[arg(long, default_value_t = 10.0)]
    pub measure: f64,
    /// Shards of the stream the producer writes to.
    #[arg(long, default_value_t = 4)]
    pub shards: i32,
    /// The goal: this fleet at 1 Hz in under --goal-cpu of a core.
    #[arg(long, default_value_t = 10_000)]
    pub goal_unicorns: u64,
    /// CPU goal, in cores.
    #[arg(long, default_value_t = 0.5)]
    pub goal_cpu: f64,
}

/// One fleet size.
#[derive(Debug, Clone)]
pub struct FleetResult {
    pub unicorns: u64,
    pub rate: Option<f64>,
    pub cpu_cores: Option<f64>,
    pub peak_rss_mb: Option<f64>,
    pub engine_cpu_cores: Option<f64>,
    /// From spawn to the first tick's records stored (fleet creation, connect).
    pub startup_secs: Option<f64>,
    pub note: String,
}

impl FleetResult {
    /// Sustains its fleet (within 2 %) at 1 Hz.
    pub fn sustained(&self) -> bool {
        self.rate.is_some_and(|r| r >= 0.98 * self.unicorns as f64)
    }
}

pub struct ProducerReport {
    pub fleets: Vec<FleetResult>,
    pub goal: Option<FleetResult>,
    pub args: ProducerArgs,
}

impl ProducerReport {
    pub fn goal_holds(&self) -> Option<bool> {
        self.goal
            .as_ref()
            .map(|g| g.sustained() && g.cpu_cores.is_some_and(|c| c < self.args.goal_cpu))
    }
}

pub async fn run(args: &ProducerArgs) -> Result<ProducerReport> {
    let bin = procs::sibling_binary("producer")?;
    println!(
        "== producer: {} -unicorns N -duration {}s against wildrydes serve; measured {} s from {} s after the first tick",
        bin.display(),
        (args.warmup + args.measure + 2.0).ceil(),
        args.measure,
        args.warmup
    );
    let mut server = procs::start_ours(false)?;
    engine::wait_ready(&mut server, Duration::from_secs(30)).await?;
    let c = engine::client(&server.url);
    engine::create_stream(&c, "wildrydes", args.shards).await?;
    println!(
        "wildrydes serve at {} (durable, pid {}), stream wildrydes with {} shards",
        server.url,
        server.proc.pid(),
        args.shards
    );
    let mut fleets = Vec::new();
    for &n in &args.unicorns {
        let r = run_fleet(&bin, &server, n, args)
            .await
            .with_context(|| format!("producer -unicorns {n}"))?;
        println!(
            "  {n} unicorns: {} ({} of a core, peak RSS {})",
            stats::rate(r.rate),
            stats::opt(r.cpu_cores, |c| format!("{c:.2}")),
            stats::mb(r.peak_rss_mb)
        );
        fleets.push(r);
    }
    let header: Vec<String> = [
        "unicorns",
        "expected",
        "achieved",
        "achieved/expected",
        "producer CPU",
        "producer peak RSS",
        "engine CPU",
        "startup",
        "",
    ]
    .map(String::from)
    .to_vec();
    let rows: Vec<Vec<String>> = fleets
        .iter()
        .map(|f| {
            vec![
                stats::thousands(f.unicorns as f64),
                format!("{}/s", stats::thousands(f.unicorns as f64)),
                stats::rate(f.rate),
                stats::opt(f.rate, |r| {
                    format!("{:.1} %", 100.0 * r / f.unicorns as f64)
                }),
                stats::opt(f.cpu_cores, |c| format!("{c:.2} cores")),
                stats::mb(f.peak_rss_mb),
                stats::opt(f.engine_cpu_cores, |c| format!("{c:.2} cores")),
                stats::opt(f.startup_secs, |s| format!("{s:.2} s")),
                f.note.clone(),
            ]
        })
        .collect();
    println!();
    print_table(&header, &rows);
    let goal = fleets
        .iter()
        .find(|f| f.unicorns == args.goal_unicorns)
        .cloned();
    let report = ProducerReport {
        fleets,
        goal,
        args: args.clone(),
    };
    match (&report.goal, report.goal_holds()) {
        (Some(g), Some(holds)) => println!(
            "goal: {} unicorns at 1 Hz in under {} of a core: {} ({} achieved, {} cores)",
            args.goal_unicorns,
            args.goal_cpu,
            if holds { "HOLDS" } else { "FAILS" },
            stats::rate(g.rate),
            stats::opt(g.cpu_cores, |c| format!("{c:.2}"))
        ),
        _ => println!(
            "goal: {} unicorns not in --unicorns, not evaluated",
            args.goal_unicorns
        ),
    }
    drop(server);
    Ok(report)
}

async fn run_fleet(
    bin: &std::path::Path,
    server: &procs::Server,
    n: u64,
    args: &ProducerArgs,
) -> Result<FleetResult> {
    let duration = (args.warmup + args.measure + 2.0).ceil() as u64;
    let stderr_path = server.dir.path().join(format!("producer-{n}.log"));
    let stderr = std::fs::File::create(&stderr_path)?;
    let mut cmd = Command::new(bin);
    cmd.args(["-unicorns", &n.to_string(), "-endpoint", &server.url])
        .args(["-duration", &format!("{duration}s"), "-seed", "7"])
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    let mut proc = Proc::spawn("producer", &mut cmd)?;
    let started = Instant::now();
    // The producer prints one '.' per stored record after each tick's
    // PutRecords: each chunk of dots, timed, is one tick's progress.
    let reads: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    let stdout = proc
        .child()
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout"))?;
    let sink = reads.clone();
    let drainer = procs::drain(stdout, move |at, bytes| {
        let dots = bytes.iter().filter(|&&b| b == b'.').count() as u64;
        if dots > 0 {
            sink.lock().expect("lock").push((at, dots));
        }
    });
    let mut samples: Vec<(Sample, Option<Sample>)> = Vec::new();
    // Fleet creation comes before the producer's own -duration clock.
    let limit = Duration::from_secs(duration + 60);
    let status = loop {
        if let Some(s) = proc.sample() {
            samples.push((s, server.proc.sample()));
        }
        if let Some(status) = proc.exited() {
            break Some(status);
        }
        if started.elapsed() > limit {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(proc);
    let _ = drainer.join();
    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let last_line = log.lines().last().unwrap_or("").trim().to_owned();
    let mut note = String::new();
    match status {
        Some(s) if s.success() => {}
        Some(s) => note = format!("producer exited with {s}: {last_line}"),
        None => note = "producer did not stop; killed".into(),
    }

    let reads = reads.lock().expect("lock").clone();
    let first = reads.first().map(|r| r.0);
    let t0 = first.unwrap_or(started) + Duration::from_secs_f64(args.warmup);
    let t1 = t0 + Duration::from_secs_f64(args.measure);
    let (rate, cpu, engine_cpu) = match tick_rate(&reads, t0, t1) {
        Some((ta, tb, rate)) => {
            let cpu = cpu_between(samples.iter().map(|s| s.0), ta, tb);
            let engine_cpu = cpu_between(samples.iter().filter_map(|s| s.1), ta, tb);
            (Some(rate), cpu, engine_cpu)
        }
        None => {
            if note.is_empty() {
                note = "no ticks completed in the measured window".into();
            }
            (None, None, None)
        }
    };
    Ok(FleetResult {
        unicorns: n,
        rate,
        cpu_cores: cpu,
        peak_rss_mb: samples.last().map(|s| s.0.peak_rss_mb),
        engine_cpu_cores: engine_cpu,
        startup_secs: first.map(|f| (f - started).as_secs_f64()),
        note,
    })
}

/// Groups the timed chunks of dots into ticks (chunks less than 20 ms apart
/// belong to one tick) and estimates the rate over the ticks starting in
/// [t0, t1]: mean records per tick over the tick period, the period being the
/// least-squares slope of tick start against tick number (so the jitter of a
/// single tick's PutRecords does not skew it). Back-to-back ticks (a producer
/// that cannot keep up) merge into one burst: then records over time.
/// Returns the first and last instants used and the rate.
fn tick_rate(
    reads: &[(Instant, u64)],
    t0: Instant,
    t1: Instant,
) -> Option<(Instant, Instant, f64)> {
    let mut ticks: Vec<(Instant, u64)> = Vec::new();
    let mut last: Option<Instant> = None;
    for &(at, dots) in reads {
        match (last, ticks.last_mut()) {
            (Some(prev), Some(tick)) if at.duration_since(prev) < Duration::from_millis(20) => {
                tick.1 += dots;
            }
            _ => ticks.push((at, dots)),
        }
        last = Some(at);
    }
    let inside: Vec<(Instant, u64)> = ticks
        .into_iter()
        .filter(|t| t.0 >= t0 && t.0 <= t1)
        .collect();
    if inside.len() >= 3 {
        let n = inside.len() as f64;
        let ys: Vec<f64> = inside
            .iter()
            .map(|t| (t.0 - inside[0].0).as_secs_f64())
            .collect();
        let mean_x = (n - 1.0) / 2.0;
        let mean_y = ys.iter().sum::<f64>() / n;
        let (mut num, mut den) = (0.0, 0.0);
        for (i, y) in ys.iter().enumerate() {
            let dx = i as f64 - mean_x;
            num += dx * (y - mean_y);
            den += dx * dx;
        }
        let period = num / den;
        let per_tick = inside.iter().map(|t| t.1 as f64).sum::<f64>() / n;
        if period > 0.0 {
            return Some((inside[0].0, inside[inside.len() - 1].0, per_tick / period));
        }
    }
    let window: Vec<&(Instant, u64)> = reads.iter().filter(|r| r.0 >= t0 && r.0 <= t1).collect();
    if window.len() < 2 {
        return None;
    }
    let (first, last) = (window[0].0, window[window.len() - 1].0);
    let dots: u64 = window[..window.len() - 1].iter().map(|r| r.1).sum();
    Some((first, last, dots as f64 / (last - first).as_secs_f64()))
}

/// CPU used between the samples nearest to `a` and `b`, in cores.
fn cpu_between(samples: impl Iterator<Item = Sample>, a: Instant, b: Instant) -> Option<f64> {
    let samples: Vec<Sample> = samples.collect();
    let nearest = |t: Instant| {
        samples
            .iter()
            .min_by_key(|s| if s.at > t { s.at - t } else { t - s.at })
            .copied()
    };
    let (sa, sb) = (nearest(a)?, nearest(b)?);
    let secs = (sb.at - sa.at).as_secs_f64();
    (secs > 0.0).then(|| (sb.cpu_secs - sa.cpu_secs) / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_of_periodic_and_continuous_ticks() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // 1,000 records a second, each tick split over two reads, with jitter.
        let mut reads = Vec::new();
        for i in 0..12u64 {
            let jitter = [0, 40, 5, 60, 10, 0, 30, 15, 50, 0, 20, 5][i as usize];
            reads.push((at(i * 1000 + jitter), 600));
            reads.push((at(i * 1000 + jitter + 2), 400));
        }
        let (_, _, rate) = tick_rate(&reads, at(500), at(11_500)).unwrap();
        assert!((rate - 1000.0).abs() < 15.0, "{rate}");
        // Continuous flow: 100 records every 10 ms = 10,000/s.
        let reads: Vec<_> = (0..500u64).map(|i| (at(i * 10), 100)).collect();
        let (_, _, rate) = tick_rate(&reads, at(100), at(4_000)).unwrap();
        assert!((rate - 10_000.0).abs() < 1.0, "{rate}");
    }
}
