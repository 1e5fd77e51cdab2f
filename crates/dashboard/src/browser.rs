//! Driving the page in a real browser, for tests and benchmarks: headless
//! Chromium (Debian's `chromium`) opens the page with `?report=URL`, and the
//! page posts what it shows once a second (see `assets/app.js`: markers and
//! their positions, highlighted unicorns, summary rows, alerts, errors it
//! caught, put-to-browser latencies, frame times) to a [`Reports`] receiver.
//! Chromium's own console log goes to a file for checking.
//!
//! No DevTools protocol client is needed: the page reports itself, and
//! screenshots come from `chromium --headless --screenshot`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// What the page reports once a second.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Report {
    /// The page's clock, Unix milliseconds.
    pub time: i64,
    /// `live` while the event stream is connected.
    pub status: String,
    pub events: u64,
    pub unicorns: usize,
    /// Markers drawn.
    pub markers: usize,
    /// Name -> [latitude, longitude, MagicPoints, HealthPoints] of each
    /// marker as drawn (fleets of at most 100).
    pub positions: Option<std::collections::BTreeMap<String, [f64; 4]>>,
    /// Unicorns whose marker is highlighted by an alert.
    pub highlighted: Vec<String>,
    /// Rows of the summary table.
    pub summaries: usize,
    /// Names in the alert list, newest first.
    pub alerts: Vec<String>,
    /// Errors the page caught since the last report.
    pub errors: Vec<String>,
    /// PutRecord-to-page latencies (ms) since the last report.
    pub latencies: Vec<f64>,
    /// Times between animation frames (ms) since the last report.
    pub frames: Vec<f64>,
}

/// The Chromium binary: `$WILDRYDES_CHROMIUM`, else `chromium`,
/// `chromium-browser` or `google-chrome` on the PATH.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("WILDRYDES_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| {
            ["chromium", "chromium-browser", "google-chrome"]
                .into_iter()
                .map(move |name| dir.join(name))
        })
        .find(|p| p.is_file())
}

fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(chromium);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1280,800",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::null());
    cmd
}

/// A headless Chromium showing one page (killed when dropped).
pub struct Browser {
    child: Child,
    log: PathBuf,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Opens `url`; Chromium's log (console messages included) goes to `log`.
    pub fn open(chromium: &Path, url: &str, log: &Path) -> std::io::Result<Self> {
        let profile = tempfile::tempdir()?;
        let child = headless(chromium, profile.path())
            .arg(url)
            .stderr(std::fs::File::create(log)?)
            .kill_on_drop(true)
            .spawn()?;
        Ok(Self {
            child,
            log: log.to_owned(),
            _profile: profile,
        })
    }

    /// The process id (for CPU accounting).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Console messages Chromium logged so far (`CONSOLE` lines).
    pub fn console(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .map(str::to_owned)
            .collect()
    }

    pub async fn close(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Takes a screenshot of `url` (1280x800) into `png`.
pub async fn screenshot(chromium: &Path, url: &str, png: &Path) -> std::io::Result<()> {
    let profile = tempfile::tempdir()?;
    let status = tokio::time::timeout(
        Duration::from_secs(60),
        headless(chromium, profile.path())
            .arg(format!("--screenshot={}", png.display()))
            .arg(url)
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status(),
    )
    .await
    .map_err(|_| std::io::Error::other("chromium took over 60 s for a screenshot"))??;
    if !status.success() || !png.exists() {
        return Err(std::io::Error::other(format!(
            "chromium --screenshot failed: {status}"
        )));
    }
    Ok(())
}

/// Receives the page's reports on a local port.
pub struct Reports {
    /// The URL to give the page as `?report=`.
    pub url: String,
    receiver: mpsc::UnboundedReceiver<Report>,
    task: tokio::task::JoinHandle<()>,
}

impl Reports {
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/", listener.local_addr()?);
        let (sender, receiver) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let sender = sender.clone();
                tokio::spawn(async move {
                    if let Some(report) = receive(socket).await {
                        let _ = sender.send(report);
                    }
                });
            }
        });
        Ok(Self {
            url,
            receiver,
            task,
        })
    }

    /// The next report (`None` after `within` without one).
    pub async fn next(&mut self, within: Duration) -> Option<Report> {
        tokio::time::timeout(within, self.receiver.recv())
            .await
            .ok()
            .flatten()
    }
}

impl Drop for Reports {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One POST (the page's `fetch`): head, `Content-Length` body, `204`.
async fn receive(mut socket: tokio::net::TcpStream) -> Option<Report> {
    let mut data = Vec::with_capacity(8192);
    let mut buf = [0u8; 8192];
    let (head_end, length) = loop {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
        if data.len() > 64 * 1024 {
            return None;
        }
    };
    while data.len() < head_end + length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let _ = socket
        .write_all(b"HTTP/1.1 204 No Content\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n")
        .await;
    serde_json::from_slice(&data[head_end..head_end + length]).ok()
}
