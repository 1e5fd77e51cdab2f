//! What the SDKs and Terraform read of a table, and tables named by ARN:
//! table class, encryption and on-demand limits in the description,
//! continuous backups and point-in-time recovery, the account's limits, a table's ARN wherever a TableName goes (batches
//! answered under the ARN they were asked by), the index throughput refusals
//! in the words of the action that makes them, and a table being deleted
//! described without its global indexes.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};

use super::conformance::{invalid, ok, refused, tables};

const ARN: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/hash";

/// An engine on a frozen clock whose tables stay CREATING and DELETING for
/// 5 s.
async fn delayed() -> (engine::ManualClock, engine::EngineHandle) {
    let clock = engine::ManualClock::frozen();
    let config = engine::Config {
        clock: Arc::new(clock.clone()),
        stream_activation_delay: Duration::from_secs(5),
        ..engine::Config::default()
    };
    (clock, engine::spawn(config).await.unwrap())
}

#[tokio::test]
async fn continuous_backups_are_on_and_recovery_is_kept_and_described() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let described = ok(
        &url,
        "DescribeContinuousBackups",
        json!({"TableName": "hash"}),
    )
    .await;
    assert_eq!(
        described,
        json!({"ContinuousBackupsDescription": {
            "ContinuousBackupsStatus": "ENABLED",
            "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"},
        }})
    );
    let on = json!({"TableName": "hash", "PointInTimeRecoverySpecification": {
        "PointInTimeRecoveryEnabled": true, "RecoveryPeriodInDays": 7,
    }});
    let updated = ok(&url, "UpdateContinuousBackups", on).await;
    let recovery = &updated["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"];
    assert_eq!(recovery["PointInTimeRecoveryStatus"], "ENABLED");
    assert_eq!(recovery["RecoveryPeriodInDays"], 7);
    assert!(recovery["EarliestRestorableDateTime"].is_number());
    let again = ok(&url, "DescribeContinuousBackups", json!({"TableName": ARN})).await;
    assert_eq!(again, updated);
    refused(
        &url,
        "DescribeContinuousBackups",
        json!({"TableName": "nope"}),
        "TableNotFoundException",
        "Table not found: nope",
    )
    .await;
    // The specification is required, its period 1 to 35 days.
    let (status, _) = super::conformance::call(
        &url,
        "UpdateContinuousBackups",
        &json!({"TableName": "hash"}).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    let long = json!({"TableName": "hash", "PointInTimeRecoverySpecification": {
        "PointInTimeRecoveryEnabled": true, "RecoveryPeriodInDays": 36,
    }});
    let (status, _) =
        super::conformance::call(&url, "UpdateContinuousBackups", &long.to_string()).await;
    assert_eq!(status, 400);
    let limits = ok(&url, "DescribeLimits", json!({})).await;
    assert_eq!(limits["TableMaxWriteCapacityUnits"], 40000);
    assert_eq!(limits["AccountMaxReadCapacityUnits"], 80000);
}

#[tokio::test]
async fn a_tables_arn_names_it_wherever_a_table_name_goes() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let described = ok(&url, "DescribeTable", json!({"TableName": ARN})).await;
    assert_eq!(described["Table"]["TableName"], "hash");
    let item = json!({"a": {"S": "k"}, "n": {"N": "1"}});
    ok(&url, "PutItem", json!({"TableName": ARN, "Item": item})).await;
    let got = ok(
        &url,
        "GetItem",
        json!({"TableName": ARN, "Key": {"a": {"S": "k"}}}),
    )
    .await;
    assert_eq!(got["Item"], item);
    let write = json!({"RequestItems": {ARN: [{"PutRequest": {"Item": {"a": {"S": "j"}}}}]}});
    assert_eq!(
        ok(&url, "BatchWriteItem", write).await["UnprocessedItems"],
        json!({})
    );
    // A batch's tables are answered under the names the request used.
    let keys = json!({"RequestItems": {ARN: {"Keys": [{"a": {"S": "j"}}]}}});
    let batch = ok(&url, "BatchGetItem", keys).await;
    assert_eq!(batch["Responses"][ARN], json!([{"a": {"S": "j"}}]));
    let query = json!({"TableName": ARN, "KeyConditionExpression": "a = :a",
        "ExpressionAttributeValues": {":a": {"S": "k"}}});
    assert_eq!(ok(&url, "Query", query).await["Count"], 1);
    // Another account's table of the same name is not this one.
    let foreign = ARN.replace("000000000000", "123456789012");
    let (status, answer) = super::conformance::call(
        &url,
        "DescribeTable",
        &json!({"TableName": foreign}).to_string(),
    )
    .await;
    assert_eq!(status, 400);
    assert!(answer["__type"]
        .as_str()
        .unwrap()
        .ends_with("ResourceNotFoundException"));
}

fn table_with_index(billing: &str, index_throughput: bool) -> Json {
    let throughput = json!({"ReadCapacityUnits": 1, "WriteCapacityUnits": 1});
    let mut index = json!({
        "IndexName": "by_b",
        "KeySchema": [{"AttributeName": "b", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    });
    if index_throughput {
        index["ProvisionedThroughput"] = throughput.clone();
    }
    let mut table = json!({
        "TableName": "indexed",
        "BillingMode": billing,
        "AttributeDefinitions": [
            {"AttributeName": "a", "AttributeType": "S"},
            {"AttributeName": "b", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [index],
    });
    if billing == "PROVISIONED" {
        table["ProvisionedThroughput"] = throughput;
    }
    table
}

#[tokio::test]
async fn index_throughput_refusals_are_worded_by_the_action_that_makes_them() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let prefix = "One or more parameter values were invalid: ";
    invalid(
        &url,
        "CreateTable",
        table_with_index("PROVISIONED", false),
        &format!("{prefix}ProvisionedThroughput is not specified for index: by_b"),
    )
    .await;
    invalid(
        &url,
        "CreateTable",
        table_with_index("PAY_PER_REQUEST", true),
        &format!("{prefix}ProvisionedThroughput should not be specified for index: by_b when BillingMode is PAY_PER_REQUEST"),
    )
    .await;
    ok(
        &url,
        "CreateTable",
        table_with_index("PAY_PER_REQUEST", false),
    )
    .await;
    let throughput = json!({"ReadCapacityUnits": 2, "WriteCapacityUnits": 2});
    let create = json!({"TableName": "indexed",
    "AttributeDefinitions": [{"AttributeName": "c", "AttributeType": "S"}],
    "GlobalSecondaryIndexUpdates": [{"Create": {
        "IndexName": "by_c",
        "KeySchema": [{"AttributeName": "c", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
        "ProvisionedThroughput": throughput,
    }}]});
    invalid(
        &url,
        "UpdateTable",
        create,
        &format!("{prefix}Neither ReadCapacityUnits nor WriteCapacityUnits can be specified for index: by_c when BillingMode is PAY_PER_REQUEST"),
    )
    .await;
    let update = json!({"TableName": "indexed", "GlobalSecondaryIndexUpdates": [{"Update": {
        "IndexName": "by_b", "ProvisionedThroughput": throughput,
    }}]});
    // An index's other settings may change without its throughput.
    let on_demand = json!({"TableName": "indexed", "GlobalSecondaryIndexUpdates": [{"Update": {
        "IndexName": "by_b", "OnDemandThroughput": {"MaxReadRequestUnits": 10},
    }}]});
    ok(&url, "UpdateTable", on_demand).await;
    invalid(
        &url,
        "UpdateTable",
        update,
        &format!("{prefix}The only Updates for index: by_b when TableThroughputMode is PAY_PER_REQUEST can be to OnDemandThroughput, WarmThroughput"),
    )
    .await;
}

#[tokio::test]
async fn a_table_being_deleted_is_described_without_its_global_indexes() {
    let (clock, e) = delayed().await;
    let url = e.url();
    tables(&url).await;
    clock.advance(Duration::from_secs(10));
    ok(&url, "DeleteTable", json!({"TableName": "range"})).await;
    let described = ok(&url, "DescribeTable", json!({"TableName": "range"})).await;
    assert_eq!(described["Table"]["TableStatus"], "DELETING");
    assert!(described["Table"].get("GlobalSecondaryIndexes").is_none());
}

#[tokio::test]
async fn table_class_encryption_and_on_demand_limits_are_kept_and_described() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let created = ok(
        &url,
        "CreateTable",
        json!({
            "TableName": "classy",
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
            "TableClass": "STANDARD_INFREQUENT_ACCESS",
            "SSESpecification": {"Enabled": true, "SSEType": "KMS", "KMSMasterKeyId": "my-key"},
            "OnDemandThroughput": {"MaxReadRequestUnits": 50, "MaxWriteRequestUnits": 10},
        }),
    )
    .await;
    let desc = &created["TableDescription"];
    assert_eq!(
        desc["TableClassSummary"],
        json!({"TableClass": "STANDARD_INFREQUENT_ACCESS"})
    );
    assert_eq!(
        desc["SSEDescription"],
        json!({"Status": "ENABLED", "SSEType": "KMS",
            "KMSMasterKeyArn": "arn:aws:kms:us-east-1:000000000000:key/my-key"})
    );
    assert_eq!(
        desc["OnDemandThroughput"],
        json!({"MaxReadRequestUnits": 50, "MaxWriteRequestUnits": 10})
    );
    // One change a call, as the service takes them.
    let both = json!({"TableName": "classy", "TableClass": "STANDARD",
        "SSESpecification": {"Enabled": false}});
    invalid(
        &url,
        "UpdateTable",
        both,
        "One or more parameter values were invalid: Server-Side Encryption modification must be the only operation in the request",
    )
    .await;
    let class = json!({"TableName": "classy", "TableClass": "STANDARD"});
    ok(&url, "UpdateTable", class).await;
    let sse = json!({"TableName": "classy", "SSESpecification": {"Enabled": false}});
    ok(&url, "UpdateTable", sse).await;
    let described = ok(&url, "DescribeTable", json!({"TableName": "classy"})).await;
    let table = &described["Table"];
    assert_eq!(table["TableClassSummary"]["TableClass"], "STANDARD");
    assert!(table.get("SSEDescription").is_none());
    assert_eq!(table["OnDemandThroughput"]["MaxReadRequestUnits"], 50);
}

#[tokio::test]
async fn ttl_and_backups_of_a_table_being_created_answer_as_recorded() {
    let (clock, e) = delayed().await;
    let url = e.url();
    tables(&url).await;
    invalid(
        &url,
        "DescribeTimeToLive",
        json!({"TableName": "hash"}),
        "Cannot describe time to live while table is in CREATING state: Current table state is CREATING",
    )
    .await;
    // Created again while it is created: named as being created.
    let again = json!({"TableName": "hash", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}]});
    refused(
        &url,
        "CreateTable",
        again,
        "ResourceInUseException",
        "Attempt to change a resource which is still in use: Table is being created: hash",
    )
    .await;
    let described = ok(
        &url,
        "DescribeContinuousBackups",
        json!({"TableName": "hash"}),
    )
    .await;
    assert_eq!(
        described["ContinuousBackupsDescription"]["ContinuousBackupsStatus"],
        "DISABLED"
    );
    refused(
        &url,
        "UpdateContinuousBackups",
        json!({"TableName": "hash", "PointInTimeRecoverySpecification": {
            "PointInTimeRecoveryEnabled": true,
        }}),
        "ContinuousBackupsUnavailableException",
        "Backups are being enabled for the table: hash. Please retry later",
    )
    .await;
    clock.advance(Duration::from_secs(10));
    ok(&url, "DescribeTimeToLive", json!({"TableName": "hash"})).await;
    ok(&url, "DeleteTable", json!({"TableName": "hash"})).await;
    invalid(
        &url,
        "DescribeTimeToLive",
        json!({"TableName": "hash"}),
        "Cannot describe time to live while table is in DELETING state: Current table state is DELETING",
    )
    .await;
    ok(
        &url,
        "DescribeContinuousBackups",
        json!({"TableName": "hash"}),
    )
    .await;
}

#[tokio::test]
async fn table_requests_are_refused_in_the_words_recorded_in_2026() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let prefix = "One or more parameter values were invalid: ";
    let table = |extra: Json| {
        let mut t = json!({
            "TableName": "t26",
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "a", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "a", "KeyType": "HASH"}],
        });
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        t
    };
    let index = |projection: Json| {
        json!({
            "AttributeDefinitions": [
                {"AttributeName": "a", "AttributeType": "S"},
                {"AttributeName": "b", "AttributeType": "S"},
            ],
            "GlobalSecondaryIndexes": [{
            "IndexName": "by_b",
            "KeySchema": [{"AttributeName": "b", "KeyType": "HASH"}],
            "Projection": projection,
        }]})
    };
    let cases = [
        (
            json!({"AttributeDefinitions": [
                {"AttributeName": "a", "AttributeType": "S"},
                {"AttributeName": "a", "AttributeType": "S"},
            ]}),
            "Attribute Name is duplicated: a".to_string(),
        ),
        (
            index(json!({"ProjectionType": "INCLUDE"})),
            format!("{prefix}ProjectionType is INCLUDE, but NonKeyAttributes is not specified"),
        ),
        (
            index(json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x", "x"]})),
            format!("{prefix}Duplicate element in NonKeyAttributes: x"),
        ),
        (
            json!({"SSESpecification": {"Enabled": false, "SSEType": "KMS"}}),
            format!("{prefix}SSEType can not be specified if Enabled is false"),
        ),
        (
            json!({"SSESpecification": {"Enabled": true, "SSEType": "AES256"}}),
            format!("{prefix}SSEType AES256 is not supported"),
        ),
        (
            json!({"OnDemandThroughput": {"MaxReadRequestUnits": 0}}),
            format!("{prefix}Requested MaxReadRequestUnits for OnDemandThroughput for table is outside of valid range"),
        ),
        (
            json!({"StreamSpecification": {"StreamEnabled": true}}),
            format!("{prefix}Table is being created with a stream enabled, UpdateViewType is required"),
        ),
    ];
    for (extra, message) in cases {
        invalid(&url, "CreateTable", table(extra), &message).await;
    }
    ok(
        &url,
        "CreateTable",
        table(index(json!({"ProjectionType": "ALL"}))),
    )
    .await;
    let create_again = json!({"TableName": "t26", "GlobalSecondaryIndexUpdates": [{"Create": {
        "IndexName": "by_b",
        "KeySchema": [{"AttributeName": "b", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    }}]});
    invalid(
        &url,
        "UpdateTable",
        create_again,
        "Attempting to create an index which already exists",
    )
    .await;
    let two_actions = json!({"TableName": "t26", "GlobalSecondaryIndexUpdates": [{
        "Delete": {"IndexName": "by_b"},
        "Update": {"IndexName": "by_b"},
    }]});
    invalid(
        &url,
        "UpdateTable",
        two_actions,
        &format!("{prefix}Only one global secondary index action is allowed per GlobalSecondaryIndexUpdate object"),
    )
    .await;
    let stream_off = json!({"TableName": "t26",
        "StreamSpecification": {"StreamEnabled": false, "StreamViewType": "NEW_IMAGE"}});
    invalid(
        &url,
        "UpdateTable",
        stream_off,
        &format!("{prefix}If stream is being disabled, then UpdateViewType must not be specified"),
    )
    .await;
    // One change a call: each refused pair in its recorded words.
    let pairs = [
        (
            json!({"DeletionProtectionEnabled": true, "BillingMode": "PAY_PER_REQUEST"}),
            "DeletionProtection modification must be the only operation in the request",
        ),
        (
            json!({"TableClass": "STANDARD", "SSESpecification": {"Enabled": true}}),
            "Server-Side Encryption modification must be the only operation in the request",
        ),
        (
            json!({"OnDemandThroughput": {"MaxReadRequestUnits": 5},
                "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"}}),
            "OnDemandThroughput can only be combined with BillingMode in an UpdateTable request",
        ),
        (
            json!({"BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
                "StreamSpecification": {"StreamEnabled": true, "StreamViewType": "KEYS_ONLY"}}),
            "You cannot modify stream status while updating table IOPS",
        ),
    ];
    for (pair, message) in pairs {
        let mut update = pair;
        update["TableName"] = json!("t26");
        invalid(&url, "UpdateTable", update, &format!("{prefix}{message}")).await;
    }
    // The billing mode combines with on-demand limits.
    let combined = json!({"TableName": "t26", "BillingMode": "PAY_PER_REQUEST",
        "OnDemandThroughput": {"MaxReadRequestUnits": 5}});
    ok(&url, "UpdateTable", combined).await;
    let off_with_period = json!({"TableName": "t26", "PointInTimeRecoverySpecification": {
        "PointInTimeRecoveryEnabled": false, "RecoveryPeriodInDays": 7,
    }});
    invalid(
        &url,
        "UpdateContinuousBackups",
        off_with_period,
        "Invalid Request: Cannot specify RecoveryPeriodInDays when disabling point-in-time recovery.",
    )
    .await;
}
