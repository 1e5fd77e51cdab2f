//! UpdateTable (billing mode and throughput), UpdateTimeToLive,
//! DescribeTimeToLive.

use serde_json::{json, Map, Value as Json};

use super::index::{index_prefix, parse_index, Billing};
use super::service::{str_of, validation, Service, TableMeta};
use super::store::{Space, StoreError, Writer};
use super::tables::in_use;
use super::updating::has_action;
use crate::front::error::{err, ApiError, Code};

/// The largest capacity units the service takes.
const MAX_CAPACITY: u64 = 1_000_000_000_000;

/// The service's refusal of a ProvisionedThroughput `t` above
/// [`MAX_CAPACITY`] (`suffix`: ` for index <name>` for an index's).
pub(super) fn check_capacity_bounds(t: &Json, suffix: &str) -> Result<(), ApiError> {
    for units in ["ReadCapacityUnits", "WriteCapacityUnits"] {
        if let Some(n) = t[units].as_u64().filter(|n| *n > MAX_CAPACITY) {
            return Err(validation(format!(
                "Given value {n} for {units} is out of bounds{suffix}"
            )));
        }
    }
    Ok(())
}

/// UpdateTable's checks of the request alone, made before the table is
/// looked up (as recorded against the service by dynalite's suite).
fn check_update_table(req: &Map<String, Json>) -> Result<(), ApiError> {
    let bounds = check_capacity_bounds;
    if let Some(t) = req.get("ProvisionedThroughput") {
        bounds(t, "")?;
    }
    let updates = req
        .get("GlobalSecondaryIndexUpdates")
        .and_then(Json::as_array);
    let mut names = Vec::new();
    for u in updates.into_iter().flatten() {
        let actions: Vec<&Json> = ["Update", "Create", "Delete"]
            .iter()
            .filter_map(|a| u.get(*a).filter(|v| !v.is_null()))
            .collect();
        let [action] = actions[..] else {
            return Err(validation(if actions.is_empty() {
                "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null"
            } else {
                "One or more parameter values were invalid: Only one global secondary index action is allowed per GlobalSecondaryIndexUpdate object"
            }));
        };
        let name = action["IndexName"].as_str().unwrap_or_default();
        if names.contains(&name) {
            return Err(validation(format!(
                "One or more parameter values were invalid: Only one global secondary index update per index is allowed simultaneously. Index: {name}"
            )));
        }
        names.push(name);
        if u.get("Update").is_some_and(|a| !a.is_null()) {
            bounds(
                &action["ProvisionedThroughput"],
                &format!(" for index {name}"),
            )?;
        }
    }
    // Anything to change: a member besides the table's name, its attribute
    // definitions and an empty list of index updates.
    let changes = req.iter().any(|(k, v)| {
        !v.is_null()
            && match k.as_str() {
                "TableName" | "AttributeDefinitions" => false,
                "GlobalSecondaryIndexUpdates" => v.as_array().is_none_or(|a| !a.is_empty()),
                _ => true,
            }
    });
    if !changes {
        // Today's wording (the list grows with the service: verified
        // against it on 2026-10-08 in public lab notes, ack-api-quirks; dynalite
        // recorded shorter lists in earlier years).
        return Err(validation(UPDATE_NEEDS_A_CHANGE));
    }
    check_one_change(req)
}

/// UpdateTable makes one change a call, recorded against the service on
/// 2026-10-08/09 (ack-api-quirks' lab notes): deletion protection,
/// encryption, table class and warm throughput each alone; on-demand
/// limits only with the billing mode; no stream change beside a throughput
/// change; no index created or deleted beside a throughput or stream
/// change. BillingMode combines with throughput, index throughput updates,
/// a stream or on-demand limits.
fn check_one_change(req: &Map<String, Json>) -> Result<(), ApiError> {
    let has = |k: &str| req.get(k).is_some_and(|v| !v.is_null());
    let updates: Vec<&Map<String, Json>> = req
        .get("GlobalSecondaryIndexUpdates")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .filter_map(Json::as_object)
        .collect();
    let creates_or_deletes = updates
        .iter()
        .any(|u| has_action(u, "Create") || has_action(u, "Delete"));
    let members = [
        "SSESpecification",
        "TableClass",
        "DeletionProtectionEnabled",
        "WarmThroughput",
        "OnDemandThroughput",
        "StreamSpecification",
        "ProvisionedThroughput",
        "BillingMode",
    ];
    let count = members.iter().filter(|m| has(m)).count() + usize::from(!updates.is_empty());
    let invalid = |what: &str| {
        Err(validation(format!(
            "One or more parameter values were invalid: {what}"
        )))
    };
    // Named in this order when several are present.
    for (member, what) in [
        ("SSESpecification", "Server-Side Encryption modification"),
        ("TableClass", "TableClass modification"),
        (
            "DeletionProtectionEnabled",
            "DeletionProtection modification",
        ),
        ("WarmThroughput", "WarmThroughput"),
    ] {
        if has(member) && count > 1 {
            return invalid(&format!("{what} must be the only operation in the request"));
        }
    }
    if has("OnDemandThroughput") && count > 1 + usize::from(has("BillingMode")) {
        return invalid(
            "OnDemandThroughput can only be combined with BillingMode in an UpdateTable request",
        );
    }
    let provisioned = str_of(req, "BillingMode") == Some("PROVISIONED");
    if has("StreamSpecification") && (has("ProvisionedThroughput") || provisioned) {
        return invalid("You cannot modify stream status while updating table IOPS");
    }
    if creates_or_deletes && has("ProvisionedThroughput") {
        return invalid("You cannot create or delete index while updating table IOPS");
    }
    if creates_or_deletes && has("StreamSpecification") {
        return invalid("You cannot create or delete index while changing stream status");
    }
    Ok(())
}

/// UpdateTable's answer when it is asked to change nothing.
const UPDATE_NEEDS_A_CHANGE: &str = "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates, SSESpecification, ReplicaUpdates, MultiAccountReplicaReady, ReplicaTransitRoleArn, MultiRegionConsistency, DeletionProtectionEnabled, OnDemandThroughput, WarmThroughput or TableClass is required";

impl Service {
    /// Applies `change` to the table `name` and stores its description,
    /// with `more` writes in the same transaction (an index's backfill, the
    /// TTL entries).
    pub(super) fn change_table_with(
        &self,
        name: &str,
        not_found: impl FnOnce() -> ApiError,
        change: impl FnOnce(&mut TableMeta) -> Result<(), ApiError>,
        more: impl FnOnce(&TableMeta, &mut Writer<'_>) -> Result<(), StoreError>,
    ) -> Result<TableMeta, ApiError> {
        let now = self.now_ms();
        let mut tables = self.tables();
        let Some(meta) = tables.get(name) else {
            return Err(not_found());
        };
        match meta.status(now) {
            "CREATING" => return Err(in_use(format!("Table is being created: {name}"))),
            "DELETING" => return Err(in_use(format!("Table is being deleted: {name}"))),
            _ => {}
        }
        let mut meta = meta.clone();
        meta.settle(now);
        change(&mut meta)?;
        let stored = serde_json::to_value(&meta).unwrap_or_default();
        self.store.write::<_, ApiError>(|w| {
            w.put_table(name, &stored)?;
            more(&meta, w)?;
            Ok(())
        })?;
        tables.insert(name.to_string(), meta.clone());
        Ok(meta)
    }

    fn table_not_found(name: &str) -> impl FnOnce() -> ApiError + '_ {
        move || super::tables::table_not_found(name)
    }

    pub(super) fn update_table(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        check_update_table(req)?;
        let name = str_of(req, "TableName").unwrap_or_default();
        let now = self.now_ms();
        let delay = self.settings.state_delay.as_millis() as u64;
        let updates: Vec<Map<String, Json>> = req
            .get("GlobalSecondaryIndexUpdates")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_object().cloned())
            .collect();
        let changed = std::cell::RefCell::new((Vec::new(), Vec::new()));
        let resent = std::cell::Cell::new(false);
        let meta = self.change_table_with(
            name,
            Self::table_not_found(name),
            |m| {
                let was = m.billing_mode.clone();
                resent.set(m.update_throughput(req, &updates, now, delay)?);
                if let Some(on) = req.get("DeletionProtectionEnabled").and_then(Json::as_bool) {
                    m.deletion_protection = on;
                }
                super::options::Options::check(req, &m.billing_mode, false)?;
                m.options.apply(req);
                let at_once = was == "PAY_PER_REQUEST" && m.billing_mode == "PROVISIONED";
                let changes = updates
                    .iter()
                    .filter(|u| has_action(u, "Create") || has_action(u, "Delete"))
                    .count();
                // One online index change at a time, per table.
                m.deleting_indexes.retain(|(_, until)| now < *until);
                let busy = m
                    .indexes
                    .iter()
                    .any(|i| i.global && i.status(now) == "CREATING")
                    || !m.deleting_indexes.is_empty();
                if changes > 1 || (changes == 1 && busy) {
                    return Err(err(
                        Code::LimitExceededException,
                        "Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table",
                    ));
                }
                let (created, dropped) = &mut *changed.borrow_mut();
                self.index_updates(m, req, &updates, (now, delay, at_once), created, dropped)
            },
            |m, w| {
                let (created, dropped) = &*changed.borrow();
                for no in dropped {
                    w.clear(Space::Index, &index_prefix(m.id, *no))?;
                    w.set_stats(m.id, *no, 0, 0)?;
                }
                for index in m.indexes.iter().filter(|i| created.contains(&i.no)) {
                    m.backfill(w, Some(index))?;
                }
                Ok(())
            },
        )?;
        let mut desc = self.description(&meta)?;
        if resent.get() {
            desc["TableStatus"] = json!("UPDATING");
        }
        Ok(json!({ "TableDescription": desc }))
    }

    /// Applies GlobalSecondaryIndexUpdates to `m` at clock time `now_ms`
    /// (what they start is done `delay_ms` later; `at_once`: the request
    /// switches the table to PROVISIONED, which takes the indexes'
    /// throughput at once): the numbers of the indexes created and dropped
    /// go to `created` and `dropped`.
    fn index_updates(
        &self,
        m: &mut TableMeta,
        req: &Map<String, Json>,
        updates: &[Map<String, Json>],
        (now_ms, delay_ms, at_once): (u64, u64, bool),
        created: &mut Vec<u32>,
        dropped: &mut Vec<u32>,
    ) -> Result<(), ApiError> {
        let active_at_ms = now_ms.saturating_add(delay_ms);
        let table = m.name.clone();
        // New key attributes are defined in the request's AttributeDefinitions.
        let mut defs: Vec<Json> = m
            .attribute_definitions
            .as_array()
            .cloned()
            .unwrap_or_default();
        for d in req
            .get("AttributeDefinitions")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            if !defs
                .iter()
                .any(|e| e["AttributeName"] == d["AttributeName"])
            {
                defs.push(d.clone());
            }
        }
        let def_names: Vec<String> = defs
            .iter()
            .filter_map(|d| d["AttributeName"].as_str().map(str::to_string))
            .collect();
        let def_type = |attr: &str| {
            defs.iter()
                .find(|d| d["AttributeName"] == attr)
                .and_then(|d| d["AttributeType"].as_str())
                .map(str::to_string)
        };
        for u in updates {
            if let Some(spec) = u.get("Create").and_then(Json::as_object) {
                // An index of that name is refused before the new one is read
                // (recorded from the service).
                let iname = spec
                    .get("IndexName")
                    .and_then(Json::as_str)
                    .unwrap_or_default();
                if m.index(iname).is_some() {
                    return Err(validation(
                        "Attempting to create an index which already exists",
                    ));
                }
                let mut index = parse_index(
                    spec,
                    true,
                    &def_names,
                    &def_type,
                    Billing {
                        pay_per_request: m.billing_mode == "PAY_PER_REQUEST",
                        creating_table: false,
                    },
                    &m.hash.0,
                )?;
                index.no = m.next_index.max(m.indexes.len() as u32 + 1);
                index.active_at_ms = active_at_ms;
                m.next_index = index.no + 1;
                created.push(index.no);
                m.indexes.push(index);
            } else if let Some(spec) = u.get("Delete") {
                let iname = spec["IndexName"].as_str().unwrap_or_default();
                let Some(pos) = m.indexes.iter().position(|i| i.global && i.name == iname) else {
                    return Err(err(
                        Code::ResourceNotFoundException,
                        format!("Requested resource not found: Index: {iname} not found"),
                    ));
                };
                let gone = m.indexes.remove(pos);
                dropped.push(gone.no);
                // Described as DELETING for the engine's state delay.
                m.deleting_indexes.push((gone, active_at_ms));
            } else if let Some(spec) = u.get("Update") {
                let iname = spec["IndexName"].as_str().unwrap_or_default();
                let throughput = spec.get("ProvisionedThroughput").filter(|t| !t.is_null());
                if m.billing_mode == "PAY_PER_REQUEST" && throughput.is_some() {
                    return Err(validation(format!(
                        "One or more parameter values were invalid: The only Updates for index: {iname} when TableThroughputMode is PAY_PER_REQUEST can be to OnDemandThroughput, WarmThroughput"
                    )));
                }
                let Some(index) = m.indexes.iter_mut().find(|i| i.global && i.name == iname) else {
                    return Err(err(
                        Code::ResourceNotFoundException,
                        format!("Requested resource not found: Index: {iname} not found"),
                    ));
                };
                // An update of other settings (OnDemandThroughput,
                // WarmThroughput) leaves the throughput as it is.
                let Some(t) = throughput else { continue };
                let read = t["ReadCapacityUnits"]
                    .as_u64()
                    .unwrap_or(index.read_capacity);
                let write = t["WriteCapacityUnits"]
                    .as_u64()
                    .unwrap_or(index.write_capacity);
                index.update_throughput(&table, (read, write), now_ms, delay_ms, at_once)?;
            }
        }
        // Definitions used by no key are dropped, as the service keeps them.
        let used: Vec<&str> = std::iter::once(&m.hash)
            .chain(m.range.as_ref())
            .chain(
                m.indexes
                    .iter()
                    .flat_map(|i| std::iter::once(&i.hash).chain(i.range.as_ref())),
            )
            .map(|(n, _)| n.as_str())
            .collect();
        defs.retain(|d| {
            d["AttributeName"]
                .as_str()
                .is_some_and(|n| used.contains(&n))
        });
        m.attribute_definitions = Json::Array(defs);
        Ok(())
    }

    pub(super) fn update_time_to_live(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = str_of(req, "TableName").unwrap_or_default();
        let spec = req
            .get("TimeToLiveSpecification")
            .cloned()
            .unwrap_or_default();
        let enable = spec["Enabled"].as_bool().unwrap_or(false);
        let attr = spec["AttributeName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.change_table_with(
            name,
            Self::table_not_found(name),
            |m| match (&m.ttl_attribute, enable) {
                // Another attribute, to enable or to disable (as recorded).
                (Some(current), _) if *current != attr => Err(validation(format!(
                    "TimeToLive is active on a different AttributeName: current AttributeName is {current}"
                ))),
                (Some(_), true) => Err(validation("TimeToLive is already enabled")),
                (None, false) => Err(validation("TimeToLive is already disabled")),
                (_, true) => {
                    m.ttl_attribute = Some(attr.clone());
                    Ok(())
                }
                (_, false) => {
                    m.ttl_attribute = None;
                    Ok(())
                }
            },
            // The expiry entries: written for every item, or dropped.
            |m, w| match m.ttl_attribute {
                Some(_) => m.backfill(w, None),
                None => w.clear(Space::Expiry, &m.id.to_be_bytes()),
            },
        )?;
        Ok(json!({ "TimeToLiveSpecification": spec }))
    }

    pub(super) fn describe_time_to_live(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = str_of(req, "TableName").unwrap_or_default();
        let meta = self
            .tables()
            .get(name)
            .cloned()
            .ok_or_else(Self::table_not_found(name))?;
        // Recorded from the service (ack-api-quirks, 2026-10-08).
        let status = meta.status(self.now_ms());
        if matches!(status, "CREATING" | "DELETING") {
            return Err(validation(format!(
                "Cannot describe time to live while table is in {status} state: Current table state is {status}"
            )));
        }
        Ok(json!({
            "TimeToLiveDescription": match meta.ttl_attribute {
                Some(a) => json!({"TimeToLiveStatus": "ENABLED", "AttributeName": a}),
                None => json!({"TimeToLiveStatus": "DISABLED"}),
            }
        }))
    }
}
