//! The dashboard's state and its fan-out to browsers.
//!
//! The [`Hub`] keeps what a browser needs on connect (every unicorn's latest
//! position and vitals with a short trail, the latest summaries and alerts)
//! and turns every batch read from the streams into one server-sent event,
//! formatted once and shared by every browser ([`Bytes`], reference counted).
//!
//! Each browser has its own bounded buffer: a [`broadcast`] receiver that
//! holds at most [`HubConfig::buffer`] events. Sending never waits for a
//! browser; one that falls that far behind (a slow network, a suspended tab)
//! misses events, and is brought up to date with a fresh snapshot instead
//! (the snapshot and the new receiver are taken under one lock, so nothing
//! is lost or repeated in between). A slow browser never slows the others.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use alert::Alert;
use bytes::Bytes;
use sensor::{Status, Summary};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

/// Sizes of what the hub keeps.
#[derive(Debug, Clone, Copy)]
pub struct HubConfig {
    /// Positions kept per unicorn for its trail (the latest included).
    pub trail: usize,
    /// Latest summaries kept for the table.
    pub summaries: usize,
    /// Latest alerts kept for the list.
    pub alerts: usize,
    /// Events buffered per browser before it is resynchronised.
    pub buffer: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            trail: 30,
            summaries: 100,
            alerts: 100,
            buffer: 64,
        }
    }
}

/// One position for a browser: name, latitude, longitude, MagicPoints,
/// HealthPoints, and when Kinesis accepted the record (Unix milliseconds,
/// for the page's put-to-browser latency).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Position(pub String, pub f64, pub f64, pub i64, pub i64, pub i64);

impl Position {
    /// The browser's view of a status record that arrived at `arrival_ms`.
    pub fn of(status: &Status, arrival_ms: i64) -> Self {
        Self(
            status.name.clone(),
            status.latitude,
            status.longitude,
            status.magic_points,
            status.health_points,
            arrival_ms,
        )
    }
}

#[derive(Debug)]
struct Unicorn {
    latest: Position,
    trail: VecDeque<(f64, f64)>,
}

#[derive(Debug, Default)]
struct State {
    unicorns: HashMap<String, Unicorn>,
    summaries: VecDeque<Summary>,
    alerts: VecDeque<Alert>,
}

/// What a browser gets on connect.
#[derive(Debug, Serialize)]
struct Snapshot<'a> {
    /// [position, trail] per unicorn, by name.
    unicorns: Vec<(&'a Position, &'a VecDeque<(f64, f64)>)>,
    summaries: &'a VecDeque<Summary>,
    alerts: &'a VecDeque<Alert>,
}

/// Counters for logs and benchmarks.
#[derive(Debug, Default)]
pub struct HubStats {
    /// Browsers connected now.
    pub clients: AtomicUsize,
    /// Events broadcast.
    pub events: AtomicU64,
    /// Times a browser fell behind and was resynchronised.
    pub resyncs: AtomicU64,
}

/// The shared state of a dashboard server.
#[derive(Debug)]
pub struct Hub {
    config: HubConfig,
    state: Mutex<State>,
    sender: broadcast::Sender<Bytes>,
    closed: watch::Sender<bool>,
    stats: HubStats,
}

/// One server-sent event: `event: NAME` and one `data:` line of JSON (which
/// never holds a newline).
fn frame(name: &str, data: &impl Serialize) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Plain data into a Vec cannot fail.
    serde_json::to_writer(&mut out, data).expect("event data serialises");
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

impl Hub {
    pub fn new(config: HubConfig) -> Self {
        let (sender, _) = broadcast::channel(config.buffer.max(1));
        let (closed, _) = watch::channel(false);
        Self {
            config,
            state: Mutex::default(),
            sender,
            closed,
            stats: HubStats::default(),
        }
    }

    pub fn stats(&self) -> &HubStats {
        &self.stats
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn broadcast(&self, event: Bytes) {
        self.stats.events.fetch_add(1, Ordering::Relaxed);
        // No browser connected is not an error.
        let _ = self.sender.send(event);
    }

    /// Records new positions (a unicorn's older records than its latest are
    /// ignored) and sends them to every browser as one `positions` event.
    pub fn positions(&self, positions: Vec<Position>) {
        if positions.is_empty() {
            return;
        }
        let mut state = self.state();
        for p in &positions {
            let unicorn = state
                .unicorns
                .entry(p.0.clone())
                .or_insert_with(|| Unicorn {
                    latest: p.clone(),
                    trail: VecDeque::with_capacity(self.config.trail),
                });
            if p.5 < unicorn.latest.5 {
                continue;
            }
            unicorn.latest = p.clone();
            if unicorn.trail.len() == self.config.trail.max(1) {
                unicorn.trail.pop_front();
            }
            unicorn.trail.push_back((p.1, p.2));
        }
        self.broadcast(frame("positions", &positions));
    }

    /// Records new summaries and sends them as one `summaries` event.
    pub fn summaries(&self, summaries: Vec<Summary>) {
        if summaries.is_empty() {
            return;
        }
        let mut state = self.state();
        for s in &summaries {
            if state.summaries.len() == self.config.summaries.max(1) {
                state.summaries.pop_front();
            }
            state.summaries.push_back(s.clone());
        }
        self.broadcast(frame("summaries", &summaries));
    }

    /// Records new alerts and sends them as one `alerts` event.
    pub fn alerts(&self, alerts: Vec<Alert>) {
        if alerts.is_empty() {
            return;
        }
        let mut state = self.state();
        for a in &alerts {
            if state.alerts.len() == self.config.alerts.max(1) {
                state.alerts.pop_front();
            }
            state.alerts.push_back(a.clone());
        }
        self.broadcast(frame("alerts", &alerts));
    }

    /// The current state as a `snapshot` event and a receiver of every
    /// event after it.
    pub fn subscribe(&self) -> (Bytes, broadcast::Receiver<Bytes>) {
        let state = self.state();
        let receiver = self.sender.subscribe();
        (frame("snapshot", &snapshot(&state)), receiver)
    }

    /// The current state as JSON (`GET /snapshot.json`).
    pub fn snapshot_json(&self) -> Vec<u8> {
        let state = self.state();
        serde_json::to_vec(&snapshot(&state)).expect("snapshot serialises")
    }

    /// Number of unicorns seen.
    pub fn unicorns(&self) -> usize {
        self.state().unicorns.len()
    }

    /// Ends every browser's event stream (the server is stopping).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Completes once [`Hub::close`] was called.
    pub fn closed(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    pub(crate) fn count_resync(&self) {
        self.stats.resyncs.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn client_guard(self: &Arc<Self>) -> ClientGuard {
        self.stats.clients.fetch_add(1, Ordering::Relaxed);
        ClientGuard(self.clone())
    }
}

/// Counts a connected browser while it lives.
pub(crate) struct ClientGuard(Arc<Hub>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.stats.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

fn snapshot(state: &State) -> Snapshot<'_> {
    let mut unicorns: Vec<_> = state
        .unicorns
        .values()
        .map(|u| (&u.latest, &u.trail))
        .collect();
    unicorns.sort_by(|a, b| a.0 .0.cmp(&b.0 .0));
    Snapshot {
        unicorns,
        summaries: &state.summaries,
        alerts: &state.alerts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, lat: f64, arrival: i64) -> Position {
        Position(name.into(), lat, -73.98, 150, 150, arrival)
    }

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn a_new_browser_gets_the_latest_state_then_every_event() {
        let hub = Hub::new(HubConfig {
            trail: 2,
            ..HubConfig::default()
        });
        hub.positions(vec![p("B", 40.1, 1), p("A", 40.2, 1)]);
        hub.positions(vec![p("A", 40.3, 2), p("A", 40.4, 3)]);
        let (snapshot, mut rx) = hub.subscribe();
        assert_eq!(
            text(&snapshot),
            "event: snapshot\ndata: {\"unicorns\":[[[\"A\",40.4,-73.98,150,150,3],[[40.3,-73.98],[40.4,-73.98]]],\
             [[\"B\",40.1,-73.98,150,150,1],[[40.1,-73.98]]]],\"summaries\":[],\"alerts\":[]}\n\n"
        );
        hub.positions(vec![p("B", 40.5, 4)]);
        assert_eq!(
            text(&rx.try_recv().unwrap()),
            "event: positions\ndata: [[\"B\",40.5,-73.98,150,150,4]]\n\n"
        );
    }

    #[test]
    fn an_older_record_does_not_move_a_unicorn_back() {
        let hub = Hub::new(HubConfig::default());
        hub.positions(vec![p("A", 40.2, 5), p("A", 40.1, 4)]);
        let json: serde_json::Value = serde_json::from_slice(&hub.snapshot_json()).unwrap();
        assert_eq!(json["unicorns"][0][0][1], 40.2);
    }

    #[test]
    fn a_slow_browser_lags_alone_and_the_sender_never_waits() {
        let hub = Hub::new(HubConfig {
            buffer: 4,
            ..HubConfig::default()
        });
        let (_, mut slow) = hub.subscribe();
        for i in 0..10 {
            hub.positions(vec![p("A", 40.0 + f64::from(i) / 100.0, i64::from(i))]);
            let (_, mut fast) = hub.subscribe();
            hub.alerts(Vec::new());
            assert!(fast.try_recv().is_err(), "nothing after the snapshot yet");
        }
        assert!(matches!(
            slow.try_recv(),
            Err(broadcast::error::TryRecvError::Lagged(6))
        ));
    }
}
