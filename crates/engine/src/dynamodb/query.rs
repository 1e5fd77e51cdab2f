//! Query and Scan: one ordered range read of the store, with the key
//! condition as its bounds, then Limit, the 1 MB page, the filter and the
//! projection.

use std::ops::Bound;

use serde_json::{json, Map, Value as Json};

use super::capacity::{self, read_units, Consumed};
use super::expr::key::{KeyCondition, KeyOp};
use super::expr::{Context, ExprKind};
use super::index::index_prefix;
use super::items::item_field;
use super::partition;
use super::service::{expr_err, names_of, str_of, validation, values_of, Service, TableMeta};
use super::store::table_bounds;
use super::store::Space;
use super::value::{item_size, item_to_json, AttributeValue, Item};
use super::{legacy, query_keys};
use crate::front::error::ApiError;

/// The most bytes of items one Query or Scan reads before it stops (1 MB).
const PAGE_BYTES: usize = 1 << 20;

/// The smallest byte string greater than every string starting with `prefix`.
pub(super) fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xff {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

fn key_bytes(v: &AttributeValue) -> Vec<u8> {
    v.key_bytes().unwrap_or_default()
}

/// The key bytes of a partition key value, behind its tag in a table that
/// has them ([`partition`]).
fn partition_bytes(meta: &TableMeta, v: &AttributeValue) -> Vec<u8> {
    if meta.hashed() {
        join(&partition::tag(v, None), &key_bytes(v))
    } else {
        key_bytes(v)
    }
}

fn join(a: &[u8], b: &[u8]) -> Vec<u8> {
    [a, b].concat()
}

impl Service {
    /// Query or Scan: the answer without its Items, and the Items as JSON
    /// text (none for Select COUNT).
    pub(super) fn query(
        &self,
        req: &Map<String, Json>,
        is_query: bool,
    ) -> Result<(Json, Option<Vec<u8>>), ApiError> {
        // The legacy parameters' checks come first (the service's order).
        let legacy_filter = if is_query {
            let f = legacy::conditions(req.get("QueryFilter"))?;
            legacy::check_attributes_to_get(req)?;
            f
        } else {
            legacy::check_attributes_to_get(req)?;
            legacy::conditions(req.get("ScanFilter"))?
        };
        query_keys::check_start_key_values(req)?;
        let has = |k: &str| req.get(k).is_some_and(|v| !v.is_null());
        if is_query && !has("KeyConditions") && !has("KeyConditionExpression") {
            return Err(validation(
                "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.",
            ));
        }
        // The segments before the expressions (the service's order).
        let segment = req.get("Segment").and_then(Json::as_u64);
        let total = req.get("TotalSegments").and_then(Json::as_u64);
        match (segment, total) {
            (Some(_), None) => return Err(validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present")),
            (None, Some(_)) => return Err(validation("The Segment parameter is required but was not present in the request when parameter TotalSegments is present")),
            (Some(s), Some(t)) if s >= t => return Err(validation(format!("The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"))),
            _ => {}
        }
        let names = names_of(req);
        let mut ctx = Context::new(names.as_ref(), values_of(req)).map_err(expr_err)?;
        // Every expression is read first, then the key condition's shape is
        // checked (the service's order).
        let key_syntax = match str_of(req, "KeyConditionExpression") {
            Some(t) if is_query => Some(ctx.key_condition_syntax(t).map_err(expr_err)?),
            _ => None,
        };
        let filter = str_of(req, "FilterExpression")
            .map(|t| ctx.condition(ExprKind::Filter, t))
            .transpose()
            .map_err(expr_err)?
            .or_else(|| legacy::join(&legacy_filter, req));
        let projection = str_of(req, "ProjectionExpression")
            .map(|t| ctx.projection(t))
            .transpose()
            .map_err(expr_err)?
            .or_else(|| legacy::attributes_to_get(req));
        let key_cond = key_syntax
            .map(|c| KeyCondition::from_condition(&c).map(|kc| query_keys::from_expression(&kc)))
            .transpose()
            .map_err(expr_err)?;
        ctx.finish().map_err(expr_err)?;
        let key_cond = match key_cond {
            Some(kc) => Some(kc),
            None if is_query => Some(legacy::conditions(req.get("KeyConditions"))?),
            None => None,
        };
        if key_cond
            .as_ref()
            .is_some_and(|kc| kc.is_empty() || kc.len() > 2)
        {
            return Err(validation("Conditions can be of length 1 or 2 only"));
        }
        let select = str_of(req, "Select").unwrap_or(
            if req.contains_key("ProjectionExpression") || req.contains_key("AttributesToGet") {
                "SPECIFIC_ATTRIBUTES"
            } else if req.contains_key("IndexName") {
                "ALL_PROJECTED_ATTRIBUTES"
            } else {
                "ALL_ATTRIBUTES"
            },
        );
        check_select(select, req, is_query)?;
        let meta = self.table(str_of(req, "TableName").unwrap_or_default())?;
        let consistent = req.get("ConsistentRead").and_then(Json::as_bool) == Some(true);
        let index = match str_of(req, "IndexName") {
            None => None,
            Some(name) => Some(meta.index(name).cloned().ok_or_else(|| {
                validation(format!(
                    "The table does not have the specified index: {name}"
                ))
            })?),
        };
        if index.as_ref().is_some_and(|i| i.global) && consistent {
            return Err(validation(
                "Consistent reads are not supported on global secondary indexes",
            ));
        }
        let start_key = req
            .get("ExclusiveStartKey")
            .map(|esk| item_field(&Map::from_iter([("k".to_string(), esk.clone())]), "k"))
            .transpose()?;
        let key_bounds = match &key_cond {
            Some(kc) => Some(query_keys::check(
                &meta,
                index.as_ref(),
                kc,
                start_key.as_ref(),
            )?),
            None => None,
        };
        // The index's (or table's) keys in the filter, then a scan's start
        // key on an index, then Select, then paths into keys (as recorded).
        if is_query {
            query_keys::check_filter(
                &meta,
                index.as_ref(),
                &legacy_filter,
                str_of(req, "FilterExpression").and(filter.as_ref()),
            )?;
        }
        if let (false, Some(index), Some(esk)) = (is_query, &index, &start_key) {
            query_keys::check_scan_start(&meta, index, esk)?;
        }
        if let Some(index) = index.as_ref().filter(|i| i.global) {
            if select == "ALL_ATTRIBUTES" && index.projection != "ALL" {
                return Err(validation(format!(
                    "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
                    index.name
                )));
            }
            if index.status(self.now_ms()) == "CREATING" {
                return Err(validation(format!(
                    "Cannot read from backfilling global secondary index: {}",
                    index.name
                )));
            }
        }
        if is_query {
            query_keys::check_filter_paths(
                &meta,
                str_of(req, "FilterExpression").and(filter.as_ref()),
            )?;
        }
        self.admit(&meta, index.as_ref().map(|i| i.name.as_str()), false)?;
        // A local index fetches what it does not hold from the table.
        let fetch = index.as_ref().is_some_and(|i| {
            !i.global
                && i.projection != "ALL"
                && (select == "ALL_ATTRIBUTES"
                    || projection
                        .as_ref()
                        .is_some_and(|p| p.0.iter().any(|path| !i.projects(&meta, path.head()))))
        });
        let space = if index.is_some() {
            Space::Index
        } else {
            Space::Items
        };
        let (table_from, table_to) = match &index {
            Some(i) => {
                let p = index_prefix(meta.id, i.no);
                let end = successor(&p).unwrap_or_default();
                (p, end)
            }
            None => table_bounds(meta.id),
        };
        let key_hash = match &index {
            Some(i) => i.hash.clone(),
            None => meta.hash.clone(),
        };
        // A segment's slots of the partition hash (a parallel Scan).
        let slots = segment
            .zip(total)
            .map(|(s, t)| partition::segment_slots(s, t));
        let (mut from, mut to, prefix) = match key_bounds {
            // A segment of a table with tagged keys is one slice of them.
            None => match slots.filter(|_| meta.hashed()) {
                Some((lo, hi)) => (
                    partition::slot_key(&table_from, lo).map_or(Bound::Unbounded, Bound::Included),
                    partition::slot_key(&table_from, hi).map_or(Bound::Unbounded, Bound::Excluded),
                    table_from,
                ),
                None => (
                    Bound::Included(table_from.clone()),
                    Bound::Excluded(table_to),
                    table_from,
                ),
            },
            Some((hv, op)) => {
                let p = join(&table_from, &partition_bytes(&meta, &hv));
                let end = successor(&p).map_or(Bound::Unbounded, Bound::Excluded);
                let at = |v: &AttributeValue| join(&p, &key_bytes(v));
                let (from, to, prefix) = match op {
                    None => (Bound::Included(p.clone()), end, p.clone()),
                    // Index entries continue past the sort key with the
                    // table's key: "up to v included" ends after every
                    // entry starting with v's bytes.
                    Some(KeyOp::Eq(v)) => (Bound::Included(at(&v)), past(&at(&v)), p.clone()),
                    Some(KeyOp::Lt(v)) => (
                        Bound::Included(p.clone()),
                        Bound::Excluded(at(&v)),
                        p.clone(),
                    ),
                    Some(KeyOp::Le(v)) => (Bound::Included(p.clone()), past(&at(&v)), p.clone()),
                    Some(KeyOp::Gt(v)) => (past_start(&at(&v)), end, p.clone()),
                    Some(KeyOp::Ge(v)) => (Bound::Included(at(&v)), end, p.clone()),
                    Some(KeyOp::Between(a, b)) => {
                        if super::expr::eval::compare_values(&a, &b)
                            == Some(std::cmp::Ordering::Greater)
                        {
                            return Err(validation("Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {S:b}, upper bound operand: AttributeValue: {S:a}".replace("{S:b}", &format!("{{{}:{}}}", a.type_name(), super::expr::print::scalar_text(&a))).replace("{S:a}", &format!("{{{}:{}}}", b.type_name(), super::expr::print::scalar_text(&b)))));
                        }
                        (Bound::Included(at(&a)), past(&at(&b)), p.clone())
                    }
                    Some(KeyOp::BeginsWith(v)) => {
                        let mut kb = at(&v);
                        kb.truncate(kb.len() - 2); // the escaped bytes without the terminator
                        let end = successor(&kb).map_or(Bound::Unbounded, Bound::Excluded);
                        (Bound::Included(kb.clone()), end, kb)
                    }
                };
                (from, to, prefix)
            }
        };
        let forward = req
            .get("ScanIndexForward")
            .and_then(Json::as_bool)
            .unwrap_or(true);
        if let Some(esk) = start_key {
            let invalid = || {
                validation("The provided starting key is invalid: The provided key element does not match the schema")
            };
            let key = match &index {
                None => meta.key_of(&esk, true).map_err(|_| invalid())?,
                Some(i) => {
                    let table_key = meta
                        .key_of(&meta.key_attrs(&esk), true)
                        .map_err(|_| invalid())?;
                    meta.index_key(i, &table_key, &esk).ok_or_else(invalid)?
                }
            };
            // A start key from another segment's slots.
            let slot = esk
                .get(&key_hash.0)
                .map(|v| partition::slot(&partition::tag(v, None)));
            if let (Some((lo, hi)), Some(slot)) = (slots, slot) {
                if !(lo..hi).contains(&slot) {
                    return Err(validation(format!(
                        "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: {} Segment: {}",
                        total.unwrap_or_default(),
                        segment.unwrap_or_default()
                    )));
                }
            }
            if forward || !is_query {
                from = Bound::Excluded(key);
            } else {
                to = Bound::Excluded(key);
            }
        }
        if !is_query {
            // A scan's filter after its start key (as recorded).
            query_keys::check_filter_paths(
                &meta,
                str_of(req, "FilterExpression").and(filter.as_ref()),
            )?;
        }
        let forward = forward || !is_query;
        let limit = req.get("Limit").and_then(Json::as_u64).map(|l| l as usize);
        let (mut scanned, mut bytes) = (0usize, 0usize);
        let mut fetched_bytes = 0usize;
        let mut last = None;
        let mut failed = None;
        // Items go out as stored when nothing needs them decoded.
        let by_slot = slots.filter(|_| !meta.hashed());
        let plain = filter.is_none() && projection.is_none() && !fetch && by_slot.is_none();
        let counting = select == "COUNT";
        let mut raw: Vec<u8> = Vec::new();
        let mut count = 0usize;
        self.store.range_raw(
            space,
            bound_ref(&from),
            bound_ref(&to),
            forward,
            |key, stored| {
                if !key.starts_with(&prefix) {
                    return false;
                }
                let at_of = |item: &Item| match &index {
                    Some(i) => {
                        let mut k = meta.key_attrs(item);
                        k.extend(i.key_attrs(item));
                        k
                    }
                    None => meta.key_attrs(item),
                };
                if let (true, Some(size)) = (plain, stored.size()) {
                    scanned += 1;
                    bytes += size;
                    count += 1;
                    if !counting {
                        raw.push(b',');
                        raw.extend_from_slice(stored.json());
                    }
                    let stop = limit.is_some_and(|l| scanned >= l) || bytes >= PAGE_BYTES;
                    if stop {
                        match stored.item(key) {
                            Ok(item) => last = Some(at_of(&item)),
                            Err(e) => failed = Some(ApiError::from(e)),
                        }
                    }
                    return !stop;
                }
                let mut item = match stored.item(key) {
                    Ok(item) => item,
                    Err(e) => {
                        failed = Some(ApiError::from(e));
                        return false;
                    }
                };
                // Plain keys: the segment's items found by their tag.
                if let Some((lo, hi)) = by_slot {
                    let slot = item
                        .get(&key_hash.0)
                        .map(|v| partition::slot(&partition::tag(v, None)));
                    if !slot.is_some_and(|s| (lo..hi).contains(&s)) {
                        return true;
                    }
                }
                scanned += 1;
                bytes += item_size(&item);
                let stop = limit.is_some_and(|l| scanned >= l) || bytes >= PAGE_BYTES;
                // The LastEvaluatedKey, from the stored item (before a fetch).
                let at = stop.then(|| at_of(&item));
                if fetch {
                    match meta
                        .key_of(&meta.key_attrs(&item), true)
                        .map(|k| self.store.get(&k))
                    {
                        Ok(Ok(Some(full))) => {
                            fetched_bytes += item_size(&full);
                            item = full;
                        }
                        Ok(Err(e)) => {
                            failed = Some(ApiError::from(e));
                            return false;
                        }
                        _ => {}
                    }
                }
                if filter.as_ref().is_none_or(|f| f.eval(&item)) {
                    count += 1;
                    if !counting {
                        let out = match &projection {
                            Some(p) => p.apply(&item),
                            None => item,
                        };
                        raw.push(b',');
                        let _ = serde_json::to_writer(&mut raw, &out);
                    }
                }
                if stop {
                    last = at;
                    return false;
                }
                true
            },
        )?;
        if let Some(e) = failed {
            return Err(e);
        }
        let mut used = Consumed::read(
            &meta,
            index.as_ref().map(|i| i.name.as_str()),
            read_units(bytes, consistent),
        );
        // What a local index fetched from the table is read from the table
        // too, rounded up over all of it (as recorded).
        if fetched_bytes > 0 {
            used.table += read_units(fetched_bytes, consistent);
        }
        self.consume(&meta, &used, false);
        let mut out = json!({"Count": count, "ScannedCount": scanned});
        capacity::attach(&mut out, capacity::report_of(req), &meta.name, &used);
        if let Some(last) = last {
            out["LastEvaluatedKey"] = item_to_json(&last);
        }
        // The items, a JSON array's text, spliced into the answer.
        let items = (!counting).then(|| {
            if raw.is_empty() {
                b"[]".to_vec()
            } else {
                raw[0] = b'[';
                raw.push(b']');
                raw
            }
        });
        Ok((out, items))
    }
}

/// The end bound after every key starting with `prefix`.
fn past(prefix: &[u8]) -> Bound<Vec<u8>> {
    successor(prefix).map_or(Bound::Unbounded, Bound::Excluded)
}

/// The start bound after every key starting with `prefix`.
fn past_start(prefix: &[u8]) -> Bound<Vec<u8>> {
    match successor(prefix) {
        Some(s) => Bound::Included(s),
        // Nothing sorts after it: an empty range.
        None => Bound::Excluded(prefix.to_vec()),
    }
}

fn bound_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(v) => Bound::Included(v.as_slice()),
        Bound::Excluded(v) => Bound::Excluded(v.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Select against the parameters it excludes or needs, in the service's
/// words (recorded against it: Query's messages carry the validation
/// prefix, Scan's do not).
fn check_select(select: &str, req: &Map<String, Json>, is_query: bool) -> Result<(), ApiError> {
    let has = |k: &str| req.get(k).is_some_and(|v| !v.is_null());
    let chosen = match select {
        "COUNT" => "only the Count",
        other => other,
    };
    let refused = if select == "SPECIFIC_ATTRIBUTES" {
        (!has("ProjectionExpression") && !has("AttributesToGet")).then(|| {
            "Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES".to_string()
        })
    } else if has("ProjectionExpression") {
        Some(format!(
            "Cannot specify the ProjectionExpression when choosing to get {chosen}"
        ))
    } else if has("AttributesToGet") {
        Some(format!(
            "Cannot specify the AttributesToGet when choosing to get {chosen}"
        ))
    } else if select == "ALL_PROJECTED_ATTRIBUTES" && !has("IndexName") {
        Some("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName".into())
    } else {
        None
    };
    match refused {
        Some(m) if is_query => Err(validation(format!("1 validation error detected: {m}"))),
        Some(m) => Err(validation(m)),
        None => Ok(()),
    }
}
