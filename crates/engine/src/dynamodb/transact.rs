//! TransactWriteItems and TransactGetItems: all or nothing, in one store
//! transaction; a failed condition cancels every write with
//! TransactionCanceledException and its CancellationReasons.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value as Json};

use super::capacity::{self, read_units, Consumed};
use super::idempotency::Claim;
use super::items::{
    check, check_size, check_update_request, exprs, item_field, updated_item, Exprs,
};
use super::service::{str_of, validation, Service, TableMeta};
use super::value::{item_size, item_to_json, Item};
use crate::front::error::{err, ApiError, Code};

enum Op {
    Check,
    Put(Item),
    Delete,
    Update(Item),
}

struct Planned {
    meta: TableMeta,
    key: Vec<u8>,
    op: Op,
    ex: Exprs,
    /// The table's (or index's) throughput was used up: the message.
    throttled: Option<String>,
}

/// A transaction refused for throughput: each throttled item's reason is
/// ProvisionedThroughputExceeded, the others' None (as the service answers).
fn throttled<'a>(items: impl Iterator<Item = &'a Option<String>>) -> Option<ApiError> {
    let mut any = false;
    let reasons = items
        .map(|t| match t {
            Some(message) => {
                any = true;
                json!({"Code": "ProvisionedThroughputExceeded", "Message": message})
            }
            None => json!({"Code": "None"}),
        })
        .collect();
    any.then(|| cancelled(reasons))
}

fn cancelled(reasons: Vec<Json>) -> ApiError {
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r["Code"].as_str().unwrap_or("None"))
        .collect();
    let mut e = err(
        Code::TransactionCanceledException,
        format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
    );
    let mut details = Map::new();
    details.insert("CancellationReasons".into(), Json::Array(reasons));
    e.details = Some(Box::new(details));
    e
}

impl Service {
    /// TransactWriteItems, once per ClientRequestToken ([`super::idempotency`]).
    pub(super) fn transact_write_items(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let Some(token) = str_of(req, "ClientRequestToken") else {
            return self.transact_write_once(req);
        };
        match self.tokens.claim(token, req, self.now_ms())? {
            Claim::Repeat(answer) => Ok(answer),
            Claim::Run(running) => {
                let answer = self.transact_write_once(req)?;
                running.succeeded(&answer, self.now_ms());
                Ok(answer)
            }
        }
    }

    fn transact_write_once(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let mut planned = Vec::new();
        let mut seen = BTreeSet::new();
        for entry in req
            .get("TransactItems")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let entry = entry.as_object().cloned().unwrap_or_default();
            if entry.len() != 1 {
                return Err(validation(
                    "TransactItems can only contain one of Check, Put, Update or Delete",
                ));
            }
            let (kind, spec) = entry.iter().next().expect("one member");
            let spec = spec.as_object().cloned().unwrap_or_default();
            let ex = exprs(&spec)?;
            let table = str_of(&spec, "TableName").unwrap_or_default();
            let (op, key_item, exact) = match kind.as_str() {
                "Put" => {
                    let item = item_field(&spec, "Item")?;
                    check_size(&item)?;
                    self.table(table)?.check_indexes(&item)?;
                    (Op::Put(item.clone()), item, false)
                }
                "ConditionCheck" => (Op::Check, item_field(&spec, "Key")?, true),
                "Delete" => (Op::Delete, item_field(&spec, "Key")?, true),
                _ => {
                    let key = item_field(&spec, "Key")?;
                    (Op::Update(key.clone()), key, true)
                }
            };
            let (meta, key) = self.locate(table, &key_item, exact)?;
            if let Op::Update(_) = op {
                check_update_request(&meta, &key_item, &ex)?;
            }
            let throttled = self
                .admit(&meta, None, !matches!(op, Op::Check))
                .err()
                .map(|e| e.message);
            if !seen.insert(key.clone()) {
                return Err(validation(
                    "Transaction request cannot include multiple operations on one item",
                ));
            }
            planned.push(Planned {
                meta,
                key,
                op,
                ex,
                throttled,
            });
        }
        if let Some(e) = throttled(planned.iter().map(|p| &p.throttled)) {
            return Err(e);
        }
        let used = self.store.write::<_, ApiError>(|w| {
            let mut olds = Vec::new();
            let mut reasons = Vec::new();
            let mut failed = false;
            for p in &planned {
                let old = w.get(&p.key)?;
                match check(&p.ex, old.as_ref()) {
                    Ok(()) => reasons.push(json!({"Code": "None"})),
                    Err(_) => {
                        failed = true;
                        let mut r = json!({
                            "Code": "ConditionalCheckFailed",
                            "Message": "The conditional request failed",
                        });
                        if let (true, Some(old)) = (p.ex.return_old_on_failure, old.as_ref()) {
                            r["Item"] = item_to_json(old);
                        }
                        reasons.push(r);
                    }
                }
                olds.push(old);
            }
            if failed {
                return Err(cancelled(reasons));
            }
            // Every new item first, so that an error writes nothing.
            let mut writes = Vec::new();
            for (p, old) in planned.iter().zip(olds) {
                let new = match &p.op {
                    Op::Check => continue,
                    Op::Put(item) => Some(item.clone()),
                    Op::Delete => None,
                    Op::Update(key_item) => {
                        Some(updated_item(&p.meta, &p.ex, key_item, old.as_ref())?)
                    }
                };
                writes.push((p, old_of(w, &p.key)?, new));
            }
            // Each item counts twice, as the service counts transactions.
            let mut used: BTreeMap<String, Consumed> = BTreeMap::new();
            for p in planned.iter().filter(|p| matches!(p.op, Op::Check)) {
                let old = w.get(&p.key)?;
                let c = Consumed::read(
                    &p.meta,
                    None,
                    read_units(old.as_ref().map_or(0, item_size), true),
                );
                used.entry(p.meta.name.clone())
                    .or_default()
                    .add(&c.scaled(2.0));
            }
            for (p, old, new) in writes {
                let c = Consumed::write(&p.meta, &p.key, old.as_ref(), new.as_ref());
                used.entry(p.meta.name.clone())
                    .or_default()
                    .add(&c.scaled(2.0));
                p.meta.apply(w, &p.key, old.as_ref(), new.as_ref())?;
            }
            Ok(used)
        })?;
        for (name, c) in &used {
            if let Some(p) = planned.iter().find(|p| &p.meta.name == name) {
                self.consume(&p.meta, c, true);
            }
        }
        let mut out = json!({});
        capacity::attach_list(&mut out, capacity::report_of(req), &used);
        Ok(out)
    }

    pub(super) fn transact_get_items(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let mut planned = Vec::new();
        for entry in req
            .get("TransactItems")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let spec = entry["Get"].as_object().cloned().unwrap_or_default();
            let ex = exprs(&spec)?;
            let key_item = item_field(&spec, "Key")?;
            let (meta, key) = self.locate(
                str_of(&spec, "TableName").unwrap_or_default(),
                &key_item,
                true,
            )?;
            let throttled = self.admit(&meta, None, false).err().map(|e| e.message);
            planned.push((meta, key, ex, throttled));
        }
        if let Some(e) = throttled(planned.iter().map(|p| &p.3)) {
            return Err(e);
        }
        let mut responses = Vec::new();
        let mut used: BTreeMap<String, Consumed> = BTreeMap::new();
        for (meta, key, ex, _) in planned {
            let found = self.store.get(&key)?;
            let c = Consumed::read(
                &meta,
                None,
                read_units(found.as_ref().map_or(0, item_size), true),
            )
            .scaled(2.0);
            self.consume(&meta, &c, false);
            used.entry(meta.name.clone()).or_default().add(&c);
            responses.push(match found {
                Some(item) => {
                    let item = match &ex.projection {
                        Some(p) => p.apply(&item),
                        None => item,
                    };
                    json!({ "Item": item_to_json(&item) })
                }
                None => json!({}),
            });
        }
        let mut out = json!({ "Responses": responses });
        capacity::attach_list(&mut out, capacity::report_of(req), &used);
        Ok(out)
    }
}

fn old_of(w: &mut super::store::Writer<'_>, key: &[u8]) -> Result<Option<Item>, ApiError> {
    Ok(w.get(key)?)
}
