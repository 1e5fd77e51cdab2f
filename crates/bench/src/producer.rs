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
    /// Seconds ignored at the start of each run (connect, first ticks).
    #[arg(long, default_value_t = 3.0)]
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
        "== producer: {} -unicorns N -duration {}s against wildrydes serve; {} s warm-up, {} s measured per N",
        bin.display(),
        (args.warmup + args.measure + 2.0).ceil(),
        args.warmup,
        args.measure
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
    let limit = Duration::from_secs(duration + 10);
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

    let t0 = started + Duration::from_secs_f64(args.warmup);
    let t1 = t0 + Duration::from_secs_f64(args.measure);
    let reads = reads.lock().expect("lock").clone();
    let window = tick_window(&reads, t0, t1);
    let (rate, cpu, engine_cpu) = match window {
        Some((ta, tb, dots)) => {
            let secs = (tb - ta).as_secs_f64();
            let cpu = cpu_between(samples.iter().map(|s| s.0), ta, tb);
            let engine_cpu = cpu_between(samples.iter().filter_map(|s| s.1), ta, tb);
            (Some(dots as f64 / secs), cpu, engine_cpu)
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
        note,
    })
}

/// Groups the timed chunks of dots into ticks (chunks less than 20 ms apart
/// belong to one tick) and returns the start of the first tick in [t0, t1],
/// the start of the last one, and the records stored by the ticks in between
/// (first included, last excluded): exactly the fleet size per period when
/// the producer keeps up.
fn tick_window(
    reads: &[(Instant, u64)],
    t0: Instant,
    t1: Instant,
) -> Option<(Instant, Instant, u64)> {
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
    let inside: Vec<&(Instant, u64)> = ticks.iter().filter(|t| t.0 >= t0 && t.0 <= t1).collect();
    if inside.len() < 2 {
        return None;
    }
    let first = inside[0].0;
    let last = inside[inside.len() - 1].0;
    let dots = inside[..inside.len() - 1].iter().map(|t| t.1).sum();
    Some((first, last, dots))
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
