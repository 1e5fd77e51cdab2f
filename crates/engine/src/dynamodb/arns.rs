//! Table ARNs where a table name goes. The service takes
//! `arn:aws:dynamodb:<region>:<account>:table/<name>` in every `TableName`
//! (the model's `TableArn` shape) and as the keys of BatchGetItem's and
//! BatchWriteItem's `RequestItems`; the engine reads an ARN of its own
//! region and account as that table's name before an action runs, and
//! answers a batch's tables under the keys the request used. Any other ARN
//! is left as it is (a table of that name does not exist).

use serde_json::{Map, Value as Json};

use super::service::validation;
use super::tables::ACCOUNT;
use super::tags::parse_table_arn;
use crate::front::error::ApiError;

/// A request with its table ARNs read as names, and the tables it named by
/// ARN.
pub(super) type Resolved = (Map<String, Json>, Named);

/// The tables a request named by ARN: (name, ARN).
#[derive(Debug, Default)]
pub(super) struct Named(Vec<(String, String)>);

/// The table an ARN of this engine (in `region`) names.
fn own_table<'a>(arn: &'a str, region: &str) -> Option<&'a str> {
    let (arn_region, account, name) = parse_table_arn(arn)?;
    (arn_region == region && account == ACCOUNT).then_some(name)
}

/// Whether a request may name a table by ARN anywhere (a cheap look before
/// it is copied).
fn mentions_arn(req: &Map<String, Json>) -> bool {
    let arn = |v: &Json| v.as_str().is_some_and(|s| s.starts_with("arn:"));
    req.get("TableName").is_some_and(arn)
        || req
            .get("RequestItems")
            .and_then(Json::as_object)
            .is_some_and(|t| t.keys().any(|k| k.starts_with("arn:")))
        || req
            .get("TransactItems")
            .and_then(Json::as_array)
            .is_some_and(|items| {
                items
                    .iter()
                    .filter_map(Json::as_object)
                    .flat_map(|item| item.values())
                    .any(|op| op.get("TableName").is_some_and(arn))
            })
}

/// `req` with its table ARNs (of `region`) read as names, or `None` when it
/// names none. A batch naming a table both by name and by ARN is refused:
/// its two lists would be one table's.
pub(super) fn resolve(req: &Map<String, Json>, region: &str) -> Result<Option<Resolved>, ApiError> {
    if !mentions_arn(req) {
        return Ok(None);
    }
    let mut named = Named::default();
    let mut out = req.clone();
    let rename = |slot: &mut Json, named: &mut Named| {
        if let Some(name) = slot.as_str().and_then(|a| own_table(a, region)) {
            let name = name.to_string();
            named
                .0
                .push((name.clone(), slot.as_str().unwrap_or_default().into()));
            *slot = Json::String(name);
        }
    };
    if let Some(slot) = out.get_mut("TableName") {
        rename(slot, &mut named);
    }
    if let Some(Json::Array(items)) = out.get_mut("TransactItems") {
        for item in items.iter_mut().filter_map(Json::as_object_mut) {
            for op in item.values_mut() {
                if let Some(slot) = op.get_mut("TableName") {
                    rename(slot, &mut named);
                }
            }
        }
    }
    if let Some(Json::Object(tables)) = out.get_mut("RequestItems") {
        if tables.keys().any(|k| own_table(k, region).is_some()) {
            let mut renamed = Map::new();
            for (k, v) in std::mem::take(tables) {
                let name = match own_table(&k, region) {
                    Some(name) => {
                        named.0.push((name.to_string(), k.clone()));
                        name.to_string()
                    }
                    None => k,
                };
                if renamed.insert(name.clone(), v).is_some() {
                    return Err(validation(format!(
                        "One or more parameter values were invalid: RequestItems names table {name} twice (by its name and by its ARN)"
                    )));
                }
            }
            *tables = renamed;
        }
    }
    Ok((!named.0.is_empty()).then_some((out, named)))
}

/// Puts a batch's answers back under the ARNs the request named tables by.
pub(super) fn restore(out: &mut Json, named: &Named) {
    for member in ["Responses", "UnprocessedItems", "UnprocessedKeys"] {
        let Some(Json::Object(tables)) = out.get_mut(member) else {
            continue;
        };
        for (name, arn) in &named.0 {
            if let Some(v) = tables.remove(name) {
                tables.insert(arn.clone(), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arn(name: &str) -> String {
        format!("arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{name}")
    }

    #[test]
    fn own_arns_are_read_as_names_and_batches_answered_under_them() {
        let req = json!({
            "TableName": arn("Rides"),
            "RequestItems": { arn("Rides"): [], "Plain": [] },
            "TransactItems": [{ "Put": { "TableName": arn("Other") } }],
        });
        let (out, named) = resolve(req.as_object().unwrap(), "us-east-1")
            .unwrap()
            .unwrap();
        assert_eq!(out["TableName"], "Rides");
        assert_eq!(out["TransactItems"][0]["Put"]["TableName"], "Other");
        let mut keys: Vec<&String> = out["RequestItems"].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["Plain", "Rides"]);
        let mut answer = json!({ "Responses": { "Rides": [1] }, "UnprocessedKeys": {} });
        restore(&mut answer, &named);
        assert_eq!(answer["Responses"][arn("Rides")], json!([1]));
    }

    #[test]
    fn other_accounts_and_regions_and_plain_names_are_left_alone() {
        let foreign = "arn:aws:dynamodb:eu-west-1:000000000000:table/Rides";
        let other = "arn:aws:dynamodb:us-east-1:123456789012:table/Rides";
        for name in [foreign, other, "Rides"] {
            let req = json!({ "TableName": name });
            assert!(resolve(req.as_object().unwrap(), "us-east-1")
                .unwrap()
                .is_none());
        }
        // The engine's own region is whatever it is configured with.
        let req = json!({ "TableName": foreign });
        assert!(resolve(req.as_object().unwrap(), "eu-west-1")
            .unwrap()
            .is_some());
    }

    #[test]
    fn a_batch_naming_a_table_by_name_and_by_arn_is_refused() {
        let req = json!({ "RequestItems": { arn("Rides"): [1], "Rides": [2] } });
        assert!(resolve(req.as_object().unwrap(), "us-east-1").is_err());
    }
}
