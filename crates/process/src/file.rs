//! The load stage: ride files (JSON lines, one status record per line as the
//! producer writes them; or CSV with a header of the same field names) into
//! the table through the same [`ItemWriter`].
//!
//! [`load_reader`] parses on a blocking thread while the previous chunk is
//! being written. A bad line is reported with its file and line number and
//! skipped ([`OnBadLine::Skip`]), or stops the load there after the lines
//! before it are written ([`OnBadLine::Stop`]).
//!
//! [`Loader::handle`] is the Lambda-shaped entry point: an `S3Event` in,
//! every object it names fetched through [`objects::Buckets`] and loaded.

use std::io::{BufRead, BufReader, Read};
use std::time::{Duration, Instant};

use aws_lambda_events::s3::S3Event;
use objects::Buckets;
use sensor::Status;
use tokio::sync::mpsc;

use crate::item::{status_item, status_line_item, Item, ItemError};
use crate::writer::{ItemWriter, WriteError};

/// Items parsed before they are handed to the writer.
const CHUNK: usize = 4_000;
/// BatchWriteItem calls a load keeps in flight by default (`wildrydes load
/// --in-flight`): measured on 2026-12-04 against the local durable engine on
/// 2 cores, 64 loaded 6.5 % faster than 32 (the server commits larger write
/// groups), 128 no faster than 64.
pub const LOAD_IN_FLIGHT: u64 = 64;
/// Bad lines reported one by one; the rest are only counted.
const SHOWN_BAD_LINES: u64 = 20;

/// `--on-bad-line`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnBadLine {
    /// Report it and load the other lines.
    #[default]
    Skip,
    /// Report it and stop (the lines before it are loaded).
    Stop,
}

/// What a load did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadSummary {
    /// The file or `s3://bucket/key`.
    pub file: String,
    /// Lines read (CSV: records, header excluded); empty lines not counted.
    pub lines: u64,
    pub items_written: u64,
    pub skipped: u64,
    pub elapsed: Duration,
}

impl std::fmt::Display for LoadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64();
        write!(
            f,
            "{}: {} items written, {} bad lines skipped, {} lines in {:.2}s ({:.0} items/s)",
            self.file,
            self.items_written,
            self.skipped,
            self.lines,
            secs,
            self.items_written as f64 / secs.max(1e-9)
        )
    }
}

/// Why a load stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {file}: {detail}")]
    Read { file: String, detail: String },
    #[error("{file}:{line}: {detail}; stopped there ({written} items of the lines before it written; --on-bad-line skip loads the other lines)")]
    BadLine {
        file: String,
        line: u64,
        detail: String,
        written: u64,
    },
    #[error("loading {file}: {error}")]
    Write {
        file: String,
        #[source]
        error: WriteError,
    },
    #[error("{0:?} is not s3://BUCKET/KEY")]
    BadUrl(String),
}

enum Parsed {
    Chunk { items: Vec<Item>, lines: u64 },
    Bad { line: u64, detail: String },
    Failed(String),
}

/// Loads one file or `s3://BUCKET/KEY`.
pub async fn load(
    target: &str,
    writer: &ItemWriter,
    buckets: &Buckets,
    on_bad_line: OnBadLine,
) -> Result<LoadSummary, LoadError> {
    if target.starts_with("s3://") {
        let (bucket, key) = parse_s3_url(target).ok_or_else(|| LoadError::BadUrl(target.into()))?;
        return load_s3(buckets, &bucket, &key, writer, on_bad_line).await;
    }
    let file = std::fs::File::open(target).map_err(|e| LoadError::Read {
        file: target.into(),
        detail: e.to_string(),
    })?;
    load_reader(target, file, writer, on_bad_line).await
}

/// `s3://bucket/key` into its bucket and key.
pub fn parse_s3_url(url: &str) -> Option<(String, String)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

/// Fetches one object and loads it.
pub async fn load_s3(
    buckets: &Buckets,
    bucket: &str,
    key: &str,
    writer: &ItemWriter,
    on_bad_line: OnBadLine,
) -> Result<LoadSummary, LoadError> {
    let name = format!("s3://{bucket}/{key}");
    let bytes = buckets
        .get(bucket, key)
        .await
        .map_err(|e| LoadError::Read {
            file: name.clone(),
            detail: e.to_string(),
        })?;
    load_reader(&name, std::io::Cursor::new(bytes), writer, on_bad_line).await
}

/// The S3-triggered function: loads every object an `ObjectCreated` record
/// names (keys arrive URL-encoded, as S3 sends them).
#[derive(Debug, Clone)]
pub struct Loader {
    pub writer: ItemWriter,
    pub buckets: Buckets,
    pub on_bad_line: OnBadLine,
}

impl Loader {
    /// The Lambda entry point.
    pub async fn handle(&self, event: S3Event) -> Result<Vec<LoadSummary>, LoadError> {
        let mut done = Vec::new();
        for record in &event.records {
            let created = record
                .event_name
                .as_deref()
                .is_some_and(|n| n.starts_with("ObjectCreated:"));
            let bucket = record.s3.bucket.name.as_deref().unwrap_or_default();
            let key = record
                .s3
                .object
                .url_decoded_key
                .clone()
                .or_else(|| record.s3.object.key.as_deref().map(decode_key))
                .unwrap_or_default();
            if !created || bucket.is_empty() || key.is_empty() {
                tracing::debug!(event = ?record.event_name, bucket, key, "not an object creation; ignored");
                continue;
            }
            let summary =
                load_s3(&self.buckets, bucket, &key, &self.writer, self.on_bad_line).await?;
            tracing::info!("{summary}");
            done.push(summary);
        }
        Ok(done)
    }
}

/// An S3 event's object key: `+` for spaces and percent-escapes.
pub fn decode_key(key: &str) -> String {
    form_urlencoded::parse(key.as_bytes())
        .next()
        .map(|(k, v)| {
            if v.is_empty() {
                k.into_owned()
            } else {
                format!("{k}={v}")
            }
        })
        .unwrap_or_default()
}

/// Loads JSON lines or CSV (told apart by the first non-blank byte: `{`
/// starts JSON lines) from `input`, named `file` in messages.
pub async fn load_reader<R: Read + Send + 'static>(
    file: &str,
    input: R,
    writer: &ItemWriter,
    on_bad_line: OnBadLine,
) -> Result<LoadSummary, LoadError> {
    let started = Instant::now();
    let (tx, mut rx) = mpsc::channel(2);
    let parser = tokio::task::spawn_blocking(move || parse(input, &tx));
    let mut summary = LoadSummary {
        file: file.to_owned(),
        ..LoadSummary::default()
    };
    let mut stop = None;
    while let Some(parsed) = rx.recv().await {
        match parsed {
            Parsed::Chunk { items, lines } => {
                summary.lines += lines;
                summary.items_written +=
                    writer
                        .write_all(items)
                        .await
                        .map_err(|error| LoadError::Write {
                            file: file.to_owned(),
                            error,
                        })? as u64;
            }
            Parsed::Bad { line, detail } => {
                if on_bad_line == OnBadLine::Stop {
                    stop = Some((line, detail));
                    break;
                }
                if summary.skipped < SHOWN_BAD_LINES {
                    tracing::warn!("{file}:{line}: {detail}; line skipped");
                } else if summary.skipped == SHOWN_BAD_LINES {
                    tracing::warn!("{file}: more bad lines; only counted from here on");
                }
                summary.skipped += 1;
            }
            Parsed::Failed(detail) => {
                return Err(LoadError::Read {
                    file: file.to_owned(),
                    detail,
                })
            }
        }
    }
    drop(rx);
    let _ = parser.await;
    if let Some((line, detail)) = stop {
        return Err(LoadError::BadLine {
            file: file.to_owned(),
            line,
            detail,
            written: summary.items_written,
        });
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Runs on a blocking thread; returns when the input ends, an error is
/// sent, or the receiver is gone.
fn parse<R: Read>(input: R, tx: &mpsc::Sender<Parsed>) {
    let mut input = BufReader::with_capacity(1 << 20, input);
    // Peeked, not consumed: line numbers stay right.
    let first = match input.fill_buf() {
        Ok([]) => return,
        Ok(buf) => buf
            .iter()
            .copied()
            .find(|b| !b.is_ascii_whitespace())
            .unwrap_or(b'{'),
        Err(e) => {
            let _ = tx.blocking_send(Parsed::Failed(e.to_string()));
            return;
        }
    };
    if first == b'{' {
        parse_json_lines(input, tx);
    } else {
        parse_csv(input, tx);
    }
}

struct Batcher<'a> {
    tx: &'a mpsc::Sender<Parsed>,
    items: Vec<Item>,
    lines: u64,
}

/// A line's error without the JSON parser's own line number (each line is
/// parsed alone, so it is always 1): `... at column 2`.
fn within_line(detail: String) -> String {
    match detail.rsplit_once(" at line 1 column ") {
        Some((what, column)) => format!("{what} at column {column}"),
        None => detail,
    }
}

impl Batcher<'_> {
    /// Returns false when the receiver is gone.
    fn push(&mut self, line: u64, result: Result<Item, ItemError>) -> bool {
        self.lines += 1;
        match result {
            Ok(item) => {
                self.items.push(item);
                if self.items.len() >= CHUNK {
                    return self.flush();
                }
                true
            }
            Err(e) => {
                // Items before a bad line are handed over first, so that a
                // stop writes exactly the lines before it.
                self.flush()
                    && self
                        .tx
                        .blocking_send(Parsed::Bad {
                            line,
                            detail: within_line(e.to_string()),
                        })
                        .is_ok()
            }
        }
    }

    fn flush(&mut self) -> bool {
        if self.items.is_empty() && self.lines == 0 {
            return true;
        }
        let items = std::mem::take(&mut self.items);
        let lines = std::mem::take(&mut self.lines);
        self.tx
            .blocking_send(Parsed::Chunk { items, lines })
            .is_ok()
    }
}

fn parse_json_lines<R: BufRead>(mut input: R, tx: &mpsc::Sender<Parsed>) {
    let mut batch = Batcher {
        tx,
        items: Vec::with_capacity(CHUNK),
        lines: 0,
    };
    let mut line = Vec::with_capacity(512);
    let mut number = 0u64;
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = batch.flush();
                let _ = tx.blocking_send(Parsed::Failed(e.to_string()));
                return;
            }
        }
        number += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if !batch.push(number, status_line_item(&line)) {
            return;
        }
    }
    let _ = batch.flush();
}

fn parse_csv<R: Read>(input: R, tx: &mpsc::Sender<Parsed>) {
    let mut batch = Batcher {
        tx,
        items: Vec::with_capacity(CHUNK),
        lines: 0,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            let _ = tx.blocking_send(Parsed::Bad {
                line: 1,
                detail: format!("invalid CSV header: {e}"),
            });
            return;
        }
    };
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |p| p.line());
                let item = record
                    .deserialize::<Status>(Some(&headers))
                    .map_err(|e| ItemError::Record(format!("invalid record: {e}")))
                    .and_then(|status| {
                        // The same validation as a JSON line.
                        let json = serde_json::to_vec(&status)
                            .map_err(|e| ItemError::Record(e.to_string()))?;
                        Status::from_json(&json).map_err(|e| ItemError::Record(e.to_string()))
                    })
                    .and_then(|status| status_item(&status));
                if !batch.push(line, item) {
                    return;
                }
            }
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                if !batch.push(line, Err(ItemError::Record(format!("invalid CSV: {e}")))) {
                    return;
                }
                if !matches!(
                    e.kind(),
                    csv::ErrorKind::UnequalLengths { .. } | csv::ErrorKind::Utf8 { .. }
                ) {
                    return;
                }
            }
        }
    }
    let _ = batch.flush();
}
