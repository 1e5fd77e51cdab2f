//! UpdateTable's throughput and billing-mode changes: UPDATING for the
//! engine's state delay, what is refused meanwhile, and the throughput's
//! bookkeeping, on a frozen ManualClock (never a sleep).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue as Av, KeySchemaElement, KeyType, ProvisionedThroughput,
    ScalarAttributeType, TableStatus,
};
use aws_sdk_dynamodb::Client;
use engine::{Clock, Config, ManualClock};
use serde_json::{json, Value as Json};

use super::client;
use super::conformance::{invalid, ok, refused};

const DELAY: Duration = Duration::from_secs(5);
const DAY_MS: u64 = 86_400_000;

/// An engine on a frozen clock with the state delay `delay`, the clock
/// moved to 01:00 UTC of the next day (a day's count of decreases never
/// turns over during a test).
fn engine_at_one_am(
    delay: Duration,
    data_dir: Option<std::path::PathBuf>,
) -> (ManualClock, Config) {
    let clock = ManualClock::frozen();
    let now = clock.now_millis();
    clock.advance(Duration::from_millis(DAY_MS - now % DAY_MS + 3_600_000));
    let config = Config {
        clock: Arc::new(clock.clone()),
        stream_activation_delay: delay,
        data_dir,
        ..Config::default()
    };
    (clock, config)
}

/// The clock's time `later_ms` from now, in seconds as the service answers it.
fn secs(clock: &ManualClock, later_ms: u64) -> Json {
    json!((clock.now_millis() + later_ms) as f64 / 1000.0)
}

async fn create_provisioned(c: &Client, name: &str, read: i64, write: i64) {
    c.create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .provisioned_throughput(throughput(read, write))
        .send()
        .await
        .unwrap();
}

fn throughput(read: i64, write: i64) -> ProvisionedThroughput {
    ProvisionedThroughput::builder()
        .read_capacity_units(read)
        .write_capacity_units(write)
        .build()
        .unwrap()
}

fn pt(read: u64, write: u64) -> Json {
    json!({"ReadCapacityUnits": read, "WriteCapacityUnits": write})
}

async fn describe(url: &str, name: &str) -> Json {
    ok(url, "DescribeTable", json!({"TableName": name})).await["Table"].clone()
}

#[tokio::test]
async fn a_throughput_change_is_updating_for_the_delay_and_keeps_its_bookkeeping() {
    let (clock, config) = engine_at_one_am(DELAY, None);
    let e = engine::spawn(config).await.unwrap();
    let url = e.url();
    let c = client(&url);
    create_provisioned(&c, "Rides", 5, 5).await;
    clock.advance(DELAY);
    let t0 = clock.now_millis();
    let out = c
        .update_table()
        .table_name("Rides")
        .provisioned_throughput(throughput(15, 15))
        .send()
        .await
        .unwrap();
    // The answer: UPDATING with the old figures, increased now.
    let desc = out.table_description.unwrap();
    assert_eq!(desc.table_status, Some(TableStatus::Updating));
    let p = desc.provisioned_throughput.unwrap();
    assert_eq!(
        (p.read_capacity_units, p.write_capacity_units),
        (Some(5), Some(5))
    );
    assert_eq!(p.number_of_decreases_today, Some(0));
    let increased = p.last_increase_date_time.unwrap().as_secs_f64();
    assert!(
        (increased - t0 as f64 / 1000.0).abs() < 1e-3,
        "{increased} {t0}"
    );
    assert!(p.last_decrease_date_time.is_none());
    // Meanwhile: items are read and written, tags change; the throughput,
    // the billing mode and the table itself are not.
    let item = HashMap::from([("id".to_string(), Av::S("Rocinante".into()))]);
    c.put_item()
        .table_name("Rides")
        .set_item(Some(item.clone()))
        .send()
        .await
        .unwrap();
    let got = c
        .get_item()
        .table_name("Rides")
        .set_key(Some(item))
        .send()
        .await
        .unwrap();
    assert!(got.item.is_some());
    let arn = desc.table_arn.unwrap();
    ok(
        &url,
        "TagResource",
        json!({"ResourceArn": arn, "Tags": [{"Key": "k", "Value": "v"}]}),
    )
    .await;
    let iops = "Attempt to change a resource which is still in use: Table IOPS are currently being updated. Table: Rides";
    for body in [
        json!({"TableName": "Rides", "ProvisionedThroughput": pt(20, 20)}),
        json!({"TableName": "Rides", "BillingMode": "PAY_PER_REQUEST"}),
    ] {
        refused(&url, "UpdateTable", body, "ResourceInUseException", iops).await;
    }
    let err = c
        .delete_table()
        .table_name("Rides")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ResourceInUseException"));
    assert_eq!(
        err.message(),
        Some("Attempt to change a resource which is still in use: Table: Rides is in the process of being updated.")
    );
    assert_eq!(describe(&url, "Rides").await["TableStatus"], "UPDATING");
    // Done: the new figures, increased when done.
    clock.advance(DELAY);
    let desc = describe(&url, "Rides").await;
    assert_eq!(desc["TableStatus"], "ACTIVE");
    let p = &desc["ProvisionedThroughput"];
    assert_eq!(
        (&p["ReadCapacityUnits"], &p["WriteCapacityUnits"]),
        (&json!(15), &json!(15))
    );
    let increased = json!((t0 + 5000) as f64 / 1000.0);
    assert_eq!(p["LastIncreaseDateTime"], increased);
    // A decrease: decreased now, counted when done.
    let (t1, done) = (secs(&clock, 0), secs(&clock, 5000));
    let out = ok(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "ProvisionedThroughput": pt(5, 5)}),
    )
    .await;
    let p = &out["TableDescription"]["ProvisionedThroughput"];
    assert_eq!(out["TableDescription"]["TableStatus"], "UPDATING");
    assert_eq!(p["ReadCapacityUnits"], 15);
    assert_eq!(p["LastIncreaseDateTime"], increased);
    assert_eq!(p["LastDecreaseDateTime"], t1);
    assert_eq!(p["NumberOfDecreasesToday"], 0);
    clock.advance(DELAY);
    let p = describe(&url, "Rides").await["ProvisionedThroughput"].clone();
    assert_eq!(
        p,
        json!({
            "ReadCapacityUnits": 5,
            "WriteCapacityUnits": 5,
            "LastIncreaseDateTime": increased,
            "LastDecreaseDateTime": done,
            "NumberOfDecreasesToday": 1,
        })
    );
}

#[tokio::test]
async fn four_decreases_a_day_then_one_an_hour() {
    let (clock, config) = engine_at_one_am(Duration::ZERO, None);
    let e = engine::spawn(config).await.unwrap();
    let url = e.url();
    let c = client(&url);
    create_provisioned(&c, "Rides", 10, 10).await;
    for read in [9, 8, 7, 6] {
        let out = ok(
            &url,
            "UpdateTable",
            json!({"TableName": "Rides", "ProvisionedThroughput": pt(read, 10)}),
        )
        .await;
        // No state delay: done at once.
        assert_eq!(out["TableDescription"]["TableStatus"], "ACTIVE");
        assert_eq!(
            out["TableDescription"]["ProvisionedThroughput"]["ReadCapacityUnits"],
            read
        );
        clock.advance(Duration::from_secs(1));
    }
    let last = clock.now_millis() - 1000;
    refused(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "ProvisionedThroughput": pt(5, 10)}),
        "LimitExceededException",
        &format!(
            "Subscriber limit exceeded: Provisioned throughput decreases are limited within a given UTC day. After the first 4 decreases, each subsequent decrease in the same UTC day can be performed at most once every 3600 seconds. Number of decreases today: 4. Last decrease at {}. Next decrease can be made at {}",
            describe_words(last),
            describe_words(last + 3_600_000)
        ),
    )
    .await;
    // An increase is not limited; the next decrease an hour after the last.
    ok(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "ProvisionedThroughput": pt(6, 11)}),
    )
    .await;
    clock.advance(Duration::from_millis(last + 3_600_000 - clock.now_millis()));
    ok(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "ProvisionedThroughput": pt(5, 11)}),
    )
    .await;
    let p = describe(&url, "Rides").await["ProvisionedThroughput"].clone();
    assert_eq!(p["NumberOfDecreasesToday"], 5);
    // A new UTC day starts the count again.
    clock.advance(Duration::from_millis(DAY_MS));
    let p = describe(&url, "Rides").await["ProvisionedThroughput"].clone();
    assert_eq!(p["NumberOfDecreasesToday"], 0);
}

/// `ms` worded as the service words a time, with the `time` crate.
fn describe_words(ms: u64) -> String {
    let at = time::OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(ms as i64);
    let (h12, half) = match at.hour() {
        0 => (12, "AM"),
        h @ 1..=11 => (h, "AM"),
        12 => (12, "PM"),
        h => (h - 12, "PM"),
    };
    format!(
        "{}, {} {}, {} at {h12}:{:02}:{:02} {half} Coordinated Universal Time",
        at.weekday(),
        at.month(),
        at.day(),
        at.year(),
        at.minute(),
        at.second()
    )
}

#[tokio::test]
async fn billing_mode_switches_are_updating_and_answered_as_recorded() {
    let (clock, config) = engine_at_one_am(DELAY, None);
    let e = engine::spawn(config).await.unwrap();
    let url = e.url();
    let c = client(&url);
    create_provisioned(&c, "Rides", 5, 5).await;
    clock.advance(DELAY);
    assert!(describe(&url, "Rides")
        .await
        .get("BillingModeSummary")
        .is_none());
    // PROVISIONED to PAY_PER_REQUEST: the new mode and 0/0 at once.
    let (t0, done) = (secs(&clock, 0), secs(&clock, 5000));
    let out = ok(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "BillingMode": "PAY_PER_REQUEST"}),
    )
    .await;
    let desc = &out["TableDescription"];
    assert_eq!(desc["TableStatus"], "UPDATING");
    assert_eq!(
        desc["BillingModeSummary"],
        json!({"BillingMode": "PAY_PER_REQUEST"})
    );
    assert_eq!(
        desc["ProvisionedThroughput"],
        json!({"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0, "LastDecreaseDateTime": t0})
    );
    clock.advance(DELAY);
    let desc = describe(&url, "Rides").await;
    assert_eq!(desc["TableStatus"], "ACTIVE");
    assert_eq!(
        desc["BillingModeSummary"],
        json!({"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": done})
    );
    assert_eq!(
        desc["ProvisionedThroughput"],
        json!({"ReadCapacityUnits": 0, "WriteCapacityUnits": 0, "NumberOfDecreasesToday": 0})
    );
    // Asked again: answered UPDATING, nothing happens.
    let out = ok(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "BillingMode": "PAY_PER_REQUEST"}),
    )
    .await;
    assert_eq!(out["TableDescription"]["TableStatus"], "UPDATING");
    assert_eq!(describe(&url, "Rides").await["TableStatus"], "ACTIVE");
    // Back to PROVISIONED: its throughput is needed, and shown at once.
    invalid(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "BillingMode": "PROVISIONED"}),
        "One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
    )
    .await;
    let out = ok(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "BillingMode": "PROVISIONED", "ProvisionedThroughput": pt(3, 4)}),
    )
    .await;
    let desc = &out["TableDescription"];
    assert_eq!(desc["TableStatus"], "UPDATING");
    assert_eq!(
        desc["BillingModeSummary"],
        json!({"BillingMode": "PROVISIONED", "LastUpdateToPayPerRequestDateTime": done})
    );
    assert_eq!(desc["ProvisionedThroughput"]["ReadCapacityUnits"], 3);
    // PAY_PER_REQUEST during that switch: accepted, and lost.
    ok(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "BillingMode": "PAY_PER_REQUEST"}),
    )
    .await;
    clock.advance(DELAY);
    let desc = describe(&url, "Rides").await;
    assert_eq!(desc["TableStatus"], "ACTIVE");
    assert_eq!(desc["BillingModeSummary"]["BillingMode"], "PROVISIONED");
    assert_eq!(desc["ProvisionedThroughput"]["WriteCapacityUnits"], 4);
}

#[tokio::test]
async fn an_update_in_progress_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (clock, config) = engine_at_one_am(DELAY, Some(dir.path().to_path_buf()));
    let e = engine::spawn(config.clone()).await.unwrap();
    let c = client(&e.url());
    create_provisioned(&c, "Rides", 5, 5).await;
    clock.advance(DELAY);
    ok(
        &e.url(),
        "UpdateTable",
        json!({"TableName": "Rides", "ProvisionedThroughput": pt(4, 6)}),
    )
    .await;
    e.shutdown().await.unwrap();
    let e = engine::spawn(config).await.unwrap();
    let url = e.url();
    let desc = describe(&url, "Rides").await;
    assert_eq!(desc["TableStatus"], "UPDATING");
    assert_eq!(desc["ProvisionedThroughput"]["ReadCapacityUnits"], 5);
    clock.advance(DELAY);
    let desc = describe(&url, "Rides").await;
    assert_eq!(desc["TableStatus"], "ACTIVE");
    let p = &desc["ProvisionedThroughput"];
    assert_eq!(
        (&p["ReadCapacityUnits"], &p["WriteCapacityUnits"]),
        (&json!(4), &json!(6))
    );
    assert_eq!(p["NumberOfDecreasesToday"], 1);
    assert!(p.get("LastIncreaseDateTime").is_some() && p.get("LastDecreaseDateTime").is_some());
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn throughput_and_index_changes_wait_for_each_other() {
    let (clock, config) = engine_at_one_am(DELAY, None);
    let e = engine::spawn(config).await.unwrap();
    let url = e.url();
    let c = client(&url);
    create_provisioned(&c, "Rides", 5, 5).await;
    clock.advance(DELAY);
    let create = json!([{"Create": {
        "IndexName": "ByColor",
        "KeySchema": [{"AttributeName": "color", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
        "ProvisionedThroughput": pt(1, 1),
    }}]);
    let defs = json!([{"AttributeName": "color", "AttributeType": "S"}]);
    invalid(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "AttributeDefinitions": defs, "ProvisionedThroughput": pt(6, 6), "GlobalSecondaryIndexUpdates": create}),
        "One or more parameter values were invalid: You cannot create or delete index while updating table IOPS",
    )
    .await;
    ok(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "AttributeDefinitions": defs, "GlobalSecondaryIndexUpdates": create}),
    )
    .await;
    refused(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "ProvisionedThroughput": pt(6, 6)}),
        "ResourceInUseException",
        "Attempt to change a resource which is still in use: Can't change table IOPS when an index is being created. Table: Rides Indexes: [ByColor]",
    )
    .await;
    refused(
        &url,
        "DeleteTable",
        json!({"TableName": "Rides"}),
        "ResourceInUseException",
        "Attempt to change a resource which is still in use: Cannot delete table while indexes are being created, updated, or deleted.",
    )
    .await;
    clock.advance(DELAY);
    ok(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "ProvisionedThroughput": pt(6, 6)}),
    )
    .await;
    refused(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "GlobalSecondaryIndexUpdates": [{"Delete": {"IndexName": "ByColor"}}]}),
        "ResourceInUseException",
        "Attempt to change a resource which is still in use: Table IOPS are currently being updated. Table: Rides",
    )
    .await;
    clock.advance(DELAY);
    // To PROVISIONED from PAY_PER_REQUEST: every global index's throughput too.
    ok(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "BillingMode": "PAY_PER_REQUEST"}),
    )
    .await;
    let desc = describe(&url, "Rides").await;
    assert_eq!(
        desc["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"],
        0
    );
    clock.advance(DELAY);
    invalid(
        &url,
        "UpdateTable",
        json!({"TableName": "Rides", "BillingMode": "PROVISIONED", "ProvisionedThroughput": pt(2, 2)}),
        "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: ByColor",
    )
    .await;
    ok(
        &url,
        "UpdateTable",
        json!({
            "TableName": "Rides",
            "BillingMode": "PROVISIONED",
            "ProvisionedThroughput": pt(2, 2),
            "GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "ByColor", "ProvisionedThroughput": pt(3, 3)}}],
        }),
    )
    .await;
    let desc = describe(&url, "Rides").await;
    assert_eq!(
        desc["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"],
        3
    );
}

#[tokio::test]
async fn a_global_indexs_throughput_change_is_updating_too() {
    let (clock, config) = engine_at_one_am(DELAY, None);
    let e = engine::spawn(config).await.unwrap();
    let url = e.url();
    create_provisioned(&client(&url), "Rides", 5, 5).await;
    clock.advance(DELAY);
    let defs = json!([{"AttributeName": "color", "AttributeType": "S"}]);
    let create = json!([{"Create": {"IndexName": "ByColor", "Projection": {"ProjectionType": "ALL"},
        "KeySchema": [{"AttributeName": "color", "KeyType": "HASH"}], "ProvisionedThroughput": pt(1, 1)}}]);
    let body = json!({"TableName": "Rides", "AttributeDefinitions": defs, "GlobalSecondaryIndexUpdates": create});
    ok(&url, "UpdateTable", body).await;
    clock.advance(DELAY);
    let update = |r, w| json!({"TableName": "Rides", "GlobalSecondaryIndexUpdates": [{"Update": {"IndexName": "ByColor", "ProvisionedThroughput": pt(r, w)}}]});
    let t0 = secs(&clock, 0);
    let out = ok(&url, "UpdateTable", update(2, 2)).await;
    let index = &out["TableDescription"]["GlobalSecondaryIndexes"][0];
    assert_eq!(out["TableDescription"]["TableStatus"], "ACTIVE");
    assert_eq!(index["IndexStatus"], "UPDATING");
    assert_eq!(
        index["ProvisionedThroughput"],
        json!({"ReadCapacityUnits": 1, "WriteCapacityUnits": 1, "NumberOfDecreasesToday": 0, "LastIncreaseDateTime": t0})
    );
    refused(
        &url,
        "UpdateTable",
        update(3, 3),
        "ResourceInUseException",
        "Attempt to change a resource which is still in use: Index is being updated. Table: Rides Index: ByColor",
    )
    .await;
    let done = secs(&clock, 5000);
    clock.advance(DELAY);
    let index = describe(&url, "Rides").await["GlobalSecondaryIndexes"][0].clone();
    assert_eq!(index["IndexStatus"], "ACTIVE");
    assert_eq!(
        index["ProvisionedThroughput"],
        json!({"ReadCapacityUnits": 2, "WriteCapacityUnits": 2, "NumberOfDecreasesToday": 0, "LastIncreaseDateTime": done})
    );
}
