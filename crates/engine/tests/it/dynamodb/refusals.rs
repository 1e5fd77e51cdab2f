//! Requests the service refuses whatever the table holds: a BatchWriteItem
//! of more than 25 writes over several tables, and a Select that
//! contradicts the request's other parameters (the messages recorded
//! against the service, Query's with the validation prefix, Scan's without).

use serde_json::{json, Value as Json};

use super::conformance::{invalid, ok, tables};

#[tokio::test]
async fn a_batch_write_holds_25_writes_over_all_its_tables() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let writes = |n: usize, table: &str| -> Vec<Json> {
        (0..n)
            .map(|i| {
                json!({"PutRequest": {"Item": {
                    "a": {"S": format!("{table}{i}")}, "b": {"S": "x"},
                }}})
            })
            .collect()
    };
    invalid(
        &url,
        "BatchWriteItem",
        json!({"RequestItems": {"hash": writes(15, "h"), "range": writes(11, "r")}}),
        "Too many items requested for the BatchWriteItem call",
    )
    .await;
    let answer = ok(
        &url,
        "BatchWriteItem",
        json!({"RequestItems": {"hash": writes(15, "h"), "range": writes(10, "r")}}),
    )
    .await;
    assert_eq!(answer["UnprocessedItems"], json!({}));
}

#[tokio::test]
async fn select_is_checked_against_the_projection_and_the_index() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    // A Query's key condition as an expression, or (beside the legacy
    // AttributesToGet) as KeyConditions.
    let read = |action: &str, extra: Json| {
        let mut body = json!({"TableName": "range"});
        if action == "Query" && extra.get("AttributesToGet").is_some() {
            body["KeyConditions"] = json!({"a": {
                "ComparisonOperator": "EQ", "AttributeValueList": [{"S": "x"}],
            }});
        } else if action == "Query" {
            body["KeyConditionExpression"] = json!("a = :a");
            body["ExpressionAttributeValues"] = json!({":a": {"S": "x"}});
        }
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    for (action, prefix) in [("Query", "1 validation error detected: "), ("Scan", "")] {
        let refused = |extra: Json, message: String| {
            let url = url.clone();
            let body = read(action, extra);
            async move { invalid(&url, action, body, &message).await }
        };
        for (select, chosen) in [
            ("ALL_ATTRIBUTES", "ALL_ATTRIBUTES"),
            ("ALL_PROJECTED_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES"),
            ("COUNT", "only the Count"),
        ] {
            refused(
                json!({"Select": select, "ProjectionExpression": "b", "IndexName": "local"}),
                format!(
                    "{prefix}Cannot specify the ProjectionExpression when choosing to get {chosen}"
                ),
            )
            .await;
            refused(
                json!({"Select": select, "AttributesToGet": ["b"], "IndexName": "local"}),
                format!("{prefix}Cannot specify the AttributesToGet when choosing to get {chosen}"),
            )
            .await;
        }
        refused(
            json!({"Select": "SPECIFIC_ATTRIBUTES"}),
            format!("{prefix}Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"),
        )
        .await;
        refused(
            json!({"Select": "ALL_PROJECTED_ATTRIBUTES"}),
            format!("{prefix}ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"),
        )
        .await;
        // What the service accepts.
        for extra in [
            json!({"Select": "SPECIFIC_ATTRIBUTES", "ProjectionExpression": "b"}),
            json!({"Select": "ALL_PROJECTED_ATTRIBUTES", "IndexName": "local"}),
            json!({"Select": "COUNT"}),
            json!({"ProjectionExpression": "b"}),
            json!({"AttributesToGet": ["b"], "Select": "SPECIFIC_ATTRIBUTES"}),
        ] {
            ok(&url, action, read(action, extra)).await;
        }
    }
}
