//! DynamoDB's expression language: condition, filter, key condition,
//! projection and update expressions, with ExpressionAttributeNames (`#n`)
//! and ExpressionAttributeValues (`:v`), and the service's error wording.
//!
//! A request's expressions are parsed through one [`Context`] (which tracks
//! the names and values they use), then [`Context::finish`] reports unused
//! ones. The results are plain ASTs ([`ast`]) that [`eval`] evaluates against
//! an item, [`update`] applies to an item and [`key`] turns into a Query key
//! condition.

pub mod ast;
mod checks;
pub mod eval;
pub mod key;
mod lexer;
mod parse_update;
mod parser;
pub mod print;
mod reserved;
pub mod update;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_eval;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value as Json};

use crate::dynamodb::value::AttributeValue;

pub use ast::{Condition, Projection, Update};
pub use reserved::is_reserved;
pub use update::UpdateError;

/// Which request parameter an expression came from (it prefixes its errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprKind {
    Condition,
    Filter,
    KeyCondition,
    Projection,
    Update,
}

impl ExprKind {
    /// The parameter's name as the service prints it.
    pub fn parameter(self) -> &'static str {
        match self {
            ExprKind::Condition => "ConditionExpression",
            ExprKind::Filter => "FilterExpression",
            ExprKind::KeyCondition => "KeyConditionExpression",
            ExprKind::Projection => "ProjectionExpression",
            ExprKind::Update => "UpdateExpression",
        }
    }
}

/// A ValidationException about expressions; `Display` is the service's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    /// An expression is invalid: `Invalid ConditionExpression: <detail>`.
    #[error("Invalid {}: {detail}", kind.parameter())]
    Invalid { kind: ExprKind, detail: String },
    #[error("ExpressionAttributeNames must not be empty")]
    EmptyNames,
    #[error("ExpressionAttributeValues must not be empty")]
    EmptyValues,
    #[error("ExpressionAttributeNames contains invalid key: Syntax error; key: \"{0}\"")]
    InvalidNameKey(String),
    #[error("ExpressionAttributeValues contains invalid key: Syntax error; key: \"{0}\"")]
    InvalidValueKey(String),
    #[error("ExpressionAttributeNames contains invalid key: The expression attribute map contains a key that is too long; size of key: {0}")]
    LongNameKey(usize),
    /// The values' message names no size (as recorded).
    #[error("ExpressionAttributeValues contains invalid key: The expression attribute map contains a key that is too long;")]
    LongValueKey,
    #[error("ExpressionAttributeNames contains invalid value: Empty attribute name for key {0}")]
    EmptyName(String),
    #[error("ExpressionAttributeValues contains invalid value: {message} for key {key}")]
    InvalidValue { key: String, message: String },
    #[error("Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}", .0.join(", "))]
    UnusedNames(Vec<String>),
    #[error("Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}", .0.join(", "))]
    UnusedValues(Vec<String>),
    /// A KeyConditionExpression the service rejects after parsing it.
    #[error("{0}")]
    KeyCondition(String),
}

/// The longest expression the service reads, in bytes of its text (before
/// names and values are substituted).
const MAX_EXPRESSION: usize = 4096;
/// The longest key of ExpressionAttributeNames or Values, prefix included.
const MAX_PLACEHOLDER: usize = 255;

/// An expression's text before it is parsed: not empty, not too long (the
/// size named for conditions and filters only, as recorded).
pub(crate) fn check_text(kind: ExprKind, text: &str) -> Result<(), ExprError> {
    let detail = if text.is_empty() {
        "The expression can not be empty;".to_string()
    } else if text.len() > MAX_EXPRESSION {
        let size = match kind {
            ExprKind::Condition | ExprKind::Filter => format!(" expression size: {}", text.len()),
            _ => String::new(),
        };
        format!("Expression size has exceeded the maximum allowed size;{size}")
    } else {
        return Ok(());
    };
    Err(ExprError::Invalid { kind, detail })
}

fn valid_key(key: &str, prefix: char) -> bool {
    let mut chars = key.chars();
    chars.next() == Some(prefix)
        && key.len() > 1
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The names and values of one request, and which of them its expressions use.
#[derive(Debug, Default)]
pub struct Context {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, AttributeValue>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl Context {
    /// Checks ExpressionAttributeNames and ExpressionAttributeValues as the
    /// service does (non-empty, well-formed keys, valid values).
    pub fn new(
        names: Option<&BTreeMap<String, String>>,
        values: Option<&Map<String, Json>>,
    ) -> Result<Self, ExprError> {
        let mut ctx = Context::default();
        if let Some(names) = names {
            if names.is_empty() {
                return Err(ExprError::EmptyNames);
            }
            for (key, name) in names {
                if key.len() > MAX_PLACEHOLDER {
                    return Err(ExprError::LongNameKey(key.len()));
                }
                if !valid_key(key, '#') {
                    return Err(ExprError::InvalidNameKey(key.clone()));
                }
                if name.is_empty() {
                    return Err(ExprError::EmptyName(key.clone()));
                }
            }
            ctx.names = names.clone();
        }
        if let Some(values) = values {
            if values.is_empty() {
                return Err(ExprError::EmptyValues);
            }
            for key in values.keys() {
                if key.len() > MAX_PLACEHOLDER {
                    return Err(ExprError::LongValueKey);
                }
                if !valid_key(key, ':') {
                    return Err(ExprError::InvalidValueKey(key.clone()));
                }
            }
            for (key, json) in values {
                let value =
                    AttributeValue::from_json(json).map_err(|e| ExprError::InvalidValue {
                        key: key.clone(),
                        message: e.to_string(),
                    })?;
                ctx.values.insert(key.clone(), value);
            }
        }
        Ok(ctx)
    }

    /// A context from already-checked maps (tests, internal callers).
    pub fn from_parts(
        names: BTreeMap<String, String>,
        values: BTreeMap<String, AttributeValue>,
    ) -> Self {
        Context {
            names,
            values,
            ..Context::default()
        }
    }

    pub(crate) fn name(&mut self, key: &str) -> Option<String> {
        let name = self.names.get(key)?.clone();
        self.used_names.insert(key.to_string());
        Some(name)
    }

    pub(crate) fn value(&mut self, key: &str) -> Option<AttributeValue> {
        let value = self.values.get(key)?.clone();
        self.used_values.insert(key.to_string());
        Some(value)
    }

    /// Parses a ConditionExpression or FilterExpression (`kind` names it in errors).
    pub fn condition(&mut self, kind: ExprKind, text: &str) -> Result<Condition, ExprError> {
        parser::parse_condition(self, kind, text)
    }

    /// Parses a KeyConditionExpression and checks it is one Query allows.
    pub fn key_condition(&mut self, text: &str) -> Result<key::KeyCondition, ExprError> {
        let cond = self.key_condition_syntax(text)?;
        key::KeyCondition::from_condition(&cond)
    }

    /// Parses a KeyConditionExpression without checking the shape Query
    /// accepts ([`key::KeyCondition::from_condition`] does): the service
    /// reads every expression of a request before it looks at that shape.
    pub fn key_condition_syntax(&mut self, text: &str) -> Result<Condition, ExprError> {
        parser::parse_condition(self, ExprKind::KeyCondition, text)
    }

    /// Parses an UpdateExpression.
    pub fn update(&mut self, text: &str) -> Result<Update, ExprError> {
        parse_update::parse_update(self, text)
    }

    /// Parses a ProjectionExpression.
    pub fn projection(&mut self, text: &str) -> Result<Projection, ExprError> {
        parse_update::parse_projection(self, text)
    }

    /// After every expression of the request: names, then values, that no
    /// expression used.
    pub fn finish(&self) -> Result<(), ExprError> {
        let unused: Vec<String> = self
            .names
            .keys()
            .filter(|k| !self.used_names.contains(*k))
            .cloned()
            .collect();
        if !unused.is_empty() {
            return Err(ExprError::UnusedNames(unused));
        }
        let unused: Vec<String> = self
            .values
            .keys()
            .filter(|k| !self.used_values.contains(*k))
            .cloned()
            .collect();
        if !unused.is_empty() {
            return Err(ExprError::UnusedValues(unused));
        }
        Ok(())
    }
}
