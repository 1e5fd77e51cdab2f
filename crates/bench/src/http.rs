//! The benchmarks' raw HTTP/1.1 client: one keep-alive connection, requests
//! written byte for byte, answers read by `Content-Length`, chunked encoding
//! or the connection's end. It drives DynamoDB, S3 and CBOR Kinesis the same
//! way for every server, and is cheap enough not to be what is measured.
//!
//! A server that closes the connection after an answer (moto's HTTP/1.0
//! answers, `Connection: close`) is reconnected before the next request.

use anyhow::{anyhow, bail, Context, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// A SigV4-shaped `Authorization` header for `service`, naming `signed`
/// headers: never verified by our engine without `--auth`, but required by
/// dynalite and moto.
pub fn dummy_auth(service: &str, signed: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20261202/us-east-1/{service}/aws4_request, \
         SignedHeaders={signed}, Signature=00"
    )
}

/// One answer: status, headers (names in lower case), the first `keep`
/// bytes of the body, the body's length.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub len: u64,
}

impl Answer {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The kept body as text (lossy), for messages and JSON scraping.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    host: String,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    buf: Vec<u8>,
    /// The server closes the connection after this answer.
    closed: bool,
}

async fn connect(host: &str) -> Result<(BufReader<OwnedReadHalf>, OwnedWriteHalf)> {
    let stream = TcpStream::connect(host)
        .await
        .with_context(|| format!("connecting to {host}"))?;
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    Ok((BufReader::with_capacity(256 << 10, r), w))
}

impl Conn {
    /// Connects to `url` (`http://host:port`).
    pub async fn open(url: &str) -> Result<Conn> {
        let host = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("not an http url: {url}"))?
            .trim_end_matches('/')
            .to_string();
        let (reader, writer) = connect(&host).await?;
        Ok(Conn {
            host,
            reader,
            writer,
            buf: vec![0; 256 << 10],
            closed: false,
        })
    }

    /// Sends `method path` with the `headers` given (name, value) plus
    /// `Host` and `Content-Length`; keeps at most `keep` bytes of the body
    /// (the rest is read and dropped).
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        keep: usize,
    ) -> Result<Answer> {
        if self.closed {
            (self.reader, self.writer) = connect(&self.host).await?;
            self.closed = false;
        }
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
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
        let (mut length, mut chunked, mut headers) = (None, false, Vec::new());
        loop {
            line.clear();
            if self.reader.read_line(&mut line).await? == 0 {
                bail!("connection closed in the headers");
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').unwrap_or((l, ""));
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => length = v.parse::<u64>().ok(),
                "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
                "connection" => self.closed |= v.eq_ignore_ascii_case("close"),
                _ => {}
            }
            headers.push((k, v.to_string()));
        }
        let mut kept = Vec::new();
        let len = if method == "HEAD" || status == 304 || status == 204 {
            0
        } else if chunked {
            self.read_chunked(keep, &mut kept).await?
        } else {
            // Without a length, the body ends with the connection.
            self.closed |= length.is_none();
            self.read_n(length, keep, &mut kept).await?
        };
        Ok(Answer {
            status,
            headers,
            body: kept,
            len,
        })
    }

    async fn read_chunked(&mut self, keep: usize, kept: &mut Vec<u8>) -> Result<u64> {
        let mut line = String::new();
        let mut total = 0;
        loop {
            line.clear();
            self.reader.read_line(&mut line).await?;
            let n = u64::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| anyhow!("bad chunk size {line:?}"))?;
            total += self.read_n(Some(n), keep, kept).await?;
            // The CRLF after a chunk, or after the last (empty) one.
            line.clear();
            self.reader.read_line(&mut line).await?;
            if n == 0 {
                return Ok(total);
            }
        }
    }

    /// Reads `n` body bytes, or up to the connection's end for `None`.
    async fn read_n(&mut self, n: Option<u64>, keep: usize, kept: &mut Vec<u8>) -> Result<u64> {
        let mut read = 0u64;
        loop {
            let left = n.map_or(u64::MAX, |n| n - read);
            if left == 0 {
                return Ok(read);
            }
            let want = left.min(self.buf.len() as u64) as usize;
            let got = self.reader.read(&mut self.buf[..want]).await?;
            if got == 0 {
                if n.is_none() {
                    return Ok(read);
                }
                bail!("connection closed in a body");
            }
            let room = keep.saturating_sub(kept.len()).min(got);
            kept.extend_from_slice(&self.buf[..room]);
            read += got as u64;
        }
    }
}
