//! BatchWriteItem and BatchGetItem.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{json, Map, Value as Json};

use super::capacity::{self, read_units, Consumed};
use super::expr::Projection;
use super::items::{check_nesting, check_size};
use super::legacy;
use super::service::{str_of, validation, value_err, KeyGiven, Service, TableMeta};
use super::store::{encode_sized, Ticket};
use super::typed::{BatchWrite, Write};
use super::value::{item_from_json, item_size, item_to_json, Item, MAX_ITEM_SIZE};
use crate::front::error::ApiError;

/// One write of a BatchWriteItem, located.
struct Located<'a> {
    table: &'a str,
    key: Vec<u8>,
    write: &'a Write,
    /// The item's size (0 for a delete).
    size: usize,
}

impl Write {
    fn item(&self) -> &Item {
        match self {
            Write::Put(item) | Write::Delete(item) => item,
        }
    }

    fn put(&self) -> Option<&Item> {
        match self {
            Write::Put(item) => Some(item),
            Write::Delete(_) => None,
        }
    }

    /// The write as UnprocessedItems lists it.
    fn to_json(&self) -> Json {
        match self {
            Write::Put(item) => json!({"PutRequest": {"Item": item_to_json(item)}}),
            Write::Delete(key) => json!({"DeleteRequest": {"Key": item_to_json(key)}}),
        }
    }
}

/// A BatchWriteItem read the general way: each write's values and size are
/// checked in the request's order (the service's), before any table is
/// looked up.
fn read_batch_write(req: &Map<String, Json>) -> Result<BatchWrite, ApiError> {
    let empty = Map::new();
    let tables = req
        .get("RequestItems")
        .and_then(Json::as_object)
        .unwrap_or(&empty);
    let mut out = BatchWrite {
        tables: Vec::new(),
        return_consumed: str_of(req, "ReturnConsumedCapacity").map(str::to_string),
    };
    for (table, requests) in tables {
        let mut writes = Vec::new();
        for r in requests.as_array().into_iter().flatten() {
            let (put, key_json) = match (r.get("PutRequest"), r.get("DeleteRequest")) {
                (Some(p), None) => (true, &p["Item"]),
                (None, Some(d)) => (false, &d["Key"]),
                _ => {
                    return Err(validation(
                        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
                    ))
                }
            };
            let item = item_from_json(key_json).map_err(value_err)?;
            writes.push(if put {
                check_size(&item)?;
                Write::Put(item)
            } else {
                Write::Delete(item)
            });
        }
        out.tables.push((table.clone(), writes));
    }
    // 25 writes per table is the model's limit; 25 in all, the service's.
    if out.tables.iter().map(|(_, w)| w.len()).sum::<usize>() > MAX_BATCH_WRITES {
        return Err(validation(
            "Too many items requested for the BatchWriteItem call",
        ));
    }
    Ok(out)
}

/// The bytes of items a BatchGetItem answers at most.
const MAX_BATCH_GET_BYTES: usize = 16 << 20;

/// The writes a BatchWriteItem may hold, over all its tables.
const MAX_BATCH_WRITES: usize = 25;

impl Service {
    pub(super) fn batch_write_item(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let request = read_batch_write(req)?;
        self.write_batch(&request)
    }

    /// Writes a BatchWriteItem read either way (the general way, or
    /// straight from the body by [`super::typed::batch_write`]).
    pub(super) fn write_batch(&self, request: &BatchWrite) -> Result<Json, ApiError> {
        let (out, ticket) = self.apply_batch(request)?;
        if let Some(ticket) = ticket {
            self.store.wait(ticket)?;
        }
        Ok(out)
    }

    /// A BatchWriteItem's writes applied to the open write group: the answer
    /// to send once the group is durable (the ticket to wait for; none when
    /// nothing was written).
    pub(super) fn apply_batch(
        &self,
        request: &BatchWrite,
    ) -> Result<(Json, Option<Ticket>), ApiError> {
        let all = || {
            request
                .tables
                .iter()
                .flat_map(|(t, ws)| ws.iter().map(move |w| (t.as_str(), w)))
        };
        // Each put's size, counted once (checked here, then used for the
        // capacity estimate and the stored form).
        let sizes = all()
            .map(|(_, w)| match w.put() {
                Some(item) => {
                    let size = item_size(item);
                    if size > MAX_ITEM_SIZE {
                        // Refused in the words every write action uses.
                        check_size(item)?;
                    }
                    check_nesting(item)?;
                    Ok(size)
                }
                None => Ok(0),
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let mut writes = Vec::new();
        // Each table's description, looked up once.
        let mut metas: BTreeMap<&str, TableMeta> = BTreeMap::new();
        let mut failed = None;
        for ((table, write), &size) in all().zip(&sizes) {
            // The storage key of the write, its item checked against the
            // table's description (looked up once per table).
            let mut locate = || {
                if !metas.contains_key(table) {
                    metas.insert(table, self.table(table)?);
                }
                let meta = &metas[table];
                let given = match write {
                    Write::Put(_) => KeyGiven::BatchItem,
                    Write::Delete(_) => KeyGiven::Key,
                };
                let key = meta.key_given(write.item(), given)?;
                if let Some(item) = write.put() {
                    meta.check_indexes(item)?;
                }
                Ok::<_, ApiError>(key)
            };
            match locate() {
                Ok(key) => writes.push(Located {
                    table,
                    key,
                    write,
                    size,
                }),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // A key seen twice before the first write that failed is named
        // first, as if each write were checked in turn.
        let mut seen = HashSet::with_capacity(writes.len());
        if !writes
            .iter()
            .all(|w| seen.insert((w.table, w.key.as_slice())))
        {
            return Err(validation("Provided list of item keys contains duplicates"));
        }
        if let Some(e) = failed {
            return Err(e);
        }
        // The engine's fault injection: a share of the writes left
        // unprocessed; with limits enforced, the writes to a table whose
        // throughput is used up too (all of them: the service's error).
        let ratio = self.settings.fail_entry_ratio;
        let mut throttled = None;
        let (skipped, done): (Vec<Located>, Vec<Located>) = writes.into_iter().partition(|w| {
            if ratio > 0.0 && rand::random::<f64>() < ratio {
                return true;
            }
            // Taken at once (from the new item's size) so that the writes
            // of one batch share what is left.
            let meta = &metas[w.table];
            let estimate = if meta.is_plain() {
                Consumed::write_plain(0, w.size)
            } else {
                Consumed::write(meta, &w.key, None, w.write.put())
            };
            match self.take(meta, &estimate) {
                Ok(()) => false,
                Err(e) => {
                    throttled = Some(e);
                    true
                }
            }
        });
        if let (true, Some(e)) = (done.is_empty(), throttled) {
            return Err(e);
        }
        // The items of tables without indexes or TTL are encoded before the
        // write group's turn, beside the other requests' work.
        let encoded = done
            .iter()
            .map(|w| match w.write.put() {
                Some(item) if metas[w.table].is_plain() => {
                    encode_sized(item, w.size).map(|bytes| Some((bytes, w.size)))
                }
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let report = capacity::report_named(request.return_consumed.as_deref());
        let old_sizes = !matches!(report, capacity::Report::None);
        let mut used: BTreeMap<String, Consumed> = BTreeMap::new();
        let mut ticket = None;
        if !done.is_empty() {
            let applied = self.store.apply::<_, ApiError>(|w| {
                let mut used: BTreeMap<String, Consumed> = BTreeMap::new();
                for (write, bytes) in done.iter().zip(&encoded) {
                    let meta = &metas[write.table];
                    let new = write.write.put();
                    let c = if meta.is_plain() {
                        let new = bytes.as_ref().map(|(b, size)| (b.as_slice(), *size));
                        let old = meta.apply_plain(w, &write.key, new, old_sizes)?;
                        Consumed::write_plain(old.unwrap_or(0), new.map_or(0, |(_, size)| size))
                    } else {
                        let old = w.get(&write.key)?;
                        let c = Consumed::write(meta, &write.key, old.as_ref(), new);
                        meta.apply(w, &write.key, old.as_ref(), new)?;
                        c
                    };
                    used.entry(write.table.to_string()).or_default().add(&c);
                }
                Ok(used)
            })?;
            used = applied.0;
            ticket = Some(applied.1);
        }
        let mut unprocessed = Map::new();
        for write in skipped {
            if let Some(list) = unprocessed
                .entry(write.table.to_string())
                .or_insert_with(|| json!([]))
                .as_array_mut()
            {
                list.push(write.write.to_json());
            }
        }
        let mut out = json!({ "UnprocessedItems": unprocessed });
        capacity::attach_list(&mut out, report, &used);
        Ok((out, ticket))
    }

    pub(super) fn batch_get_item(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let empty = Map::new();
        let tables = req
            .get("RequestItems")
            .and_then(Json::as_object)
            .unwrap_or(&empty);
        let total: usize = tables
            .values()
            .map(|t| t["Keys"].as_array().map_or(0, Vec::len))
            .sum();
        if total > 100 {
            return Err(validation(
                "Too many items requested for the BatchGetItem call",
            ));
        }
        let mut responses = Map::new();
        let mut unprocessed = Map::new();
        let mut used: BTreeMap<String, Consumed> = BTreeMap::new();
        let mut throttled = None;
        let mut any_read = false;
        // Every table's request is checked (its keys parsed) before any
        // table is read.
        let mut checked = Vec::new();
        for spec in tables.values() {
            let spec_map = spec.as_object().cloned().unwrap_or_default();
            legacy::check_mixing(&spec_map, &["ProjectionExpression"], &["AttributesToGet"])?;
            legacy::check_attributes_to_get(&spec_map)?;
            let keys = spec["Keys"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|k| item_from_json(k).map_err(value_err))
                .collect::<Result<Vec<Item>, _>>()?;
            let projection = match projection_of(&spec_map)? {
                Some(p) => Some(p),
                None => legacy::attributes_to_get(&spec_map),
            };
            if keys.iter().enumerate().any(|(i, k)| keys[..i].contains(k)) {
                return Err(validation("Provided list of item keys contains duplicates"));
            }
            checked.push((spec_map, keys, projection));
        }
        // Items answered so far, in bytes: past the 16 MB of an answer, the
        // other keys are left unprocessed (the service's partial result).
        let mut answered = 0usize;
        let mut full = false;
        for ((table, spec), (spec_map, keys, projection)) in tables.iter().zip(checked) {
            let mut found = Vec::new();
            let mut seen = BTreeSet::new();
            let mut skipped = Vec::new();
            let ratio = self.settings.fail_entry_ratio;
            let raw_keys = spec["Keys"].as_array().into_iter().flatten();
            for (k, key_item) in raw_keys.zip(&keys) {
                let (meta, key) = self.locate(table, key_item, true)?;
                if !seen.insert(key.clone()) {
                    return Err(validation("Provided list of item keys contains duplicates"));
                }
                // The engine's fault injection: a share of the keys left
                // unprocessed; with limits enforced, those of a table
                // whose throughput is used up too.
                if full || ratio > 0.0 && rand::random::<f64>() < ratio {
                    skipped.push(k.clone());
                    continue;
                }
                if let Err(e) = self.admit(&meta, None, false) {
                    throttled = Some(e);
                    skipped.push(k.clone());
                    continue;
                }
                let got = self.store.get(&key)?;
                // Capacity counts the whole item, the answer what is projected.
                let stored_size = got.as_ref().map_or(0, item_size);
                let got = got.map(|item| match &projection {
                    Some(p) => p.apply(&item),
                    None => item,
                });
                let size = got.as_ref().map_or(0, item_size);
                if answered + size > MAX_BATCH_GET_BYTES {
                    full = true;
                    skipped.push(k.clone());
                    continue;
                }
                answered += size;
                any_read = true;
                let consistent = spec["ConsistentRead"].as_bool() == Some(true);
                let c = Consumed::read(&meta, None, read_units(stored_size, consistent));
                self.consume(&meta, &c, false);
                used.entry(table.clone()).or_default().add(&c);
                if let Some(item) = got {
                    found.push(item_to_json(&item));
                }
            }
            responses.insert(table.clone(), Json::Array(found));
            if !skipped.is_empty() {
                let mut rest = spec_map.clone();
                rest.insert("Keys".into(), Json::Array(skipped));
                unprocessed.insert(table.clone(), Json::Object(rest));
            }
        }
        if let (false, Some(e)) = (any_read, throttled) {
            return Err(e);
        }
        let mut out = json!({ "Responses": responses, "UnprocessedKeys": unprocessed });
        capacity::attach_list(&mut out, capacity::report_of(req), &used);
        Ok(out)
    }
}

/// A BatchGetItem table's ProjectionExpression, checked.
fn projection_of(spec: &Map<String, Json>) -> Result<Option<Projection>, ApiError> {
    let Some(text) = spec.get("ProjectionExpression").and_then(Json::as_str) else {
        return Ok(None);
    };
    let names = super::service::names_of(spec);
    let mut ctx =
        super::expr::Context::new(names.as_ref(), None).map_err(super::service::expr_err)?;
    let p = ctx.projection(text).map_err(super::service::expr_err)?;
    ctx.finish().map_err(super::service::expr_err)?;
    Ok(Some(p))
}
