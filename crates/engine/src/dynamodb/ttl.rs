//! Housekeeping on the engine's clock: TTL expiry (items whose TTL
//! attribute, a Number of epoch seconds, is in the past are deleted) and
//! the end of DELETING tables.
//!
//! As on the service, an expired item stays readable until the sweep
//! deletes it. The sweep runs at most once per second of the engine's
//! clock: before a request when the clock has passed the next sweep time
//! (so a test that advances a ManualClock sees the deletion on its next
//! call), and from a background task every second of real time (so an
//! idle server deletes too). It reads the `expiry` entries (table id +
//! expiry second + item key), never the whole table, and deletes at most
//! [`SWEEP_BATCH`] items per table per sweep. As on the service, items
//! whose TTL is more than five years in the past are not deleted.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::service::Service;
use super::store::{Space, StoreError};

/// Most items one sweep deletes per table.
const SWEEP_BATCH: usize = 1000;

/// The service leaves items expired more than five years ago alone.
const FIVE_YEARS_SECS: u64 = 5 * 365 * 24 * 3600;

/// Sweeps every second of real time while the service lives.
pub(super) fn spawn_sweeper(service: &Arc<Service>) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak: Weak<Service> = Arc::downgrade(service);
    rt.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(service) = weak.upgrade() else {
                return;
            };
            let _ = tokio::task::spawn_blocking(move || service.housekeeping()).await;
        }
    });
}

impl Service {
    /// Ends DELETING tables whose time has come, and sweeps expired items
    /// when the clock has passed the next sweep time.
    pub(super) fn housekeeping(&self) {
        let now = self.settle_tables();
        let next = self.next_sweep_ms.load(Ordering::SeqCst);
        if now < next
            || self
                .next_sweep_ms
                .compare_exchange(next, now + 1000, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
        {
            return;
        }
        if let Err(e) = self.sweep(now) {
            tracing::error!(error = %e, "dynamodb TTL sweep");
        }
    }

    /// Applies the tables' throughput changes and ends the DELETING tables
    /// whose time has come; returns the clock time it used.
    pub(super) fn settle_tables(&self) -> u64 {
        let now = self.now_ms();
        self.tables().retain(|_, t| {
            t.settle(now);
            t.deleted_at_ms.is_none_or(|at| now < at)
        });
        now
    }

    /// Whether the clock has passed the next sweep time.
    pub(super) fn sweep_due(&self) -> bool {
        self.now_ms() >= self.next_sweep_ms.load(Ordering::SeqCst)
    }

    fn sweep(&self, now_ms: u64) -> Result<(), StoreError> {
        let now_secs = now_ms / 1000;
        let tables: Vec<_> = self
            .tables()
            .values()
            .filter(|t| t.ttl_attribute.is_some() && t.deleted_at_ms.is_none())
            .cloned()
            .collect();
        for meta in tables {
            let at = |secs: u64| {
                let mut k = meta.id.to_be_bytes().to_vec();
                k.extend(secs.to_be_bytes());
                k
            };
            let from = at(now_secs.saturating_sub(FIVE_YEARS_SECS));
            let to = at(now_secs);
            let mut expired = Vec::new();
            self.store.range(
                Space::Expiry,
                std::ops::Bound::Included(from.as_slice()),
                std::ops::Bound::Excluded(to.as_slice()),
                true,
                |k, _| {
                    expired.push(k.to_vec());
                    expired.len() < SWEEP_BATCH
                },
            )?;
            if expired.is_empty() {
                continue;
            }
            // The table may have changed meanwhile (TTL disabled, deleted).
            let Some(current) = self.tables().get(&meta.name).cloned() else {
                continue;
            };
            if current.id != meta.id || current.ttl_attribute.is_none() {
                continue;
            }
            let deleted = self.store.write::<_, StoreError>(|w| {
                let mut n = 0;
                for e in &expired {
                    let key = &e[16..];
                    // The entry is current when the item still holds that expiry.
                    let old = w.get(key)?;
                    let current_entry = old.as_ref().and_then(|o| current.expiry_key(key, o));
                    if current_entry.as_deref() == Some(e.as_slice()) {
                        current.apply(w, key, old.as_ref(), None)?;
                        n += 1;
                    } else {
                        w.delete_raw(Space::Expiry, e)?;
                    }
                }
                Ok(n)
            })?;
            tracing::debug!(table = %meta.name, deleted, "dynamodb TTL sweep");
        }
        Ok(())
    }
}
