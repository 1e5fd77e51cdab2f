//! Answers as recorded against the service by dynalite's test suite: the
//! order of the checks (the request's own before the table's existence),
//! AttributeValue and key wording, the table actions' errors. Most requests
//! are ones no SDK sends, so they go as raw JSON.

use std::sync::Arc;
use std::time::Duration;

use engine::{Config, ManualClock};
use serde_json::{json, Value as Json};

/// A DynamoDB request of `body` (sent as is); the status and JSON answer.
pub(super) async fn call(url: &str, action: &str, body: &str) -> (u16, Json) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.{action}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let (_, answer) = out.split_once("\r\n\r\n").unwrap();
    (status, serde_json::from_str(answer).unwrap())
}

/// A request expected to fail with `code` (the `__type` after its `#`) and
/// `message`.
pub(super) async fn refused(url: &str, action: &str, body: Json, code: &str, message: &str) {
    let (status, answer) = call(url, action, &body.to_string()).await;
    assert_eq!(status, 400, "{action} {body}: {answer}");
    let kind = answer["__type"].as_str().unwrap_or_default();
    assert_eq!(
        kind.rsplit('#').next(),
        Some(code),
        "{action} {body}: {answer}"
    );
    assert_eq!(
        answer["message"].as_str(),
        Some(message),
        "{action} {body}: {answer}"
    );
}

pub(super) async fn invalid(url: &str, action: &str, body: Json, message: &str) {
    refused(url, action, body, "ValidationException", message).await;
}

pub(super) async fn ok(url: &str, action: &str, body: Json) -> Json {
    let (status, answer) = call(url, action, &body.to_string()).await;
    assert_eq!(status, 200, "{action} {body}: {answer}");
    answer
}

/// Table `hash` (key `a`: S) and `range` (keys `a`, `b`: S, a local index
/// on `d` and a global one on `c`, `d`), on an engine without state delay.
pub(super) async fn tables(url: &str) {
    let throughput = json!({"ReadCapacityUnits": 5, "WriteCapacityUnits": 5});
    ok(
        url,
        "CreateTable",
        json!({
            "TableName": "hash",
            "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
            "ProvisionedThroughput": throughput,
        }),
    )
    .await;
    let defs: Vec<Json> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| json!({"AttributeName": n, "AttributeType": "S"}))
        .collect();
    ok(
        url,
        "CreateTable",
        json!({
            "TableName": "range",
            "AttributeDefinitions": defs,
            "KeySchema": [
                {"AttributeName": "a", "KeyType": "HASH"},
                {"AttributeName": "b", "KeyType": "RANGE"},
            ],
            "ProvisionedThroughput": throughput,
            "LocalSecondaryIndexes": [{
                "IndexName": "local",
                "KeySchema": [
                    {"AttributeName": "a", "KeyType": "HASH"},
                    {"AttributeName": "d", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }],
            "GlobalSecondaryIndexes": [{
                "IndexName": "global",
                "KeySchema": [
                    {"AttributeName": "c", "KeyType": "HASH"},
                    {"AttributeName": "d", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": throughput,
            }],
        }),
    )
    .await;
}

const TOO_BIG: &str = "Item size has exceeded the maximum allowed size";

#[tokio::test]
async fn an_items_size_is_checked_before_its_table_is_looked_up() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let limit = 400 * 1024;
    // Name `a` (1) + "k" (1) + `b` (1) + the rest: one byte over the limit.
    let item = |fill: usize| json!({"a": {"S": "k"}, "b": {"S": "x".repeat(fill)}});
    let over = item(limit - 2);
    invalid(
        &url,
        "PutItem",
        json!({"TableName": "nope", "Item": over}),
        TOO_BIG,
    )
    .await;
    refused(
        &url,
        "PutItem",
        json!({"TableName": "nope", "Item": item(limit - 3)}),
        "ResourceNotFoundException",
        "Requested resource not found",
    )
    .await;
    let batch = |item: Json| json!({"RequestItems": {"nope": [{"PutRequest": {"Item": item}}]}});
    invalid(&url, "BatchWriteItem", batch(over.clone()), TOO_BIG).await;
    // Also when an earlier write names a missing table.
    let two = json!({"RequestItems": {
        "a-missing": [{"DeleteRequest": {"Key": {"a": {"S": "x"}}}}],
        "b-missing": [{"PutRequest": {"Item": over}}],
    }});
    invalid(&url, "BatchWriteItem", two, TOO_BIG).await;
    // An update that makes the item too big: the service's words for it.
    tables(&url).await;
    invalid(
        &url,
        "UpdateItem",
        json!({"TableName": "hash", "Key": {"a": {"S": "k"}},
               "UpdateExpression": "SET b = :b",
               "ExpressionAttributeValues": {":b": {"S": "x".repeat(limit - 2)}}}),
        "Item size to update has exceeded the maximum allowed size",
    )
    .await;
    refused(
        &url,
        "BatchWriteItem",
        batch(item(limit - 3)),
        "ResourceNotFoundException",
        "Requested resource not found",
    )
    .await;
}

#[tokio::test]
async fn attribute_values_are_checked_and_worded_as_the_service_does() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let empty =
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes";
    let null_false = "One or more parameter values were invalid: Null attribute value types must have the value of true";
    let not_numeric = "The parameter cannot be converted to a numeric value";
    let cases = [
        (json!({}), empty.to_string()),
        (json!({"a": ""}), empty.to_string()),
        (json!({"M": {"a": {}}}), empty.to_string()),
        (json!({"L": [{"a": {}}]}), empty.to_string()),
        (json!({"NULL": false}), null_false.to_string()),
        (json!({"NULL": "no"}), null_false.to_string()),
        (json!({"S": "", "N": ""}), not_numeric.to_string()),
        (json!({"S": "a", "N": "b"}), format!("{not_numeric}: b")),
        (json!({"NS": ["1", "b"]}), format!("{not_numeric}: b")),
    ];
    for (value, message) in &cases {
        // On a table that does not exist: the values come first.
        let item = json!({"TableName": "nope", "Item": {"a": value}});
        invalid(&url, "PutItem", item, message).await;
        let key = json!({"TableName": "nope", "Key": {"a": value}});
        invalid(&url, "GetItem", key.clone(), message).await;
        invalid(&url, "DeleteItem", key, message).await;
        let keys = json!({"RequestItems": {"nope": {"Keys": [{"a": value}]}}});
        invalid(&url, "BatchGetItem", keys, message).await;
        let writes = json!({"RequestItems": {"nope": [{"PutRequest": {"Item": {"a": value}}}]}});
        invalid(&url, "BatchWriteItem", writes, message).await;
        let values = json!({
            "TableName": "nope",
            "Key": {"a": {"S": "a"}},
            "ConditionExpression": "b = :b",
            "ExpressionAttributeValues": {":b": value},
        });
        invalid(
            &url,
            "DeleteItem",
            values,
            &format!("ExpressionAttributeValues contains invalid value: {message} for key :b"),
        )
        .await;
    }
    // Members that are no data type are ignored.
    tables(&url).await;
    ok(
        &url,
        "PutItem",
        json!({"TableName": "hash", "Item": {"a": {"S": "x", "q": 1}, "n": {"NULL": "yes"}}}),
    )
    .await;
    let got = ok(
        &url,
        "GetItem",
        json!({"TableName": "hash", "Key": {"a": {"S": "x"}}}),
    )
    .await;
    assert_eq!(got["Item"], json!({"a": {"S": "x"}, "n": {"NULL": true}}));
    // Keys given twice (in any member order) are refused before the table
    // is looked up.
    let key = json!({"a": {"S": "x"}, "b": {"N": "1"}});
    let flipped = json!({"b": {"N": "1"}, "a": {"S": "x"}});
    invalid(
        &url,
        "BatchGetItem",
        json!({"RequestItems": {"nope": {"Keys": [key, flipped]}}}),
        "Provided list of item keys contains duplicates",
    )
    .await;
}

#[tokio::test]
async fn batch_write_names_the_first_problem_in_request_order() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let put = |a: &str| json!({"PutRequest": {"Item": {"a": {"S": a}}}});
    let wrong = json!({"PutRequest": {"Item": {"a": {"N": "1"}}}});
    invalid(
        &url,
        "BatchWriteItem",
        json!({"RequestItems": {"hash": [put("x"), put("x"), wrong]}}),
        "Provided list of item keys contains duplicates",
    )
    .await;
    invalid(
        &url,
        "BatchWriteItem",
        json!({"RequestItems": {"hash": [put("x"), wrong, put("x")]}}),
        "The provided key element does not match the schema",
    )
    .await;
}

#[tokio::test]
async fn key_errors_are_worded_per_action_as_recorded() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    invalid(
        &url,
        "GetItem",
        json!({"TableName": "hash", "Key": {"a": {"S": ""}}}),
        "One or more parameter values were invalid: The AttributeValue for a key attribute cannot contain an empty string value. Key: a",
    )
    .await;
    invalid(
        &url,
        "PutItem",
        json!({"TableName": "hash", "Item": {"a": {"S": ""}}}),
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: a",
    )
    .await;
    ok(
        &url,
        "CreateTable",
        json!({
            "TableName": "binary",
            "AttributeDefinitions": [{"AttributeName": "b", "AttributeType": "B"}],
            "KeySchema": [{"AttributeName": "b", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
        }),
    )
    .await;
    invalid(
        &url,
        "PutItem",
        json!({"TableName": "binary", "Item": {"b": {"B": ""}}}),
        "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty binary value. Key: b",
    )
    .await;
    // A BatchWriteItem PutRequest: other attributes may come along, a
    // missing or mistyped key is "does not match the schema".
    let mismatch = "The provided key element does not match the schema";
    for item in [
        json!({}),
        json!({"b": {"S": "a"}}),
        json!({"a": {"N": "1"}}),
        json!({"a": {"L": []}}),
    ] {
        let writes = json!({"RequestItems": {"hash": [{"PutRequest": {"Item": item}}]}});
        invalid(&url, "BatchWriteItem", writes, mismatch).await;
    }
    let writes = json!({"RequestItems": {"range": [{"PutRequest": {"Item": {"a": {"S": "a"}}}}]}});
    invalid(&url, "BatchWriteItem", writes, mismatch).await;
    let writes = json!({"RequestItems": {"hash": [{"PutRequest": {"Item": {"a": {"S": "a"}, "z": {"S": "z"}}}}]}});
    ok(&url, "BatchWriteItem", writes).await;
    // PutItem still names the key.
    invalid(
        &url,
        "PutItem",
        json!({"TableName": "hash", "Item": {"b": {"S": "a"}}}),
        "One or more parameter values were invalid: Missing the key a in the item",
    )
    .await;
}

#[tokio::test]
async fn key_attributes_in_filters_and_projections_are_refused_as_recorded() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let not_scalar = "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed";
    for (table, path, message) in [
        ("hash", "#a.b.c", format!("{not_scalar}: Key: a")),
        ("hash", "#a[0]", format!("{not_scalar}: Key: a")),
        ("range", "#d.b.c", format!("{not_scalar}: IndexKey: d")),
        ("range", "#d[0]", format!("{not_scalar}: IndexKey: d")),
    ] {
        let name = &path[..2];
        let key = if table == "hash" {
            json!({"a": {"S": "x"}})
        } else {
            json!({"a": {"S": "x"}, "b": {"S": "y"}})
        };
        let get = json!({
            "TableName": table,
            "Key": key,
            "ProjectionExpression": path,
            "ExpressionAttributeNames": {name: &name[1..]},
        });
        invalid(&url, "GetItem", get, &message).await;
    }
    let query = |table: &str, filter: &str| {
        json!({
            "TableName": table,
            "KeyConditionExpression": "a = :a",
            "FilterExpression": filter,
            "ExpressionAttributeValues": {":a": {"S": "1"}, ":b": {"N": "1"}},
        })
    };
    let primary =
        "Filter Expression can only contain non-primary key attributes: Primary key attribute:";
    for (table, filter, message) in [
        (
            "hash",
            "attribute_exists(a.b) AND b = :b",
            format!("{primary} a"),
        ),
        ("hash", "a = :b", format!("{primary} a")),
        ("hash", "a[1] = :b", format!("{primary} a")),
        (
            "range",
            "attribute_exists(b.c) AND c = :b",
            format!("{primary} b"),
        ),
        ("range", "b[1] = :b", format!("{primary} b")),
        (
            "range",
            "attribute_exists(d.c) AND c = :b",
            format!("{not_scalar}: IndexKey: d"),
        ),
        ("range", "d[1] = :b", format!("{not_scalar}: IndexKey: d")),
    ] {
        invalid(&url, "Query", query(table, filter), &message).await;
    }
    // Index keys may be filtered on whole; a Scan may filter on the key.
    ok(&url, "Query", query("range", "d = :b AND c = :b")).await;
    let scan = json!({
        "TableName": "hash",
        "FilterExpression": "a = :a",
        "ExpressionAttributeValues": {":a": {"S": "1"}},
    });
    ok(&url, "Scan", scan).await;
    // Querying an index: its keys are the primary key.
    let on_index = json!({
        "TableName": "range",
        "IndexName": "global",
        "KeyConditionExpression": "c = :a",
        "FilterExpression": "d = :b",
        "ExpressionAttributeValues": {":a": {"S": "1"}, ":b": {"S": "1"}},
    });
    invalid(&url, "Query", on_index, &format!("{primary} d")).await;
}

#[tokio::test]
async fn table_actions_check_the_request_then_name_the_missing_table() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let gone = "Requested resource not found: Table: nope not found";
    let missing = |action: &'static str, body: Json| {
        let url = url.clone();
        async move { refused(&url, action, body, "ResourceNotFoundException", gone).await }
    };
    missing("DeleteTable", json!({"TableName": "nope"})).await;
    missing("DescribeTable", json!({"TableName": "nope"})).await;
    let ttl = json!({"TableName": "nope", "TimeToLiveSpecification": {"AttributeName": "a", "Enabled": true}});
    missing("UpdateTimeToLive", ttl).await;
    let throughput = |r: u64, w: u64| json!({"ReadCapacityUnits": r, "WriteCapacityUnits": w});
    missing(
        "UpdateTable",
        json!({"TableName": "nope", "ProvisionedThroughput": throughput(1, 1)}),
    )
    .await;
    let high = 1_000_000_000_001u64;
    for (body, message) in [
        (
            json!({"ProvisionedThroughput": throughput(high, high)}),
            format!("Given value {high} for ReadCapacityUnits is out of bounds"),
        ),
        (
            json!({"ProvisionedThroughput": throughput(high - 1, high)}),
            format!("Given value {high} for WriteCapacityUnits is out of bounds"),
        ),
        (
            json!({"GlobalSecondaryIndexUpdates": []}),
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates, SSESpecification, ReplicaUpdates, MultiAccountReplicaReady, ReplicaTransitRoleArn, MultiRegionConsistency, DeletionProtectionEnabled, OnDemandThroughput, WarmThroughput or TableClass is required".to_string(),
        ),
        (
            json!({"GlobalSecondaryIndexUpdates": [{}, {}]}),
            "One or more parameter values were invalid: One of GlobalSecondaryIndexUpdate.Update, GlobalSecondaryIndexUpdate.Create, GlobalSecondaryIndexUpdate.Delete must not be null".to_string(),
        ),
        (
            json!({"GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "abc"}}, {"Delete": {"IndexName": "abc"}}]}),
            "One or more parameter values were invalid: Only one global secondary index update per index is allowed simultaneously. Index: abc".to_string(),
        ),
        (
            json!({"GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "abc", "ProvisionedThroughput": throughput(high, high)}}]}),
            format!("Given value {high} for ReadCapacityUnits is out of bounds for index abc"),
        ),
    ] {
        let mut body = body;
        body["TableName"] = json!("nope");
        invalid(&url, "UpdateTable", body, &message).await;
    }
    // CreateTable: the throughput before the key schema.
    invalid(
        &url,
        "CreateTable",
        json!({
            "TableName": "abc",
            "AttributeDefinitions": [],
            "KeySchema": [{"KeyType": "HASH", "AttributeName": "a"}],
            "ProvisionedThroughput": throughput(high - 1, high),
        }),
        &format!("Given value {high} for WriteCapacityUnits is out of bounds"),
    )
    .await;
    // A throughput equal to the table's.
    tables(&url).await;
    invalid(
        &url,
        "UpdateTable",
        json!({"TableName": "hash", "ProvisionedThroughput": throughput(5, 5)}),
        "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: 5. Requested ReadCapacityUnits: 5. Current WriteCapacityUnits provisioned for the table: 5. Requested WriteCapacityUnits: 5. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits.",
    )
    .await;
    ok(
        &url,
        "UpdateTable",
        json!({"TableName": "hash", "ProvisionedThroughput": throughput(6, 5)}),
    )
    .await;
}

#[tokio::test]
async fn no_body_is_a_bare_serialization_exception() {
    let e = engine::spawn_in_memory().await.unwrap();
    let (status, answer) = call(&e.url(), "ListTables", "").await;
    assert_eq!(status, 400);
    assert_eq!(
        answer,
        json!({"__type": "com.amazon.coral.service#SerializationException"})
    );
    let (status, answer) = call(&e.url(), "ListTables", "{}").await;
    assert_eq!((status, answer), (200, json!({"TableNames": []})));
}

#[tokio::test]
async fn indexes_created_with_the_table_are_not_backfilled_and_a_deleted_table_lists_none() {
    let clock = ManualClock::frozen();
    let e = engine::spawn(Config {
        clock: Arc::new(clock.clone()),
        stream_activation_delay: Duration::from_secs(5),
        ..Config::default()
    })
    .await
    .unwrap();
    let url = e.url();
    tables(&url).await;
    let desc = ok(&url, "DescribeTable", json!({"TableName": "range"})).await;
    let index = &desc["Table"]["GlobalSecondaryIndexes"][0];
    assert_eq!(index["IndexStatus"], "CREATING", "{desc}");
    assert!(index.get("Backfilling").is_none(), "{desc}");
    clock.advance(Duration::from_secs(5));
    // One added later is backfilled.
    let created = ok(
        &url,
        "UpdateTable",
        json!({
            "TableName": "range",
            "GlobalSecondaryIndexUpdates": [{"Create": {
                "IndexName": "later",
                "KeySchema": [{"AttributeName": "b", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
            }}],
        }),
    )
    .await;
    let later = created["TableDescription"]["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["IndexName"] == "later")
        .cloned()
        .unwrap();
    assert_eq!(later["Backfilling"], true, "{created}");
    clock.advance(Duration::from_secs(5));
    let deleted = ok(&url, "DeleteTable", json!({"TableName": "range"})).await;
    let desc = &deleted["TableDescription"];
    assert_eq!(desc["TableStatus"], "DELETING");
    assert!(desc.get("GlobalSecondaryIndexes").is_none(), "{deleted}");
}
