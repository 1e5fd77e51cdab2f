//! `wildrydes-bench dashboard`: the live map under a fleet of 1,000 unicorns
//! at 1 Hz. Our engine (`wildrydes serve`), the real `producer`, the
//! dashboard as its own process (`wildrydes dashboard --endpoint`, so its
//! CPU is its own) and headless Chromium showing the page with `?report=`
//! (see `dashboard::browser`). Figures:
//!
//! * put -> browser latency p50/p99, measured in the page: its clock when a
//!   position arrives minus the record's ApproximateArrivalTimestamp;
//! * frames per second and frame time p50/p99 of the page in Chromium
//!   (intervals between animation frames);
//! * the dashboard server's CPU with no browser and with the browsers
//!   connected; per browser = the difference divided by their number.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use dashboard::browser::{find_chromium, Browser, Reports};

use crate::engine::{self, client};
use crate::procs::{self, Proc};
use crate::stats::{self, percentile, print_table};

#[derive(Debug, Clone, Args)]
pub struct DashboardArgs {
    /// Unicorns in the fleet, each reporting once a second.
    #[arg(long, default_value_t = 1000)]
    pub unicorns: u32,
    /// Shards of the raw stream.
    #[arg(long, default_value_t = 2)]
    pub shards: i32,
    /// Browsers connected at once.
    #[arg(long, default_value_t = 1)]
    pub browsers: usize,
    /// Seconds measured with no browser (the server's own CPU), then with the browsers.
    #[arg(long, default_value_t = 30.0)]
    pub measure: f64,
    /// Seconds before measuring (the fleet spreads, the page loads).
    #[arg(long, default_value_t = 10.0)]
    pub warmup: f64,
    /// Read the raw stream with enhanced fan-out (as `wildrydes up` does)
    /// instead of polling GetRecords (`wildrydes dashboard`'s default).
    #[arg(long)]
    pub fan_out: bool,
    /// Goal: put -> browser p99 at most this, ms.
    #[arg(long, default_value_t = 1000.0)]
    pub goal_p99: f64,
    /// Goal: at least this many frames per second.
    #[arg(long, default_value_t = 30.0)]
    pub goal_fps: f64,
    /// Goal: server CPU per browser at most this, % of a core.
    #[arg(long, default_value_t = 5.0)]
    pub goal_cpu: f64,
}

/// The CPU `proc` used while `during` ran, in % of one core.
async fn cpu_percent(proc: &Proc, during: impl std::future::Future<Output = ()>) -> Option<f64> {
    let before = proc.sample()?;
    during.await;
    let after = proc.sample()?;
    let secs = after.at.duration_since(before.at).as_secs_f64();
    Some(100.0 * (after.cpu_secs - before.cpu_secs) / secs)
}

pub async fn run(args: &DashboardArgs) -> Result<()> {
    let chromium = find_chromium().ok_or_else(|| {
        anyhow!("no chromium: apt-get install chromium (or set WILDRYDES_CHROMIUM)")
    })?;
    let mut server = procs::start_ours(true)?;
    engine::wait_ready(&mut server, Duration::from_secs(15)).await?;
    let kinesis = client(&server.url);
    engine::create_stream(&kinesis, "wildrydes", args.shards).await?;
    engine::create_stream(&kinesis, "wildrydes-summary", 1).await?;
    engine::create_stream(&kinesis, "wildrydes-alerts", 1).await?;

    let mut cmd = Command::new(procs::sibling_binary("wildrydes")?);
    cmd.args([
        "dashboard",
        "--port",
        "0",
        "--tiles",
        "none",
        "--endpoint",
        &server.url,
    ]);
    if args.fan_out {
        cmd.args(["--fan-out", "bench-dashboard"]);
    }
    cmd.env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut dash = Proc::spawn("wildrydes dashboard", &mut cmd)?;
    let stdout = dash.child().stdout.take().context("dashboard stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::new(stdout).lines();
        if let Some(Ok(line)) = lines.next() {
            let _ = tx.send(line);
        }
        for _ in lines {}
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .context("the dashboard printed no URL within 30 s")?;
    let page = line
        .strip_prefix("dashboard: ")
        .ok_or_else(|| anyhow!("unexpected first line of wildrydes dashboard: {line:?}"))?
        .to_owned();

    let _producer = Proc::spawn(
        "producer",
        Command::new(procs::sibling_binary("producer")?)
            .args(["-endpoint", &server.url, "-lively", "-seed", "1", "-quiet"])
            .args(["-unicorns", &args.unicorns.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    )?;
    println!(
        "dashboard: {} unicorns at 1 Hz, {} browser(s), {} ({})",
        args.unicorns,
        args.browsers,
        if args.fan_out {
            "enhanced fan-out"
        } else {
            "polling GetRecords"
        },
        procs::machine()
    );
    let warmup = Duration::from_secs_f64(args.warmup);
    let measure = Duration::from_secs_f64(args.measure);
    tokio::time::sleep(warmup).await;
    let idle_cpu = cpu_percent(&dash, tokio::time::sleep(measure)).await;

    let mut reports = Reports::start().await?;
    let logs = tempfile::tempdir()?;
    let mut browsers = Vec::new();
    for i in 0..args.browsers {
        let log = logs.path().join(format!("chromium-{i}.log"));
        browsers.push(Browser::open(
            &chromium,
            &format!("{page}?report={}", reports.url),
            &log,
        )?);
    }
    // Warm-up: the page loads and draws the fleet; its reports are dropped.
    let until = Instant::now() + warmup;
    while Instant::now() < until {
        reports.next(Duration::from_millis(200)).await;
    }
    let (mut latencies, mut frames, mut errors, mut markers) =
        (Vec::new(), Vec::new(), Vec::new(), 0);
    let collect = async {
        let until = Instant::now() + measure;
        while Instant::now() < until {
            if let Some(r) = reports.next(Duration::from_millis(200)).await {
                latencies.extend(r.latencies);
                frames.extend(r.frames);
                errors.extend(r.errors);
                markers = markers.max(r.markers);
            }
        }
    };
    let busy_cpu = cpu_percent(&dash, collect).await;
    let console: Vec<String> = browsers.iter().flat_map(Browser::console).collect();
    for b in browsers {
        b.close().await;
    }
    if latencies.is_empty() || frames.is_empty() {
        bail!("the page reported no positions or no frames");
    }
    latencies.sort_by(f64::total_cmp);
    frames.sort_by(f64::total_cmp);
    let p50 = percentile(&latencies, 0.50);
    let p99 = percentile(&latencies, 0.99);
    let fps = 1000.0 * frames.len() as f64 / frames.iter().sum::<f64>();
    let per_browser = idle_cpu
        .zip(busy_cpu)
        // Not clamped: a negative figure says the cost is below the noise.
        .map(|(idle, busy)| (busy - idle) / args.browsers as f64);
    let verdict = |ok: bool| if ok { "holds" } else { "FAILS" }.to_owned();
    let header: Vec<String> = ["figure", "measured", "goal", "verdict"]
        .map(String::from)
        .to_vec();
    let pct = |v: Option<f64>| stats::opt(v, |v| format!("{v:.1} % of a core"));
    let rows = vec![
        vec![
            "markers drawn".into(),
            markers.to_string(),
            args.unicorns.to_string(),
            verdict(markers == args.unicorns as usize),
        ],
        vec![
            "put -> browser p50".into(),
            stats::ms(p50),
            "-".into(),
            format!("{} positions", stats::thousands(latencies.len() as f64)),
        ],
        vec![
            "put -> browser p99".into(),
            stats::ms(p99),
            format!("<= {:.0} ms", args.goal_p99),
            verdict(p99.is_some_and(|v| v <= args.goal_p99)),
        ],
        vec![
            "frames per second".into(),
            format!("{fps:.1}"),
            format!(">= {:.0}", args.goal_fps),
            verdict(fps >= args.goal_fps),
        ],
        vec![
            "frame time p50 / p99".into(),
            format!(
                "{} / {}",
                stats::ms(percentile(&frames, 0.50)),
                stats::ms(percentile(&frames, 0.99))
            ),
            "-".into(),
            "-".into(),
        ],
        vec![
            "server CPU, no browser".into(),
            pct(idle_cpu),
            "-".into(),
            "-".into(),
        ],
        vec![
            format!("server CPU, {} browser(s)", args.browsers),
            pct(busy_cpu),
            "-".into(),
            "-".into(),
        ],
        vec![
            "server CPU per browser".into(),
            pct(per_browser),
            format!("<= {:.0} %", args.goal_cpu),
            verdict(per_browser.is_some_and(|v| v <= args.goal_cpu)),
        ],
        vec![
            "errors in the page / console".into(),
            format!("{} / {}", errors.len(), console.len()),
            "0 / 0".into(),
            verdict(errors.is_empty() && console.is_empty()),
        ],
    ];
    print_table(&header, &rows);
    println!("load: {} (1-minute load average)", procs::load_average());
    for e in errors.iter().chain(&console).take(5) {
        println!("  {e}");
    }
    Ok(())
}
