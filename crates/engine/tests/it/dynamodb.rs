//! DynamoDB through the AWS SDK for Rust against the in-process engine: the
//! workshop's table `UnicornSensorData`, conditional writes, updates, paging,
//! fault injection, validation wording and durability.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue as Av, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ReturnValue, ScalarAttributeType, Select, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use engine::Config;

#[path = "dynamodb/auth.rs"]
mod auth;
#[path = "dynamodb/backups.rs"]
mod backups;
#[path = "dynamodb/capacity.rs"]
mod capacity;
#[path = "dynamodb/conformance.rs"]
mod conformance;
#[path = "dynamodb/crash.rs"]
mod crash;
#[path = "dynamodb/indexes.rs"]
mod indexes;
#[path = "dynamodb/legacy.rs"]
mod legacy;
#[path = "dynamodb/limits.rs"]
mod limits;
#[path = "dynamodb/more.rs"]
mod more;
#[path = "dynamodb/order.rs"]
mod order;
#[path = "dynamodb/refusals.rs"]
mod refusals;
#[path = "dynamodb/returns.rs"]
mod returns;
#[path = "dynamodb/states.rs"]
mod states;
#[path = "dynamodb/storage.rs"]
mod storage;
#[path = "dynamodb/tags.rs"]
mod tags;
#[path = "dynamodb/updating.rs"]
mod updating;
#[path = "dynamodb/wire.rs"]
mod wire;

const TABLE: &str = "UnicornSensorData";

use testkit::dynamodb as client;

async fn create_workshop_table(c: &Client) {
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let out = c
        .create_table()
        .table_name(TABLE)
        .attribute_definitions(attr("Name"))
        .attribute_definitions(attr("StatusTime"))
        .key_schema(key("Name", KeyType::Hash))
        .key_schema(key("StatusTime", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let desc = out.table_description.unwrap();
    assert_eq!(desc.table_name(), Some(TABLE));
    assert_eq!(desc.key_schema().len(), 2);
}

/// A per-minute summary as the workshop's stream-processing module writes it.
fn summary(name: &str, minute: u32) -> HashMap<String, Av> {
    HashMap::from([
        ("Name".into(), Av::S(name.into())),
        (
            "StatusTime".into(),
            Av::S(format!("2026-12-02 01:{minute:02}:00.000")),
        ),
        ("Distance".into(), Av::N(format!("{}", 100 + minute))),
        ("MinMagicPoints".into(), Av::N("1".into())),
        ("MaxMagicPoints".into(), Av::N("9".into())),
        ("MinHealthPoints".into(), Av::N("120".into())),
        ("MaxHealthPoints".into(), Av::N("150".into())),
    ])
}

fn put(item: HashMap<String, Av>) -> WriteRequest {
    WriteRequest::builder()
        .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
        .build()
}

/// Writes `items` with BatchWriteItem in batches of 25, retrying unprocessed
/// items as the workshop's code does; returns how many were ever unprocessed.
async fn batch_write(c: &Client, items: Vec<HashMap<String, Av>>) -> usize {
    let mut unprocessed_total = 0;
    for chunk in items.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk.iter().cloned().map(put).collect();
        for _ in 0..100 {
            let out = c
                .batch_write_item()
                .request_items(TABLE, pending.clone())
                .send()
                .await
                .unwrap();
            pending = out
                .unprocessed_items
                .unwrap_or_default()
                .remove(TABLE)
                .unwrap_or_default();
            unprocessed_total += pending.len();
            if pending.is_empty() {
                break;
            }
        }
        assert!(
            pending.is_empty(),
            "items still unprocessed after 100 tries"
        );
    }
    unprocessed_total
}

async fn query_names(c: &Client, name: &str) -> Vec<String> {
    c.query()
        .table_name(TABLE)
        .key_condition_expression("#n = :n")
        .expression_attribute_names("#n", "Name")
        .expression_attribute_values(":n", Av::S(name.into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap()
        .iter()
        .map(|i| i["StatusTime"].as_s().unwrap().clone())
        .collect()
}

#[tokio::test]
async fn workshop_batch_write_and_query_on_name() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let mut items: Vec<_> = (0..40).map(|m| summary("Rocinante", m)).collect();
    items.extend((0..30).map(|m| summary("Shadowfax", m)));
    assert_eq!(batch_write(&c, items).await, 0);

    let times = query_names(&c, "Rocinante").await;
    assert_eq!(times.len(), 40);
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "a query answers in sort key order");

    // Sort key conditions, descending order, COUNT.
    let out = c
        .query()
        .table_name(TABLE)
        .key_condition_expression("#n = :n AND StatusTime BETWEEN :a AND :b")
        .expression_attribute_names("#n", "Name")
        .expression_attribute_values(":n", Av::S("Rocinante".into()))
        .expression_attribute_values(":a", Av::S("2026-12-02 01:10".into()))
        .expression_attribute_values(":b", Av::S("2026-12-02 01:20".into()))
        .scan_index_forward(false)
        .send()
        .await
        .unwrap();
    let got: Vec<_> = out
        .items()
        .iter()
        .map(|i| i["StatusTime"].as_s().unwrap().clone())
        .collect();
    assert_eq!(got.len(), 10);
    assert_eq!(got[0], "2026-12-02 01:19:00.000");
    let count = c
        .query()
        .table_name(TABLE)
        .key_condition_expression("#n = :n AND begins_with(StatusTime, :p)")
        .filter_expression("Distance >= :d")
        .expression_attribute_names("#n", "Name")
        .expression_attribute_values(":n", Av::S("Shadowfax".into()))
        .expression_attribute_values(":p", Av::S("2026-12-02 01:2".into()))
        .expression_attribute_values(":d", Av::N("125".into()))
        .select(Select::Count)
        .send()
        .await
        .unwrap();
    assert_eq!((count.count(), count.scanned_count()), (5, 10));
    assert!(count.items.is_none());

    // DescribeTable counts the items; ListTables lists the table.
    let desc = c.describe_table().table_name(TABLE).send().await.unwrap();
    assert_eq!(desc.table().unwrap().item_count(), Some(70));
    let tables = c.list_tables().send().await.unwrap();
    assert_eq!(tables.table_names(), [TABLE]);
}

#[tokio::test]
async fn conditional_put_fails_with_conditional_check_failed() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let item = summary("Rocinante", 1);
    let put = || {
        c.put_item()
            .table_name(TABLE)
            .set_item(Some(item.clone()))
            .condition_expression("attribute_not_exists(StatusTime)")
    };
    put().send().await.unwrap();
    let err = put().send().await.unwrap_err().into_service_error();
    assert!(
        matches!(err, PutItemError::ConditionalCheckFailedException(_)),
        "{err:?}"
    );
    assert_eq!(err.message(), Some("The conditional request failed"));
}

#[tokio::test]
async fn update_item_set_and_add_with_return_values() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let key = |m| {
        HashMap::from([
            ("Name".to_string(), Av::S("Rocinante".into())),
            ("StatusTime".to_string(), Av::S(format!("t{m}"))),
        ])
    };
    let out = c
        .update_item()
        .table_name(TABLE)
        .set_key(Some(key(1)))
        .update_expression("SET Distance = :d ADD Rides :one")
        .expression_attribute_values(":d", Av::N("10".into()))
        .expression_attribute_values(":one", Av::N("1".into()))
        .return_values(ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes.unwrap();
    assert_eq!(attrs["Distance"], Av::N("10".into()));
    assert_eq!(attrs["Rides"], Av::N("1".into()));
    assert_eq!(attrs["Name"], Av::S("Rocinante".into()));

    let out = c
        .update_item()
        .table_name(TABLE)
        .set_key(Some(key(1)))
        .update_expression("SET Distance = Distance + :d ADD Rides :one")
        .condition_expression("Rides = :one")
        .expression_attribute_values(":d", Av::N("5".into()))
        .expression_attribute_values(":one", Av::N("1".into()))
        .return_values(ReturnValue::UpdatedOld)
        .send()
        .await
        .unwrap();
    let attrs = out.attributes.unwrap();
    assert_eq!(attrs.len(), 2, "only the updated attributes: {attrs:?}");
    assert_eq!(attrs["Distance"], Av::N("10".into()));

    let got = c
        .get_item()
        .table_name(TABLE)
        .set_key(Some(key(1)))
        .projection_expression("Distance, Rides")
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got["Distance"], Av::N("15".into()));
    assert_eq!(got["Rides"], Av::N("2".into()));

    // Updating a key attribute is refused as the service refuses it.
    let err = c
        .update_item()
        .table_name(TABLE)
        .set_key(Some(key(1)))
        .update_expression("SET StatusTime = :t")
        .expression_attribute_values(":t", Av::S("x".into()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Cannot update attribute StatusTime. This attribute is part of the key")
    );

    // DeleteItem with ALL_OLD answers the old item, then GetItem finds nothing.
    let old = c
        .delete_item()
        .table_name(TABLE)
        .set_key(Some(key(1)))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(old["Rides"], Av::N("2".into()));
    let got = c
        .get_item()
        .table_name(TABLE)
        .set_key(Some(key(1)))
        .send()
        .await
        .unwrap();
    assert!(got.item.is_none());
}

#[tokio::test]
async fn scan_pages_with_limit_and_segments() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let names = ["Rocinante", "Shadowfax", "Bucephalus", "Marengo"];
    let items: Vec<_> = names
        .iter()
        .flat_map(|n| (0..12).map(|m| summary(n, m)))
        .collect();
    batch_write(&c, items).await;

    let mut seen = 0;
    let mut pages = 0;
    let mut start = None;
    loop {
        let out = c
            .scan()
            .table_name(TABLE)
            .limit(10)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        seen += out.items().len();
        pages += 1;
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    assert_eq!(seen, 48);
    assert_eq!(pages, 5, "4 full pages of 10, then the last 8");

    let mut total = 0;
    for segment in 0..3 {
        let out = c
            .scan()
            .table_name(TABLE)
            .segment(segment)
            .total_segments(3)
            .send()
            .await
            .unwrap();
        assert_eq!(
            out.items().len() % 12,
            0,
            "a partition stays in one segment"
        );
        total += out.items().len();
    }
    assert_eq!(total, 48);
}

#[tokio::test]
async fn fault_injection_leaves_unprocessed_items_that_retries_write() {
    let e = engine::spawn(Config {
        fail_entry_ratio: 0.3,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let items: Vec<_> = (0..50).map(|m| summary("Rocinante", m)).collect();
    let unprocessed = batch_write(&c, items).await;
    assert!(
        unprocessed > 0,
        "a 0.3 ratio leaves some of 50 items unprocessed"
    );
    assert_eq!(query_names(&c, "Rocinante").await.len(), 50);

    // BatchGetItem leaves a share of its keys in UnprocessedKeys; retrying
    // them gets every item.
    let keys: Vec<_> = (0..50)
        .map(|m| {
            let s = summary("Rocinante", m);
            HashMap::from([
                ("Name".to_string(), s["Name"].clone()),
                ("StatusTime".to_string(), s["StatusTime"].clone()),
            ])
        })
        .collect();
    let mut pending = aws_sdk_dynamodb::types::KeysAndAttributes::builder()
        .set_keys(Some(keys))
        .build()
        .unwrap();
    let (mut got, mut left_over) = (0, 0);
    for _ in 0..100 {
        let out = c
            .batch_get_item()
            .request_items(TABLE, pending.clone())
            .send()
            .await
            .unwrap();
        got += out
            .responses
            .unwrap_or_default()
            .remove(TABLE)
            .unwrap_or_default()
            .len();
        match out.unprocessed_keys.unwrap_or_default().remove(TABLE) {
            Some(rest) => {
                left_over += rest.keys().len();
                pending = rest;
            }
            None => break,
        }
    }
    assert_eq!(got, 50);
    assert!(
        left_over > 0,
        "a 0.3 ratio leaves some of 50 keys unprocessed"
    );
}

#[tokio::test]
async fn validation_errors_are_worded_as_the_service_words_them() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    // A reserved word used unaliased.
    let err = c
        .query()
        .table_name(TABLE)
        .key_condition_expression("Name = :n")
        .expression_attribute_values(":n", Av::S("Rocinante".into()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some("Invalid KeyConditionExpression: Attribute name is a reserved keyword; reserved keyword: Name")
    );
    // 26 writes in one BatchWriteItem.
    let items: Vec<_> = (0..26).map(|m| put(summary("Rocinante", m))).collect();
    let err = c
        .batch_write_item()
        .request_items(TABLE, items)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    let message = err.message().unwrap();
    // Named at the map with every rule of the list, as dynalite's suite
    // recorded it.
    assert!(
        message.starts_with(
            "1 validation error detected: Value '{UnicornSensorData=[com.amazonaws.dynamodb.v20120810.WriteRequest@"
        ),
        "{message}"
    );
    assert!(
        message.ends_with("at 'requestItems' failed to satisfy constraint: Map value must satisfy constraint: [Member must have length less than or equal to 25, Member must have length greater than or equal to 1]"),
        "{message}"
    );
    // A partition key over 2048 bytes.
    let err = c
        .put_item()
        .table_name(TABLE)
        .item("Name", Av::S("x".repeat(2049)))
        .item("StatusTime", Av::S("t".into()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes")
    );
    // A missing table.
    let err = c
        .get_item()
        .table_name("Nope")
        .key("Name", Av::S("x".into()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(err.message(), Some("Requested resource not found"));
    // A key missing its sort key.
    let err = c
        .get_item()
        .table_name(TABLE)
        .key("Name", Av::S("x".into()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("The provided key element does not match the schema")
    );
}

#[tokio::test]
async fn wire_types_are_the_services() {
    let e = engine::spawn_in_memory().await.unwrap();
    let http = |target: &str, body: &str| {
        let url = e.url();
        let (target, body) = (target.to_string(), body.to_string());
        async move {
            let mut stream = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
                .await
                .unwrap();
            let req = format!(
                "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.{target}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            stream.write_all(req.as_bytes()).await.unwrap();
            let mut out = String::new();
            stream.read_to_string(&mut out).await.unwrap();
            out
        }
    };
    let out = http("DescribeTable", r#"{"TableName":"none"}"#).await;
    assert!(
        out.contains(r#""__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException""#),
        "{out}"
    );
    let out = http("DescribeTable", r#"{"TableName":""}"#).await;
    assert!(
        out.contains(r#""__type":"com.amazon.coral.validate#ValidationException""#),
        "{out}"
    );
    let out = http("DescribeTable", r#"{"TableName":5}"#).await;
    assert!(
        out.contains(r#""__type":"com.amazon.coral.service#SerializationException""#),
        "{out}"
    );
    assert!(out.contains("application/x-amz-json-1.0"), "{out}");
}
