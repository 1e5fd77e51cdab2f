//! Local and global secondary indexes: their description, their keys and
//! projections, and their upkeep on every item write ([`TableMeta::apply`],
//! which also keeps the table's figures and its TTL expiry entries).
//!
//! An index entry is stored in the `index` space under table id + index
//! number + the index's key bytes + the table's key bytes (so entries with
//! equal index keys stay distinct), its value the projected item; with the
//! partition tags of [`super::partition`] in tables that have them (the
//! index key behind its partition's tag, the table key behind the tag of
//! the whole table key, which orders entries with equal index keys). Items
//! without the index's key attributes are not in it (sparse indexes).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value as Json};

use super::service::{validation, TableMeta};
use super::store::{Space, StoreError, Writer};
use super::value::{item_size, AttributeValue, Item};
use crate::front::error::ApiError;

/// One secondary index as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IndexMeta {
    pub name: String,
    /// Its number in the table's key spaces (1, 2, … never reused).
    pub no: u32,
    pub global: bool,
    pub hash: (String, String),
    pub range: Option<(String, String)>,
    /// ALL, KEYS_ONLY or INCLUDE.
    pub projection: String,
    #[serde(default)]
    pub non_key: Vec<String>,
    #[serde(default)]
    pub read_capacity: u64,
    #[serde(default)]
    pub write_capacity: u64,
    /// Clock time (ms) from which the index is ACTIVE (CREATING before).
    #[serde(default)]
    pub active_at_ms: u64,
    /// A global index's throughput change in progress (UPDATING).
    #[serde(default)]
    pub updating: Option<super::updating::Updating>,
    /// Its LastIncreaseDateTime, LastDecreaseDateTime and decreases today.
    #[serde(default)]
    pub throughput_log: super::updating::ThroughputLog,
}

/// The storage prefix of an index's entries.
pub(crate) fn index_prefix(table_id: u64, no: u32) -> Vec<u8> {
    let mut p = table_id.to_be_bytes().to_vec();
    p.extend(no.to_be_bytes());
    p
}

fn key_schema(hash: &(String, String), range: &Option<(String, String)>) -> Json {
    let mut schema = vec![json!({"AttributeName": hash.0, "KeyType": "HASH"})];
    if let Some((name, _)) = range {
        schema.push(json!({"AttributeName": name, "KeyType": "RANGE"}));
    }
    Json::Array(schema)
}

impl IndexMeta {
    /// The index's key bytes for `item` (None when the item lacks a key
    /// attribute of the index, or holds it with another type).
    pub(crate) fn key_bytes(&self, item: &Item) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for (name, ty) in std::iter::once(&self.hash).chain(self.range.as_ref()) {
            let v = item.get(name)?;
            if v.type_name() != ty {
                return None;
            }
            out.extend(v.key_bytes()?);
        }
        Some(out)
    }

    /// The index's key attributes of `item`.
    pub(crate) fn key_attrs(&self, item: &Item) -> Item {
        std::iter::once(&self.hash.0)
            .chain(self.range.as_ref().map(|r| &r.0))
            .filter_map(|n| item.get(n).map(|v| (n.clone(), v.clone())))
            .collect()
    }

    /// Checks the index's key attributes of an item about to be written.
    pub(crate) fn check_item(&self, item: &Item) -> Result<(), ApiError> {
        if let Some((name, ty, actual)) = self.key_type_mismatch(item) {
            return Err(validation(format!(
                "One or more parameter values were invalid: Type mismatch for Index Key {name} Expected: {ty} Actual: {actual} IndexName: {}",
                self.name
            )));
        }
        for (name, ty) in std::iter::once(&self.hash).chain(self.range.as_ref()) {
            let Some(v) = item.get(name) else { continue };
            let empty = v.is_empty_scalar();
            if empty {
                return Err(validation(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {} value. IndexName: {}, IndexKey: {name}",
                    if ty == "S" { "string" } else { "binary" },
                    self.name
                )));
            }
        }
        Ok(())
    }

    /// The first key attribute of the index `item` holds with another type:
    /// its name, the index's type and the item's.
    pub(crate) fn key_type_mismatch<'a>(
        &'a self,
        item: &Item,
    ) -> Option<(&'a str, &'a str, &'static str)> {
        std::iter::once(&self.hash)
            .chain(self.range.as_ref())
            .find_map(|(name, ty)| {
                let actual = item.get(name)?.type_name();
                (actual != ty).then_some((name.as_str(), ty.as_str(), actual))
            })
    }

    /// Whether `attr` is stored in the index.
    pub(crate) fn projects(&self, table: &TableMeta, attr: &str) -> bool {
        self.projection == "ALL"
            || self.is_key(table, attr)
            || (self.projection == "INCLUDE" && self.non_key.iter().any(|a| a == attr))
    }

    fn is_key(&self, table: &TableMeta, attr: &str) -> bool {
        [&table.hash, &self.hash]
            .into_iter()
            .chain(table.range.as_ref())
            .chain(self.range.as_ref())
            .any(|(n, _)| n == attr)
    }

    /// The part of `item` the index stores.
    pub(crate) fn project(&self, table: &TableMeta, item: &Item) -> Item {
        if self.projection == "ALL" {
            return item.clone();
        }
        item.iter()
            .filter(|(k, _)| self.projects(table, k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub(crate) fn status(&self, now_ms: u64) -> &'static str {
        if now_ms < self.active_at_ms {
            "CREATING"
        } else if self.updating.as_ref().is_some_and(|u| now_ms < u.until_ms) {
            "UPDATING"
        } else {
            "ACTIVE"
        }
    }

    /// The entry of a global index being deleted (its entries are gone).
    pub(crate) fn describe_deleting(&self, table: &TableMeta, now_ms: u64) -> Json {
        let mut d = self.describe(table, (0, 0), now_ms);
        d["IndexStatus"] = json!("DELETING");
        if let Some(d) = d.as_object_mut() {
            d.remove("Backfilling");
        }
        d
    }

    /// The index's entry in a TableDescription.
    pub(crate) fn describe(&self, table: &TableMeta, figures: (u64, u64), now_ms: u64) -> Json {
        let mut projection = json!({"ProjectionType": self.projection});
        if self.projection == "INCLUDE" {
            projection["NonKeyAttributes"] = json!(self.non_key);
        }
        let mut d = json!({
            "IndexName": self.name,
            "KeySchema": key_schema(&self.hash, &self.range),
            "Projection": projection,
            "IndexSizeBytes": figures.1,
            "ItemCount": figures.0,
            "IndexArn": format!("{}/index/{}", table.arn(), self.name),
        });
        if self.global {
            let status = self.status(now_ms);
            d["IndexStatus"] = json!(status);
            // Only an index added to an existing table is backfilled; one
            // created with its table is not (as recorded).
            if status == "CREATING" && table.status(now_ms) != "CREATING" {
                d["Backfilling"] = json!(true);
            }
            d["ProvisionedThroughput"] =
                self.throughput_log
                    .describe(self.read_capacity, self.write_capacity, now_ms);
        }
        d
    }
}

fn key_el(
    schema: &[Json],
    i: usize,
    kind: &str,
    def_type: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(String, String)>, ApiError> {
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
    let ty = def_type(attr).unwrap_or_default();
    Ok(Some((attr.to_string(), ty)))
}

/// The attribute names of a KeySchema.
pub(crate) fn schema_names(schema: &Json) -> Vec<String> {
    schema
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["AttributeName"].as_str().map(str::to_string))
        .collect()
}

/// The table's billing mode an index is read under, and whether CreateTable
/// reads it (UpdateTable words the same refusals its own way).
#[derive(Clone, Copy)]
pub(crate) struct Billing {
    pub(crate) pay_per_request: bool,
    pub(crate) creating_table: bool,
}

/// Reads one LocalSecondaryIndex or GlobalSecondaryIndex of a request,
/// with the service's checks in its order; `defs` are the attribute names
/// defined.
pub(crate) fn parse_index(
    spec: &Map<String, Json>,
    global: bool,
    defs: &[String],
    def_type: &dyn Fn(&str) -> Option<String>,
    billing: Billing,
    table_hash: &str,
) -> Result<IndexMeta, ApiError> {
    let name = spec["IndexName"].as_str().unwrap_or_default().to_string();
    let keys = schema_names(&spec["KeySchema"]);
    if keys.iter().any(|k| !defs.contains(k)) {
        return Err(validation(format!(
            "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            keys.join(", "),
            defs.join(", ")
        )));
    }
    if keys.len() == 2 && keys[0] == keys[1] {
        return Err(validation(
            "Both the Hash Key and the Range Key element in the KeySchema have the same name",
        ));
    }
    let schema = spec["KeySchema"].as_array().cloned().unwrap_or_default();
    let hash =
        key_el(&schema, 0, "HASH", def_type)?.ok_or_else(|| validation("Invalid KeySchema"))?;
    let range = key_el(&schema, 1, "RANGE", def_type)?;
    if !global {
        if range.is_none() {
            return Err(validation(format!(
                "One or more parameter values were invalid: Index KeySchema does not have a range key for index: {name}"
            )));
        }
        if hash.0 != table_hash {
            return Err(validation(format!(
                "One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: {name}. index hash key: {}, table hash key: {table_hash}",
                hash.0
            )));
        }
    }
    let projection = &spec["Projection"];
    let Some(kind) = projection["ProjectionType"].as_str() else {
        return Err(validation(
            "One or more parameter values were invalid: Unknown ProjectionType: null",
        ));
    };
    let non_key: Vec<String> = projection["NonKeyAttributes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    if projection.get("NonKeyAttributes").is_some() && kind != "INCLUDE" {
        return Err(validation(format!(
            "One or more parameter values were invalid: ProjectionType is {kind}, but NonKeyAttributes is specified"
        )));
    }
    // Recorded from the service (ack-api-quirks, 2026-10).
    if kind == "INCLUDE" && non_key.is_empty() {
        return Err(validation(
            "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
        ));
    }
    if let Some((_, twice)) = non_key
        .iter()
        .enumerate()
        .find(|(i, n)| non_key[..*i].contains(n))
    {
        return Err(validation(format!(
            "One or more parameter values were invalid: Duplicate element in NonKeyAttributes: {twice}"
        )));
    }
    let throughput = spec.get("ProvisionedThroughput");
    let created = billing.creating_table;
    let (read_capacity, write_capacity) = match (global, billing.pay_per_request, throughput) {
        (true, true, Some(_)) if created => {
            return Err(validation(format!(
                "One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
            )))
        }
        (true, true, Some(_)) => {
            return Err(validation(format!(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for index: {name} when BillingMode is PAY_PER_REQUEST"
            )))
        }
        (true, false, None) if created => {
            return Err(validation(format!(
                "One or more parameter values were invalid: ProvisionedThroughput is not specified for index: {name}"
            )))
        }
        (true, false, None) => {
            return Err(validation(format!(
                "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: {name}"
            )))
        }
        (true, false, Some(t)) => (
            t["ReadCapacityUnits"].as_u64().unwrap_or(1),
            t["WriteCapacityUnits"].as_u64().unwrap_or(1),
        ),
        _ => (0, 0),
    };
    Ok(IndexMeta {
        name,
        no: 0,
        global,
        hash,
        range,
        projection: kind.to_string(),
        non_key,
        read_capacity,
        write_capacity,
        active_at_ms: 0,
        updating: None,
        throughput_log: Default::default(),
    })
}

impl TableMeta {
    pub(crate) fn index(&self, name: &str) -> Option<&IndexMeta> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// Checks an item about to be written against every index's key types.
    pub(crate) fn check_indexes(&self, item: &Item) -> Result<(), ApiError> {
        self.indexes.iter().try_for_each(|i| i.check_item(item))
    }

    /// The index's storage key of `item` stored under the table key `key`.
    pub(crate) fn index_key(&self, index: &IndexMeta, key: &[u8], item: &Item) -> Option<Vec<u8>> {
        let mut k = index_prefix(self.id, index.no);
        if !self.hashed() {
            k.extend(index.key_bytes(item)?);
            k.extend(&key[8..]);
            return Some(k);
        }
        // The index's partition tag, its key, then the tag of the whole
        // table key (entries sharing the index's key come in that order, as
        // the service returns them) and the table key past its own tag.
        k.extend(super::partition::tag(item.get(&index.hash.0)?, None));
        k.extend(index.key_bytes(item)?);
        let range = self.range.as_ref().and_then(|(name, _)| item.get(name));
        k.extend(super::partition::tag(item.get(&self.hash.0)?, range));
        k.extend(key.get(8 + 3..)?);
        Some(k)
    }

    /// The TTL expiry entry of `item` under `key`, if TTL is enabled and
    /// the item holds a Number in its TTL attribute.
    pub(crate) fn expiry_key(&self, key: &[u8], item: &Item) -> Option<Vec<u8>> {
        let attr = self.ttl_attribute.as_ref()?;
        let AttributeValue::N(n) = item.get(attr)? else {
            return None;
        };
        let secs: f64 = n.to_string().parse().ok()?;
        if !(0.0..1e15).contains(&secs) {
            return None;
        }
        let mut k = self.id.to_be_bytes().to_vec();
        k.extend((secs.floor() as u64).to_be_bytes());
        k.extend(key);
        Some(k)
    }

    /// Whether the table has neither indexes nor TTL: a write to it needs
    /// no look at the old item ([`TableMeta::apply_plain`]).
    pub(crate) fn is_plain(&self) -> bool {
        self.indexes.is_empty() && self.ttl_attribute.is_none()
    }

    /// [`TableMeta::apply`] for a table that [`TableMeta::is_plain`], without
    /// reading the old item: `new` is the item's encoding
    /// ([`super::store::encode`]) and its size. With `old_size` the size of
    /// the item it replaces is read first and returned (None: there was
    /// none), for a ConsumedCapacity report.
    pub(crate) fn apply_plain(
        &self,
        w: &mut Writer<'_>,
        key: &[u8],
        new: Option<(&[u8], usize)>,
        old_size: bool,
    ) -> Result<Option<usize>, StoreError> {
        let old = if old_size { w.size_of(key)? } else { None };
        w.put_encoded(key, new.map(|(bytes, _)| bytes));
        Ok(old)
    }

    /// Writes `new` (or deletes, for None) under `key`, where `old` was
    /// stored, keeping every index, the TTL expiry entries and the indexes' figures.
    /// The caller checked `new` with [`TableMeta::check_indexes`].
    pub(crate) fn apply(
        &self,
        w: &mut Writer<'_>,
        key: &[u8],
        old: Option<&Item>,
        new: Option<&Item>,
    ) -> Result<(), StoreError> {
        match new {
            Some(item) => w.put(key, item)?,
            None if old.is_some() => w.delete(key)?,
            None => return Ok(()),
        }
        // The table's own figures are the checkpoint's.
        let size = |i: Option<&Item>| i.map_or(0, |i| item_size(i) as i64);
        for index in &self.indexes {
            let old_key = old.and_then(|o| self.index_key(index, key, o));
            let new_key = new.and_then(|n| self.index_key(index, key, n));
            let old_p = old
                .filter(|_| old_key.is_some())
                .map(|o| index.project(self, o));
            let new_p = new
                .filter(|_| new_key.is_some())
                .map(|n| index.project(self, n));
            if let Some(k) = &old_key {
                if new_key.as_ref() != Some(k) {
                    w.delete_raw(Space::Index, k)?;
                }
            }
            if let (Some(k), Some(p)) = (&new_key, &new_p) {
                w.put_raw(Space::Index, k, &super::store::encode(p)?)?;
            }
            let count = i64::from(new_key.is_some()) - i64::from(old_key.is_some());
            w.add_stats(
                self.id,
                index.no,
                count,
                size(new_p.as_ref()) - size(old_p.as_ref()),
            );
        }
        if self.ttl_attribute.is_some() {
            let old_e = old.and_then(|o| self.expiry_key(key, o));
            let new_e = new.and_then(|n| self.expiry_key(key, n));
            if old_e != new_e {
                if let Some(k) = old_e {
                    w.delete_raw(Space::Expiry, &k)?;
                }
                if let Some(k) = new_e {
                    w.put_raw(Space::Expiry, &k, &[])?;
                }
            }
        }
        Ok(())
    }

    /// Writes the entries of `index` (or, for None, the TTL expiry entries)
    /// for every item of the table (an index created by UpdateTable, TTL
    /// enabled), with the index's figures; reads the items in chunks.
    pub(crate) fn backfill(
        &self,
        w: &mut Writer<'_>,
        index: Option<&IndexMeta>,
    ) -> Result<(), StoreError> {
        let (mut n, mut bytes) = (0u64, 0u64);
        let (from, to) = super::store::table_bounds(self.id);
        let mut after: Option<Vec<u8>> = None;
        loop {
            let start = match &after {
                Some(k) => std::ops::Bound::Excluded(k.as_slice()),
                None => std::ops::Bound::Included(from.as_slice()),
            };
            let chunk = w.items(start, to.as_slice(), 1000)?;
            let Some((last, _)) = chunk.last() else { break };
            after = Some(last.clone());
            for (key, item) in &chunk {
                match index {
                    Some(index) => {
                        if let Some(k) = self.index_key(index, key, item) {
                            let p = index.project(self, item);
                            n += 1;
                            bytes += item_size(&p) as u64;
                            w.put_raw(Space::Index, &k, &super::store::encode(&p)?)?;
                        }
                    }
                    None => {
                        if let Some(k) = self.expiry_key(key, item) {
                            w.put_raw(Space::Expiry, &k, &[])?;
                        }
                    }
                }
            }
        }
        if let Some(index) = index {
            w.set_stats(self.id, index.no, n, bytes)?;
        }
        Ok(())
    }
}
