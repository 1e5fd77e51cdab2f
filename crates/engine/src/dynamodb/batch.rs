//! BatchWriteItem and BatchGetItem.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value as Json};

use super::items::check_size;
use super::service::{validation, value_err, Service};
use super::value::{item_from_json, item_to_json, Item};
use crate::front::error::ApiError;

/// One write of a BatchWriteItem.
struct Write {
    table: String,
    key: Vec<u8>,
    put: Option<Item>,
    /// The request as sent, for UnprocessedItems.
    request: Json,
}

impl Service {
    pub(super) fn batch_write_item(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let empty = Map::new();
        let tables = req
            .get("RequestItems")
            .and_then(Json::as_object)
            .unwrap_or(&empty);
        let mut writes = Vec::new();
        let mut seen = BTreeSet::new();
        for (table, requests) in tables {
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
                let (meta, key) = self.locate(table, &item, !put)?;
                if put {
                    check_size(&item)?;
                }
                let _ = meta;
                if !seen.insert((table.clone(), key.clone())) {
                    return Err(validation("Provided list of item keys contains duplicates"));
                }
                writes.push(Write {
                    table: table.clone(),
                    key,
                    put: put.then_some(item),
                    request: r.clone(),
                });
            }
        }
        // The engine's fault injection: a share of the writes left unprocessed.
        let ratio = self.settings.fail_entry_ratio;
        let (skipped, done): (Vec<Write>, Vec<Write>) = writes
            .into_iter()
            .partition(|_| ratio > 0.0 && rand::random::<f64>() < ratio);
        if !done.is_empty() {
            self.store.write::<_, ApiError>(|w| {
                for write in &done {
                    match &write.put {
                        Some(item) => w.put(&write.key, item)?,
                        None => w.delete(&write.key)?,
                    }
                }
                Ok(())
            })?;
        }
        let mut unprocessed = Map::new();
        for write in skipped {
            if let Some(list) = unprocessed
                .entry(write.table)
                .or_insert_with(|| json!([]))
                .as_array_mut()
            {
                list.push(write.request);
            }
        }
        Ok(json!({ "UnprocessedItems": unprocessed }))
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
        for (table, spec) in tables {
            let spec_map = spec.as_object().cloned().unwrap_or_default();
            let projection = match spec_map.get("ProjectionExpression").and_then(Json::as_str) {
                Some(text) => {
                    let names = super::service::names_of(&spec_map);
                    let mut ctx = super::expr::Context::new(names.as_ref(), None)
                        .map_err(super::service::expr_err)?;
                    let p = ctx.projection(text).map_err(super::service::expr_err)?;
                    ctx.finish().map_err(super::service::expr_err)?;
                    Some(p)
                }
                None => None,
            };
            let mut found = Vec::new();
            let mut seen = BTreeSet::new();
            let mut skipped = Vec::new();
            let ratio = self.settings.fail_entry_ratio;
            for k in spec["Keys"].as_array().into_iter().flatten() {
                let key_item = item_from_json(k).map_err(value_err)?;
                let (_, key) = self.locate(table, &key_item, true)?;
                if !seen.insert(key.clone()) {
                    return Err(validation("Provided list of item keys contains duplicates"));
                }
                // The engine's fault injection: a share of the keys left unprocessed.
                if ratio > 0.0 && rand::random::<f64>() < ratio {
                    skipped.push(k.clone());
                    continue;
                }
                if let Some(item) = self.store.get(&key)? {
                    let item = match &projection {
                        Some(p) => p.apply(&item),
                        None => item,
                    };
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
        Ok(json!({ "Responses": responses, "UnprocessedKeys": unprocessed }))
    }
}
