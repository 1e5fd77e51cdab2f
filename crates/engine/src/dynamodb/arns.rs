//! Table ARNs where a table name goes. The service takes
//! `arn:aws:dynamodb:<region>:<account>:table/<name>` in every `TableName`
//! (the model's `TableArn` shape) and as the keys of BatchGetItem's and
//! BatchWriteItem's `RequestItems`; the engine reads an ARN of its own
//! region and account as that table's name before an action runs, and
//! answers a batch's tables under the keys the request used. Any other ARN
//! is left as it is (a table of that name does not exist).

use serde_json::{Map, Value as Json};

use super::tables::ACCOUNT;
use super::tags::parse_table_arn;

/// The tables a request named by ARN: (name, ARN).
#[derive(Debug, Default)]
pub(super) struct Named(Vec<(String, String)>);

/// The table an ARN of this engine names.
fn own_table(arn: &str) -> Option<&str> {
    let (region, account, name) = parse_table_arn(arn)?;
    (region == "us-east-1" && account == ACCOUNT).then_some(name)
}

/// `req` with its table ARNs read as names, or `None` when it names none.
pub(super) fn resolve(req: &Map<String, Json>) -> Option<(Map<String, Json>, Named)> {
    let mut named = Named::default();
    let mut out = req.clone();
    let rename = |slot: &mut Json, named: &mut Named| {
        if let Some(name) = slot.as_str().and_then(own_table) {
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
        if tables.keys().any(|k| own_table(k).is_some()) {
            let renamed: Map<String, Json> = std::mem::take(tables)
                .into_iter()
                .map(|(k, v)| match own_table(&k) {
                    Some(name) => {
                        named.0.push((name.to_string(), k.clone()));
                        (name.to_string(), v)
                    }
                    None => (k, v),
                })
                .collect();
            *tables = renamed;
        }
    }
    (!named.0.is_empty()).then_some((out, named))
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
        let (out, named) = resolve(req.as_object().unwrap()).unwrap();
        assert_eq!(out["TableName"], "Rides");
        assert_eq!(out["TransactItems"][0]["Put"]["TableName"], "Other");
        let keys: Vec<&String> = out["RequestItems"].as_object().unwrap().keys().collect();
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
            assert!(resolve(json!({ "TableName": name }).as_object().unwrap()).is_none());
        }
    }
}
