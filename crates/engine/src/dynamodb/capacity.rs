//! Capacity units: what each request consumes (answered as ConsumedCapacity
//! when ReturnConsumedCapacity asks, TOTAL or INDEXES), and, with the
//! engine's `enforce_limits`, the provisioned throughput of each
//! PROVISIONED table and global index as token buckets on the engine's
//! clock (on-demand tables are never throttled).
//!
//! The service's arithmetic: a read is one unit per 4 KB of item
//! (rounded up, at least one), half of it when eventually consistent; a
//! write one unit per 1 KB (rounded up, at least one) of the larger of the
//! old and the new item; transactions count each twice; Query and Scan
//! count the total size of the items read, not each item; an index write
//! counts like a table write of the projected item, twice when the
//! index key changes (a delete and a put).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use serde_json::{json, Map, Value as Json};

use super::service::{str_of, TableMeta};
use super::value::{item_size, Item};
use crate::front::error::{err, ApiError, Code};

/// A read of `size` bytes (one item, or a Query's total).
pub(crate) fn read_units(size: usize, consistent: bool) -> f64 {
    let units = size.div_ceil(4096).max(1) as f64;
    if consistent {
        units
    } else {
        units / 2.0
    }
}

/// A write of an item of `size` bytes.
pub(crate) fn write_units(size: usize) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// Units one request consumed on one table and its indexes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Consumed {
    pub table: f64,
    /// By (global?, index name).
    pub indexes: BTreeMap<(bool, String), f64>,
}

impl Consumed {
    pub(crate) fn total(&self) -> f64 {
        self.table + self.indexes.values().sum::<f64>()
    }

    pub(crate) fn add(&mut self, other: &Consumed) {
        self.table += other.table;
        for (k, v) in &other.indexes {
            *self.indexes.entry(k.clone()).or_default() += v;
        }
    }

    pub(crate) fn scaled(mut self, by: f64) -> Consumed {
        self.table *= by;
        self.indexes.values_mut().for_each(|v| *v *= by);
        self
    }

    /// A read of the table (`index` None) or of one index.
    pub(crate) fn read(meta: &TableMeta, index: Option<&str>, units: f64) -> Consumed {
        let mut c = Consumed::default();
        match index.and_then(|n| meta.index(n)) {
            Some(i) => {
                c.indexes.insert((i.global, i.name.clone()), units);
            }
            None => c.table = units,
        }
        c
    }

    /// What a write to a table without indexes consumes: the larger of the
    /// old and the new item's sizes.
    pub(crate) fn write_plain(old_size: usize, new_size: usize) -> Consumed {
        Consumed {
            table: write_units(old_size.max(new_size)),
            ..Default::default()
        }
    }

    /// What writing `new` (None: deleting) over `old` under `key` consumes.
    pub(crate) fn write(
        meta: &TableMeta,
        key: &[u8],
        old: Option<&Item>,
        new: Option<&Item>,
    ) -> Consumed {
        let size = |i: Option<&Item>| i.map_or(0, item_size);
        let mut c = Consumed::write_plain(size(old), size(new));
        for index in &meta.indexes {
            let old_key = old.and_then(|o| meta.index_key(index, key, o));
            let new_key = new.and_then(|n| meta.index_key(index, key, n));
            let old_p = old
                .filter(|_| old_key.is_some())
                .map(|o| index.project(meta, o));
            let new_p = new
                .filter(|_| new_key.is_some())
                .map(|n| index.project(meta, n));
            let units = match (&old_key, &new_key) {
                (None, None) => continue,
                (Some(a), Some(b)) if a == b => {
                    write_units(size(old_p.as_ref()).max(size(new_p.as_ref())))
                }
                (Some(_), Some(_)) => {
                    write_units(size(old_p.as_ref())) + write_units(size(new_p.as_ref()))
                }
                (Some(_), None) => write_units(size(old_p.as_ref())),
                (None, Some(_)) => write_units(size(new_p.as_ref())),
            };
            c.indexes.insert((index.global, index.name.clone()), units);
        }
        c
    }
}

/// What ReturnConsumedCapacity asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    None,
    Total,
    Indexes,
}

pub(crate) fn report_of(req: &Map<String, Json>) -> Report {
    report_named(str_of(req, "ReturnConsumedCapacity"))
}

/// The report a ReturnConsumedCapacity of `name` asks for.
pub(crate) fn report_named(name: Option<&str>) -> Report {
    match name {
        Some("TOTAL") => Report::Total,
        Some("INDEXES") => Report::Indexes,
        _ => Report::None,
    }
}

fn units(v: f64) -> Json {
    json!({ "CapacityUnits": v })
}

/// The ConsumedCapacity of one table, or None when not asked for.
pub(crate) fn describe(report: Report, table: &str, c: &Consumed) -> Option<Json> {
    if report == Report::None {
        return None;
    }
    let mut out = json!({ "TableName": table, "CapacityUnits": c.total() });
    if report == Report::Indexes {
        out["Table"] = units(c.table);
        for (global, kind) in [
            (false, "LocalSecondaryIndexes"),
            (true, "GlobalSecondaryIndexes"),
        ] {
            let m: Map<String, Json> = c
                .indexes
                .iter()
                .filter(|((g, _), _)| *g == global)
                .map(|((_, n), v)| (n.clone(), units(*v)))
                .collect();
            if !m.is_empty() {
                out[kind] = Json::Object(m);
            }
        }
    }
    Some(out)
}

/// Sets `out.ConsumedCapacity` for one table, when asked.
pub(crate) fn attach(out: &mut Json, report: Report, table: &str, c: &Consumed) {
    if let Some(cc) = describe(report, table, c) {
        out["ConsumedCapacity"] = cc;
    }
}

/// Sets `out.ConsumedCapacity` as the list of several tables' (batches and
/// transactions), when asked.
pub(crate) fn attach_list(out: &mut Json, report: Report, per_table: &BTreeMap<String, Consumed>) {
    if report == Report::None {
        return;
    }
    out["ConsumedCapacity"] = Json::Array(
        per_table
            .iter()
            .filter_map(|(t, c)| describe(report, t, c))
            .collect(),
    );
}

/// The seconds of unused capacity a bucket keeps (the service's burst capacity).
const BURST_SECS: f64 = 300.0;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

/// Token buckets by (table, index or "", write?).
#[derive(Debug, Default)]
pub(crate) struct Buckets(Mutex<HashMap<(String, String, bool), Bucket>>);

fn throttled(index: bool) -> ApiError {
    err(
        Code::ProvisionedThroughputExceededException,
        if index {
            "The level of configured provisioned throughput for one or more global secondary indexes of the table was exceeded. Consider increasing your provisioning level for the under-provisioned global secondary indexes with the UpdateTable API"
        } else {
            "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."
        },
    )
}

impl Buckets {
    /// The throughput of the table or global index a request uses (None
    /// when it is not limited: on-demand, or limits not enforced).
    fn capacity(meta: &TableMeta, index: &str, write: bool) -> Option<f64> {
        if meta.billing_mode == "PAY_PER_REQUEST" {
            return None;
        }
        let (r, w) = match meta.index(index).filter(|i| i.global) {
            Some(i) => (i.read_capacity, i.write_capacity),
            None => (meta.read_capacity, meta.write_capacity),
        };
        Some(if write { w } else { r } as f64)
    }

    fn with<T>(
        &self,
        meta: &TableMeta,
        index: &str,
        write: bool,
        now_ms: u64,
        f: impl FnOnce(&mut Bucket) -> T,
    ) -> Option<T> {
        let cap = Self::capacity(meta, index, write)?;
        let key_index = if meta.index(index).is_some_and(|i| i.global) {
            index
        } else {
            ""
        };
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let b = map
            .entry((meta.name.clone(), key_index.to_string(), write))
            .or_insert(Bucket {
                tokens: cap * BURST_SECS,
                at_ms: now_ms,
            });
        let elapsed = now_ms.saturating_sub(b.at_ms) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * cap).min(cap * BURST_SECS);
        b.at_ms = now_ms;
        Some(f(b))
    }

    /// Refuses a request on a table (or index) whose bucket is empty.
    pub(crate) fn admit(
        &self,
        meta: &TableMeta,
        index: Option<&str>,
        write: bool,
        now_ms: u64,
    ) -> Result<(), ApiError> {
        let mut names = vec![index.unwrap_or("")];
        if write {
            // A table write also writes every global index.
            names.extend(
                meta.indexes
                    .iter()
                    .filter(|i| i.global)
                    .map(|i| i.name.as_str()),
            );
        }
        for name in names {
            let empty = self.with(meta, name, write, now_ms, |b| b.tokens <= 0.0);
            if empty == Some(true) {
                return Err(throttled(!name.is_empty() && meta.index(name).is_some()));
            }
        }
        Ok(())
    }

    /// Takes what a request consumed from its buckets.
    pub(crate) fn consume(&self, meta: &TableMeta, c: &Consumed, write: bool, now_ms: u64) {
        self.with(meta, "", write, now_ms, |b| b.tokens -= c.table);
        for ((_, name), units) in &c.indexes {
            let units = if write || meta.index(name).is_some_and(|i| i.global) {
                *units
            } else {
                0.0
            };
            self.with(meta, name, write, now_ms, |b| b.tokens -= units);
        }
        // Reads of a local index are the table's.
        if !write {
            let local: f64 = c
                .indexes
                .iter()
                .filter(|((g, _), _)| !g)
                .map(|(_, v)| v)
                .sum();
            self.with(meta, "", write, now_ms, |b| b.tokens -= local);
        }
    }
}

impl super::service::Service {
    /// Refuses a request when the table's (or index's) throughput is used
    /// up and limits are enforced.
    pub(crate) fn admit(
        &self,
        meta: &TableMeta,
        index: Option<&str>,
        write: bool,
    ) -> Result<(), ApiError> {
        if !self.settings.enforce_limits {
            return Ok(());
        }
        self.buckets.admit(meta, index, write, self.now_ms())
    }

    /// Admits a write and takes `c` from its buckets at once.
    pub(crate) fn take(&self, meta: &TableMeta, c: &Consumed) -> Result<(), ApiError> {
        self.admit(meta, None, true)?;
        self.consume(meta, c, true);
        Ok(())
    }

    /// Takes what a request consumed from the buckets, when limits are enforced.
    pub(crate) fn consume(&self, meta: &TableMeta, c: &Consumed, write: bool) {
        if self.settings.enforce_limits {
            self.buckets.consume(meta, c, write, self.now_ms());
        }
    }
}
