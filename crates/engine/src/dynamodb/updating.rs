//! UpdateTable's throughput and billing-mode changes: the table stays
//! UPDATING for the engine's state delay, and its ProvisionedThroughput
//! keeps the service's bookkeeping (LastIncreaseDateTime,
//! LastDecreaseDateTime, NumberOfDecreasesToday and the daily budget of
//! decreases).
//!
//! As recorded against the service: the UpdateTable answer shows the table
//! UPDATING with its old throughput (a switch to PAY_PER_REQUEST shows 0/0
//! and the new mode at once) and the time of the request as the last
//! increase or decrease; once the change is done, the new throughput, the
//! time it was done, and one more decrease today. Meanwhile another change
//! of the throughput or billing mode is refused (ResourceInUseException),
//! and so is DeleteTable; reads, writes, tags and TTL go on.
//!
//! The change is kept in the table's stored description with the clock
//! time it is done ([`Updating`]); [`TableMeta::settle`] applies it once
//! that time has come (a pure function of the description and the clock, so
//! a restart in between changes nothing).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use super::index::IndexMeta;
use super::service::{str_of, validation, TableMeta};
use super::tables::in_use;
use crate::front::error::{err, ApiError, Code};

/// Which change is in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Change {
    /// New ProvisionedThroughput of a PROVISIONED table.
    Throughput,
    /// A switch from PROVISIONED to PAY_PER_REQUEST.
    ToPayPerRequest,
    /// A switch from PAY_PER_REQUEST to PROVISIONED.
    ToProvisioned,
}

/// A throughput or billing-mode change in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Updating {
    /// Clock time (ms) at which the change is done.
    pub until_ms: u64,
    /// The table's throughput from then on.
    pub read: u64,
    pub write: u64,
    pub change: Change,
}

/// The bookkeeping of a table's ProvisionedThroughput (times in seconds
/// since the epoch).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ThroughputLog {
    pub last_increase: Option<f64>,
    pub last_decrease: Option<f64>,
    /// The UTC day (days since the epoch) `decreases` counts for.
    pub day: u64,
    pub decreases: u32,
    /// When the table last became PAY_PER_REQUEST (None: never, or when it
    /// was created so).
    pub pay_per_request_since: Option<f64>,
}

const DAY_MS: u64 = 86_400_000;

/// Decreases a table gets per UTC day before the hourly budget.
const FREE_DECREASES: u32 = 4;

impl ThroughputLog {
    /// NumberOfDecreasesToday at clock time `now_ms`.
    pub(crate) fn decreases_today(&self, now_ms: u64) -> u32 {
        if now_ms / DAY_MS == self.day {
            self.decreases
        } else {
            0
        }
    }

    /// A ProvisionedThroughput of `read` and `write` with this bookkeeping.
    pub(crate) fn describe(&self, read: u64, write: u64, now_ms: u64) -> Json {
        let mut t = json!({
            "NumberOfDecreasesToday": self.decreases_today(now_ms),
            "ReadCapacityUnits": read,
            "WriteCapacityUnits": write,
        });
        if let Some(at) = self.last_increase {
            t["LastIncreaseDateTime"] = json!(at);
        }
        if let Some(at) = self.last_decrease {
            t["LastDecreaseDateTime"] = json!(at);
        }
        t
    }

    /// Stamps a change from `old` to `new` at `at_ms`: counted as a
    /// decrease when `done` (the answer to the request shows its time only).
    fn stamp(&mut self, old: (u64, u64), new: (u64, u64), at_ms: u64, done: bool) {
        let at = at_ms as f64 / 1000.0;
        if new.0 > old.0 || new.1 > old.1 {
            self.last_increase = Some(at);
        }
        if new.0 < old.0 || new.1 < old.1 {
            self.last_decrease = Some(at);
            if done {
                self.count_decrease(at_ms);
            }
        }
    }

    fn count_decrease(&mut self, at_ms: u64) {
        if at_ms / DAY_MS == self.day {
            self.decreases += 1;
        } else {
            self.day = at_ms / DAY_MS;
            self.decreases = 1;
        }
    }

    /// The service's refusal of a decrease at `now_ms` beyond the day's
    /// budget: four, then one an hour after the last one.
    fn check_decrease(&self, now_ms: u64) -> Result<(), ApiError> {
        let today = self.decreases_today(now_ms);
        let Some(last) = self.last_decrease.map(|s| (s * 1000.0).round() as u64) else {
            return Ok(());
        };
        let next = last.saturating_add(3_600_000);
        if today < FREE_DECREASES || now_ms >= next {
            return Ok(());
        }
        Err(err(
            Code::LimitExceededException,
            format!(
                "Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC day. After the first {FREE_DECREASES} decreases, each subsequent decrease in the same UTC day can be performed at most once every 3600 seconds. Number of decreases today: {today}. Last decrease at {}. Next decrease can be made at {}",
                utc_words(last),
                utc_words(next)
            ),
        ))
    }
}

/// A clock time as the service words it: `Friday, October 9, 2026 at
/// 1:21:34 AM Coordinated Universal Time`.
fn utc_words(ms: u64) -> String {
    let at = i64::try_from(ms)
        .ok()
        .and_then(|ms| {
            time::OffsetDateTime::UNIX_EPOCH.checked_add(time::Duration::milliseconds(ms))
        })
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let (h12, half) = match at.hour() {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!(
        "{}, {} {}, {} at {h12}:{:02}:{:02} {half} Coordinated Universal Time",
        at.weekday(),
        at.month(),
        at.day(),
        at.year(),
        at.minute(),
        at.second()
    )
}

/// UpdateTable's answer to a throughput equal to the table's.
fn unchanged_throughput(read: u64, write: u64) -> ApiError {
    validation(format!(
        "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {read}. Requested ReadCapacityUnits: {read}. Current WriteCapacityUnits provisioned for the table: {write}. Requested WriteCapacityUnits: {write}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
    ))
}

/// Whether a GlobalSecondaryIndexUpdate holds `action` (not null).
pub(super) fn has_action(u: &Map<String, Json>, action: &str) -> bool {
    u.get(action).is_some_and(|a| !a.is_null())
}

impl TableMeta {
    /// Applies a throughput or billing-mode change whose time has come
    /// (at `now_ms`).
    pub(crate) fn settle(&mut self, now_ms: u64) {
        for index in &mut self.indexes {
            index.settle(now_ms);
        }
        let Some(u) = self.updating.take_if(|u| u.until_ms <= now_ms) else {
            return;
        };
        let log = &mut self.throughput_log;
        match u.change {
            Change::ToPayPerRequest => {
                log.pay_per_request_since = Some(u.until_ms as f64 / 1000.0);
                log.last_decrease = None;
            }
            Change::ToProvisioned => {}
            Change::Throughput => log.stamp(
                (self.read_capacity, self.write_capacity),
                (u.read, u.write),
                u.until_ms,
                true,
            ),
        }
        self.read_capacity = u.read;
        self.write_capacity = u.write;
    }

    /// The change in progress at `now_ms`, if any.
    fn in_flight(&self, now_ms: u64) -> Option<Change> {
        self.updating
            .as_ref()
            .filter(|u| now_ms < u.until_ms)
            .map(|u| u.change)
    }

    /// The table's ProvisionedThroughput description at `now_ms`.
    pub(crate) fn throughput_json(&self, now_ms: u64) -> Json {
        self.throughput_log
            .describe(self.read_capacity, self.write_capacity, now_ms)
    }

    /// The table's BillingModeSummary at `now_ms` (None for a table that
    /// was never PAY_PER_REQUEST).
    pub(crate) fn billing_summary(&self, now_ms: u64) -> Option<Json> {
        let since = self.throughput_log.pay_per_request_since;
        if self.billing_mode != "PAY_PER_REQUEST" {
            return since.map(|at| {
                json!({"BillingMode": self.billing_mode, "LastUpdateToPayPerRequestDateTime": at})
            });
        }
        // During a switch to PAY_PER_REQUEST, the mode alone.
        if self.in_flight(now_ms) == Some(Change::ToPayPerRequest) {
            return Some(json!({"BillingMode": "PAY_PER_REQUEST"}));
        }
        Some(json!({
            "BillingMode": "PAY_PER_REQUEST",
            "LastUpdateToPayPerRequestDateTime": since.unwrap_or(self.created),
        }))
    }

    /// UpdateTable's BillingMode and ProvisionedThroughput, on a table
    /// settled at `now_ms`: the service's checks, then the change, done
    /// `delay_ms` later. `updates` are the request's
    /// GlobalSecondaryIndexUpdates. True when the answer shows the table
    /// UPDATING although nothing changes (PAY_PER_REQUEST asked again, as
    /// recorded).
    pub(super) fn update_throughput(
        &mut self,
        req: &Map<String, Json>,
        updates: &[Map<String, Json>],
        now_ms: u64,
        delay_ms: u64,
    ) -> Result<bool, ApiError> {
        let current = self.billing_mode.clone();
        let asked = str_of(req, "BillingMode");
        let mode = asked.unwrap_or(&current).to_string();
        let given = req.get("ProvisionedThroughput").filter(|t| !t.is_null());
        let (read, write) = match (mode.as_str(), given) {
            ("PAY_PER_REQUEST", Some(_)) => {
                return Err(validation(
                    "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                ))
            }
            ("PAY_PER_REQUEST", None) => (0, 0),
            (_, Some(t)) => (
                t["ReadCapacityUnits"].as_u64().unwrap_or(self.read_capacity),
                t["WriteCapacityUnits"]
                    .as_u64()
                    .unwrap_or(self.write_capacity),
            ),
            (_, None) if current != "PROVISIONED" || (asked.is_some() && updates.is_empty()) => {
                return Err(validation(
                    "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
                ))
            }
            (_, None) => (self.read_capacity, self.write_capacity),
        };
        let switch = mode != current;
        let same = (read, write) == (self.read_capacity, self.write_capacity);
        if !switch && given.is_some() && same && updates.is_empty() {
            return Err(unchanged_throughput(read, write));
        }
        let changed = switch || (mode == "PROVISIONED" && !same);
        let index_changes = updates
            .iter()
            .any(|u| has_action(u, "Create") || has_action(u, "Delete"));
        if changed && index_changes {
            return Err(validation(
                "One or more parameter values were invalid: You cannot create or delete index while updating table IOPS",
            ));
        }
        let change = match (current.as_str(), mode.as_str()) {
            ("PROVISIONED", "PAY_PER_REQUEST") => Change::ToPayPerRequest,
            ("PAY_PER_REQUEST", "PROVISIONED") => Change::ToProvisioned,
            _ => Change::Throughput,
        };
        if changed && change == Change::ToProvisioned {
            // Every global index needs its throughput in the same request.
            let missing: Vec<&str> = self
                .indexes
                .iter()
                .filter(|i| i.global)
                .filter(|i| {
                    !updates.iter().any(|u| {
                        u.get("Update").is_some_and(|a| {
                            a["IndexName"] == i.name.as_str()
                                && !a["ProvisionedThroughput"].is_null()
                        })
                    })
                })
                .map(|i| i.name.as_str())
                .collect();
            if !missing.is_empty() {
                return Err(validation(format!(
                    "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {}",
                    missing.join(",")
                )));
            }
        }
        let in_flight = self.in_flight(now_ms);
        if asked == Some("PAY_PER_REQUEST") {
            // Asked again: answered UPDATING, nothing changes; during a
            // switch to PROVISIONED: accepted and lost (both as recorded).
            if current == "PAY_PER_REQUEST" {
                return Ok(true);
            }
            if in_flight == Some(Change::ToProvisioned) {
                return Ok(false);
            }
        }
        let name = &self.name;
        // An index created or deleted also waits for a change in progress.
        let index_waits = index_changes && in_flight.is_some();
        if !changed && !index_waits {
            return Ok(false);
        }
        if in_flight.is_some() {
            return Err(in_use(format!(
                "Table IOPS are currently being updated. Table: {name}"
            )));
        }
        let creating: Vec<&str> = self
            .indexes
            .iter()
            .filter(|i| i.global && i.status(now_ms) == "CREATING")
            .map(|i| i.name.as_str())
            .collect();
        let deleting: Vec<&str> = self
            .deleting_indexes
            .iter()
            .filter(|(_, until)| now_ms < *until)
            .map(|(i, _)| i.name.as_str())
            .collect();
        for (busy, what) in [(creating, "created"), (deleting, "deleted")] {
            if !busy.is_empty() {
                return Err(in_use(format!(
                    "Can't change table IOPS when an index is being {what}. Table: {name} Indexes: [{}]",
                    busy.join(", ")
                )));
            }
        }
        let decrease = read < self.read_capacity || write < self.write_capacity;
        if change == Change::Throughput && decrease {
            self.throughput_log.check_decrease(now_ms)?;
        }
        let now = now_ms as f64 / 1000.0;
        let log = &mut self.throughput_log;
        match change {
            Change::Throughput => log.stamp(
                (self.read_capacity, self.write_capacity),
                (read, write),
                now_ms,
                false,
            ),
            Change::ToPayPerRequest => {
                // Shown at once: the new mode, 0/0, a decrease now.
                log.last_decrease = Some(now);
                self.read_capacity = 0;
                self.write_capacity = 0;
                for i in self.indexes.iter_mut().filter(|i| i.global) {
                    i.read_capacity = 0;
                    i.write_capacity = 0;
                }
            }
            Change::ToProvisioned => {
                log.pay_per_request_since = log.pay_per_request_since.or(Some(self.created));
                self.read_capacity = read;
                self.write_capacity = write;
            }
        }
        self.billing_mode = mode;
        self.updating = Some(Updating {
            until_ms: now_ms.saturating_add(delay_ms),
            read,
            write,
            change,
        });
        // Done at once when the engine has no state delay.
        self.settle(now_ms);
        Ok(false)
    }
}

impl IndexMeta {
    /// Applies the index's throughput change whose time has come.
    pub(crate) fn settle(&mut self, now_ms: u64) {
        let Some(u) = self.updating.take_if(|u| u.until_ms <= now_ms) else {
            return;
        };
        let old = (self.read_capacity, self.write_capacity);
        self.throughput_log
            .stamp(old, (u.read, u.write), u.until_ms, true);
        self.read_capacity = u.read;
        self.write_capacity = u.write;
    }

    /// A GlobalSecondaryIndexUpdate's new throughput for this index of
    /// table `table`: UPDATING for `delay_ms` like the table's own (the
    /// index's old figures meanwhile, the table ACTIVE), or taken at once
    /// when the table is switched to PROVISIONED by the same request.
    pub(super) fn update_throughput(
        &mut self,
        table: &str,
        (read, write): (u64, u64),
        now_ms: u64,
        delay_ms: u64,
        at_once: bool,
    ) -> Result<(), ApiError> {
        if at_once {
            self.read_capacity = read;
            self.write_capacity = write;
            return Ok(());
        }
        if self.updating.as_ref().is_some_and(|u| now_ms < u.until_ms) {
            return Err(in_use(format!(
                "Index is being updated. Table: {table} Index: {}",
                self.name
            )));
        }
        let old = (self.read_capacity, self.write_capacity);
        if (read, write) == old {
            return Ok(());
        }
        if read < old.0 || write < old.1 {
            self.throughput_log.check_decrease(now_ms)?;
        }
        self.throughput_log.stamp(old, (read, write), now_ms, false);
        self.updating = Some(Updating {
            until_ms: now_ms.saturating_add(delay_ms),
            read,
            write,
            change: Change::Throughput,
        });
        self.settle(now_ms);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_worded_as_the_service_words_them() {
        // 2026-10-09T00:21:34Z, a Friday.
        let ms = 1_791_505_294_000;
        assert_eq!(
            utc_words(ms),
            "Friday, October 9, 2026 at 12:21:34 AM Coordinated Universal Time"
        );
        assert_eq!(
            utc_words(ms + 3_600_000),
            "Friday, October 9, 2026 at 1:21:34 AM Coordinated Universal Time"
        );
        assert_eq!(
            utc_words(ms + 13 * 3_600_000),
            "Friday, October 9, 2026 at 1:21:34 PM Coordinated Universal Time"
        );
        // 2000-02-29, a leap day.
        assert_eq!(
            utc_words(951_782_400_000),
            "Tuesday, February 29, 2000 at 12:00:00 AM Coordinated Universal Time"
        );
        assert_eq!(
            utc_words(0),
            "Thursday, January 1, 1970 at 12:00:00 AM Coordinated Universal Time"
        );
    }

    #[test]
    fn decreases_are_counted_per_utc_day_with_an_hourly_budget_after_four() {
        let day = 20_000 * DAY_MS;
        let mut log = ThroughputLog::default();
        for i in 0..4 {
            log.check_decrease(day + i * 1000).unwrap();
            log.count_decrease(day + i * 1000);
            log.last_decrease = Some((day + i * 1000) as f64 / 1000.0);
        }
        assert_eq!(log.decreases_today(day + 5000), 4);
        let refused = log.check_decrease(day + 5000).unwrap_err();
        assert_eq!(refused.code, Code::LimitExceededException);
        assert!(refused.message.contains("Number of decreases today: 4."));
        log.check_decrease(day + 3000 + 3_600_000).unwrap();
        // A new UTC day starts over.
        assert_eq!(log.decreases_today(day + DAY_MS), 0);
        log.check_decrease(day + DAY_MS).unwrap();
    }
}
