//! The group-commit gate: the requests on their way into the open write
//! transaction, which its committer lets in before it commits.
//!
//! Without it, the first request to finish applying its writes committed at
//! once, while the others that had queued up during the previous commit were
//! still waiting for the lock: groups of one or two requests, each paying a
//! commit (measured 2026-12-03 on a ride-file load: ~90 items a group).

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The longest a committer waits for requests still applying their writes.
const GATHER_AT_MOST: Duration = Duration::from_millis(5);

#[derive(Default)]
pub(super) struct Gate {
    /// Requests between their arrival and the end of their writes.
    on_the_way: Mutex<usize>,
    applied: Condvar,
}

/// One request on its way; leaving (even through an error) lets it go.
pub(super) struct OnTheWay<'a>(&'a Gate);

impl Gate {
    pub(super) fn arrive(&self) -> OnTheWay<'_> {
        *super::lock(&self.on_the_way) += 1;
        OnTheWay(self)
    }

    /// Waits until no request is applying writes (they join the open
    /// transaction), or [`GATHER_AT_MOST`].
    pub(super) fn gather(&self) {
        let deadline = Instant::now() + GATHER_AT_MOST;
        let mut n = super::lock(&self.on_the_way);
        while *n > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            n = match self.applied.wait_timeout(n, left) {
                Ok((n, _)) => n,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Drop for OnTheWay<'_> {
    fn drop(&mut self) {
        let mut n = super::lock(&self.0.on_the_way);
        *n -= 1;
        if *n == 0 {
            self.0.applied.notify_all();
        }
    }
}
