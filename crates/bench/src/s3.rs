//! `wildrydes-bench s3`: S3 on our engine (durable `wildrydes serve`) and,
//! with `--peers`, on moto (`moto[server]` from PyPI, in a venv under the
//! peers dir): PutObject and GetObject objects/s for 1 KB objects, GetObject
//! MB/s for 8 MB objects next to `cat` of an 8 MB file, a ListObjectsV2 walk
//! over many keys, and the server's RSS. Both servers get the same client: a
//! minimal HTTP/1.1 client over keep-alive connections (unsigned requests
//! with a dummy `Authorization` header, which moto needs and ours accepts
//! without credentials configured; `http.rs`), so neither side pays for an
//! SDK.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::http;
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
    /// Then upload an object of this many GB (10^9 bytes) in 8 MiB parts,
    /// 10 in flight as the AWS CLI sends them, download it, and report the
    /// server's peak RSS (our engine only; 0 skips it).
    #[arg(long, default_value_t = 0.0, value_name = "GB")]
    multipart_gb: f64,
}

/// Figures of the large multipart upload and its download.
struct Multipart {
    bytes: u64,
    up_mb_s: f64,
    down_mb_s: f64,
    peak_mb: f64,
}

/// Uploads `gb` GB in 8 MiB parts (10 in flight), completes the upload,
/// downloads the object on one connection, and reads the server's peak RSS.
async fn multipart(server: &Server, gb: f64) -> Result<Multipart> {
    const PART: usize = 8 << 20;
    let url = server.url.clone();
    let mut c = Conn::open(&url).await?;
    let key = "/bench/multipart/big.bin";
    let created = c
        .call("POST", &format!("{key}?uploads"), b"", usize::MAX)
        .await?;
    let upload = between(&created.text(), "<UploadId>", "</UploadId>").with_context(|| {
        format!(
            "CreateMultipartUpload: {} {}",
            created.status,
            created.text()
        )
    })?;
    let total = (gb * 1e9) as u64;
    let parts = total.div_ceil(PART as u64).max(1);
    let body: Arc<Vec<u8>> = Arc::new((0..PART).map(|i| (i % 251) as u8).collect());
    let next = Arc::new(AtomicU64::new(1));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (url, body, next, upload) = (url.clone(), body.clone(), next.clone(), upload.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = Conn::open(&url).await?;
            let mut etags = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n > parts {
                    return Ok::<_, anyhow::Error>(etags);
                }
                let len = if n == parts {
                    total - (parts - 1) * PART as u64
                } else {
                    PART as u64
                };
                let path = format!("{key}?partNumber={n}&uploadId={}", form_encode(&upload));
                let a = c.call("PUT", &path, &body[..len as usize], 4096).await?;
                let etag = a.header("etag").map(str::to_string);
                match etag {
                    Some(etag) if a.status == 200 => etags.push((n, etag)),
                    _ => bail!("UploadPart {n}: {} {}", a.status, a.text()),
                }
            }
        }));
    }
    let mut etags = Vec::new();
    for t in tasks {
        etags.extend(t.await??);
    }
    etags.sort();
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (n, etag) in &etags {
        xml.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    let path = format!("{key}?uploadId={}", form_encode(&upload));
    let done = c.call("POST", &path, xml.as_bytes(), 4096).await?;
    if done.status != 200 || !done.text().contains("<ETag>") {
        bail!("CompleteMultipartUpload: {} {}", done.status, done.text());
    }
    let up_mb_s = total as f64 / 1e6 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let got = ok(&mut c, "GET", key, b"").await?;
    if got != total {
        bail!("GetObject of the multipart object read {got} of {total} bytes");
    }
    let down_mb_s = total as f64 / 1e6 / start.elapsed().as_secs_f64();
    let peak_mb =
        procs::status_kb(server.proc.pid(), "VmHWM:").map_or(0.0, |kb| kb as f64 / 1024.0);
    ok(&mut c, "DELETE", key, b"").await?;
    Ok(Multipart {
        bytes: total,
        up_mb_s,
        down_mb_s,
        peak_mb,
    })
}

/// S3 requests over the benchmarks' raw client: unsigned, with a dummy
/// `Authorization` header.
struct Conn(http::Conn);

impl Conn {
    async fn open(url: &str) -> Result<Conn> {
        Ok(Conn(http::Conn::open(url).await?))
    }

    /// Sends a request; the answer keeps `keep` bytes of the body at most.
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
        keep: usize,
    ) -> Result<http::Answer> {
        let auth = http::dummy_auth("s3", "host");
        let headers = [
            ("Authorization", auth.as_str()),
            ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
            ("Content-Type", "application/octet-stream"),
        ];
        self.0.call(method, path, &headers, body, keep).await
    }
}

async fn ok(conn: &mut Conn, method: &str, path: &str, body: &[u8]) -> Result<u64> {
    let a = conn.call(method, path, body, 4096).await?;
    if !(200..300).contains(&a.status) {
        bail!("{method} {path}: {} {}", a.status, a.text());
    }
    Ok(a.len)
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
        let a = c.call("GET", &path, b"", usize::MAX).await?;
        if a.status != 200 {
            bail!("ListObjectsV2: {}", a.status);
        }
        let xml = a.text();
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
    let big = if a.multipart_gb > 0.0 {
        Some(multipart(&ours, a.multipart_gb).await?)
    } else {
        None
    };
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
    match big {
        Some(m) => println!(
            "multipart: {:.2} GB in 8 MiB parts (10 in flight) uploaded at {:.0} MB/s, downloaded at {:.0} MB/s; server peak RSS over the whole run {:.0} MB (goal: under 150 MB)",
            m.bytes as f64 / 1e9,
            m.up_mb_s,
            m.down_mb_s,
            m.peak_mb
        ),
        None => println!("note: add --multipart-gb 5 for the large multipart upload and the server's peak RSS"),
    }
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
