//! TagResource, UntagResource, ListTagsOfResource and the Tags of
//! CreateTable. A table's tags live in its stored description
//! ([`TableMeta::tags`]): they are written in the same transaction and are
//! as durable as the table.
//!
//! The service's checks, in its order (as recorded against DynamoDB by
//! dynalite's suite): the members' types; a missing ResourceArn (`Invalid
//! TableArn`); a ResourceArn that is no ARN at all, refused by IAM before the
//! request is validated (AccessDeniedException); the model's constraints; a
//! ResourceArn that is not a table's (`Invalid TableArn: Invalid ResourceArn
//! provided as input …`); no tags given; the tags themselves; the table.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as Json};

use super::service::{str_of, validation, Service};
use super::tables::{in_use, ACCOUNT};
use crate::front::error::{err, ApiError, Code};

/// The most tags a table has.
pub(super) const MAX_TAGS: usize = 50;

const TAGGING: [&str; 3] = ["TagResource", "UntagResource", "ListTagsOfResource"];

/// The checks of a tagging action's ResourceArn that come before the
/// model's constraints (the types are checked already); other actions pass.
pub(super) fn check_arn_given(action: &str, body: &Json) -> Result<(), ApiError> {
    if !TAGGING.contains(&action) {
        return Ok(());
    }
    let arn = match body.get("ResourceArn") {
        None | Some(Json::Null) => return Err(validation("Invalid TableArn")),
        Some(v) => v.as_str().unwrap_or_default(),
    };
    if !arn_shaped(arn) {
        return Err(access_denied(
            action,
            if arn.is_empty() { "*" } else { arn },
        ));
    }
    Ok(())
}

/// Whether `arn` looks like an ARN to IAM: six fields separated by colons,
/// none empty, the last one holding a `/` with something on both sides
/// (fields may hold colons themselves; no line breaks anywhere).
fn arn_shaped(arn: &str) -> bool {
    if arn.contains(['\n', '\r', '\u{2028}', '\u{2029}']) {
        return false;
    }
    let b = arn.as_bytes();
    // Where the current field starts; each field takes at least one byte,
    // and taking the earliest colon each time leaves the most for the rest.
    let mut start = 0;
    for _ in 0..5 {
        let Some(i) = b
            .get(start + 1..)
            .and_then(|r| r.iter().position(|&c| c == b':'))
        else {
            return false;
        };
        start += 1 + i + 1;
    }
    b.get(start + 1..)
        .and_then(|r| r.iter().position(|&c| c == b'/'))
        .is_some_and(|i| start + 1 + i + 1 < b.len())
}

/// IAM's refusal of `action` on `resource`.
fn access_denied(action: &str, resource: &str) -> ApiError {
    err(
        Code::AccessDeniedException,
        format!(
            "User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: dynamodb:{action} on resource: {resource}"
        ),
    )
}

/// A table name as the service takes it: 3 to 255 of `[a-zA-Z0-9_.-]`.
fn valid_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// Region, account and table name of `arn:aws:dynamodb:<region>:<account>:table/<name>`.
pub(super) fn parse_table_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let rest = arn.strip_prefix("arn:aws:dynamodb:")?;
    let (region, rest) = rest.split_once(':')?;
    let (account, rest) = rest.split_once(':')?;
    let name = rest.strip_prefix("table/")?;
    let valid = !region.is_empty()
        && !account.is_empty()
        && account.bytes().all(|c| c.is_ascii_digit())
        && valid_table_name(name);
    valid.then_some((region, account, name))
}

/// A character tags may hold: letters, numbers, spaces and `+ - = . _ : / @`.
fn tag_char(c: char) -> bool {
    c.is_alphanumeric()
        || (c.is_whitespace() && !c.is_control())
        || matches!(c, '+' | '-' | '=' | '.' | '_' | ':' | '/' | '@')
}

fn check_tag_key(key: &str) -> Result<(), ApiError> {
    if !key.chars().all(tag_char) {
        return Err(validation(format!(
            "The Tag Key provided is invalid, Key: {key}"
        )));
    }
    if key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:")) {
        return Err(validation(format!(
            "Tag Key cannot be prefixed with aws:, Key: {key}"
        )));
    }
    Ok(())
}

/// The `Tags` of a request (TagResource, CreateTable), checked as the
/// service checks them (their lengths are the model's).
fn tags_given(req: &Map<String, Json>) -> Result<Vec<(String, String)>, ApiError> {
    let mut tags: Vec<(String, String)> = Vec::new();
    for t in req
        .get("Tags")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        let key = t["Key"].as_str().unwrap_or_default();
        let value = t["Value"].as_str().unwrap_or_default();
        check_tag_key(key)?;
        if !value.chars().all(tag_char) {
            return Err(validation(format!(
                "The Tag Value provided is invalid, Value: {value}"
            )));
        }
        if tags.iter().any(|(k, _)| k == key) {
            return Err(validation(format!(
                "Duplicate Tag Keys provided as input: Duplicate Tag Key found {key}"
            )));
        }
        tags.push((key.to_string(), value.to_string()));
    }
    Ok(tags)
}

fn too_many_tags() -> ApiError {
    validation("Number of Tags exceed the current limit for the provided ResourceArn")
}

/// The tags of a CreateTable request (none when it has no `Tags`).
pub(super) fn create_tags(req: &Map<String, Json>) -> Result<BTreeMap<String, String>, ApiError> {
    let tags = tags_given(req)?;
    if tags.len() > MAX_TAGS {
        return Err(too_many_tags());
    }
    Ok(tags.into_iter().collect())
}

impl Service {
    /// The name of the table a tagging action's ResourceArn names, or the
    /// service's refusal of an ARN that is not a table's here.
    fn tagged_table<'r>(
        &self,
        action: &str,
        req: &'r Map<String, Json>,
    ) -> Result<&'r str, ApiError> {
        let arn = str_of(req, "ResourceArn").unwrap_or_default();
        let invalid = || {
            validation(format!(
                "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
            ))
        };
        let (region, account, name) = parse_table_arn(arn).ok_or_else(invalid)?;
        if region != self.settings.region {
            return Err(invalid());
        }
        if account != ACCOUNT {
            return Err(access_denied(action, arn));
        }
        Ok(name)
    }

    /// Applies `change` to the tags of table `name` and stores them. A table
    /// being created is not found by the tagging actions yet (as recorded).
    fn change_tags(
        &self,
        name: &str,
        missing: impl FnOnce() -> ApiError,
        change: impl FnOnce(&mut BTreeMap<String, String>) -> Result<(), ApiError>,
    ) -> Result<(), ApiError> {
        let now = self.now_ms();
        let mut tables = self.tables();
        let Some(meta) = tables.get(name).filter(|t| t.status(now) != "CREATING") else {
            return Err(missing());
        };
        if meta.status(now) == "DELETING" {
            return Err(in_use(format!("Table is being deleted: {name}")));
        }
        let mut meta = meta.clone();
        change(&mut meta.tags)?;
        let stored = serde_json::to_value(&meta).unwrap_or_default();
        self.store
            .write::<_, ApiError>(|w| Ok(w.put_table(name, &stored)?))?;
        tables.insert(name.to_string(), meta);
        Ok(())
    }

    pub(super) fn tag_resource(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = self.tagged_table("TagResource", req)?;
        if req
            .get("Tags")
            .and_then(Json::as_array)
            .is_none_or(Vec::is_empty)
        {
            return Err(validation("Atleast one Tag needs to be provided as Input."));
        }
        let given = tags_given(req)?;
        let arn = str_of(req, "ResourceArn").unwrap_or_default();
        self.change_tags(
            name,
            || resource_not_found(arn),
            |tags| {
                tags.extend(given);
                if tags.len() > MAX_TAGS {
                    return Err(too_many_tags());
                }
                Ok(())
            },
        )?;
        Ok(json!({}))
    }

    pub(super) fn untag_resource(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = self.tagged_table("UntagResource", req)?;
        let keys: Vec<&str> = req
            .get("TagKeys")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .collect();
        if keys.is_empty() {
            return Err(validation(
                "Atleast one Tag Key needs to be provided as Input.",
            ));
        }
        keys.iter().try_for_each(|k| check_tag_key(k))?;
        // As recorded, UntagResource's not-found names nothing.
        self.change_tags(name, super::service::not_found, |tags| {
            for k in keys {
                tags.remove(k);
            }
            Ok(())
        })?;
        Ok(json!({}))
    }

    pub(super) fn list_tags_of_resource(&self, req: &Map<String, Json>) -> Result<Json, ApiError> {
        let name = self.tagged_table("ListTagsOfResource", req)?;
        let arn = str_of(req, "ResourceArn").unwrap_or_default();
        let now = self.now_ms();
        let tables = self.tables();
        let meta = tables
            .get(name)
            .filter(|t| t.status(now) != "CREATING")
            .ok_or_else(|| resource_not_found(arn))?;
        let tags: Vec<Json> = meta
            .tags
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        Ok(json!({ "Tags": tags }))
    }
}

/// TagResource's and ListTagsOfResource's not-found (the service's own
/// spelling, as recorded).
fn resource_not_found(arn: &str) -> ApiError {
    err(
        Code::ResourceNotFoundException,
        format!("Requested resource not found: ResourcArn: {arn} not found"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_shapes_as_iam_takes_them() {
        for ok in [
            "a:b:c:d:e:f/g",
            "arn:aws:dynamodb:us-east-1:000000000000:table/abc",
            "a:b:c:d:e:f:g/h/i",
            "a::b:c:d:e:f/g",
        ] {
            assert!(arn_shaped(ok), "{ok}");
        }
        for bad in [
            "",
            "abcd",
            "a:b:c:d:e:f",
            "a:b:c:d:e/f",
            "a:b:c:d:e:/f",
            "a:b:c:d:e:f/",
            ":b:c:d:e:f/g",
            "a:b:c:d:e:f\n/g",
            "a:b:c:d::f/g",
        ] {
            assert!(!arn_shaped(bad), "{bad}");
        }
    }

    #[test]
    fn table_arns_name_a_valid_table() {
        let arn = "arn:aws:dynamodb:us-east-1:000000000000:table/Rides";
        assert_eq!(
            parse_table_arn(arn),
            Some(("us-east-1", "000000000000", "Rides"))
        );
        for bad in [
            "arn:aws:dynamodb:us-east-1:000000000000:table/ab",
            "arn:aws:dynamodb:us-east-1:000000000000:table/Rides/index/ByColor",
            "arn:aws:dynamodb:us-east-1:00000000000a:table/Rides",
            "arn:aws:dynamodb::000000000000:table/Rides",
            "arn:aws:s3:us-east-1:000000000000:table/Rides",
            "a:b:c:d:e:f/g",
        ] {
            assert_eq!(parse_table_arn(bad), None, "{bad}");
        }
    }

    #[test]
    fn tag_characters_are_letters_numbers_spaces_and_a_few_signs() {
        for ok in [
            "Team",
            "cost center",
            "a+b-c=d.e_f:g/h@i",
            "законные",
            "ѮѮ 7",
            "",
        ] {
            assert!(ok.chars().all(tag_char), "{ok}");
        }
        for bad in ["hi!", "d%g", "\"hello\"", "a\tb", "<>", "#"] {
            assert!(!bad.chars().all(tag_char), "{bad}");
        }
        assert!(check_tag_key("aws:cloudformation:stack-name").is_err());
        assert!(check_tag_key("AWS:x").is_err());
        assert!(check_tag_key("awsome").is_ok());
    }
}
