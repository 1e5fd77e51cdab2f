//! CreateTable, DescribeTable, ListTables, DeleteTable.

use serde_json::{json, Map, Value as Json};

use super::service::{str_of, validation, Service, TableMeta};
use crate::front::error::{err, ApiError, Code};

impl TableMeta {
    /// The TableDescription the service answers; `figures` gives the item
    /// count and bytes of the table (index 0) and of each index.
    pub(crate) fn describe_with(
        &self,
        now_ms: u64,
        account: &str,
        region: &str,
        figures: &dyn Fn(u32) -> (u64, u64),
    ) -> Json {
        // A change whose time has come is described done.
        let settled;
        let me = if self.updating.is_some() || self.indexes.iter().any(|i| i.updating.is_some()) {
            let mut m = self.clone();
            m.settle(now_ms);
            settled = m;
            &settled
        } else {
            self
        };
        let mut desc = me.describe(now_ms, account, region);
        let (count, bytes) = figures(0);
        desc["ItemCount"] = json!(count);
        desc["TableSizeBytes"] = json!(bytes);
        for (global, kind) in [
            (false, "LocalSecondaryIndexes"),
            (true, "GlobalSecondaryIndexes"),
        ] {
            let mut list: Vec<Json> = me
                .indexes
                .iter()
                .filter(|i| i.global == global)
                .map(|i| i.describe(me, figures(i.no), now_ms))
                .collect();
            if global {
                list.extend(
                    me.deleting_indexes
                        .iter()
                        .filter(|(_, until)| now_ms < *until)
                        .map(|(i, _)| i.describe_deleting(me, now_ms)),
                );
            }
            if !list.is_empty() {
                desc[kind] = Json::Array(list);
            }
        }
        desc
    }

    /// The TableDescription at `now_ms` without figures (zero counts).
    pub(crate) fn describe(&self, now_ms: u64, account: &str, region: &str) -> Json {
        let mut schema = vec![json!({"AttributeName": self.hash.0, "KeyType": "HASH"})];
        if let Some((name, _)) = &self.range {
            schema.push(json!({"AttributeName": name, "KeyType": "RANGE"}));
        }
        let mut desc = json!({
            "AttributeDefinitions": self.attribute_definitions,
            "TableName": self.name,
            "KeySchema": schema,
            "TableStatus": self.status(now_ms),
            "CreationDateTime": self.created,
            "ProvisionedThroughput": self.throughput_json(now_ms),
            "TableSizeBytes": 0,
            "ItemCount": 0,
            "TableArn": format!("arn:aws:dynamodb:{region}:{account}:table/{}", self.name),
            "TableId": format!("{:08x}-0000-4000-8000-{:012x}", self.id, self.id),
            "DeletionProtectionEnabled": self.deletion_protection,
        });
        if let Some(summary) = self.billing_summary(now_ms) {
            desc["BillingModeSummary"] = summary;
        }
        self.options.describe(&mut desc, region);
        desc
    }
}

pub(super) const ACCOUNT: &str = "000000000000";

/// The ResourceNotFoundException of the table actions (DescribeTable,
/// DeleteTable, UpdateTable, the TimeToLive actions), which name the table.
pub(super) fn table_not_found(name: &str) -> ApiError {
    err(
        Code::ResourceNotFoundException,
        format!("Requested resource not found: Table: {name} not found"),
    )
}

/// The service's answer to a change of a table that is not ACTIVE.
pub(super) fn in_use(what: String) -> ApiError {
    err(
        Code::ResourceInUseException,
        format!("Attempt to change a resource which is still in use: {what}"),
    )
}

impl Service {
    pub(super) fn create_table(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = str_of(req, "TableName").unwrap_or_default().to_string();
        let defs = req
            .get("AttributeDefinitions")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let schema = req
            .get("KeySchema")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default();
        let def_type = |attr: &str| {
            defs.iter()
                .find(|d| d["AttributeName"] == attr)
                .and_then(|d| d["AttributeType"].as_str())
                .map(str::to_string)
        };
        let def_names: Vec<String> = defs
            .iter()
            .filter_map(|d| d["AttributeName"].as_str().map(str::to_string))
            .collect();
        if let Some(twice) = def_names
            .iter()
            .enumerate()
            .find(|(i, n)| def_names[..*i].contains(n))
        {
            return Err(validation(format!(
                "Attribute Name is duplicated: {}",
                twice.1
            )));
        }
        // The throughput is checked before the key schema, as recorded.
        if let Some(t) = req.get("ProvisionedThroughput") {
            super::meta::check_capacity_bounds(t, "")?;
        }
        let billing_mode = str_of(req, "BillingMode")
            .unwrap_or("PROVISIONED")
            .to_string();
        let throughput = req.get("ProvisionedThroughput");
        let (read_capacity, write_capacity) = match (billing_mode.as_str(), throughput) {
            ("PAY_PER_REQUEST", Some(_)) => {
                return Err(validation(
                    "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                ))
            }
            ("PAY_PER_REQUEST", None) => (0, 0),
            (_, None) => {
                return Err(validation(
                    "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
                ))
            }
            (_, Some(t)) => (
                t["ReadCapacityUnits"].as_u64().unwrap_or(1),
                t["WriteCapacityUnits"].as_u64().unwrap_or(1),
            ),
        };
        let keys = super::index::schema_names(&Json::Array(schema.clone()));
        if keys.len() > def_names.len() {
            return Err(validation(
                "Invalid KeySchema: Some index key attribute have no definition",
            ));
        }
        if keys.iter().any(|k| !def_names.contains(k)) {
            return Err(validation(format!(
                "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
                keys.join(", "),
                def_names.join(", ")
            )));
        }
        if keys.len() == 2 && keys[0] == keys[1] {
            return Err(validation(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name",
            ));
        }
        let key_el = |i: usize, kind: &str| -> Result<Option<(String, String)>, ApiError> {
            let Some(el) = schema.get(i) else {
                return Ok(None);
            };
            let attr = el["AttributeName"].as_str().unwrap_or_default();
            if el["KeyType"] != kind {
                return Err(validation(format!(
                    "Invalid KeySchema: The {} KeySchemaElement is not a {kind} key type",
                    if i == 0 { "first" } else { "second" }
                )));
            }
            Ok(Some((attr.to_string(), def_type(attr).unwrap_or_default())))
        };
        let hash = key_el(0, "HASH")?.ok_or_else(|| validation("Invalid KeySchema"))?;
        let range = key_el(1, "RANGE")?;
        let pay_per_request = str_of(req, "BillingMode") == Some("PAY_PER_REQUEST");
        let lsis = req.get("LocalSecondaryIndexes").and_then(Json::as_array);
        let gsis = req.get("GlobalSecondaryIndexes").and_then(Json::as_array);
        let mut indexes: Vec<super::index::IndexMeta> = Vec::new();
        let mut used: Vec<&str> = keys.iter().map(String::as_str).collect();
        for (list, global) in [(lsis, false), (gsis, true)] {
            let Some(list) = list else { continue };
            let kind = if global { "Global" } else { "Local" };
            if list.is_empty() {
                return Err(validation(format!(
                    "One or more parameter values were invalid: List of {kind}SecondaryIndexes is empty"
                )));
            }
            if !global && range.is_none() {
                return Err(validation(
                    "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
                ));
            }
            for spec in list {
                let spec = spec.as_object().cloned().unwrap_or_default();
                let mut index = super::index::parse_index(
                    &spec,
                    global,
                    &def_names,
                    &def_type,
                    super::index::Billing {
                        pay_per_request,
                        creating_table: true,
                    },
                    &hash.0,
                )?;
                if indexes.iter().any(|i| i.name == index.name) {
                    return Err(validation(format!(
                        "One or more parameter values were invalid: Duplicate index name: {}",
                        index.name
                    )));
                }
                index.no = indexes.len() as u32 + 1;
                indexes.push(index);
            }
            if !global && list.len() > 5 {
                return Err(validation(
                    "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of 5",
                ));
            }
            if global && list.len() > 20 {
                return Err(validation(
                    "One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of 20",
                ));
            }
        }
        for i in &indexes {
            used.push(&i.hash.0);
            if let Some(r) = &i.range {
                used.push(&r.0);
            }
        }
        if def_names.iter().any(|d| !used.contains(&d.as_str())) {
            return Err(validation(
                "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
            ));
        }
        let tags = super::tags::create_tags(req)?;
        let now = self.now_ms();
        let mut tables = self.tables();
        if let Some(existing) = tables.get(&name) {
            // A table still being created is named as such (recorded from
            // the service, ack-api-quirks 2026-10).
            if existing.status(now) == "CREATING" {
                return Err(in_use(format!("Table is being created: {name}")));
            }
            return Err(err(
                Code::ResourceInUseException,
                format!("Table already exists: {name}"),
            ));
        }
        let id = tables.values().map(|t| t.id).max().unwrap_or(0) + 1;
        super::options::Options::check(req, &billing_mode, true)?;
        let mut meta = TableMeta {
            name: name.clone(),
            id,
            hash,
            range,
            attribute_definitions: Json::Array(defs),
            billing_mode,
            read_capacity,
            write_capacity,
            created: self.now_secs(),
            tags,
            ttl_attribute: None,
            next_index: indexes.len() as u32 + 1,
            active_at_ms: now + self.settings.state_delay.as_millis() as u64,
            deleted_at_ms: None,
            deleting_indexes: Vec::new(),
            updating: None,
            throughput_log: Default::default(),
            key_layout: super::partition::HASHED_LAYOUT,
            deletion_protection: req.get("DeletionProtectionEnabled").and_then(Json::as_bool)
                == Some(true),
            recovery: None,
            options: Default::default(),
            indexes: indexes
                .into_iter()
                .map(|mut i| {
                    i.active_at_ms = now + self.settings.state_delay.as_millis() as u64;
                    i
                })
                .collect(),
        };
        meta.options.apply(req);
        let stored = serde_json::to_value(&meta).unwrap_or_default();
        self.store.write::<_, ApiError>(|w| {
            // No figures yet: the first checkpoint of its items counts them.
            w.put_table(&name, &stored)?;
            Ok(())
        })?;
        let desc = meta.describe_with(now, ACCOUNT, &self.settings.region, &|_| (0, 0));
        tables.insert(name, meta);
        Ok(json!({ "TableDescription": desc }))
    }

    pub(super) fn describe_table(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = str_of(req, "TableName").unwrap_or_default();
        let meta = self
            .tables()
            .get(name)
            .cloned()
            .ok_or_else(|| table_not_found(name))?;
        Ok(json!({ "Table": self.description(&meta)? }))
    }

    /// A table's description with its status and figures (kept as items
    /// are written, never counted here).
    pub(super) fn description(&self, meta: &TableMeta) -> Result<Json, ApiError> {
        // A table being deleted is described as DeleteTable answered.
        if meta.deleted_at_ms.is_some() {
            return Ok(deleting_description(
                meta,
                self.now_ms(),
                &self.settings.region,
            ));
        }
        let mut figures = std::collections::BTreeMap::new();
        figures.insert(0, self.store.table_figures(meta.id)?);
        for i in &meta.indexes {
            figures.insert(i.no, self.store.stats(meta.id, i.no)?);
        }
        Ok(
            meta.describe_with(self.now_ms(), ACCOUNT, &self.settings.region, &|no| {
                figures.get(&no).copied().unwrap_or_default()
            }),
        )
    }

    pub(super) fn list_tables(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let start = str_of(req, "ExclusiveStartTableName");
        let limit = req.get("Limit").and_then(Json::as_u64).unwrap_or(100) as usize;
        let tables = self.tables();
        let names: Vec<&String> = tables
            .keys()
            .filter(|n| start.is_none_or(|s| n.as_str() > s))
            .take(limit + 1)
            .collect();
        let mut out = json!({
            "TableNames": names.iter().take(limit).collect::<Vec<_>>()
        });
        if names.len() > limit {
            out["LastEvaluatedTableName"] = json!(names[limit - 1]);
        }
        Ok(out)
    }

    pub(super) fn delete_table(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = str_of(req, "TableName").unwrap_or_default();
        let now = self.now_ms();
        let mut tables = self.tables();
        let meta = tables
            .get(name)
            .cloned()
            .ok_or_else(|| table_not_found(name))?;
        if meta.deletion_protection {
            // Recorded from the service (ack-api-quirks, 2026-10).
            return Err(validation(
                "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.",
            ));
        }
        match meta.status(now) {
            "CREATING" => return Err(in_use(format!("Table is being created: {name}"))),
            // "If table is already in the DELETING state, no error is
            // returned" (the API reference): the description again.
            "DELETING" => {
                return Ok(
                    json!({ "TableDescription": deleting_description(&meta, now, &self.settings.region) }),
                )
            }
            "UPDATING" => {
                return Err(in_use(format!(
                    "Table: {name} is in the process of being updated."
                )))
            }
            _ => {}
        }
        let indexes_busy = meta
            .indexes
            .iter()
            .any(|i| i.global && i.status(now) == "CREATING")
            || meta.deleting_indexes.iter().any(|(_, until)| now < *until);
        if indexes_busy {
            return Err(in_use(
                "Cannot delete table while indexes are being created, updated, or deleted."
                    .to_string(),
            ));
        }
        let desc = deleting_description(&meta, now, &self.settings.region);
        // Its items go now; the table shows DELETING for the engine's delay.
        self.store
            .write::<_, ApiError>(|w| Ok(w.delete_table(name, meta.id)?))?;
        let delay = self.settings.state_delay.as_millis() as u64;
        if delay == 0 {
            tables.remove(name);
        } else if let Some(t) = tables.get_mut(name) {
            t.deleted_at_ms = Some(now + delay);
        }
        Ok(json!({ "TableDescription": desc }))
    }
}

/// DeleteTable's answer: the table as DELETING, without its global indexes
/// (as recorded).
fn deleting_description(meta: &TableMeta, now: u64, region: &str) -> Json {
    let mut desc = meta.describe_with(now, ACCOUNT, region, &|_| (0, 0));
    desc["TableStatus"] = json!("DELETING");
    if let Some(d) = desc.as_object_mut() {
        d.remove("GlobalSecondaryIndexes");
    }
    desc
}

/// The actions on a whole table, which check the TableName they are given
/// before the model's constraints, with their own words (as recorded).
const TABLE_LEVEL: [&str; 6] = [
    "CreateTable",
    "DescribeTable",
    "DeleteTable",
    "UpdateTable",
    "DescribeTimeToLive",
    "UpdateTimeToLive",
];

/// A table-level action's own checks before the model's (the types are
/// checked already): its TableName present, and a name (not an ARN) of 3 to
/// 255 characters; UpdateTimeToLive's attribute name not empty.
pub(super) fn check_table_action(action: &str, body: &Json) -> Result<(), ApiError> {
    if !TABLE_LEVEL.contains(&action) {
        return Ok(());
    }
    let name = match body.get("TableName") {
        None | Some(Json::Null) => {
            return Err(validation(
                "The parameter 'TableName' is required but was not present in the request",
            ))
        }
        Some(v) => v.as_str().unwrap_or_default(),
    };
    let length = name.chars().count();
    if !name.starts_with("arn:") && !(3..=255).contains(&length) {
        return Err(validation(
            "TableName must be at least 3 characters long and at most 255 characters long",
        ));
    }
    // UpdateTimeToLive words an empty attribute name its own way too.
    let ttl_name = body
        .pointer("/TimeToLiveSpecification/AttributeName")
        .and_then(Json::as_str);
    if action == "UpdateTimeToLive" && ttl_name == Some("") {
        return Err(validation(
            "TimeToLiveSpecification.AttributeName must be non empty",
        ));
    }
    Ok(())
}
