//! Processes the benchmarks start (our engine, the peers, the producer and
//! consumer binaries) and what `/proc` says about them.
//!
//! Every process is held by a [`Proc`] guard that kills and reaps it when
//! dropped, so an error, a panic or Ctrl-C (which drops the benchmark's
//! future) never leaves one behind; temp dirs are [`tempfile::TempDir`]s,
//! removed on drop as well.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use tempfile::TempDir;

/// A child process, killed and reaped on drop.
pub struct Proc {
    child: Child,
}

impl Proc {
    pub fn spawn(name: impl Into<String>, cmd: &mut Command) -> Result<Self> {
        let name = name.into();
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Self { child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// `Some(status)` once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub fn rss_mb(&self) -> Option<f64> {
        status_kb(self.pid(), "VmRSS:").map(|kb| kb as f64 / 1024.0)
    }

    pub fn sample(&self) -> Option<Sample> {
        sample(self.pid())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// A field of `/proc/<pid>/status` in kB (`VmRSS:`, `VmHWM:`).
pub fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time and memory of a process at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// utime + stime, in seconds.
    pub cpu_secs: f64,
    /// Peak RSS so far (VmHWM), MB.
    pub peak_rss_mb: f64,
}

pub fn sample(pid: u32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: split after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let hwm = status_kb(pid, "VmHWM:")?;
    Some(Sample {
        at: Instant::now(),
        cpu_secs: (utime + stime) as f64 / clock_ticks() as f64,
        peak_rss_mb: hwm as f64 / 1024.0,
    })
}

/// `sysconf(_SC_CLK_TCK)`, through getconf (100 on every Linux we know).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// A binary of the workspace built into the same target dir as this one.
pub fn sibling_binary(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating wildrydes-bench")?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent dir", exe.display()))?;
    let path = dir.join(name);
    if !path.is_file() {
        bail!(
            "{} not found next to wildrydes-bench; build it first: cargo build --release -p {}",
            path.display(),
            // wildrydes-query is the query package's binary.
            name.strip_prefix("wildrydes-").unwrap_or(name)
        );
    }
    Ok(path)
}

/// A free loopback TCP port (bound, read, released: tiny race, fine here).
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// A Kinesis-compatible server run as its own process.
pub struct Server {
    pub label: String,
    pub url: String,
    pub proc: Proc,
    /// Logs and data; removed after the process is gone (fields drop in order).
    pub dir: TempDir,
}

impl Server {
    pub fn rss_mb(&self) -> Option<f64> {
        self.proc.rss_mb()
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("server.log"))
    }
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

/// Our engine: `wildrydes serve --port 0` with a durable data dir in a temp
/// dir (or `--in-memory`); the URL is the first line it prints.
pub fn start_ours(in_memory: bool) -> Result<Server> {
    let bin = sibling_binary("wildrydes")?;
    let dir = tempfile::Builder::new()
        .prefix("wildrydes-bench-")
        .tempdir()
        .context("creating a temp dir")?;
    let log = std::fs::File::create(dir.path().join("server.log")).context("creating the log")?;
    let mut cmd = Command::new(&bin);
    cmd.args(["serve", "--port", "0"]);
    if in_memory {
        cmd.arg("--in-memory");
    } else {
        cmd.arg("--data-dir").arg(dir.path().join("data"));
    }
    cmd.env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    let mut proc = Proc::spawn("wildrydes serve", &mut cmd)?;
    let stdout = proc
        .child()
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout"))?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the server never blocks on a full pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = rx.recv_timeout(Duration::from_secs(15)).unwrap_or_default();
    let url = line.trim().to_owned();
    if !url.starts_with("http") {
        bail!(
            "wildrydes serve printed no URL: {}",
            log_tail(&dir.path().join("server.log"))
        );
    }
    Ok(Server {
        label: "wildrydes".into(),
        url,
        proc,
        dir,
    })
}

/// Where the peers are installed: `$XDG_CACHE_HOME/wildrydes/peers` or
/// `~/.cache/wildrydes/peers`.
pub fn default_peers_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("wildrydes").join("peers")
}

/// Installs kinesalite and kinesis-local (kinesis-mock) with npm into `dir`
/// unless they are there already.
pub fn install_peers(dir: &Path) -> Result<()> {
    let kinesalite = dir.join("node_modules/kinesalite/package.json");
    let mock = dir.join("node_modules/kinesis-local/main.js");
    if kinesalite.is_file() && mock.is_file() {
        return Ok(());
    }
    for tool in ["node", "npm"] {
        let ok = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            bail!("{tool} not found");
        }
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    eprintln!(
        "installing kinesalite and kinesis-local with npm into {}",
        dir.display()
    );
    let out = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .args(["kinesalite", "kinesis-local"])
        .stdin(Stdio::null())
        .output()
        .context("running npm install")?;
    if !out.status.success() {
        bail!(
            "npm install failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// kinesalite, in memory, on a loopback port. Its CLI binds every interface,
/// so it is started through its module API bound to 127.0.0.1 instead.
pub fn start_kinesalite(peers: &Path) -> Result<Server> {
    let port = free_port()?;
    let dir = tempfile::Builder::new()
        .prefix("wildrydes-bench-kinesalite-")
        .tempdir()?;
    let log = std::fs::File::create(dir.path().join("server.log"))?;
    let script = format!(
        "require('kinesalite')({{}}).listen({port}, '127.0.0.1', function () {{ console.log('ready') }})"
    );
    let mut cmd = Command::new("node");
    cmd.arg("-e")
        .arg(script)
        .current_dir(peers)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let proc = Proc::spawn("kinesalite", &mut cmd)?;
    Ok(Server {
        label: "kinesalite".into(),
        url: format!("http://127.0.0.1:{port}"),
        proc,
        dir,
    })
}

/// kinesis-mock (npm `kinesis-local`), started from its package folder (it
/// reads its TLS certificate `server.json` from there); we use its plain
/// HTTP port. It binds every interface (no option to change that).
pub fn start_kinesis_mock(peers: &Path) -> Result<Server> {
    let plain = free_port()?;
    let tls = free_port()?;
    let pkg = peers.join("node_modules/kinesis-local");
    let dir = tempfile::Builder::new()
        .prefix("wildrydes-bench-kinesis-mock-")
        .tempdir()?;
    let log = std::fs::File::create(dir.path().join("server.log"))?;
    let mut cmd = Command::new("node");
    cmd.arg("main.js")
        .current_dir(&pkg)
        .env("KINESIS_MOCK_CERT_PATH", pkg.join("server.json"))
        .env("KINESIS_MOCK_PLAIN_PORT", plain.to_string())
        .env("KINESIS_MOCK_TLS_PORT", tls.to_string())
        .env("AWS_REGION", "us-east-1")
        .env("LOG_LEVEL", "WARN")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    let proc = Proc::spawn("kinesis-mock", &mut cmd)?;
    Ok(Server {
        label: "kinesis-mock".into(),
        url: format!("http://127.0.0.1:{plain}"),
        proc,
        dir,
    })
}

/// CPU model and core count from /proc/cpuinfo.
pub fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem = status_like("/proc/meminfo", "MemTotal:")
        .map(|kb| format!(", {:.1} GB RAM", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_default();
    format!("{model}, {cores} cores{mem}")
}

/// The 1-minute load average, from /proc/loadavg.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn status_like(path: &str, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Reads a child's stdout to the end on a thread, handing each chunk with its
/// arrival time to `f`.
pub fn drain<R: Read + Send + 'static>(
    mut from: R,
    mut f: impl FnMut(Instant, &[u8]) + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => f(Instant::now(), &buf[..n]),
            }
        }
    })
}
