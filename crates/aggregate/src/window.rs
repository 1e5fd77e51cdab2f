//! Pure tumbling-window logic: no I/O, no clock. Time comes in with the
//! records (arrival or `StatusTime`) and through [`Aggregator::advance_watermark`].

use std::collections::BTreeMap;
use std::time::Duration;

use sensor::{Status, StatusTime, Summary};
use serde::{Deserialize, Serialize};

/// Longest partition key Kinesis accepts (a summary is keyed by Name).
const MAX_NAME_LEN: usize = 256;

/// A window's total Distance must stay below this to be a summary's
/// Distance (an i64): 2^63.
const DISTANCE_LIMIT: f64 = 9_223_372_036_854_775_808.0;

/// Bytes of a bad record shown in a log line.
const PREVIEW_BYTES: usize = 120;

/// Text from a record made safe for a log line: control characters (a
/// terminal's escape sequences, bells, line breaks) are written escaped,
/// e.g. `\u{1b}`, so a record cannot forge or garble log lines.
pub fn escape_for_log(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The start of a record for a log line: at most [`PREVIEW_BYTES`] bytes,
/// invalid UTF-8 replaced and control characters escaped.
pub fn preview(data: &[u8]) -> String {
    let mut out = escape_for_log(&String::from_utf8_lossy(
        &data[..data.len().min(PREVIEW_BYTES)],
    ));
    if data.len() > PREVIEW_BYTES {
        out.push('…');
    }
    out
}

/// Which clock assigns a record to a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeMode {
    /// The record's arrival time in the stream (Kinesis
    /// `ApproximateArrivalTimestamp`, like the SQL application's ROWTIME).
    /// Deterministic on re-read, so a window emitted again after a crash has
    /// identical content.
    Processing,
    /// The record's own `StatusTime`. The watermark follows the largest
    /// `StatusTime` seen minus `allowed_lateness`; a record whose window has
    /// already closed is counted as late and skipped.
    Event {
        #[serde(with = "millis")]
        allowed_lateness: Duration,
    },
}

/// How windows are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregatorConfig {
    /// Window length (a minute by default; at least 1 ms).
    #[serde(with = "millis")]
    pub window: Duration,
    pub time: TimeMode,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(60),
            time: TimeMode::Processing,
        }
    }
}

impl AggregatorConfig {
    /// The window length in milliseconds (at least 1).
    pub fn window_millis(&self) -> i64 {
        i64::try_from(self.window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1)
    }

    fn lateness_millis(&self) -> i64 {
        match self.time {
            TimeMode::Processing => 0,
            TimeMode::Event { allowed_lateness } => {
                i64::try_from(allowed_lateness.as_millis()).unwrap_or(i64::MAX)
            }
        }
    }
}

/// Running totals of one unicorn in one window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Accumulator {
    pub distance: f64,
    pub min_magic_points: i64,
    pub max_magic_points: i64,
    pub min_health_points: i64,
    pub max_health_points: i64,
    pub records: u64,
}

impl Accumulator {
    fn new(status: &Status) -> Self {
        Self {
            distance: status.distance,
            min_magic_points: status.magic_points,
            max_magic_points: status.magic_points,
            min_health_points: status.health_points,
            max_health_points: status.health_points,
            records: 1,
        }
    }

    fn add(&mut self, status: &Status) {
        self.distance += status.distance;
        self.min_magic_points = self.min_magic_points.min(status.magic_points);
        self.max_magic_points = self.max_magic_points.max(status.magic_points);
        self.min_health_points = self.min_health_points.min(status.health_points);
        self.max_health_points = self.max_health_points.max(status.health_points);
        self.records += 1;
    }

    fn summary(&self, name: &str, start: i64) -> Summary {
        Summary {
            name: name.to_owned(),
            status_time: StatusTime::from_millis(start),
            // `as` saturates: no panic even on absurd sums.
            distance: self.distance.round() as i64,
            min_magic_points: self.min_magic_points,
            max_magic_points: self.max_magic_points,
            min_health_points: self.min_health_points,
            max_health_points: self.max_health_points,
        }
    }
}

/// What happened to the records given so far (kept in the state, so the
/// figures survive restarts).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Valid records added to a window.
    pub accepted: u64,
    /// Records that are not a valid status (skipped).
    pub invalid: u64,
    /// Valid records whose window had already closed (skipped).
    pub late: u64,
    /// Summaries handed out (closed windows).
    pub emitted: u64,
}

/// Everything needed to resume: the open windows, the watermark and the
/// counters. Serialise it together with the source positions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AggregatorState {
    /// Window start (epoch ms) -> unicorn Name -> totals.
    pub windows: BTreeMap<i64, BTreeMap<String, Accumulator>>,
    /// Windows ending at or before this time (epoch ms) are closed.
    pub watermark: Option<i64>,
    /// Largest event time seen (event-time mode).
    pub max_event_time: Option<i64>,
    pub counters: Counters,
}

/// What [`Aggregator::push`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    /// Added to the window starting at this time.
    Accepted(StatusTime),
    /// Not a valid status: counted and skipped.
    Invalid,
    /// Its window had already closed: counted and skipped.
    Late(StatusTime),
}

/// Tumbling-window aggregation keyed by (window start, Name).
#[derive(Debug, Clone)]
pub struct Aggregator {
    config: AggregatorConfig,
    state: AggregatorState,
}

impl Aggregator {
    pub fn new(config: AggregatorConfig) -> Self {
        Self::with_state(config, AggregatorState::default())
    }

    /// Resumes from a saved state.
    pub fn with_state(config: AggregatorConfig, state: AggregatorState) -> Self {
        Self { config, state }
    }

    pub fn config(&self) -> &AggregatorConfig {
        &self.config
    }

    pub fn state(&self) -> &AggregatorState {
        &self.state
    }

    pub fn into_state(self) -> AggregatorState {
        self.state
    }

    pub fn counters(&self) -> Counters {
        self.state.counters
    }

    /// The current watermark (windows ending at or before it are closed).
    pub fn watermark(&self) -> Option<StatusTime> {
        self.state.watermark.map(StatusTime::from_millis)
    }

    /// Number of (window, unicorn) pairs still open.
    pub fn open_windows(&self) -> usize {
        self.state.windows.values().map(BTreeMap::len).sum()
    }

    /// Adds one raw record. `arrival` is the stream's arrival time (used in
    /// processing-time mode; when it is missing the record's `StatusTime`
    /// stands in). Invalid records are logged (tracing, stderr) and counted.
    pub fn push(&mut self, data: &[u8], arrival: Option<StatusTime>) -> Pushed {
        let status = match Status::from_json(data) {
            Ok(status) if status.name.len() <= MAX_NAME_LEN => status,
            Ok(status) => {
                self.state.counters.invalid += 1;
                tracing::warn!(
                    len = status.name.len(),
                    "skipping record: Name longer than {MAX_NAME_LEN} bytes cannot be a partition key"
                );
                return Pushed::Invalid;
            }
            Err(err) => {
                self.state.counters.invalid += 1;
                tracing::warn!(
                    record = %preview(data),
                    "skipping record: {}",
                    escape_for_log(&err.to_string())
                );
                return Pushed::Invalid;
            }
        };
        self.push_status(&status, arrival)
    }

    /// Adds one already parsed status (see [`Aggregator::push`]). A status
    /// whose Distance would take its window's total past what a summary
    /// holds (2^63) is invalid: counted, logged and skipped.
    pub fn push_status(&mut self, status: &Status, arrival: Option<StatusTime>) -> Pushed {
        let at = match self.config.time {
            TimeMode::Processing => arrival.unwrap_or(status.status_time),
            TimeMode::Event { .. } => status.status_time,
        }
        .as_millis();
        let width = self.config.window_millis();
        let start = StatusTime::from_millis(at).floor(width).as_millis();
        if let TimeMode::Event { .. } = self.config.time {
            let max = self.state.max_event_time.map_or(at, |m| m.max(at));
            self.state.max_event_time = Some(max);
        }
        if self
            .state
            .watermark
            .is_some_and(|wm| start.saturating_add(width) <= wm)
        {
            self.state.counters.late += 1;
            tracing::warn!(
                name = %escape_for_log(&status.name),
                time = %StatusTime::from_millis(at),
                "skipping late record: its window closed already"
            );
            return Pushed::Late(StatusTime::from_millis(start));
        }
        let so_far = self
            .state
            .windows
            .get(&start)
            .and_then(|names| names.get(&status.name))
            .map_or(0.0, |acc| acc.distance);
        if (so_far + status.distance).round() >= DISTANCE_LIMIT {
            self.state.counters.invalid += 1;
            tracing::warn!(
                name = %escape_for_log(&status.name),
                distance = status.distance,
                "skipping record: its Distance takes the window's total past what a summary holds (2^63)"
            );
            return Pushed::Invalid;
        }
        self.state.counters.accepted += 1;
        let names = self.state.windows.entry(start).or_default();
        match names.get_mut(&status.name) {
            Some(acc) => acc.add(status),
            None => {
                names.insert(status.name.clone(), Accumulator::new(status));
            }
        }
        Pushed::Accepted(StatusTime::from_millis(start))
    }

    /// Moves the watermark to `to` (never backwards) and returns the
    /// summaries of the windows that closed, ordered by window start then
    /// Name. In event-time mode the watermark also follows the largest
    /// `StatusTime` seen minus the allowed lateness; pass the wall clock minus
    /// the lateness to close windows while the stream is idle.
    pub fn advance_watermark(&mut self, to: StatusTime) -> Vec<Summary> {
        self.raise(to.as_millis());
        self.close_ready()
    }

    /// Closes what the current watermark allows (in event-time mode the
    /// watermark first follows the largest `StatusTime` seen).
    pub fn close_ready(&mut self) -> Vec<Summary> {
        if let Some(max) = self.state.max_event_time {
            self.raise(max.saturating_sub(self.config.lateness_millis()));
        }
        let Some(wm) = self.state.watermark else {
            return Vec::new();
        };
        let width = self.config.window_millis();
        let mut out = Vec::new();
        while let Some(entry) = self.state.windows.first_entry() {
            if entry.key().saturating_add(width) > wm {
                break;
            }
            let start = *entry.key();
            for (name, acc) in entry.remove() {
                out.push(acc.summary(&name, start));
            }
        }
        self.state.counters.emitted += out.len() as u64;
        out
    }

    /// Closes every open window (end of a shard, Lambda's final invocation).
    pub fn flush(&mut self) -> Vec<Summary> {
        let width = self.config.window_millis();
        if let Some(last) = self.state.windows.last_key_value().map(|(k, _)| *k) {
            self.raise(last.saturating_add(width));
        }
        self.close_ready()
    }

    fn raise(&mut self, to: i64) {
        let wm = self.state.watermark.map_or(to, |w| w.max(to));
        self.state.watermark = Some(wm);
    }
}

/// One record of a Lambda-style invocation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputRecord {
    /// The record's data (the JSON status line).
    pub data: Vec<u8>,
    /// Arrival time in the stream, epoch milliseconds.
    pub arrival_millis: Option<i64>,
}

/// What a Lambda tumbling-window invocation receives.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// The state returned by the previous invocation (none at first).
    pub state: Option<AggregatorState>,
    pub records: Vec<InputRecord>,
    /// Processing time reached (e.g. the invocation's window end or the
    /// wall clock): closes the windows ending at or before it.
    pub watermark_millis: Option<i64>,
    /// Lambda's `isFinalInvokeForWindow` (or a shard's end): close everything.
    pub is_final: bool,
}

/// What a Lambda tumbling-window invocation returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub state: AggregatorState,
    /// Summaries of the windows that closed, by window start then Name.
    pub summaries: Vec<Summary>,
}

/// A Lambda-style entry point: state and a batch in, state and the
/// summaries of closed windows out. Runs exactly the code the runner runs.
pub fn handle(config: AggregatorConfig, invocation: Invocation) -> Response {
    let mut agg = Aggregator::with_state(config, invocation.state.unwrap_or_default());
    for record in &invocation.records {
        agg.push(
            &record.data,
            record.arrival_millis.map(StatusTime::from_millis),
        );
    }
    let mut summaries = match invocation.watermark_millis {
        Some(wm) => agg.advance_watermark(StatusTime::from_millis(wm)),
        None => agg.close_ready(),
    };
    if invocation.is_final {
        summaries.extend(agg.flush());
    }
    Response {
        state: agg.into_state(),
        summaries,
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
