//! Table states (CREATING, ACTIVE, DELETING with the engine's delay) and
//! TTL expiry, on a frozen ManualClock (never a sleep).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue as Av, TableStatus, TimeToLiveSpecification};
use engine::{Config, ManualClock};

use super::{client, create_workshop_table, summary, TABLE};

fn frozen(delay: Duration) -> (ManualClock, Config) {
    let clock = ManualClock::frozen();
    let config = Config {
        clock: Arc::new(clock.clone()),
        stream_activation_delay: delay,
        ..Config::default()
    };
    (clock, config)
}

#[tokio::test]
async fn tables_are_creating_then_active_then_deleting_with_the_engines_delay() {
    let (clock, config) = frozen(Duration::from_secs(5));
    let e = engine::spawn(config).await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let status = |c: aws_sdk_dynamodb::Client| async move {
        c.describe_table()
            .table_name(TABLE)
            .send()
            .await
            .map(|d| d.table.unwrap().table_status.unwrap())
    };
    assert_eq!(status(c.clone()).await.unwrap(), TableStatus::Creating);
    // Items of a table being created: not found, as the service answers.
    let err = c
        .put_item()
        .table_name(TABLE)
        .set_item(Some(summary("Rocinante", 1)))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(err.message(), Some("Requested resource not found"));
    let err = c.delete_table().table_name(TABLE).send().await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceInUseException"));
    assert_eq!(
        err.message(),
        Some("Attempt to change a resource which is still in use: Table is being created: UnicornSensorData")
    );
    clock.advance(Duration::from_secs(5));
    assert_eq!(status(c.clone()).await.unwrap(), TableStatus::Active);
    c.put_item()
        .table_name(TABLE)
        .set_item(Some(summary("Rocinante", 1)))
        .send()
        .await
        .unwrap();
    let out = c.delete_table().table_name(TABLE).send().await.unwrap();
    assert_eq!(
        out.table_description.unwrap().table_status,
        Some(TableStatus::Deleting)
    );
    assert_eq!(status(c.clone()).await.unwrap(), TableStatus::Deleting);
    // Deleted again while DELETING: no error, as the API reference says.
    let again = c.delete_table().table_name(TABLE).send().await.unwrap();
    assert_eq!(
        again.table_description.unwrap().table_status,
        Some(TableStatus::Deleting)
    );
    let err = c
        .get_item()
        .table_name(TABLE)
        .key("Name", Av::S("Rocinante".into()))
        .key("StatusTime", Av::S("x".into()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    let names = c.list_tables().send().await.unwrap().table_names.unwrap();
    assert_eq!(names, [TABLE], "still listed while DELETING");
    clock.advance(Duration::from_secs(5));
    let err = status(c.clone()).await.unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    // Created again: empty.
    create_workshop_table(&c).await;
    clock.advance(Duration::from_secs(5));
    let n = c.scan().table_name(TABLE).send().await.unwrap().count;
    assert_eq!(n, 0);
}

fn with_ttl(minute: u32, expires: Option<Av>) -> HashMap<String, Av> {
    let mut item = summary("Rocinante", minute);
    if let Some(v) = expires {
        item.insert("ExpiresAt".into(), v);
    }
    item
}

#[tokio::test]
async fn expired_items_disappear_on_the_clock_and_are_readable_until_then() {
    let (clock, config) = frozen(Duration::ZERO);
    let now = clock_secs(&clock);
    let e = engine::spawn(config).await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    c.update_time_to_live()
        .table_name(TABLE)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("ExpiresAt")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let n = |s: u64| Some(Av::N(s.to_string()));
    let items = [
        with_ttl(1, n(now - 10)),                  // already expired
        with_ttl(2, n(now + 60)),                  // expires in a minute
        with_ttl(3, n(now + 3600)),                // in an hour
        with_ttl(4, None),                         // no TTL
        with_ttl(5, Some(Av::S("soon".into()))),   // not a Number: ignored
        with_ttl(6, n(now - 6 * 365 * 24 * 3600)), // over five years ago: kept
    ];
    for item in items {
        c.put_item()
            .table_name(TABLE)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    // As on the service, an expired item is read until it is deleted.
    let minutes = |c: aws_sdk_dynamodb::Client| async move {
        let mut m: Vec<String> = c
            .scan()
            .table_name(TABLE)
            .send()
            .await
            .unwrap()
            .items
            .unwrap()
            .iter()
            .map(|i| i["StatusTime"].as_s().unwrap()[14..16].to_string())
            .collect();
        m.sort();
        m
    };
    assert_eq!(
        minutes(c.clone()).await,
        ["01", "02", "03", "04", "05", "06"]
    );
    clock.advance(Duration::from_secs(61));
    assert_eq!(minutes(c.clone()).await, ["03", "04", "05", "06"]);
    // An item whose TTL moved later stays; the figures follow.
    c.update_item()
        .table_name(TABLE)
        .key("Name", Av::S("Rocinante".into()))
        .key("StatusTime", Av::S("2026-12-02 01:03:00.000".into()))
        .update_expression("SET ExpiresAt = :t")
        .expression_attribute_values(":t", Av::N((now + 7200).to_string()))
        .send()
        .await
        .unwrap();
    clock.advance(Duration::from_secs(3600));
    assert_eq!(minutes(c.clone()).await, ["03", "04", "05", "06"]);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(minutes(c.clone()).await, ["04", "05", "06"]);
    let d = c.describe_table().table_name(TABLE).send().await.unwrap();
    assert_eq!(d.table.unwrap().item_count, Some(3));
}

fn clock_secs(clock: &ManualClock) -> u64 {
    use engine::Clock;
    clock.now_millis() / 1000
}

#[tokio::test]
async fn a_global_index_is_creating_then_active_then_deleting_with_the_engines_delay() {
    use aws_sdk_dynamodb::types::{
        CreateGlobalSecondaryIndexAction, DeleteGlobalSecondaryIndexAction,
        GlobalSecondaryIndexUpdate, IndexStatus, KeyType, ProjectionType, ScalarAttributeType,
    };

    use super::indexes::{attr, key, projection};
    let (clock, config) = frozen(Duration::from_secs(5));
    let e = engine::spawn(config).await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    clock.advance(Duration::from_secs(5));
    let create = GlobalSecondaryIndexUpdate::builder()
        .create(
            CreateGlobalSecondaryIndexAction::builder()
                .index_name("ByColor")
                .key_schema(key("Color", KeyType::Hash))
                .projection(projection(ProjectionType::All, &[]))
                .build()
                .unwrap(),
        )
        .build();
    let delete = GlobalSecondaryIndexUpdate::builder()
        .delete(
            DeleteGlobalSecondaryIndexAction::builder()
                .index_name("ByColor")
                .build()
                .unwrap(),
        )
        .build();
    let index_status = |c: aws_sdk_dynamodb::Client| async move {
        let t = c.describe_table().table_name(TABLE).send().await.unwrap();
        t.table
            .unwrap()
            .global_secondary_indexes()
            .iter()
            .map(|i| i.index_status.clone().unwrap())
            .collect::<Vec<_>>()
    };
    c.update_table()
        .table_name(TABLE)
        .attribute_definitions(attr("Color", ScalarAttributeType::S))
        .global_secondary_index_updates(create.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(index_status(c.clone()).await, [IndexStatus::Creating]);
    // One online index change at a time, as the service allows.
    let busy = c
        .update_table()
        .table_name(TABLE)
        .global_secondary_index_updates(delete.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(busy.code(), Some("LimitExceededException"));
    clock.advance(Duration::from_secs(5));
    assert_eq!(index_status(c.clone()).await, [IndexStatus::Active]);
    c.update_table()
        .table_name(TABLE)
        .global_secondary_index_updates(delete)
        .send()
        .await
        .unwrap();
    assert_eq!(index_status(c.clone()).await, [IndexStatus::Deleting]);
    let busy = c
        .update_table()
        .table_name(TABLE)
        .attribute_definitions(attr("Color", ScalarAttributeType::S))
        .global_secondary_index_updates(create)
        .send()
        .await
        .unwrap_err();
    assert_eq!(busy.code(), Some("LimitExceededException"));
    assert_eq!(
        busy.message(),
        Some("Subscriber limit exceeded: Only 1 online index can be created or deleted simultaneously per table")
    );
    // A deleting index is not queried.
    let err = c
        .query()
        .table_name(TABLE)
        .index_name("ByColor")
        .key_condition_expression("Color = :c")
        .expression_attribute_values(":c", Av::S("white".into()))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ValidationException"));
    clock.advance(Duration::from_secs(5));
    assert!(index_status(c.clone()).await.is_empty());
}
