//! CreateTable, DescribeTable, ListTables, DeleteTable.

use serde_json::{json, Map, Value as Json};

use super::service::{not_found, str_of, validation, Service, TableMeta};
use crate::front::error::{err, ApiError, Code};

impl TableMeta {
    /// The TableDescription the service answers.
    pub(crate) fn describe(&self, status: &str, account: &str, region: &str) -> Json {
        let mut schema = vec![json!({"AttributeName": self.hash.0, "KeyType": "HASH"})];
        if let Some((name, _)) = &self.range {
            schema.push(json!({"AttributeName": name, "KeyType": "RANGE"}));
        }
        let mut desc = json!({
            "AttributeDefinitions": self.attribute_definitions,
            "TableName": self.name,
            "KeySchema": schema,
            "TableStatus": status,
            "CreationDateTime": self.created,
            "ProvisionedThroughput": {
                "NumberOfDecreasesToday": 0,
                "ReadCapacityUnits": self.read_capacity,
                "WriteCapacityUnits": self.write_capacity,
            },
            "TableSizeBytes": 0,
            "ItemCount": 0,
            "TableArn": format!("arn:aws:dynamodb:{region}:{account}:table/{}", self.name),
            "TableId": format!("{:08x}-0000-4000-8000-{:012x}", self.id, self.id),
        });
        if self.billing_mode == "PAY_PER_REQUEST" {
            desc["BillingModeSummary"] = json!({
                "BillingMode": "PAY_PER_REQUEST",
                "LastUpdateToPayPerRequestDateTime": self.created,
            });
        }
        desc
    }
}

pub(super) const ACCOUNT: &str = "000000000000";

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
        let key_el = |i: usize, kind: &str| -> Result<Option<(String, String)>, ApiError> {
            let Some(el) = schema.get(i) else {
                return Ok(None);
            };
            let attr = el["AttributeName"].as_str().unwrap_or_default();
            if el["KeyType"] != kind {
                return Err(validation(format!(
                    "Invalid KeySchema: The {} key element must be a {kind} key",
                    if i == 0 { "first" } else { "second" }
                )));
            }
            let ty = def_type(attr).ok_or_else(|| {
                validation(
                    "One or more parameter values were invalid: Some index key attribute have no definition",
                )
            })?;
            Ok(Some((attr.to_string(), ty)))
        };
        let hash = key_el(0, "HASH")?.ok_or_else(|| validation("Invalid KeySchema"))?;
        let range = key_el(1, "RANGE")?;
        let used = 1 + usize::from(range.is_some());
        if defs.len() != used {
            return Err(validation(
                "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
            ));
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
        let mut tables = self.tables();
        if tables.contains_key(&name) {
            return Err(err(
                Code::ResourceInUseException,
                format!("Table already exists: {name}"),
            ));
        }
        let id = tables.values().map(|t| t.id).max().unwrap_or(0) + 1;
        let meta = TableMeta {
            name: name.clone(),
            id,
            hash,
            range,
            attribute_definitions: Json::Array(defs),
            billing_mode,
            read_capacity,
            write_capacity,
            created: self.now_secs(),
            tags: super::meta::tags_of(req),
            ttl_attribute: None,
        };
        let stored = serde_json::to_value(&meta).unwrap_or_default();
        self.store
            .write::<_, ApiError>(|w| Ok(w.put_table(&name, &stored)?))?;
        let desc = meta.describe("ACTIVE", ACCOUNT, &self.settings.region);
        tables.insert(name, meta);
        Ok(json!({ "TableDescription": desc }))
    }

    pub(super) fn describe_table(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = str_of(req, "TableName").unwrap_or_default();
        let meta = self.tables().get(name).cloned().ok_or_else(|| {
            err(
                Code::ResourceNotFoundException,
                format!("Requested resource not found: Table: {name} not found"),
            )
        })?;
        let mut desc = meta.describe("ACTIVE", ACCOUNT, &self.settings.region);
        let (count, bytes) = self.count(&meta)?;
        desc["ItemCount"] = json!(count);
        desc["TableSizeBytes"] = json!(bytes);
        Ok(json!({ "Table": desc }))
    }

    fn count(&self, meta: &TableMeta) -> Result<(u64, u64), ApiError> {
        let (from, to) = super::store::table_bounds(meta.id);
        let (mut n, mut size) = (0u64, 0u64);
        self.store.range(
            std::ops::Bound::Included(from.as_slice()),
            std::ops::Bound::Excluded(to.as_slice()),
            true,
            |_, item| {
                n += 1;
                size += super::value::item_size(&item) as u64;
                true
            },
        )?;
        Ok((n, size))
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
        let mut tables = self.tables();
        let meta = tables.get(name).cloned().ok_or_else(not_found)?;
        self.store
            .write::<_, ApiError>(|w| Ok(w.delete_table(name, meta.id)?))?;
        tables.remove(name);
        Ok(json!({
            "TableDescription": meta.describe("DELETING", ACCOUNT, &self.settings.region)
        }))
    }
}
