//! Requests the service refuses whatever the table holds, with the messages
//! recorded against it: a BatchWriteItem of more than 25 writes over several
//! tables; a Select that contradicts the request's other parameters (Query's
//! messages with the validation prefix, Scan's without); expressions and
//! placeholders past their sizes; items nested too deep; deleting a table
//! protected from deletion; time to live changed on another attribute.

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

#[tokio::test]
async fn expressions_and_their_placeholders_have_the_services_limits() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let long = |n: usize| format!("a{}", "z".repeat(n - 1));
    let condition = format!("attribute_not_exists({})", long(4097));
    invalid(
        &url,
        "PutItem",
        json!({"TableName": "hash", "Item": {"a": {"S": "k"}}, "ConditionExpression": condition}),
        &format!(
            "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; expression size: {}",
            condition.len()
        ),
    )
    .await;
    let get = |extra: Json| {
        let mut body = json!({"TableName": "hash", "Key": {"a": {"S": "k"}}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    invalid(
        &url,
        "GetItem",
        get(json!({"ProjectionExpression": long(4097)})),
        "Invalid ProjectionExpression: Expression size has exceeded the maximum allowed size;",
    )
    .await;
    ok(
        &url,
        "GetItem",
        get(json!({"ProjectionExpression": long(4096)})),
    )
    .await;
    invalid(
        &url,
        "GetItem",
        get(json!({"ProjectionExpression": "#a", "ExpressionAttributeNames": {format!("#{}", "a".repeat(255)): "x"}})),
        "ExpressionAttributeNames contains invalid key: The expression attribute map contains a key that is too long; size of key: 256",
    )
    .await;
    invalid(
        &url,
        "GetItem",
        get(json!({"ProjectionExpression": "#a", "ExpressionAttributeNames": {"#a": ""}})),
        "ExpressionAttributeNames contains invalid value: Empty attribute name for key #a",
    )
    .await;
    invalid(
        &url,
        "Scan",
        json!({"TableName": "hash", "FilterExpression": "b = :v",
               "ExpressionAttributeValues": {format!(":{}", "a".repeat(255)): {"S": "x"}}}),
        "ExpressionAttributeValues contains invalid key: The expression attribute map contains a key that is too long;",
    )
    .await;
}

#[tokio::test]
async fn an_item_nests_maps_and_lists_32_levels_deep_at_most() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    // The attribute is the first level; `maps` maps (or lists) follow it.
    let nested = |maps: usize| {
        (0..maps).fold(json!({"S": "leaf"}), |inner, i| {
            if i % 2 == 0 {
                json!({"M": {"a": inner}})
            } else {
                json!({"L": [inner]})
            }
        })
    };
    let put =
        |maps: usize| json!({"TableName": "hash", "Item": {"a": {"S": "k"}, "x": nested(maps)}});
    ok(&url, "PutItem", put(31)).await;
    let refused = "1 validation error detected: Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit";
    invalid(&url, "PutItem", put(32), refused).await;
    invalid(
        &url,
        "BatchWriteItem",
        json!({"RequestItems": {"hash": [{"PutRequest": {"Item": {"a": {"S": "k"}, "x": nested(32)}}}]}}),
        refused,
    )
    .await;
    invalid(
        &url,
        "UpdateItem",
        json!({"TableName": "hash", "Key": {"a": {"S": "k"}}, "UpdateExpression": "SET y = :v",
               "ExpressionAttributeValues": {":v": nested(32)}}),
        refused,
    )
    .await;
}

#[tokio::test]
async fn a_table_created_protected_from_deletion_is_not_deleted() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let described = ok(&url, "DescribeTable", json!({"TableName": "hash"})).await;
    assert_eq!(
        described["Table"]["DeletionProtectionEnabled"],
        json!(false)
    );
    let created = ok(
        &url,
        "CreateTable",
        json!({
            "TableName": "kept",
            "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "DeletionProtectionEnabled": true,
        }),
    )
    .await;
    assert_eq!(
        created["TableDescription"]["DeletionProtectionEnabled"],
        json!(true)
    );
    invalid(
        &url,
        "DeleteTable",
        json!({"TableName": "kept"}),
        "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.",
    )
    .await;
    ok(&url, "DescribeTable", json!({"TableName": "kept"})).await;
}

#[tokio::test]
async fn time_to_live_changes_name_the_attribute_it_is_on() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let ttl = |attr: &str, enabled: bool| json!({"TableName": "hash", "TimeToLiveSpecification": {"AttributeName": attr, "Enabled": enabled}});
    ok(&url, "UpdateTimeToLive", ttl("exp", true)).await;
    invalid(
        &url,
        "UpdateTimeToLive",
        ttl("exp", true),
        "TimeToLive is already enabled",
    )
    .await;
    let elsewhere =
        "TimeToLive is active on a different AttributeName: current AttributeName is exp";
    invalid(&url, "UpdateTimeToLive", ttl("other", true), elsewhere).await;
    invalid(&url, "UpdateTimeToLive", ttl("other", false), elsewhere).await;
    ok(&url, "UpdateTimeToLive", ttl("exp", false)).await;
    invalid(
        &url,
        "UpdateTimeToLive",
        ttl("exp", false),
        "TimeToLive is already disabled",
    )
    .await;
}
