//! Request validation as the AWS services do it, driven by their own service models.
//!
//! Every service checks a request in the same order before its action runs:
//!
//! 1. **Types.** Each member present must have the JSON type its shape wants (a string,
//!    a number, a list, base64 text for a blob...). The first mismatch is answered as a
//!    `SerializationException`, worded as the service words it ([`Dialect`]).
//! 2. **Constraints.** Then every constraint of every member is checked — required,
//!    enum, pattern, length, range, and the same inside lists, maps and nested
//!    structures — and all violations (at most ten) are listed in one
//!    `ValidationException`: `2 validation errors detected: Value '' at 'streamName'
//!    failed to satisfy constraint: Member must satisfy regular expression pattern:
//!    [a-zA-Z0-9_.-]+; Value '' at ...`.
//!
//! Existence, state and limits come after, in the actions. Members the model does not
//! have are ignored, as is a member sent as `null`.
//!
//! The rules come from botocore's service models, vendored trimmed in
//! `crates/engine/models/` (`trim.py` regenerates them; members of some inputs are
//! listed in the order the service reports them). The wording and the order were
//! recorded against the real services by kinesalite's and dynalite's test suites.
//!
//! This module knows nothing of HTTP or of any action: it takes a model, an operation
//! name and the request as a `serde_json::Value`.

mod model;
mod rules;
mod types;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod walk;

use std::sync::OnceLock;

use serde_json::Value;

pub(crate) use model::{Dialect, Model};

/// The Kinesis model (botocore `kinesis/2013-12-02`), parsed on first use.
pub(crate) fn kinesis() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let json = include_str!("../../../models/kinesis-2013-12-02.json");
        Model::parse(json, Dialect::Kinesis)
            .expect("the vendored kinesis model parses (a unit test checks it)")
    })
}

/// The DynamoDB model (botocore `dynamodb/2012-08-10`), parsed on first use.
#[allow(dead_code)] // served once DynamoDB joins the engine (issue 15); tested now
pub(crate) fn dynamodb() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let json = include_str!("../../../models/dynamodb-2012-08-10.json");
        Model::parse(json, Dialect::DynamoDb)
            .expect("the vendored dynamodb model parses (a unit test checks it)")
    })
}

/// Why a request was refused before its action ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Invalid {
    /// A member has the wrong JSON type: the service's `SerializationException`
    /// message.
    #[error("{0}")]
    Serialization(String),
    /// Constraint violations, each `Value ... at '...' failed to satisfy constraint:
    /// ...`, in the service's order: a `ValidationException`.
    #[error("{}", validation_message(.0))]
    Validation(Vec<String>),
}

impl Invalid {
    /// The error code the service answers with.
    #[allow(dead_code)] // the Kinesis front maps the variants itself; kept for DynamoDB
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Invalid::Serialization(_) => "SerializationException",
            Invalid::Validation(_) => "ValidationException",
        }
    }

    /// The full message, as the service's `message` field holds it.
    pub(crate) fn message(&self) -> String {
        self.to_string()
    }
}

fn validation_message(violations: &[String]) -> String {
    let n = violations.len();
    let s = if n == 1 { "" } else { "s" };
    format!(
        "{n} validation error{s} detected: {}",
        violations.join("; ")
    )
}

/// Checks `input`, the request of `operation`, against `model`: first the types
/// (the first wrong type wins), then every constraint of every member.
///
/// An operation the model does not have, or one without input, passes: answering an
/// unknown operation is the front's job.
pub(crate) fn check(model: &Model, operation: &str, input: &Value) -> Result<(), Invalid> {
    check_types(model, operation, input)?;
    check_constraints(model, operation, input)
}

/// The first step of [`check`] alone: the types (a `SerializationException`).
/// A service that makes checks of its own between the two steps (DynamoDB's
/// tagging actions) calls the steps one by one.
pub(crate) fn check_types(model: &Model, operation: &str, input: &Value) -> Result<(), Invalid> {
    let Some(Some(shape)) = model.input(operation) else {
        return Ok(());
    };
    types::check(model, shape, input, types::Place::Field).map_err(Invalid::Serialization)
}

/// The second step of [`check`] alone: every constraint of every member (a
/// `ValidationException`); the types are assumed checked.
pub(crate) fn check_constraints(
    model: &Model,
    operation: &str,
    input: &Value,
) -> Result<(), Invalid> {
    let Some(Some(shape)) = model.input(operation) else {
        return Ok(());
    };
    let empty = serde_json::Map::new();
    let object = input.as_object().unwrap_or(&empty);
    let mut violations = Vec::new();
    rules::structure(model, shape, object, &rules::Path::Root, &mut violations);
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Invalid::Validation(violations))
    }
}
