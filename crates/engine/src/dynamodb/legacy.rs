//! The legacy (pre-expression) parameters that are still part of the API:
//! `Expected` with `ConditionalOperator`, `KeyConditions`, `QueryFilter`,
//! `ScanFilter`, `AttributesToGet` and `AttributeUpdates`.
//!
//! They are checked with the service's messages, in its order, then
//! translated into the expression syntax trees ([`super::expr::ast`]), so one
//! evaluator serves both forms.

use serde_json::{Map, Value as Json};

use super::expr::ast::{
    Comparator, Condition, Operand, Path, PathElem, Projection, SetValue, Update, UpdateOperand,
};
use super::expr::eval::compare_values;
use super::service::{validation, value_err};
use super::value::AttributeValue;
use crate::front::error::ApiError;

const INVALID: &str = "One or more parameter values were invalid: ";

/// The expression and non-expression parameters of an action, for
/// [`check_mixing`].
pub(super) fn params_of(
    action: &str,
) -> Option<(&'static [&'static str], &'static [&'static str])> {
    Some(match action {
        "PutItem" | "DeleteItem" => (&["ConditionExpression"], &["Expected"]),
        "UpdateItem" => (
            &["UpdateExpression", "ConditionExpression"],
            &["AttributeUpdates", "Expected"],
        ),
        "GetItem" => (&["ProjectionExpression"], &["AttributesToGet"]),
        "Query" => (
            &[
                "ProjectionExpression",
                "FilterExpression",
                "KeyConditionExpression",
            ],
            &[
                "AttributesToGet",
                "QueryFilter",
                "ConditionalOperator",
                "KeyConditions",
            ],
        ),
        "Scan" => (
            &["ProjectionExpression", "FilterExpression"],
            &["AttributesToGet", "ScanFilter", "ConditionalOperator"],
        ),
        _ => return None,
    })
}

fn present(req: &Map<String, Json>, key: &str) -> bool {
    req.get(key).is_some_and(|v| !v.is_null())
}

/// Expression and non-expression parameters are not mixed, and the
/// expression attribute names and values come with expressions.
pub(super) fn check_mixing(
    req: &Map<String, Json>,
    exprs: &[&str],
    non_exprs: &[&str],
) -> Result<(), ApiError> {
    let used: Vec<&str> = exprs.iter().copied().filter(|e| present(req, e)).collect();
    if !used.is_empty() {
        // KeyConditions with a FilterExpression (say) and no
        // KeyConditionExpression is reported with the others only.
        let skip_key = present(req, "KeyConditions") && !present(req, "KeyConditionExpression");
        let non: Vec<&str> = non_exprs
            .iter()
            .copied()
            .filter(|n| !(skip_key && *n == "KeyConditions") && present(req, n))
            .collect();
        if !non.is_empty() {
            return Err(validation(format!(
                "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
                non.join(", "),
                used.join(", ")
            )));
        }
    }
    if present(req, "ExpressionAttributeNames") && used.is_empty() {
        return Err(validation(
            "ExpressionAttributeNames can only be specified when using expressions",
        ));
    }
    let value_exprs: Vec<&str> = exprs
        .iter()
        .copied()
        .filter(|e| *e != "ProjectionExpression")
        .collect();
    if !value_exprs.is_empty()
        && present(req, "ExpressionAttributeValues")
        && value_exprs.iter().all(|e| !present(req, e))
    {
        return Err(validation(format!(
            "ExpressionAttributeValues can only be specified when using expressions: {} {} null",
            value_exprs.join(" and "),
            if value_exprs.len() > 1 { "are" } else { "is" }
        )));
    }
    Ok(())
}

/// AttributesToGet names no attribute twice.
pub(super) fn check_attributes_to_get(req: &Map<String, Json>) -> Result<(), ApiError> {
    let Some(list) = req.get("AttributesToGet").and_then(Json::as_array) else {
        return Ok(());
    };
    let mut seen = std::collections::BTreeSet::new();
    for name in list.iter().filter_map(Json::as_str) {
        if !seen.insert(name) {
            return Err(validation(format!(
                "{INVALID}Duplicate value in attribute name: {name}"
            )));
        }
    }
    Ok(())
}

/// AttributesToGet as a projection of top-level attributes.
pub(super) fn attributes_to_get(req: &Map<String, Json>) -> Option<Projection> {
    let list = req.get("AttributesToGet")?.as_array()?;
    Some(Projection(
        list.iter()
            .filter_map(Json::as_str)
            .map(|n| Path(vec![PathElem::Name(n.to_string())]))
            .collect(),
    ))
}

fn values_of(list: Option<&Json>) -> Result<Vec<AttributeValue>, ApiError> {
    list.and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|v| AttributeValue::from_json(v).map_err(value_err))
        .collect()
}

/// How many values an operator takes: (at least, at most).
fn arity(op: &str) -> (usize, usize) {
    match op {
        "NULL" | "NOT_NULL" => (0, 0),
        "IN" => (1, usize::MAX),
        "BETWEEN" => (2, 2),
        _ => (1, 1),
    }
}

fn wrong_count(op: &str) -> ApiError {
    validation(format!(
        "{INVALID}Invalid number of argument(s) for the {op} ComparisonOperator"
    ))
}

fn same_type(values: &[AttributeValue]) -> Result<(), ApiError> {
    if let Some(first) = values.first() {
        if values.iter().any(|v| v.type_name() != first.type_name()) {
            return Err(validation(format!(
                "{INVALID}AttributeValues inside AttributeValueList must be of same type"
            )));
        }
    }
    Ok(())
}

fn between_order(op: &str, values: &[AttributeValue]) -> Result<(), ApiError> {
    if let ("BETWEEN", [lo, hi]) = (op, values) {
        if compare_values(lo, hi) == Some(std::cmp::Ordering::Greater) {
            return Err(validation(
                "The BETWEEN condition was provided a range where the lower bound is greater than the upper bound",
            ));
        }
    }
    Ok(())
}

/// One attribute's condition of KeyConditions, QueryFilter or ScanFilter.
#[derive(Debug, Clone)]
pub(super) struct AttrCondition {
    pub(super) name: String,
    pub(super) op: String,
    pub(super) values: Vec<AttributeValue>,
}

/// Checks a KeyConditions, QueryFilter or ScanFilter map as the service
/// does and reads it (attributes in name order).
pub(super) fn conditions(map: Option<&Json>) -> Result<Vec<AttrCondition>, ApiError> {
    let mut out = Vec::new();
    let Some(map) = map.and_then(Json::as_object) else {
        return Ok(out);
    };
    for (name, cond) in map {
        let op = cond
            .get("ComparisonOperator")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let values = values_of(cond.get("AttributeValueList"))?;
        let (least, most) = arity(&op);
        if values.len() < least || values.len() > most {
            return Err(wrong_count(&op));
        }
        same_type(&values)?;
        let allowed: &[&str] = match op.as_str() {
            "EQ" | "NE" => &["S", "N", "B", "SS", "NS", "BS"],
            "BEGINS_WITH" => &["S", "B"],
            _ => &["S", "N", "B"],
        };
        if let Some(v) = values.iter().find(|v| !allowed.contains(&v.type_name())) {
            return Err(validation(format!(
                "{INVALID}ComparisonOperator {op} is not valid for {} AttributeValue type",
                v.type_name()
            )));
        }
        between_order(&op, &values)?;
        out.push(AttrCondition {
            name: name.clone(),
            op,
            values,
        });
    }
    Ok(out)
}

/// Checks Expected as the service does and reads it; `Exists`/`Value`
/// entries become EQ, NOT_NULL or NULL conditions.
pub(super) fn expected(req: &Map<String, Json>) -> Result<Vec<AttrCondition>, ApiError> {
    let mut out = Vec::new();
    let Some(map) = req.get("Expected").and_then(Json::as_object) else {
        return Ok(out);
    };
    for (name, cond) in map {
        let has = |k: &str| cond.get(k).is_some_and(|v| !v.is_null());
        if has("AttributeValueList") && has("Value") {
            return Err(validation(format!(
                "{INVALID}Value and AttributeValueList cannot be used together for Attribute: {name}"
            )));
        }
        let value = cond.get("Value").filter(|v| !v.is_null());
        if let Some(op) = cond.get("ComparisonOperator").and_then(Json::as_str) {
            if has("Exists") {
                return Err(validation(format!(
                    "{INVALID}Exists and ComparisonOperator cannot be used together for Attribute: {name}"
                )));
            }
            if op != "NULL" && op != "NOT_NULL" && !has("AttributeValueList") && !has("Value") {
                return Err(validation(format!(
                    "{INVALID}Value or AttributeValueList must be used with ComparisonOperator: {op} for Attribute: {name}"
                )));
            }
            let count = match cond.get("AttributeValueList").and_then(Json::as_array) {
                Some(list) => list.len(),
                None => usize::from(value.is_some()),
            };
            let (least, most) = arity(op);
            if count < least || count > most {
                return Err(wrong_count(op));
            }
            let values = match value {
                Some(v) => vec![AttributeValue::from_json(v).map_err(value_err)?],
                None => values_of(cond.get("AttributeValueList"))?,
            };
            same_type(&values)?;
            between_order(op, &values)?;
            out.push(AttrCondition {
                name: name.clone(),
                op: op.to_string(),
                values,
            });
        } else if has("AttributeValueList") {
            return Err(validation(format!(
                "{INVALID}AttributeValueList can only be used with a ComparisonOperator for Attribute: {name}"
            )));
        } else {
            let exists = cond.get("Exists").and_then(Json::as_bool);
            match (exists.unwrap_or(true), value) {
                (true, None) => {
                    return Err(validation(format!(
                        "{INVALID}Value must be provided when Exists is {} for Attribute: {name}",
                        if exists.is_none() { "null" } else { "true" }
                    )))
                }
                (false, Some(_)) => {
                    return Err(validation(format!(
                        "{INVALID}Value cannot be used when Exists is false for Attribute: {name}"
                    )))
                }
                (false, None) => out.push(AttrCondition {
                    name: name.clone(),
                    op: "NULL".into(),
                    values: vec![],
                }),
                (true, Some(v)) => out.push(AttrCondition {
                    name: name.clone(),
                    op: "EQ".into(),
                    values: vec![AttributeValue::from_json(v).map_err(value_err)?],
                }),
            }
        }
    }
    Ok(out)
}

fn path(name: &str) -> Path {
    Path(vec![PathElem::Name(name.to_string())])
}

impl AttrCondition {
    /// The condition as an expression tree.
    pub(super) fn to_condition(&self) -> Condition {
        let p = || Operand::Path(path(&self.name));
        let v =
            |i: usize| Operand::Value(self.values.get(i).cloned().unwrap_or(AttributeValue::Null));
        let cmp = |c| Condition::Compare(c, p(), v(0));
        match self.op.as_str() {
            "NE" => cmp(Comparator::Ne),
            "LE" => cmp(Comparator::Le),
            "LT" => cmp(Comparator::Lt),
            "GE" => cmp(Comparator::Ge),
            "GT" => cmp(Comparator::Gt),
            "NOT_NULL" => Condition::Exists(path(&self.name)),
            "NULL" => Condition::NotExists(path(&self.name)),
            "CONTAINS" => Condition::Contains(p(), v(0)),
            "NOT_CONTAINS" => Condition::Not(Box::new(Condition::Contains(p(), v(0)))),
            "BEGINS_WITH" => Condition::BeginsWith(p(), v(0)),
            "IN" => Condition::In(
                p(),
                self.values.iter().cloned().map(Operand::Value).collect(),
            ),
            "BETWEEN" => Condition::Between(p(), v(0), v(1)),
            _ => cmp(Comparator::Eq),
        }
    }
}

/// The conditions joined by ConditionalOperator (AND unless OR); none for
/// an empty list.
pub(super) fn join(conds: &[AttrCondition], req: &Map<String, Json>) -> Option<Condition> {
    let or = req.get("ConditionalOperator").and_then(Json::as_str) == Some("OR");
    conds
        .iter()
        .map(AttrCondition::to_condition)
        .reduce(|a, b| {
            if or {
                Condition::Or(Box::new(a), Box::new(b))
            } else {
                Condition::And(Box::new(a), Box::new(b))
            }
        })
}

/// Checks AttributeUpdates as the service does and translates it into an
/// update: PUT is SET, DELETE without a value REMOVE, DELETE with a set
/// DELETE, ADD of a number or set ADD, and ADD of a list appends to it.
pub(super) fn attribute_updates(req: &Map<String, Json>) -> Result<Option<Update>, ApiError> {
    let Some(map) = req.get("AttributeUpdates").and_then(Json::as_object) else {
        return Ok(None);
    };
    let mut update = Update::default();
    for (name, spec) in map {
        let value = spec
            .get("Value")
            .filter(|v| !v.is_null())
            .map(|v| AttributeValue::from_json(v).map_err(value_err))
            .transpose()?;
        let action = spec.get("Action").and_then(Json::as_str).unwrap_or("PUT");
        let p = path(name);
        match (action, value) {
            ("DELETE", None) => update.remove.push(p),
            (_, None) => {
                return Err(validation(format!(
                    "{INVALID}Only DELETE action is allowed when no attribute value is specified"
                )))
            }
            ("DELETE", Some(v)) => match v {
                AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_) => {
                    update.delete.push((p, v))
                }
                other => {
                    return Err(validation(format!(
                        "{INVALID}DELETE action with value is not supported for the type {}",
                        other.type_name()
                    )))
                }
            },
            ("ADD", Some(v)) => match v {
                AttributeValue::L(_) => update.set.push((
                    p.clone(),
                    SetValue::Operand(UpdateOperand::ListAppend(
                        Box::new(UpdateOperand::IfNotExists(
                            p,
                            Box::new(UpdateOperand::Value(AttributeValue::L(vec![]))),
                        )),
                        Box::new(UpdateOperand::Value(v)),
                    )),
                )),
                AttributeValue::N(_)
                | AttributeValue::Ss(_)
                | AttributeValue::Ns(_)
                | AttributeValue::Bs(_) => update.add.push((p, v)),
                other => {
                    return Err(validation(format!(
                        "{INVALID}ADD action is not supported for the type {}",
                        other.type_name()
                    )))
                }
            },
            (_, Some(v)) => update
                .set
                .push((p, SetValue::Operand(UpdateOperand::Value(v)))),
        }
    }
    Ok(Some(update))
}
