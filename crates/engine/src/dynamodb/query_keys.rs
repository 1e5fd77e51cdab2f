//! A Query's key conditions (KeyConditions, or a KeyConditionExpression
//! read into the same form) and ExclusiveStartKey checked against the key
//! schema of the table or index, with the service's messages in its order.

use serde_json::{Map, Value as Json};

use super::expr::ast::{Condition, Path};
use super::expr::key::{KeyCondition, KeyOp};
use super::index::IndexMeta;
use super::legacy::AttrCondition;
use super::service::{validation, value_err, TableMeta};
use super::value::{AttributeValue, Item};
use crate::front::error::ApiError;

/// A KeyConditionExpression's conditions as KeyConditions.
pub(super) fn from_expression(kc: &KeyCondition) -> Vec<AttrCondition> {
    kc.0.iter()
        .map(|(name, op)| {
            let (op, values) = match op {
                KeyOp::Eq(v) => ("EQ", vec![v.clone()]),
                KeyOp::Lt(v) => ("LT", vec![v.clone()]),
                KeyOp::Le(v) => ("LE", vec![v.clone()]),
                KeyOp::Gt(v) => ("GT", vec![v.clone()]),
                KeyOp::Ge(v) => ("GE", vec![v.clone()]),
                KeyOp::BeginsWith(v) => ("BEGINS_WITH", vec![v.clone()]),
                KeyOp::Between(a, b) => ("BETWEEN", vec![a.clone(), b.clone()]),
            };
            AttrCondition {
                name: name.clone(),
                op: op.to_string(),
                values,
            }
        })
        .collect()
}

fn key_op(c: &AttrCondition) -> Option<KeyOp> {
    let v = |i: usize| c.values.get(i).cloned();
    Some(match c.op.as_str() {
        "EQ" => KeyOp::Eq(v(0)?),
        "LT" => KeyOp::Lt(v(0)?),
        "LE" => KeyOp::Le(v(0)?),
        "GT" => KeyOp::Gt(v(0)?),
        "GE" => KeyOp::Ge(v(0)?),
        "BEGINS_WITH" => KeyOp::BeginsWith(v(0)?),
        "BETWEEN" => KeyOp::Between(v(0)?, v(1)?),
        _ => return None,
    })
}

/// ExclusiveStartKey's values, checked before the table is looked up.
pub(super) fn check_start_key_values(req: &Map<String, Json>) -> Result<(), ApiError> {
    let Some(esk) = req.get("ExclusiveStartKey").and_then(Json::as_object) else {
        return Ok(());
    };
    for v in esk.values() {
        if let Err(e) = AttributeValue::from_json(v) {
            let err = value_err(e);
            let bare = [
                "contains duplicates",
                "number set",
                "numeric value",
                "significant digits",
                "number with magnitude",
            ]
            .iter()
            .any(|s| err.message.contains(s));
            if bare || err.code != crate::front::error::Code::ValidationException {
                return Err(err);
            }
            return Err(validation(format!(
                "The provided starting key is invalid: {}",
                err.message
            )));
        }
    }
    Ok(())
}

/// One key attribute of a start key, as the service checks it.
fn key_piece(key: &Item, name: &str, ty: &str, hash: bool) -> Result<(), ApiError> {
    let Some(v) = key.get(name).filter(|v| v.type_name() == ty) else {
        return Err(validation(
            "The provided key element does not match the schema",
        ));
    };
    let empty = v.is_empty_scalar();
    if empty {
        return Err(validation(format!(
            "One or more parameter values were invalid: The AttributeValue for a key attribute cannot contain an empty {} value. Key: {name}",
            if ty == "S" { "string" } else { "binary" }
        )));
    }
    if hash && v.size() > 2048 {
        return Err(validation("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"));
    }
    if !hash && v.size() > 1024 {
        return Err(validation("One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes"));
    }
    Ok(())
}

/// The key attributes of the table and of `index`, each once.
fn key_names<'a>(meta: &'a TableMeta, index: Option<&'a IndexMeta>) -> Vec<&'a str> {
    let mut names: Vec<&str> = std::iter::once(meta.hash.0.as_str())
        .chain(meta.range.as_ref().map(|r| r.0.as_str()))
        .collect();
    for (n, _) in index
        .iter()
        .flat_map(|i| std::iter::once(&i.hash).chain(&i.range))
    {
        if !names.contains(&n.as_str()) {
            names.push(n);
        }
    }
    names
}

/// Scan's first checks of an ExclusiveStartKey on an index (before its
/// Select is checked, as recorded): the table's and the index's key
/// attributes, no more, no fewer, and the index's keys of their types.
pub(super) fn check_scan_start(
    meta: &TableMeta,
    index: &IndexMeta,
    esk: &Item,
) -> Result<(), ApiError> {
    let invalid_start = || validation("The provided starting key is invalid");
    if esk.len() != key_names(meta, Some(index)).len() {
        return Err(invalid_start());
    }
    for (name, ty) in std::iter::once(&index.hash).chain(&index.range) {
        match esk.get(name) {
            None => return Err(invalid_start()),
            Some(v) if v.type_name() != ty => {
                return Err(validation(
                    "The provided key element does not match the schema",
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// The partition key's value and the sort key's condition, after the
/// service's checks of the conditions and the start key against the schema
/// of the table or `index`.
pub(super) fn check(
    meta: &TableMeta,
    index: Option<&IndexMeta>,
    conds: &[AttrCondition],
    esk: Option<&Item>,
) -> Result<(AttributeValue, Option<KeyOp>), ApiError> {
    let (hash, range) = match index {
        Some(i) => (&i.hash, i.range.as_ref()),
        None => (&meta.hash, meta.range.as_ref()),
    };
    let invalid_start = || validation("The provided starting key is invalid");
    if esk.is_some_and(|esk| esk.len() != key_names(meta, index).len()) {
        return Err(invalid_start());
    }
    let find = |name: &str| conds.iter().find(|c| c.name == name);
    let schema = std::iter::once((hash, true)).chain(range.map(|r| (r, false)));
    for ((name, ty), is_hash) in schema {
        if let Some(esk) = esk {
            if !esk.contains_key(name) {
                return Err(invalid_start());
            }
            key_piece(esk, name, ty, is_hash)?;
        }
        if is_hash && range.is_none() && conds.len() > 1 {
            return Err(validation("Query key condition not supported"));
        }
        let Some(cond) = find(name) else {
            if is_hash || conds.len() > 1 {
                return Err(validation(format!(
                    "Query condition missed key schema element: {name}"
                )));
            }
            continue;
        };
        if ["NULL", "NOT_NULL", "NE", "CONTAINS", "NOT_CONTAINS", "IN"].contains(&cond.op.as_str())
        {
            return Err(validation(
                "Attempted conditional constraint is not an indexable operation",
            ));
        }
        if cond.values.iter().any(|v| v.type_name() != ty) {
            return Err(validation("One or more parameter values were invalid: Condition parameter type does not match schema type"));
        }
        if is_hash && cond.op != "EQ" {
            return Err(validation("Query key condition not supported"));
        }
    }
    let hash_cond = find(&hash.0);
    let hash_value = hash_cond
        .and_then(|c| c.values.first().cloned())
        .ok_or_else(|| validation("Query key condition not supported"))?;
    let range_cond = range.and_then(|(n, _)| find(n));
    if let Some(esk) = esk {
        let table_key = meta.key_attrs(esk);
        let want = 1 + usize::from(meta.range.is_some());
        let prefixed = |e: ApiError| {
            validation(format!(
                "The provided starting key is invalid: {}",
                e.message
            ))
        };
        if table_key.len() != want {
            return Err(prefixed(validation(
                "The provided key element does not match the schema",
            )));
        }
        let table_schema =
            std::iter::once((&meta.hash, true)).chain(meta.range.as_ref().map(|r| (r, false)));
        for ((name, ty), is_hash) in table_schema {
            key_piece(&table_key, name, ty, is_hash).map_err(prefixed)?;
        }
        let same_hash = esk.get(&hash.0) == Some(&hash_value);
        match range_cond {
            None if !same_hash => {
                return Err(validation("The provided starting key is outside query boundaries based on provided conditions"));
            }
            None => {}
            Some(c) => {
                let at: Item = esk
                    .get(&c.name)
                    .map(|v| (c.name.clone(), v.clone()))
                    .into_iter()
                    .collect();
                if !c.to_condition().eval(&at) {
                    return Err(validation(
                        "The provided starting key does not match the range key predicate",
                    ));
                }
                if !same_hash {
                    return Err(validation(
                        "The query can return at most one row and cannot be restarted",
                    ));
                }
            }
        }
    }
    Ok((hash_value, range_cond.and_then(key_op)))
}

/// A QueryFilter or FilterExpression reads no key attribute of the table
/// or index, and no path into a key attribute of the table or its indexes.
pub(super) fn check_filter(
    meta: &TableMeta,
    index: Option<&IndexMeta>,
    filter: &[AttrCondition],
    expr: Option<&Condition>,
) -> Result<(), ApiError> {
    let (hash, range) = match index {
        Some(i) => (&i.hash, i.range.as_ref()),
        None => (&meta.hash, meta.range.as_ref()),
    };
    let paths = expr.map(Condition::paths).unwrap_or_default();
    for (name, _) in std::iter::once(hash).chain(range) {
        if filter.iter().any(|c| &c.name == name) {
            return Err(validation(format!(
                "QueryFilter can only contain non-primary key attributes: Primary key attribute: {name}"
            )));
        }
        if paths.iter().any(|p| p.head() == name) {
            return Err(validation(format!(
                "Filter Expression can only contain non-primary key attributes: Primary key attribute: {name}"
            )));
        }
    }
    Ok(())
}

/// The filter's paths into key attributes of the table or any index:
/// refused (checked after a global index's Select, as recorded).
pub(super) fn check_filter_paths(
    meta: &TableMeta,
    expr: Option<&Condition>,
) -> Result<(), ApiError> {
    check_key_paths(meta, &expr.map(Condition::paths).unwrap_or_default())
}

/// `paths` into key attributes of the table or any index: refused.
pub(super) fn check_key_paths(meta: &TableMeta, paths: &[&Path]) -> Result<(), ApiError> {
    let nested = |name: &str| paths.iter().any(|p| p.0.len() > 1 && p.head() == name);
    let scalar = "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed";
    for (name, _) in std::iter::once(&meta.hash).chain(&meta.range) {
        if nested(name) {
            return Err(validation(format!("{scalar}: Key: {name}")));
        }
    }
    for i in &meta.indexes {
        for (name, _) in std::iter::once(&i.hash).chain(&i.range) {
            if nested(name) {
                return Err(validation(format!("{scalar}: IndexKey: {name}")));
            }
        }
    }
    Ok(())
}
