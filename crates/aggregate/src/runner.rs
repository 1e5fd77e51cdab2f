//! The long-running aggregator: source stream -> windows -> summary stream.
//!
//! Restart safety: after every closed window's summaries were acknowledged by
//! PutRecords, the window state and the reader's positions are saved together
//! in one state file (written to a temporary file, fsynced, renamed). A kill -9
//! resumes from the last save: the records read since are read again, the
//! same windows rebuilt, and a window whose put was not acknowledged is put
//! again with identical content (same Name + StatusTime key).

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use kinesis::writer::{BatchWriter, Record as PutRecord, WriteError};
use kinesis::{ConnectError, ConnectOptions, Positions, ReadError, Reader, ReaderOptions};
use sensor::{StatusTime, Summary};
use serde::{Deserialize, Serialize};

use crate::window::{Aggregator, AggregatorConfig, AggregatorState, Counters, TimeMode};

pub use kinesis::StartPosition;

/// Everything `wildrydes aggregate` passes in.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Region, endpoint, timeouts (`--region`, `--endpoint`).
    pub connect: ConnectOptions,
    /// `--source` (default `wildrydes`).
    pub source: String,
    /// `--destination` (default `wildrydes-summary`).
    pub destination: String,
    /// `--window` and `--time`/`--lateness`.
    pub aggregation: AggregatorConfig,
    /// `--state FILE`: open windows + source positions; without it nothing
    /// survives a restart.
    pub state_file: Option<PathBuf>,
    /// Where a first run (no state file yet) starts reading.
    pub start: StartPosition,
    /// Processing time: how long after the wall clock a record can still
    /// arrive with an earlier arrival timestamp (visibility lag, clock skew).
    /// Event time: added to the lateness when the idle stream's windows are
    /// closed by the wall clock.
    pub grace: Duration,
    /// How often the watermark is re-evaluated while the stream is idle.
    pub tick: Duration,
    /// Longest time between two saves while records keep coming.
    pub save_interval: Duration,
    /// Reader tuning (poll interval etc.); `stream`, `start` and `positions`
    /// are overwritten from the fields above.
    pub reader: Option<ReaderOptions>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            connect: ConnectOptions::default(),
            source: "wildrydes".into(),
            destination: "wildrydes-summary".into(),
            aggregation: AggregatorConfig::default(),
            state_file: None,
            start: StartPosition::Latest,
            grace: Duration::from_secs(2),
            tick: Duration::from_millis(250),
            save_interval: Duration::from_secs(5),
            reader: None,
        }
    }
}

/// Figures of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Records read from the source in this run.
    pub records_read: u64,
    /// Summaries acknowledged by the destination in this run.
    pub summaries_written: u64,
    /// Totals kept in the state (across restarts when a state file is used).
    pub counters: Counters,
    /// (window, unicorn) pairs still open at shutdown (saved, not emitted).
    pub open_windows: usize,
    /// State saves in this run.
    pub saves: u64,
}

/// Why the aggregator stopped.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    #[error("cannot connect to kinesis: {0}")]
    Connect(#[from] ConnectError),
    #[error("reading the source stream failed: {0}")]
    Read(#[from] ReadError),
    #[error("writing summaries to the destination stream failed: {0}")]
    Write(#[from] WriteError),
    #[error("cannot read state file {path}: {detail}; fix or delete it to start afresh")]
    LoadState { path: PathBuf, detail: String },
    #[error("cannot save state file {path}: {source}; check the directory is writable")]
    SaveState {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot use state file {path}: {problem}")]
    StateDir { path: PathBuf, problem: String },
    /// The source positions saved in the state file are of another stream.
    #[error(transparent)]
    OtherStream(#[from] kinesis::checkpoint::CheckpointError),
    #[error(
        "state file {path} was written with {saved}, not {requested}; \
         use the same --window/--time or another --state file"
    )]
    ConfigMismatch {
        path: PathBuf,
        saved: String,
        requested: String,
    },
}

/// The state file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    pub version: u32,
    pub source: String,
    pub config: AggregatorConfig,
    pub aggregator: AggregatorState,
    pub positions: Positions,
}

/// Checks that a state file can be written where it is named (its
/// directory exists and takes new files), so that a bad `--state` fails at
/// the start instead of at the first save, after reading.
pub fn check_state_file(path: &Path) -> Result<(), AggregateError> {
    let problem = |problem: String| AggregateError::StateDir {
        path: path.to_owned(),
        problem,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(problem(format!("{} is not a directory", dir.display()))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(problem(format!(
                "directory {} does not exist; create it first",
                dir.display()
            )))
        }
        Err(err) => return Err(problem(format!("{}: {err}", dir.display()))),
    }
    if path.is_dir() {
        return Err(problem("it is a directory; name a file".into()));
    }
    // The temporary file a save writes: proves the directory takes new files.
    let tmp = tmp_path(path);
    std::fs::File::create(&tmp)
        .and_then(|_| std::fs::remove_file(&tmp))
        .map_err(|err| problem(format!("cannot create files in {}: {err}", dir.display())))
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Reads a state file; `Ok(None)` when it does not exist.
pub fn load_state(path: &Path) -> Result<Option<SavedState>, AggregateError> {
    kinesis::state_file::load(path).map_err(|err| AggregateError::LoadState {
        path: path.to_owned(),
        detail: err.to_string(),
    })
}

/// Writes a state file atomically (see [`kinesis::state_file::save`]).
pub fn save_state(path: &Path, state: &SavedState) -> Result<(), AggregateError> {
    kinesis::state_file::save(path, state).map_err(|source| AggregateError::SaveState {
        path: path.to_owned(),
        source,
    })
}

fn to_put(summary: &Summary) -> PutRecord {
    PutRecord::new(summary.name.clone(), summary.to_json_line())
}

/// Runs until `shutdown` completes (then saves the open windows and returns)
/// or an error no retry can fix occurs.
pub async fn run(
    options: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<RunStats, AggregateError> {
    let config = options.aggregation;
    if let Some(path) = &options.state_file {
        check_state_file(path)?;
    }
    let (aggregator, mut positions) = match &options.state_file {
        Some(path) => match load_state(path)? {
            Some(saved) => {
                if saved.config != config || saved.source != options.source {
                    return Err(AggregateError::ConfigMismatch {
                        path: path.clone(),
                        saved: format!("{:?} on {}", saved.config, saved.source),
                        requested: format!("{config:?} on {}", options.source),
                    });
                }
                (
                    Aggregator::with_state(config, saved.aggregator),
                    saved.positions,
                )
            }
            None => (Aggregator::new(config), Positions::default()),
        },
        None => (Aggregator::new(config), Positions::default()),
    };
    let mut agg = aggregator;
    let conn = kinesis::connect(&options.connect).await?;
    // Source positions belong to one stream, as a consumer's checkpoint.
    let mut upgraded = false;
    if let Some(path) = &options.state_file {
        let source = conn
            .describe_stream(&options.source)
            .await
            .map_err(ReadError::from)?;
        upgraded = kinesis::checkpoint::bind(path, &mut positions, &source)?;
    }
    let mut reader_options = options
        .reader
        .clone()
        .unwrap_or_else(|| ReaderOptions::new(&options.source, options.start.clone()));
    reader_options.stream = options.source.clone();
    reader_options.start = options.start.clone();
    reader_options.positions = positions;
    let mut reader = Reader::start(conn.clone(), reader_options);
    let writer = BatchWriter::new(conn, &options.destination);
    let mut stats = RunStats::default();
    if upgraded {
        save(&options, &agg, &reader, &mut stats)?;
    }

    let grace = i64::try_from(options.grace.as_millis()).unwrap_or(i64::MAX);
    let lateness = match config.time {
        TimeMode::Processing => 0,
        TimeMode::Event { allowed_lateness } => {
            i64::try_from(allowed_lateness.as_millis()).unwrap_or(i64::MAX)
        }
    };
    // Processing time: how far each shard is known to have progressed.
    let mut progress: HashMap<String, i64> = HashMap::new();
    let mut dirty = false;
    let mut last_save = Instant::now();
    let mut tick = tokio::time::interval(options.tick.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let shutdown = shutdown;
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            batch = reader.next() => {
                let batch = batch?;
                let now = Utc::now().timestamp_millis();
                for record in &batch.records {
                    let arrival = record.arrival.map(StatusTime::from);
                    agg.push(&record.data, arrival);
                    if let Some(a) = arrival {
                        let p = progress.entry(batch.shard_id.clone()).or_insert(a.as_millis());
                        *p = (*p).max(a.as_millis());
                    }
                }
                stats.records_read += batch.records.len() as u64;
                if batch.millis_behind_latest <= 0 {
                    let p = progress.entry(batch.shard_id.clone()).or_insert(now - grace);
                    *p = (*p).max(now - grace);
                }
                if batch.shard_ended {
                    progress.remove(&batch.shard_id);
                }
                dirty |= !batch.records.is_empty() || batch.shard_ended;
            }
            _ = tick.tick() => {}
        }
        let closed = match config.time {
            TimeMode::Processing => {
                let shards = reader.shards();
                let wm = shards
                    .iter()
                    .map(|s| progress.get(s).copied())
                    .collect::<Option<Vec<_>>>()
                    .and_then(|v| v.into_iter().min());
                match wm {
                    Some(wm) if !shards.is_empty() => {
                        agg.advance_watermark(StatusTime::from_millis(wm))
                    }
                    _ => agg.close_ready(),
                }
            }
            TimeMode::Event { .. } => {
                if reader.caught_up() {
                    let now = Utc::now().timestamp_millis();
                    let wm = now.saturating_sub(lateness).saturating_sub(grace);
                    agg.advance_watermark(StatusTime::from_millis(wm))
                } else {
                    agg.close_ready()
                }
            }
        };
        if !closed.is_empty() {
            let n = closed.len() as u64;
            writer
                .put_records(closed.iter().map(to_put).collect())
                .await?;
            stats.summaries_written += n;
            tracing::debug!(summaries = n, "windows closed and written");
            // Acknowledged: save at once so they are not emitted again.
            save(&options, &agg, &reader, &mut stats)?;
            dirty = false;
            last_save = Instant::now();
        } else if dirty && last_save.elapsed() >= options.save_interval {
            save(&options, &agg, &reader, &mut stats)?;
            dirty = false;
            last_save = Instant::now();
        }
    }
    save(&options, &agg, &reader, &mut stats)?;
    stats.counters = agg.counters();
    stats.open_windows = agg.open_windows();
    Ok(stats)
}

fn save(
    options: &RunOptions,
    agg: &Aggregator,
    reader: &Reader,
    stats: &mut RunStats,
) -> Result<(), AggregateError> {
    let Some(path) = &options.state_file else {
        return Ok(());
    };
    let state = SavedState {
        version: 1,
        source: options.source.clone(),
        config: *agg.config(),
        aggregator: agg.state().clone(),
        positions: reader.positions(),
    };
    save_state(path, &state)?;
    stats.saves += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn options(engine: &engine::EngineHandle, state: &Path) -> RunOptions {
        let options = RunOptions {
            connect: ConnectOptions {
                endpoint: Some(engine.url()),
                region: Some("us-east-1".into()),
                ..ConnectOptions::default()
            },
            state_file: Some(state.to_owned()),
            start: StartPosition::TrimHorizon,
            ..RunOptions::default()
        };
        let conn = kinesis::connect(&options.connect).await.unwrap();
        for stream in [&options.source, &options.destination] {
            conn.ensure_stream(stream, 1).await.unwrap();
        }
        options
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_state_belongs_to_its_source_stream() {
        let engine = engine::spawn_in_memory().await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("agg.json");
        let options = options(&engine, &state).await;
        let conn = kinesis::connect(&options.connect).await.unwrap();
        let source = conn.describe_stream("wildrydes").await.unwrap();
        // Stopped at once: the state is saved with the source stream.
        run(options.clone(), async {}).await.unwrap();
        let saved = load_state(&state).unwrap().unwrap();
        assert_eq!(saved.positions.stream.as_ref(), Some(&source));

        // A state file of an older version: accepted, and upgraded at once.
        let mut old = saved.clone();
        old.positions.stream = None;
        save_state(&state, &old).unwrap();
        let watched = state.clone();
        let upgraded_on_disk = async move {
            while load_state(&watched)
                .ok()
                .flatten()
                .is_none_or(|s| s.positions.stream.is_none())
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(
            Duration::from_secs(30),
            run(options.clone(), upgraded_on_disk),
        )
        .await
        .expect("the upgraded state is saved at the start")
        .unwrap();
        let upgraded = load_state(&state).unwrap().unwrap();
        assert_eq!(upgraded.positions.stream.as_ref(), Some(&source));

        // The source deleted and created again: refused, naming both.
        conn.client
            .delete_stream()
            .stream_name("wildrydes")
            .send()
            .await
            .unwrap();
        conn.ensure_stream("wildrydes", 1).await.unwrap();
        let err = run(options.clone(), async {}).await.unwrap_err();
        assert!(matches!(err, AggregateError::OtherStream(_)), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&source.to_string())
                && text.contains("was deleted and created again")
                && text.contains(&format!("delete {}", state.display())),
            "{text}"
        );
        assert_eq!(load_state(&state).unwrap().unwrap(), upgraded, "unchanged");
    }

    #[tokio::test]
    async fn a_state_file_in_a_missing_directory_fails_before_anything_else() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("missing").join("agg.json");
        let options = RunOptions {
            connect: ConnectOptions {
                // Nothing listens there: the check comes first.
                endpoint: Some("http://127.0.0.1:9".into()),
                ..ConnectOptions::default()
            },
            state_file: Some(state.clone()),
            ..RunOptions::default()
        };
        let err = run(options, async {}).await.unwrap_err();
        assert!(matches!(err, AggregateError::StateDir { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            format!(
                "cannot use state file {}: directory {} does not exist; create it first",
                state.display(),
                dir.path().join("missing").display()
            )
        );
    }
}
