//! PutItem, GetItem, DeleteItem, UpdateItem.

use serde_json::{json, Map, Value as Json};

use super::capacity::{self, read_units, Consumed};
use super::expr::{Context, ExprKind, Projection, Update};
use super::legacy;
use super::service::{
    expr_err, names_of, str_of, validation, value_err, values_of, Service, TableMeta,
};
use super::value::{
    item_from_json, item_size, item_to_json, nesting_within_limits, Item, MAX_ITEM_SIZE,
};
use crate::front::error::{err, ApiError, Code};

pub(super) fn conditional_failed() -> ApiError {
    err(
        Code::ConditionalCheckFailedException,
        "The conditional request failed",
    )
}

/// A request's item (or key) read from `field`.
pub(super) fn item_field(req: &Map<String, Json>, field: &str) -> Result<Item, ApiError> {
    item_from_json(req.get(field).unwrap_or(&json!({}))).map_err(value_err)
}

pub(super) fn check_size(item: &Item) -> Result<(), ApiError> {
    size_within(item, "Item size has exceeded the maximum allowed size")
}

/// [`check_size`] of an item an update made, in the service's words for it.
fn check_update_size(item: &Item) -> Result<(), ApiError> {
    size_within(
        item,
        "Item size to update has exceeded the maximum allowed size",
    )
}

fn size_within(item: &Item, refused: &str) -> Result<(), ApiError> {
    if item_size(item) > MAX_ITEM_SIZE {
        return Err(validation(refused));
    }
    check_nesting(item)
}

/// Maps and lists nested no deeper than the service keeps them.
pub(super) fn check_nesting(item: &Item) -> Result<(), ApiError> {
    if !nesting_within_limits(item) {
        return Err(validation(
            "1 validation error detected: Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit",
        ));
    }
    Ok(())
}

/// The request's condition (and, for UpdateItem, update) expressions.
pub(super) struct Exprs {
    pub(super) condition: Option<super::expr::Condition>,
    pub(super) update: Option<super::expr::Update>,
    pub(super) projection: Option<super::expr::Projection>,
    /// The update came from the legacy AttributeUpdates.
    pub(super) legacy_update: bool,
    /// `ReturnValuesOnConditionCheckFailure` is `ALL_OLD`: a failed
    /// condition's error carries the item as it was.
    pub(super) return_old_on_failure: bool,
}

impl Exprs {
    /// The item `update` makes of `base`, or the service's error: a wrong
    /// type is worded apart for AttributeUpdates (as recorded).
    pub(super) fn updated(
        &self,
        update: &super::expr::Update,
        base: &Item,
    ) -> Result<Item, ApiError> {
        update.apply(base).map_err(|e| match e {
            super::expr::UpdateError::WrongType if self.legacy_update => {
                validation("Type mismatch for attribute to update")
            }
            e => validation(e.to_string()),
        })
    }
}

/// The request's expressions, or its legacy parameters translated into
/// them (a request never has both: see [`legacy::check_mixing`]).
pub(super) fn exprs(req: &Map<String, Json>) -> Result<Exprs, ApiError> {
    legacy::check_attributes_to_get(req)?;
    let legacy_update = legacy::attribute_updates(req)?;
    let expected = legacy::expected(req)?;
    let names = names_of(req);
    let mut ctx = Context::new(names.as_ref(), values_of(req)).map_err(expr_err)?;
    let update = str_of(req, "UpdateExpression")
        .map(|t| ctx.update(t))
        .transpose()
        .map_err(expr_err)?;
    let legacy = update.is_none() && legacy_update.is_some();
    let update = update.or(legacy_update);
    let condition = str_of(req, "ConditionExpression")
        .map(|t| ctx.condition(ExprKind::Condition, t))
        .transpose()
        .map_err(expr_err)?
        .or_else(|| legacy::join(&expected, req));
    let projection = str_of(req, "ProjectionExpression")
        .map(|t| ctx.projection(t))
        .transpose()
        .map_err(expr_err)?
        .or_else(|| legacy::attributes_to_get(req));
    ctx.finish().map_err(expr_err)?;
    Ok(Exprs {
        condition,
        update,
        projection,
        legacy_update: legacy,
        return_old_on_failure: str_of(req, "ReturnValuesOnConditionCheckFailure")
            == Some("ALL_OLD"),
    })
}

fn return_values(req: &Map<String, Json>, allowed: &[&str]) -> Result<String, ApiError> {
    let rv = str_of(req, "ReturnValues").unwrap_or("NONE");
    if !allowed.contains(&rv) {
        return Err(validation("ReturnValues can only be ALL_OLD or NONE"));
    }
    Ok(rv.to_string())
}

fn attributes(out: &mut Json, item: Option<&Item>) {
    if let Some(item) = item.filter(|i| !i.is_empty()) {
        out["Attributes"] = item_to_json(item);
    }
}

impl Service {
    pub(super) fn put_item(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let item = item_field(req, "Item")?;
        // The item's size is checked before the table is looked up.
        check_size(&item)?;
        let ex = exprs(req)?;
        let rv = return_values(req, &["NONE", "ALL_OLD"])?;
        let meta = self.table(str_of(req, "TableName").unwrap_or_default())?;
        let key = meta.key_of(&item, false)?;
        meta.check_indexes(&item)?;
        self.admit(&meta, None, true)?;
        let (old, used) = self.store.write::<_, ApiError>(|w| {
            let old = w.get(&key)?;
            let used = Consumed::write(&meta, &key, old.as_ref(), Some(&item));
            check(&ex, old.as_ref()).inspect_err(|_| self.consume(&meta, &used, true))?;
            meta.apply(w, &key, old.as_ref(), Some(&item))?;
            Ok((old, used))
        })?;
        self.consume(&meta, &used, true);
        let mut out = json!({});
        if rv == "ALL_OLD" {
            attributes(&mut out, old.as_ref());
        }
        capacity::attach(&mut out, capacity::report_of(req), &meta.name, &used);
        Ok(out)
    }

    pub(super) fn get_item(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let key_item = item_field(req, "Key")?;
        let ex = exprs(req)?;
        let meta = self.table(str_of(req, "TableName").unwrap_or_default())?;
        let key = meta.key_of(&key_item, true)?;
        if let Some(p) = &ex.projection {
            meta.check_projection_keys(p)?;
        }
        self.admit(&meta, None, false)?;
        let consistent = req.get("ConsistentRead").and_then(Json::as_bool) == Some(true);
        let mut out = json!({});
        let found = self.store.get(&key)?;
        let used = Consumed::read(
            &meta,
            None,
            read_units(found.as_ref().map_or(0, item_size), consistent),
        );
        self.consume(&meta, &used, false);
        if let Some(item) = found {
            let item = match &ex.projection {
                Some(p) => p.apply(&item),
                None => item,
            };
            out["Item"] = item_to_json(&item);
        }
        capacity::attach(&mut out, capacity::report_of(req), &meta.name, &used);
        Ok(out)
    }

    pub(super) fn delete_item(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let key_item = item_field(req, "Key")?;
        let ex = exprs(req)?;
        let rv = return_values(req, &["NONE", "ALL_OLD"])?;
        let meta = self.table(str_of(req, "TableName").unwrap_or_default())?;
        let key = meta.key_of(&key_item, true)?;
        self.admit(&meta, None, true)?;
        let (old, used) = self.store.write::<_, ApiError>(|w| {
            let old = w.get(&key)?;
            let used = Consumed::write(&meta, &key, old.as_ref(), None);
            check(&ex, old.as_ref()).inspect_err(|_| self.consume(&meta, &used, true))?;
            meta.apply(w, &key, old.as_ref(), None)?;
            Ok((old, used))
        })?;
        self.consume(&meta, &used, true);
        let mut out = json!({});
        if rv == "ALL_OLD" {
            attributes(&mut out, old.as_ref());
        }
        capacity::attach(&mut out, capacity::report_of(req), &meta.name, &used);
        Ok(out)
    }

    pub(super) fn update_item(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let key_item = item_field(req, "Key")?;
        let ex = exprs(req)?;
        let rv = str_of(req, "ReturnValues").unwrap_or("NONE").to_string();
        let meta = self.table(str_of(req, "TableName").unwrap_or_default())?;
        let key = meta.key_of(&key_item, true)?;
        check_update_request(&meta, &key_item, &ex)?;
        self.admit(&meta, None, true)?;
        let (old, new, used) = self.store.write::<_, ApiError>(|w| {
            let old = w.get(&key)?;
            let used = Consumed::write(&meta, &key, old.as_ref(), None);
            check(&ex, old.as_ref()).inspect_err(|_| self.consume(&meta, &used, true))?;
            let new = updated_item(&meta, &ex, &key_item, old.as_ref())?;
            let used = Consumed::write(&meta, &key, old.as_ref(), Some(&new));
            meta.apply(w, &key, old.as_ref(), Some(&new))?;
            Ok((old, new, used))
        })?;
        self.consume(&meta, &used, true);
        let mut out = json!({});
        match (rv.as_str(), &ex.update) {
            ("ALL_OLD", _) => attributes(&mut out, old.as_ref()),
            ("ALL_NEW", _) => attributes(&mut out, Some(&new)),
            // Only the paths the update changed, each within its attribute
            // (`SET a.b[2].c` answers `a.b[0].c` of a list of one), as the
            // service answers: what they held, or what they hold now
            // (removed paths hold nothing).
            ("UPDATED_OLD", Some(u)) => {
                let changed = Projection(u.targets().cloned().collect());
                attributes(&mut out, old.as_ref().map(|o| changed.apply(o)).as_ref());
            }
            ("UPDATED_NEW", Some(u)) => {
                let changed = Projection(
                    u.targets()
                        .filter(|p| !u.remove.contains(p))
                        .cloned()
                        .collect(),
                );
                attributes(&mut out, Some(&changed.apply(&new)));
            }
            _ => {}
        }
        capacity::attach(&mut out, capacity::report_of(req), &meta.name, &used);
        Ok(out)
    }

    /// The table of `name` and the storage key of `item` in it.
    pub(super) fn locate(
        &self,
        name: &str,
        item: &Item,
        exact: bool,
    ) -> Result<(TableMeta, Vec<u8>), ApiError> {
        let meta = self.table(name)?;
        let key = meta.key_of(item, exact)?;
        Ok((meta, key))
    }
}

/// The request's condition on the item as it is (`old`): a failure is
/// ConditionalCheckFailedException, with the item (`Item`, as the service
/// adds it) when the request asked for it with
/// `ReturnValuesOnConditionCheckFailure: ALL_OLD` and there is one.
pub(super) fn check(ex: &Exprs, old: Option<&Item>) -> Result<(), ApiError> {
    if let Some(cond) = &ex.condition {
        let empty = Item::new();
        if !cond.eval(old.unwrap_or(&empty)) {
            let mut e = conditional_failed();
            if let (true, Some(old)) = (ex.return_old_on_failure, old) {
                let mut details = Map::new();
                details.insert("Item".into(), item_to_json(old));
                e.details = Some(Box::new(details));
            }
            return Err(e);
        }
    }
    Ok(())
}

/// An update's checks before it reads the item, the same for UpdateItem and a
/// transaction's Update: no key attribute among its targets, then the key
/// schema's checks.
pub(super) fn check_update_request(
    meta: &TableMeta,
    key_item: &Item,
    ex: &Exprs,
) -> Result<(), ApiError> {
    let Some(u) = &ex.update else { return Ok(()) };
    if let Some(k) = u
        .targets()
        .map(|p| p.head())
        .find(|t| key_item.contains_key(*t))
    {
        return Err(validation(format!(
            "One or more parameter values were invalid: Cannot update attribute {k}. This attribute is part of the key"
        )));
    }
    check_update_keys(meta, u)
}

/// The item an update makes of `old` (of its key alone when there is none),
/// checked as the service checks it: size, then index keys.
pub(super) fn updated_item(
    meta: &TableMeta,
    ex: &Exprs,
    key_item: &Item,
    old: Option<&Item>,
) -> Result<Item, ApiError> {
    let base = old.cloned().unwrap_or_else(|| key_item.clone());
    let new = match &ex.update {
        Some(u) => ex.updated(u, &base)?,
        None => base,
    };
    check_update_size(&new)?;
    check_updated_index_keys(meta, &new)?;
    meta.check_indexes(&new)?;
    Ok(new)
}

/// An update's checks against the key schema before it runs (as recorded):
/// an index key set or added with a type the expression alone shows to be
/// wrong (indexes in order, hash key first), then paths into key attributes.
fn check_update_keys(meta: &TableMeta, update: &Update) -> Result<(), ApiError> {
    let top = |p: &super::expr::ast::Path, name: &str| p.0.len() == 1 && p.head() == name;
    for index in &meta.indexes {
        for (name, ty) in std::iter::once(&index.hash).chain(&index.range) {
            let set = update.set.iter().find(|(p, _)| top(p, name));
            let added = update.add.iter().find(|(p, _)| top(p, name));
            let actual = set
                .and_then(|(_, v)| v.known_type())
                .or(added.map(|(_, v)| v.type_name()));
            if let Some(actual) = actual.filter(|a| a != ty) {
                return Err(validation(format!(
                    "One or more parameter values were invalid: Type mismatch for Index Key {name} Expected: {ty} Actual: {actual} IndexName: {}",
                    index.name
                )));
            }
        }
    }
    super::query_keys::check_key_paths(meta, &update.paths())
}

/// An updated item whose index key took a type the index does not take.
fn check_updated_index_keys(meta: &TableMeta, item: &Item) -> Result<(), ApiError> {
    if meta
        .indexes
        .iter()
        .any(|i| i.key_type_mismatch(item).is_some())
    {
        return Err(validation(
            "The update expression attempted to update the secondary index key to unsupported type",
        ));
    }
    Ok(())
}
