//! KeyConditionExpression: what Query allows (`=` on the partition key;
//! `= < <= > >=`, `BETWEEN` or `begins_with` on the sort key; joined by AND).

use super::ast::{Comparator, Condition, Operand, PathElem};
use super::ExprError;
use crate::dynamodb::value::AttributeValue;

/// A condition on one key attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOp {
    Eq(AttributeValue),
    Lt(AttributeValue),
    Le(AttributeValue),
    Gt(AttributeValue),
    Ge(AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

/// The conditions of a KeyConditionExpression, one per attribute, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCondition(pub Vec<(String, KeyOp)>);

fn err(msg: &str) -> ExprError {
    ExprError::KeyCondition(msg.to_string())
}

/// The service answers these shape errors without the `Invalid …:` prefix.
fn invalid(detail: String) -> ExprError {
    ExprError::KeyCondition(detail)
}

/// The key attribute an operand names, if it is a path; nested paths are refused.
fn key_name(op: &Operand) -> Result<Option<String>, ExprError> {
    match op {
        Operand::Path(p) => match p.0.as_slice() {
            [PathElem::Name(n)] => Ok(Some(n.clone())),
            _ => Err(err(
                "KeyConditionExpressions cannot have conditions on nested attributes",
            )),
        },
        Operand::Size(_) => Err(nested_operations()),
        Operand::Value(_) => Ok(None),
    }
}

fn nested_operations() -> ExprError {
    err("KeyConditionExpressions cannot contain nested operations")
}

fn value(op: &Operand) -> AttributeValue {
    match op {
        Operand::Value(v) => v.clone(),
        _ => AttributeValue::Null,
    }
}

impl KeyCondition {
    /// Checks the shape Query accepts, with the service's messages.
    pub fn from_condition(cond: &Condition) -> Result<Self, ExprError> {
        let mut out = KeyCondition(Vec::new());
        out.collect(cond)?;
        Ok(out)
    }

    fn collect(&mut self, cond: &Condition) -> Result<(), ExprError> {
        let operator = |name: &str| {
            invalid(format!(
                "Invalid operator used in KeyConditionExpression: {name}"
            ))
        };
        let (name, op) = match cond {
            Condition::And(a, b) => {
                self.collect(a)?;
                return self.collect(b);
            }
            Condition::Or(..) => return Err(operator("OR")),
            Condition::Not(..) => return Err(operator("NOT")),
            Condition::In(..) => return Err(operator("IN")),
            Condition::Compare(Comparator::Ne, ..) => return Err(operator("<>")),
            Condition::Exists(_) => return Err(operator("attribute_exists")),
            Condition::NotExists(_) => return Err(operator("attribute_not_exists")),
            Condition::AttributeType(..) => return Err(operator("attribute_type")),
            Condition::Contains(..) => return Err(operator("contains")),
            Condition::Compare(c, a, b) => {
                // The first operand's own checks come first; then any
                // second attribute (nested or not) is one too many.
                let na = key_name(a)?;
                if na.is_some() {
                    self.second(b)?;
                }
                let (name, v, flipped) = match (na, key_name(b)?) {
                    (Some(n), _) => (n, value(b), false),
                    (None, Some(n)) => (n, value(a), true),
                    (None, None) => return Err(self.none()),
                };
                let op = match (c, flipped) {
                    (Comparator::Eq, _) => KeyOp::Eq(v),
                    (Comparator::Lt, false) | (Comparator::Gt, true) => KeyOp::Lt(v),
                    (Comparator::Le, false) | (Comparator::Ge, true) => KeyOp::Le(v),
                    (Comparator::Gt, false) | (Comparator::Lt, true) => KeyOp::Gt(v),
                    _ => KeyOp::Ge(v),
                };
                (name, op)
            }
            Condition::Between(x, lo, hi) => {
                let Some(name) = key_name(x)? else {
                    return Err(invalid(
                        "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand"
                            .into(),
                    ));
                };
                self.second(lo)?;
                self.second(hi)?;
                (name, KeyOp::Between(value(lo), value(hi)))
            }
            Condition::BeginsWith(x, prefix) => {
                let Some(name) = key_name(x)? else {
                    return Err(invalid(
                        "Invalid condition in KeyConditionExpression: begins_with operator must have the key attribute as its first operand"
                            .into(),
                    ));
                };
                self.second(prefix)?;
                (name, KeyOp::BeginsWith(value(prefix)))
            }
        };
        if self.0.iter().any(|(n, _)| *n == name) {
            return Err(err(
                "KeyConditionExpressions must only contain one condition per key",
            ));
        }
        self.0.push((name, op));
        Ok(())
    }

    /// An operand after the key attribute, left to right: a value, not a
    /// function (nested operation) or another attribute.
    fn second(&self, op: &Operand) -> Result<(), ExprError> {
        match op {
            Operand::Value(_) => Ok(()),
            Operand::Size(_) => Err(nested_operations()),
            Operand::Path(_) => Err(self.multiple()),
        }
    }

    fn multiple(&self) -> ExprError {
        invalid("Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition".into())
    }

    fn none(&self) -> ExprError {
        invalid("Invalid condition in KeyConditionExpression: No key attribute specified".into())
    }

    /// Matches the conditions to a key schema given as (name, type) pairs
    /// (`"S"`, `"N"` or `"B"`): the partition key's value and the sort key's
    /// condition, with the service's messages in its order.
    pub fn for_schema(
        &self,
        hash: (&str, &str),
        range: Option<(&str, &str)>,
    ) -> Result<(AttributeValue, Option<KeyOp>), ExprError> {
        let find = |name: &str| self.0.iter().find(|(n, _)| n == name).map(|(_, op)| op);
        let values = |op: &KeyOp| -> Vec<AttributeValue> {
            match op {
                KeyOp::Between(a, b) => vec![a.clone(), b.clone()],
                KeyOp::Eq(v)
                | KeyOp::Lt(v)
                | KeyOp::Le(v)
                | KeyOp::Gt(v)
                | KeyOp::Ge(v)
                | KeyOp::BeginsWith(v) => vec![v.clone()],
            }
        };
        let mismatch = || {
            err("One or more parameter values were invalid: Condition parameter type does not match schema type")
        };
        if range.is_none() && self.0.len() > 1 {
            return Err(err("Query key condition not supported"));
        }
        let hash_op = find(hash.0).ok_or_else(|| {
            err(&format!(
                "Query condition missed key schema element: {}",
                hash.0
            ))
        })?;
        if values(hash_op).iter().any(|v| v.type_name() != hash.1) {
            return Err(mismatch());
        }
        let KeyOp::Eq(hash_value) = hash_op else {
            return Err(err("Query key condition not supported"));
        };
        let range_op = match range {
            None => None,
            Some((name, ty)) => match find(name) {
                None if self.0.len() > 1 => {
                    return Err(err(&format!(
                        "Query condition missed key schema element: {name}"
                    )))
                }
                None => None,
                Some(op) => {
                    if values(op).iter().any(|v| v.type_name() != ty) {
                        return Err(mismatch());
                    }
                    Some(op.clone())
                }
            },
        };
        Ok((hash_value.clone(), range_op))
    }
}
