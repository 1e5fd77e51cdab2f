//! The consumer's run loop: read every shard, print each user record, save
//! the checkpoint after what was printed. The `consumer` binary and the
//! stack's summary printer (`wildrydes demo`) both run it.

use std::future::Future;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use kinesis::checkpoint::{self, CheckpointError};
use kinesis::client::StreamError;
use kinesis::reader::{ReadError, Reader, ReaderOptions, StartPosition, MIN_POLL_INTERVAL};
use kinesis::{Connection, Positions};

use crate::{decode, Format, Printer};

/// What to read and when to stop.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub stream: String,
    /// Where a first run starts (a checkpoint wins).
    pub from: StartPosition,
    /// Save the last printed sequence number per shard here, resume after it.
    pub checkpoint: Option<PathBuf>,
    pub format: Format,
    /// Stop after printing this many user records.
    pub count: Option<u64>,
    /// Stop once every shard was read up to its tip.
    pub until_caught_up: bool,
    /// Stop after no record arrived for this long.
    pub idle_timeout: Option<Duration>,
    /// Wait between two polls of an idle shard.
    pub poll: Duration,
    /// Enhanced fan-out through this stream consumer instead of polling.
    pub efo: Option<String>,
}

impl RunOptions {
    pub fn new(stream: impl Into<String>, from: StartPosition) -> Self {
        RunOptions {
            stream: stream.into(),
            from,
            checkpoint: None,
            format: Format::Pretty,
            count: None,
            until_caught_up: false,
            idle_timeout: None,
            poll: MIN_POLL_INTERVAL,
            efo: None,
        }
    }
}

/// Why the consumer stopped before it was done.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("writing the records: {0}")]
    Output(#[source] io::Error),
}

/// Reads `options.stream` through `conn` and prints every user record to
/// `out` until a stop condition of `options`, `shutdown`, or a closed `out`
/// (`| head`: a clean stop). Returns the number of user records printed.
pub async fn run<W: Write>(
    conn: Connection,
    options: RunOptions,
    out: W,
    shutdown: impl Future<Output = ()>,
) -> Result<u64, ConsumeError> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let mut printer = Printer::new(options.format);
    let result = tokio::select! {
        result = consume(conn, &options, &mut out, &mut printer) => result,
        () = shutdown => Ok(()),
    };
    let flushed = out.flush().map_err(ConsumeError::Output);
    match result.and(flushed) {
        Err(ConsumeError::Output(err)) if err.kind() == io::ErrorKind::BrokenPipe => {}
        Err(err) => return Err(err),
        Ok(()) => {}
    }
    Ok(printer.printed)
}

async fn consume<W: Write>(
    conn: Connection,
    options: &RunOptions,
    out: &mut W,
    printer: &mut Printer,
) -> Result<(), ConsumeError> {
    let saved = match &options.checkpoint {
        Some(path) => checkpoint::load(path)?,
        None => None,
    };
    let stream = conn.describe_stream(&options.stream).await?;
    let mut reader_options = ReaderOptions::new(options.stream.clone(), options.from.clone());
    let first_run = saved.is_none();
    reader_options.positions = saved.unwrap_or_default();
    // Positions of another stream (or of a stream deleted and created again)
    // are refused; an old file is upgraded and saved below.
    let upgraded = match &options.checkpoint {
        Some(path) => checkpoint::bind(path, &mut reader_options.positions, &stream)?,
        None => false,
    };
    reader_options.poll_interval = options.poll;
    reader_options.fan_out = options.efo.clone();
    let mut reader = Reader::start(conn, reader_options);
    let mut saved_positions = reader.positions();
    let mut last_record = tokio::time::Instant::now();
    let save = |positions: &Positions| -> Result<(), ConsumeError> {
        if let Some(path) = &options.checkpoint {
            checkpoint::save(path, positions)?;
        }
        Ok(())
    };
    if first_run || upgraded {
        // Where this run starts ("latest" is now): a restart before anything
        // is printed must not skip what arrived meanwhile. A path that cannot
        // be written fails here, before anything is read.
        save(&saved_positions)?;
    }
    let limit_reached = |printer: &Printer| options.count.is_some_and(|n| printer.printed >= n);
    loop {
        let batch = match options.idle_timeout {
            Some(idle) => match tokio::time::timeout_at(last_record + idle, reader.next()).await {
                Ok(batch) => batch?,
                Err(_) => {
                    let idle = humantime::format_duration(idle);
                    tracing::info!("no record for {idle}; exiting");
                    return Ok(());
                }
            },
            None => reader.next().await?,
        };
        if !batch.records.is_empty() {
            last_record = tokio::time::Instant::now();
        }
        let mut stop = false;
        let mut last_printed: Option<&str> = None;
        'records: for record in &batch.records {
            for user in decode(record) {
                if limit_reached(printer) {
                    stop = true;
                    break 'records;
                }
                printer
                    .write(&mut *out, &batch.shard_id, record, &user)
                    .map_err(ConsumeError::Output)?;
            }
            // The whole record is printed: a restart resumes after it.
            last_printed = Some(&record.sequence_number);
        }
        stop |= limit_reached(printer);
        if !batch.records.is_empty() || stop || batch.millis_behind_latest == 0 {
            out.flush().map_err(ConsumeError::Output)?;
        }
        let mut positions = reader.positions();
        let complete = last_printed == batch.records.last().map(|r| r.sequence_number.as_str());
        if !complete {
            // Stopped inside the batch: the rest must be read again.
            positions.finished.remove(&batch.shard_id);
            let resume = last_printed.or(saved_positions
                .shards
                .get(&batch.shard_id)
                .map(String::as_str));
            match resume {
                Some(seq) => positions.advance(&batch.shard_id, seq),
                None => {
                    positions.shards.remove(&batch.shard_id);
                }
            }
        }
        if positions != saved_positions {
            save(&positions)?;
            saved_positions = positions;
        }
        if stop || (options.until_caught_up && batch.caught_up) {
            return Ok(());
        }
    }
}
