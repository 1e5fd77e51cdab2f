//! The order of the service's checks where dynalite's suite recorded it:
//! a table-level action's own TableName checks, every expression of a Query
//! read before its key condition's shape, Scan's segments before its
//! expressions, Scan's start key on an index before its Select and a start
//! key from another segment before the filter's key paths; and the order of
//! index entries that share their index key.

use serde_json::json;

use super::conformance::{invalid, ok, tables};

#[tokio::test]
async fn table_level_actions_check_their_table_name_first() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let required = "The parameter 'TableName' is required but was not present in the request";
    let length = "TableName must be at least 3 characters long and at most 255 characters long";
    let long = "a".repeat(256);
    for action in [
        "CreateTable",
        "DescribeTable",
        "DeleteTable",
        "UpdateTable",
        "DescribeTimeToLive",
        "UpdateTimeToLive",
    ] {
        invalid(&url, action, json!({}), required).await;
        for name in ["", "a;", long.as_str()] {
            invalid(&url, action, json!({"TableName": name}), length).await;
        }
    }
    invalid(
        &url,
        "UpdateTimeToLive",
        json!({"TableName": "abc", "TimeToLiveSpecification": {"AttributeName": "", "Enabled": true}}),
        "TimeToLiveSpecification.AttributeName must be non empty",
    )
    .await;
    // The item actions keep the model's checks only.
    super::conformance::refused(
        &url,
        "GetItem",
        json!({"TableName": "ab", "Key": {"a": {"S": "x"}}}),
        "ResourceNotFoundException",
        "Requested resource not found",
    )
    .await;
}

#[tokio::test]
async fn a_query_reads_every_expression_before_its_key_conditions_shape() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let query = |key: &str, filter: &str, projection: &str| {
        json!({
            "TableName": "abc",
            "KeyConditionExpression": key,
            "FilterExpression": filter,
            "ProjectionExpression": projection,
            "ExpressionAttributeValues": {":a": {"S": "N"}},
        })
    };
    let kce = "attribute_type(a, :a)";
    invalid(
        &url,
        "Query",
        query(kce, "", ""),
        "Invalid FilterExpression: The expression can not be empty;",
    )
    .await;
    invalid(
        &url,
        "Query",
        query(kce, "a > b", ""),
        "Invalid ProjectionExpression: The expression can not be empty;",
    )
    .await;
    let multiple =
        "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition";
    let nested = "KeyConditionExpressions cannot have conditions on nested attributes";
    let operations = "KeyConditionExpressions cannot contain nested operations";
    for (key, message) in [
        ("b > a.b", multiple),
        ("b between c[1] and d", multiple),
        ("a between b and size(a)", multiple),
        ("begins_with(a, b)", multiple),
        ("a > size(b.d)", operations),
        ("a between size(b) and size(a)", operations),
        ("size(b) > a AND a.b > b AND b > c", operations),
        ("b.d > a AND c.d > e.f", nested),
        ("a.d > c", nested),
        ("b[0] > a", nested),
    ] {
        let body = json!({"TableName": "abc", "KeyConditionExpression": key});
        invalid(&url, "Query", body, message).await;
    }
}

#[tokio::test]
async fn a_scan_checks_segments_before_expressions_and_an_index_start_key_before_select() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    invalid(
        &url,
        "Scan",
        json!({"TableName": "abc", "Segment": 1, "FilterExpression": "", "ExpressionAttributeNames": {}}),
        "The TotalSegments parameter is required but was not present in the request when Segment parameter is present",
    )
    .await;
    tables(&url).await;
    // A scan's filter may not look into key attributes either.
    invalid(
        &url,
        "Scan",
        json!({"TableName": "hash", "FilterExpression": "attribute_exists(#a.b.c)", "ExpressionAttributeNames": {"#a": "a"}}),
        "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: Key: a",
    )
    .await;
    // ... after its start key.
    invalid(
        &url,
        "Scan",
        json!({"TableName": "hash", "FilterExpression": "attribute_exists(a.b.c)", "ExclusiveStartKey": {"b": {"S": "a"}}}),
        "The provided starting key is invalid: The provided key element does not match the schema",
    )
    .await;
    let scan = |index: &str, start: serde_json::Value| json!({"TableName": "range", "IndexName": index, "Select": "ALL_ATTRIBUTES", "ExclusiveStartKey": start});
    let s = |v: &str| json!({"S": v});
    let n = json!({"N": "1"});
    let start = "The provided starting key is invalid";
    let schema = "The provided key element does not match the schema";
    // The table's keys a, b and the index's c, d: four, no more, no fewer.
    for key in [
        json!({}),
        json!({"a": s("1"), "c": s("1"), "d": s("1")}),
        json!({"a": s("1"), "b": s("1"), "c": s("1"), "z": s("1")}),
        json!({"a": s("1"), "b": s("1"), "c": s("1"), "d": s("1"), "e": s("1")}),
    ] {
        invalid(&url, "Scan", scan("global", key), start).await;
    }
    for key in [
        json!({"x": s("1"), "y": s("1"), "c": n, "d": s("1")}),
        json!({"x": s("1"), "y": s("1"), "c": s("1"), "d": n}),
    ] {
        invalid(&url, "Scan", scan("global", key), schema).await;
    }
    ok(
        &url,
        "Scan",
        json!({"TableName": "range", "IndexName": "global", "ExclusiveStartKey": {"a": s("1"), "b": s("1"), "c": s("1"), "d": s("1")}}),
    )
    .await;
    // A start key must belong to the segment (the partition hash's slots),
    // checked before the filter's key paths. "2" is in the first half of
    // the slots, "hello" in the second.
    let segment = |segment: u32, start: &str| json!({"TableName": "hash", "Segment": segment, "TotalSegments": 2, "FilterExpression": "attribute_exists(a.b.c)", "ExclusiveStartKey": {"a": s(start)}});
    invalid(
        &url,
        "Scan",
        segment(1, "2"),
        "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: 2 Segment: 1",
    )
    .await;
    invalid(
        &url,
        "Scan",
        segment(0, "hello"),
        "The provided starting key is invalid: Invalid ExclusiveStartKey. Please use ExclusiveStartKey with correct Segment. TotalSegments: 2 Segment: 0",
    )
    .await;
    invalid(
        &url,
        "Scan",
        segment(0, "2"),
        "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: Key: a",
    )
    .await;
}

/// Index entries with equal index keys come in the order of the hash of
/// their table key, as dynalite's suite recorded a Query of a global index.
#[tokio::test]
async fn equal_index_keys_come_in_the_order_of_the_table_keys_hash() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let s = |v: &str| json!({"S": v});
    let keys = [
        ("a", "a"),
        ("b", "a"),
        ("c", "a"),
        ("c", "b"),
        ("d", "a"),
        ("d", "b"),
    ];
    for (a, b) in keys {
        let item = json!({"a": s(a), "b": s(b), "c": s("same"), "d": s("a")});
        ok(&url, "PutItem", json!({"TableName": "range", "Item": item})).await;
    }
    let answer = ok(
        &url,
        "Query",
        json!({
            "TableName": "range",
            "IndexName": "global",
            "KeyConditionExpression": "c = :c",
            "ExpressionAttributeValues": {":c": s("same")},
            "ExclusiveStartKey": {"a": s("a"), "b": s("a"), "c": s("same"), "d": s("a")},
        }),
    )
    .await;
    let order: Vec<String> = answer["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            format!(
                "{}{}",
                i["a"]["S"].as_str().unwrap(),
                i["b"]["S"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(order, ["da", "ba", "ca", "db", "cb"]);
}

#[tokio::test]
async fn a_query_checks_index_keys_in_its_filter_then_select_then_paths_into_keys() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let defs: Vec<serde_json::Value> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| json!({"AttributeName": n, "AttributeType": "S"}))
        .collect();
    ok(
        &url,
        "CreateTable",
        json!({
            "TableName": "keys",
            "AttributeDefinitions": defs,
            "KeySchema": [
                {"AttributeName": "a", "KeyType": "HASH"},
                {"AttributeName": "b", "KeyType": "RANGE"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
            "GlobalSecondaryIndexes": [{
                "IndexName": "gsi",
                "KeySchema": [
                    {"AttributeName": "c", "KeyType": "HASH"},
                    {"AttributeName": "d", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }],
        }),
    )
    .await;
    let eq = json!({"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "a"}]});
    invalid(
        &url,
        "Query",
        json!({"TableName": "keys", "IndexName": "gsi", "Select": "ALL_ATTRIBUTES",
               "KeyConditions": {"c": eq}, "QueryFilter": {"d": eq}}),
        "QueryFilter can only contain non-primary key attributes: Primary key attribute: d",
    )
    .await;
    let query = |select: Option<&str>| {
        let mut q = json!({"TableName": "keys", "IndexName": "gsi",
            "KeyConditionExpression": "c = :a", "FilterExpression": "a.b = :a",
            "ExpressionAttributeValues": {":a": {"S": "a"}}});
        if let Some(s) = select {
            q["Select"] = json!(s);
        }
        q
    };
    invalid(
        &url,
        "Query",
        query(Some("ALL_ATTRIBUTES")),
        "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index gsi because its projection type is not ALL",
    )
    .await;
    invalid(
        &url,
        "Query",
        query(None),
        "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: Key: a",
    )
    .await;
}

#[tokio::test]
async fn a_collection_in_a_collection_is_refused_in_the_services_java_words() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let cast = "class sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl cannot be cast to class java.lang.Class (sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl and java.lang.Class are in module java.base of loader 'bootstrap')";
    let serialization = |body: serde_json::Value, action: &'static str, message: &'static str| {
        let url = url.clone();
        async move {
            let (status, answer) = super::conformance::call(&url, action, &body.to_string()).await;
            assert_eq!(status, 400, "{body}");
            assert_eq!(answer["Message"], message, "{body}");
        }
    };
    serialization(json!({"RequestItems": {"t": "23"}}), "BatchWriteItem", cast).await;
    serialization(
        json!({"RequestItems": {"t": {"Keys": [true]}}}),
        "BatchGetItem",
        cast,
    )
    .await;
    serialization(
        json!({"RequestItems": []}),
        "BatchWriteItem",
        "Unrecognized collection type java.util.Map<java.lang.String, java.util.List<com.amazonaws.dynamodb.v20120810.WriteRequest>>",
    )
    .await;
}

#[tokio::test]
async fn an_attribute_type_outside_its_enum_lists_b_n_s() {
    let e = engine::spawn_in_memory().await.unwrap();
    invalid(
        &e.url(),
        "CreateTable",
        json!({"TableName": "abc", "AttributeDefinitions": [{"AttributeName": "b", "AttributeType": "SS"}],
               "KeySchema": [{"KeyType": "HASH", "AttributeName": "b"}], "BillingMode": "PAY_PER_REQUEST"}),
        "1 validation error detected: Value 'SS' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]",
    )
    .await;
    // So are projection types, sorted; other enums keep the model's order.
    invalid(
        &e.url(),
        "CreateTable",
        json!({"TableName": "abc", "AttributeDefinitions": [{"AttributeName": "b", "AttributeType": "S"}],
               "KeySchema": [{"KeyType": "HASH", "AttributeName": "b"}], "BillingMode": "PAY_PER_REQUEST",
               "GlobalSecondaryIndexes": [{"IndexName": "abc", "KeySchema": [{"KeyType": "HASH", "AttributeName": "b"}],
                                           "Projection": {"ProjectionType": "abc"}}]}),
        "1 validation error detected: Value 'abc' at 'globalSecondaryIndexes.1.member.projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]",
    )
    .await;
}

#[tokio::test]
async fn an_update_is_checked_against_the_index_keys_before_and_after_it_runs() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let key = json!({"a": {"S": "k"}, "b": {"S": "k"}});
    let update = |expr: &str| {
        json!({"TableName": "range", "Key": key, "UpdateExpression": expr,
               "ExpressionAttributeValues": {":n": {"N": "1"}}})
    };
    // Known from the expression alone: before the item is read.
    invalid(
        &url,
        "UpdateItem",
        update("SET e = c[1], c = a + :n"),
        "One or more parameter values were invalid: Type mismatch for Index Key c Expected: S Actual: N IndexName: global",
    )
    .await;
    invalid(
        &url,
        "UpdateItem",
        update("SET f = d[1], e = :n"),
        "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed: IndexKey: d",
    )
    .await;
    // Known only from the item.
    ok(&url, "UpdateItem", update("SET e = :n")).await;
    let copy = json!({"TableName": "range", "Key": key, "UpdateExpression": "SET c = e"});
    invalid(
        &url,
        "UpdateItem",
        copy,
        "The update expression attempted to update the secondary index key to unsupported type",
    )
    .await;
}

#[tokio::test]
async fn a_transaction_update_is_checked_as_update_item_is() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let key = json!({"a": {"S": "k"}, "b": {"S": "k"}});
    let transact = |expr: &str, values: bool| {
        let mut update = json!({"TableName": "range", "Key": key, "UpdateExpression": expr});
        if values {
            update["ExpressionAttributeValues"] = json!({":n": {"N": "1"}});
        }
        json!({"TransactItems": [{"Update": update}]})
    };
    let cases = [
        (
            "SET b = :n",
            "One or more parameter values were invalid: Cannot update attribute b. This attribute is part of the key",
        ),
        (
            "SET e = c[1], c = a + :n",
            "One or more parameter values were invalid: Type mismatch for Index Key c Expected: S Actual: N IndexName: global",
        ),
    ];
    for (expr, message) in cases {
        invalid(&url, "TransactWriteItems", transact(expr, true), message).await;
    }
    ok(&url, "TransactWriteItems", transact("SET e = :n", true)).await;
    invalid(
        &url,
        "TransactWriteItems",
        transact("SET c = e", false),
        "The update expression attempted to update the secondary index key to unsupported type",
    )
    .await;
    let item = ok(&url, "GetItem", json!({"TableName": "range", "Key": key})).await;
    assert_eq!(
        item["Item"],
        json!({"a": {"S": "k"}, "b": {"S": "k"}, "e": {"N": "1"}})
    );
}

#[tokio::test]
async fn a_local_index_query_pays_for_what_it_fetches_from_the_table() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let defs: Vec<serde_json::Value> = ["a", "b", "d"]
        .iter()
        .map(|n| json!({"AttributeName": n, "AttributeType": "S"}))
        .collect();
    ok(
        &url,
        "CreateTable",
        json!({
            "TableName": "fetch", "AttributeDefinitions": defs, "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "RANGE"}],
            "LocalSecondaryIndexes": [{"IndexName": "lsi",
                "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}, {"AttributeName": "d", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        }),
    )
    .await;
    for b in ["1", "2"] {
        let item =
            json!({"a": {"S": "k"}, "b": {"S": b}, "d": {"S": b}, "e": {"S": "x".repeat(3000)}});
        ok(&url, "PutItem", json!({"TableName": "fetch", "Item": item})).await;
    }
    let out = ok(
        &url,
        "Query",
        json!({"TableName": "fetch", "IndexName": "lsi", "Select": "ALL_ATTRIBUTES", "ConsistentRead": true,
               "KeyConditionExpression": "a = :k", "ExpressionAttributeValues": {":k": {"S": "k"}},
               "ReturnConsumedCapacity": "INDEXES"}),
    )
    .await;
    assert_eq!(out["Count"], 2);
    // The index's entries: 1 unit; the two fetched items (~6 KB): 2.
    let used = &out["ConsumedCapacity"];
    assert_eq!(used["Table"]["CapacityUnits"], 2.0, "{used}");
    assert_eq!(
        used["LocalSecondaryIndexes"]["lsi"]["CapacityUnits"], 1.0,
        "{used}"
    );
    assert_eq!(used["CapacityUnits"], 3.0, "{used}");
}
