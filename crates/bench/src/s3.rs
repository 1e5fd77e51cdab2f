//! `wildrydes-bench s3`: S3 on our engine (durable `wildrydes serve`) and,
//! with `--peers`, on moto (`moto[server]` from PyPI, in a venv under the
//! peers dir): PutObject and GetObject objects/s for 1 KB objects, GetObject
//! MB/s for 8 MB objects next to `cat` of an 8 MB file, a ListObjectsV2 walk
//! over many keys, and the server's RSS. Both servers get the same client: a
//! minimal HTTP/1.1 client over keep-alive connections (unsigned requests
//! with a dummy `Authorization` header, which moto needs and ours accepts
//! without credentials configured), so neither side pays for an SDK.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::procs::{self, Proc, Server};

#[derive(Debug, Args)]
pub struct S3Args {
    /// Also run moto (pip install 'moto[server]' into a venv, cached).
    #[arg(long)]
    peers: bool,
    /// Where the peers are installed [default: ~/.cache/wildrydes/peers].
    #[arg(long, value_name = "DIR")]
    peers_dir: Option<PathBuf>,
    /// Seconds each timed phase runs.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Keys listed by the ListObjectsV2 walk.
    #[arg(long, default_value_t = 100_000)]
    list_keys: usize,
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
    host: String,
    buf: Vec<u8>,
    /// The server closes the connection after this answer (moto's server
    /// speaks HTTP/1.0): reconnect before the next request.
    closed: bool,
}

impl Conn {
    async fn open(url: &str) -> Result<Conn> {
        let host = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("not an http url: {url}"))?
            .trim_end_matches('/')
            .to_string();
        let stream = TcpStream::connect(&host)
            .await
            .with_context(|| format!("connecting to {host}"))?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        Ok(Conn {
            reader: BufReader::with_capacity(256 << 10, r),
            writer: w,
            host,
            buf: vec![0; 256 << 10],
            closed: false,
        })
    }

    /// Sends a request; returns the status and the body (`keep` bytes of it
    /// at most are kept; the rest is read and dropped) and its length.
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        keep: usize,
    ) -> Result<(u16, Vec<u8>, u64)> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDBENCH/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00\r\nx-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        );
        self.writer.write_all(head.as_bytes()).await?;
        if !body.is_empty() {
            self.writer.write_all(body).await?;
        }
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("no status line: {line:?}"))?;
        self.closed = line.starts_with("HTTP/1.0");
        let (mut length, mut chunked) = (None, false);
        loop {
            line.clear();
            if self.reader.read_line(&mut line).await? == 0 {
                bail!("connection closed in headers");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                if k == "connection" {
                    self.closed = v.trim().eq_ignore_ascii_case("close");
                }
                if k == "content-length" {
                    length = v.trim().parse::<u64>().ok();
                } else if k == "transfer-encoding" && v.to_ascii_lowercase().contains("chunked") {
                    chunked = true;
                }
            }
        }
        let mut kept = Vec::new();
        let mut total = 0;
        if method == "HEAD" || status == 304 || status == 204 {
            return Ok((status, kept, 0));
        }
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line).await?;
                let n = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| anyhow!("bad chunk size {line:?}"))?;
                if n == 0 {
                    line.clear();
                    self.reader.read_line(&mut line).await?;
                    break;
                }
                total += self.read_n(n, keep, &mut kept).await?;
                line.clear();
                self.reader.read_line(&mut line).await?;
            }
        } else {
            total = self.read_n(length.unwrap_or(0), keep, &mut kept).await?;
        }
        Ok((status, kept, total))
    }

    async fn read_n(&mut self, mut n: u64, keep: usize, kept: &mut Vec<u8>) -> Result<u64> {
        let all = n;
        while n > 0 {
            let want = (n as usize).min(self.buf.len());
            let got = self.reader.read(&mut self.buf[..want]).await?;
            if got == 0 {
                bail!("connection closed in a body");
            }
            let room = keep.saturating_sub(kept.len()).min(got);
            kept.extend_from_slice(&self.buf[..room]);
            n -= got as u64;
        }
        Ok(all)
    }
}

async fn ok(conn: &mut Conn, method: &str, path: &str, body: &[u8]) -> Result<u64> {
    let (status, text, n) = conn.call(method, path, body, 4096).await?;
    if !(200..300).contains(&status) {
        bail!(
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&text)
        );
    }
    Ok(n)
}

/// Runs `op(conn, task, i)` on `conns` connections for `secs`; returns
/// (operations, bytes) per second.
async fn timed<F, Fut>(url: &str, conns: usize, secs: u64, op: F) -> Result<(f64, f64)>
where
    F: Fn(Conn, usize, u64) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(Conn, u64)>> + Send,
{
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for t in 0..conns {
        let (op, url) = (op.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&url).await?;
            let (mut n, mut bytes) = (0u64, 0u64);
            while Instant::now() < end {
                let (c, b) = op(conn, t, n).await?;
                conn = c;
                n += 1;
                bytes += b;
            }
            Ok::<_, anyhow::Error>((n, bytes))
        }));
    }
    let (mut n, mut bytes) = (0, 0);
    for t in tasks {
        let (a, b) = t.await??;
        n += a;
        bytes += b;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok((n as f64 / secs, bytes as f64 / secs / 1e6))
}

struct Figures {
    put_1k: f64,
    get_1k: f64,
    get_8m_one: f64,
    get_8m_many: f64,
    list_secs: f64,
    listed: usize,
    rss_mb: f64,
    peak_mb: f64,
}

async fn measure(server: &Server, a: &S3Args) -> Result<Figures> {
    let url = server.url.clone();
    let mut c = Conn::open(&url).await?;
    ok(&mut c, "PUT", "/bench", b"").await?;
    let kb = vec![b'x'; 1000];
    let (put_1k, _) = timed(&url, a.connections, a.seconds, move |mut c, t, i| {
        let kb = kb.clone();
        async move {
            ok(&mut c, "PUT", &format!("/bench/small/{t}/{i}"), &kb).await?;
            Ok((c, 1000))
        }
    })
    .await?;
    let (get_1k, _) = timed(&url, a.connections, a.seconds, |mut c, t, i| async move {
        let n = ok(&mut c, "GET", &format!("/bench/small/{t}/{}", i % 20), b"").await?;
        Ok((c, n))
    })
    .await?;
    let big: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
    for i in 0..4 {
        ok(&mut c, "PUT", &format!("/bench/big/{i}"), &big).await?;
    }
    let get_big = |mut c: Conn, t: usize, i: u64| async move {
        let n = ok(
            &mut c,
            "GET",
            &format!("/bench/big/{}", (t as u64 + i) % 4),
            b"",
        )
        .await?;
        Ok((c, n))
    };
    let (_, get_8m_one) = timed(&url, 1, a.seconds, get_big).await?;
    let (_, get_8m_many) = timed(&url, a.connections.min(4), a.seconds, get_big).await?;

    // ListObjectsV2 over `list_keys` empty objects.
    let per = a.list_keys.div_ceil(a.connections);
    let mut tasks = Vec::new();
    for t in 0..a.connections {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&url).await?;
            for i in 0..per {
                ok(&mut c, "PUT", &format!("/bench/list/{t:02}-{i:07}"), b"").await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let start = Instant::now();
    let mut listed = 0;
    let mut token: Option<String> = None;
    loop {
        let mut path = "/bench?list-type=2&prefix=list%2F&max-keys=1000".to_string();
        if let Some(t) = &token {
            path.push_str("&continuation-token=");
            path.push_str(&form_encode(t));
        }
        let (status, xml, _) = c.call("GET", &path, b"", usize::MAX).await?;
        if status != 200 {
            bail!("ListObjectsV2: {status}");
        }
        let xml = String::from_utf8_lossy(&xml);
        listed += xml.matches("<Key>").count();
        token = between(&xml, "<NextContinuationToken>", "</NextContinuationToken>");
        if token.is_none() {
            break;
        }
    }
    let list_secs = start.elapsed().as_secs_f64();
    let pid = server.proc.pid();
    Ok(Figures {
        put_1k,
        get_1k,
        get_8m_one,
        get_8m_many,
        list_secs,
        listed,
        rss_mb: server.rss_mb().unwrap_or(0.0),
        peak_mb: procs::status_kb(pid, "VmHWM:").map_or(0.0, |kb| kb as f64 / 1024.0),
    })
}

fn between(s: &str, open: &str, close: &str) -> Option<String> {
    let a = s.find(open)? + open.len();
    let b = s[a..].find(close)? + a;
    Some(s[a..b].to_string())
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `cat` of an 8 MB file (page-cached) into /dev/null: MB/s.
fn cat_baseline(dir: &Path) -> Result<f64> {
    let file = dir.join("cat-8mb.bin");
    std::fs::write(&file, vec![7u8; 8_000_000])?;
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(2) {
        let ok = Command::new("cat")
            .arg(&file)
            .stdout(Stdio::null())
            .status()
            .context("running cat")?
            .success();
        if !ok {
            bail!("cat failed");
        }
        n += 1;
    }
    Ok(n as f64 * 8.0 / start.elapsed().as_secs_f64())
}

/// moto's server from a venv under `peers` (created and filled with pip once).
fn start_moto(peers: &Path) -> Result<Server> {
    let venv = peers.join("venv");
    let python = venv.join("bin/python");
    let installed = Command::new(&python)
        .args(["-c", "import moto.server, flask"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !installed {
        eprintln!("installing moto[server] with pip into {}", venv.display());
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()?;
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "moto[server]"])
            .status()?;
        if !made.success() || !pip.success() {
            bail!("could not install moto[server] into {}", venv.display());
        }
    }
    let port = procs::free_port()?;
    let dir = tempfile::Builder::new()
        .prefix("wildrydes-bench-moto-")
        .tempdir()?;
    let log = std::fs::File::create(dir.path().join("server.log"))?;
    let mut cmd = Command::new(&python);
    cmd.args([
        "-m",
        "moto.server",
        "-H",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ])
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(log);
    let proc = Proc::spawn("moto", &mut cmd)?;
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            bail!("moto did not start within 30 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Server {
        label: "moto".into(),
        url,
        proc,
        dir,
    })
}

pub async fn run(a: &S3Args) -> Result<()> {
    let ours = procs::start_ours(false)?;
    let cat = cat_baseline(ours.dir.path())?;
    let mut rows = vec![("wildrydes (durable)".to_string(), measure(&ours, a).await?)];
    drop(ours);
    if a.peers {
        let dir = a.peers_dir.clone().unwrap_or_else(procs::default_peers_dir);
        let moto = start_moto(&dir)?;
        rows.push(("moto (in memory)".to_string(), measure(&moto, a).await?));
    }
    println!(
        "S3, {} connections, {} s per phase, {}",
        a.connections,
        a.seconds,
        procs::machine()
    );
    println!(
        "{:<22} {:>12} {:>12} {:>14} {:>14} {:>18} {:>9} {:>9}",
        "server",
        "put 1KB/s",
        "get 1KB/s",
        "get 8MB MB/s",
        "(4 conns)",
        "list keys/s",
        "RSS MB",
        "peak MB"
    );
    for (name, f) in &rows {
        println!(
            "{:<22} {:>12.0} {:>12.0} {:>14.0} {:>14.0} {:>18} {:>9.0} {:>9.0}",
            name,
            f.put_1k,
            f.get_1k,
            f.get_8m_one,
            f.get_8m_many,
            format!(
                "{:.0} ({} in {:.1} s)",
                f.listed as f64 / f.list_secs,
                f.listed,
                f.list_secs
            ),
            f.rss_mb,
            f.peak_mb
        );
    }
    println!("cat of an 8 MB file (page cache) into /dev/null: {cat:.0} MB/s");
    if rows.len() == 2 {
        println!(
            "ours / moto: put 1KB {:.1}x, get 1KB {:.1}x, get 8MB {:.1}x",
            rows[0].1.put_1k / rows[1].1.put_1k,
            rows[0].1.get_1k / rows[1].1.get_1k,
            rows[0].1.get_8m_one / rows[1].1.get_8m_one
        );
    }
    Ok(())
}
