//! Time sources.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of wall-clock time in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;
}

fn system_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        system_millis()
    }
}

/// The system clock plus an offset that tests advance (never slept for), or a
/// frozen clock that only [`ManualClock::advance`] moves.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    offset_ms: Arc<AtomicU64>,
    /// Frozen start time; `None` follows the system clock.
    frozen_at: Option<u64>,
}

impl ManualClock {
    /// A clock that starts at the system time and runs with it.
    pub fn new() -> Self {
        Self::default()
    }

    /// A clock stopped at the current system time: only `advance` moves it, so
    /// tests of per-second limits never see a second turn over by itself.
    pub fn frozen() -> Self {
        ManualClock {
            offset_ms: Arc::default(),
            frozen_at: Some(system_millis()),
        }
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.frozen_at
            .unwrap_or_else(system_millis)
            .saturating_add(self.offset_ms.load(Ordering::SeqCst))
    }
}
