//! Group commit: a request applies its writes to the open write group
//! ([`Store::apply`]), then waits until that group is durable
//! ([`Store::wait`] on a thread, [`Store::durable`] in a task). The first
//! waiter to find no commit running commits the open group for everyone in
//! it; requests applying meanwhile form the next group, so a sync is shared
//! by every request that arrived during the previous one. A thread's waiter
//! commits one group and returns; a task's waiter has a blocking thread
//! commit, which goes on with the next group as long as requests applied
//! writes to it (the journal syncs back to back under load) while each
//! task returns as soon as its own group is durable.
//!
//! Before committing, the committer lets in the requests still applying
//! their writes ([`Gate`]). Without it, the first request to finish
//! applying committed at once, while the others that had queued up during
//! the previous commit were still waiting for the lock: groups of one or
//! two requests, each paying a commit (measured 2026-12-03 on a ride-file
//! load: ~90 items a group).

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::{lock, Store, StoreError, Writer};

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
        *lock(&self.on_the_way) += 1;
        OnTheWay(self)
    }

    /// Waits until no request is applying writes (they join the open
    /// transaction), or [`GATHER_AT_MOST`].
    pub(super) fn gather(&self) {
        let deadline = Instant::now() + GATHER_AT_MOST;
        let mut n = lock(&self.on_the_way);
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
        let mut n = lock(&self.0.on_the_way);
        *n -= 1;
        if *n == 0 {
            self.0.applied.notify_all();
        }
    }
}

/// The write group a request's writes were applied to: what it waits for.
#[must_use = "the writes are acknowledged only once their group is durable"]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

/// Which groups are durable: the number of the last committed one, the
/// groups whose commit failed, whether a commit is running; threads wait on
/// `done`, tasks on `last`.
pub(super) struct Durable {
    state: Mutex<State>,
    done: Condvar,
    last: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    last: u64,
    failed: BTreeSet<u64>,
    committing: bool,
}

impl Default for Durable {
    fn default() -> Self {
        Durable {
            state: Mutex::default(),
            done: Condvar::new(),
            last: watch::Sender::new(0),
        }
    }
}

/// What a waiter found: its group's fate, or what to do next.
enum Turn {
    Done(Result<(), StoreError>),
    /// No commit is running: commit the open group.
    Lead,
    /// A commit is running: wait for it.
    Wait,
}

impl State {
    fn turn(&mut self, Ticket(group): Ticket) -> Turn {
        if self.last >= group {
            return Turn::Done(if self.failed.contains(&group) {
                Err(StoreError::Redb(format!(
                    "commit of write group {group} failed"
                )))
            } else {
                Ok(())
            });
        }
        if self.committing {
            return Turn::Wait;
        }
        self.committing = true;
        Turn::Lead
    }
}

impl Store {
    /// Runs `f` on the open write group: its changes are visible to later
    /// requests' writes at once, and durable (and acknowledged) once the
    /// returned ticket's group is ([`Store::wait`], [`Store::durable`]).
    /// `f` must write nothing when it returns an error: its writes would be
    /// committed with the others'.
    pub(crate) fn apply<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&mut Writer<'_>) -> Result<T, E>,
    ) -> Result<(T, Ticket), E> {
        let _on_the_way = self.gate.arrive();
        let mut guard = lock(&self.open);
        let open = &mut *guard;
        let mut w = Writer::new(self, &mut open.staged);
        let out = f(&mut w)?;
        w.flush_stats()?;
        Ok((out, Ticket(open.group)))
    }

    /// Blocks until `ticket`'s group is durable, committing it (and the
    /// groups before it) when nobody else is.
    pub(crate) fn wait(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut st = lock(&self.durable.state);
        loop {
            match st.turn(ticket) {
                Turn::Done(result) => return result,
                Turn::Wait => {
                    st = self
                        .durable
                        .done
                        .wait(st)
                        .unwrap_or_else(|p| p.into_inner());
                }
                Turn::Lead => {
                    drop(st);
                    self.lead(false);
                    st = lock(&self.durable.state);
                }
            }
        }
    }

    /// [`Store::wait`] for a task: waits without holding a thread; when the
    /// group needs a committer, `commit` must start `lead(true)` on a thread
    /// that may block (the journal's sync), and not wait for it (it goes on
    /// while groups keep coming).
    pub(crate) async fn durable(
        &self,
        ticket: Ticket,
        commit: impl Fn(),
    ) -> Result<(), StoreError> {
        loop {
            // Subscribed before looking, so no commit's news is missed.
            let mut news = self.durable.last.subscribe();
            let turn = lock(&self.durable.state).turn(ticket);
            match turn {
                Turn::Done(result) => return result,
                Turn::Wait => {
                    // The sender lives as long as the store.
                    let _ = news.changed().await;
                }
                Turn::Lead => commit(),
            }
        }
    }

    /// Commits the open group, for a waiter whose turn said to lead, and
    /// wakes its waiters; with `keep_on`, goes on with the next group while
    /// requests have applied writes to it meanwhile (no waiter has to wake
    /// up to lead it: the journal syncs back to back under load).
    pub(crate) fn lead(&self, keep_on: bool) {
        // Should a commit panic, the next waiter leads instead of all
        // waiting for a commit that never ends.
        struct Unwinding<'a>(&'a Durable);
        impl Drop for Unwinding<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    lock(&self.0.state).committing = false;
                    self.0.done.notify_all();
                    self.0.last.send_modify(|_| {});
                }
            }
        }
        let _unwinding = Unwinding(&self.durable);
        loop {
            let (group, failed) = self.commit_open();
            let more = keep_on && !lock(&self.open).staged.is_empty();
            let mut st = lock(&self.durable.state);
            st.last = group;
            if failed {
                st.failed.insert(group);
            }
            // A request applying from now on finds no commit running and
            // leads its group itself.
            st.committing = more;
            drop(st);
            self.durable.done.notify_all();
            self.durable.last.send_replace(group);
            if !more {
                return;
            }
        }
    }

    /// Commits the open write group, once the requests already applying
    /// their writes are in; returns its number and whether its commit
    /// failed.
    fn commit_open(&self) -> (u64, bool) {
        let mut committed = lock(&self.committed);
        self.gate.gather();
        let group = {
            let mut open = lock(&self.open);
            let group = open.group;
            open.group += 1;
            // Staged as the group being committed before the next
            // group's requests can read.
            let staged = std::mem::take(&mut open.staged);
            self.buffer
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .committing = staged;
            group
        };
        let failed = match self.commit(committed.journal.as_mut()) {
            Ok(()) => false,
            Err(e) => {
                tracing::error!(error = %e, "dynamodb commit failed");
                true
            }
        };
        (group, failed)
    }
}
