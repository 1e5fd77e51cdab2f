//! Local and global secondary indexes: created with the table or by
//! UpdateTable, kept on every kind of write, queried and scanned, described.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue as Av, BillingMode, CreateGlobalSecondaryIndexAction,
    DeleteGlobalSecondaryIndexAction, DeleteRequest, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, LocalSecondaryIndex, Projection,
    ProjectionType, ScalarAttributeType, Select, TransactWriteItem, Update, WriteRequest,
};
use aws_sdk_dynamodb::Client;

use super::{client, put, summary, TABLE};

pub(crate) fn attr(n: &str, t: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(n)
        .attribute_type(t)
        .build()
        .unwrap()
}

pub(crate) fn key(n: &str, t: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(n)
        .key_type(t)
        .build()
        .unwrap()
}

pub(crate) fn projection(kind: ProjectionType, non_key: &[&str]) -> Projection {
    let mut p = Projection::builder().projection_type(kind);
    for a in non_key {
        p = p.non_key_attributes(*a);
    }
    p.build()
}

/// The workshop's table with a local index on Distance (keys only) and a
/// global index on Color + StatusTime (Distance included).
pub(crate) async fn create_indexed_table(c: &Client) {
    c.create_table()
        .table_name(TABLE)
        .attribute_definitions(attr("Name", ScalarAttributeType::S))
        .attribute_definitions(attr("StatusTime", ScalarAttributeType::S))
        .attribute_definitions(attr("Distance", ScalarAttributeType::N))
        .attribute_definitions(attr("Color", ScalarAttributeType::S))
        .key_schema(key("Name", KeyType::Hash))
        .key_schema(key("StatusTime", KeyType::Range))
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("ByDistance")
                .key_schema(key("Name", KeyType::Hash))
                .key_schema(key("Distance", KeyType::Range))
                .projection(projection(ProjectionType::KeysOnly, &[]))
                .build()
                .unwrap(),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name("ByColor")
                .key_schema(key("Color", KeyType::Hash))
                .key_schema(key("StatusTime", KeyType::Range))
                .projection(projection(ProjectionType::Include, &["Distance"]))
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

fn colored(name: &str, minute: u32, color: &str) -> HashMap<String, Av> {
    let mut item = summary(name, minute);
    item.insert("Color".into(), Av::S(color.into()));
    item
}

async fn by_color(c: &Client, color: &str) -> Vec<HashMap<String, Av>> {
    c.query()
        .table_name(TABLE)
        .index_name("ByColor")
        .key_condition_expression("Color = :c")
        .expression_attribute_values(":c", Av::S(color.into()))
        .send()
        .await
        .unwrap()
        .items
        .unwrap()
}

fn minutes(items: &[HashMap<String, Av>]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["StatusTime"].as_s().unwrap()[14..16].to_string())
        .collect()
}

#[tokio::test]
async fn indexes_are_kept_on_every_write_and_queried() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_indexed_table(&c).await;
    // PutItem, BatchWriteItem (one item without Color: not in ByColor).
    c.put_item()
        .table_name(TABLE)
        .set_item(Some(colored("Rocinante", 1, "white")))
        .send()
        .await
        .unwrap();
    c.batch_write_item()
        .request_items(
            TABLE,
            vec![
                put(colored("Rocinante", 2, "white")),
                put(colored("Shadowfax", 3, "grey")),
                put(summary("Bucephalus", 4)),
            ],
        )
        .send()
        .await
        .unwrap();
    let white = by_color(&c, "white").await;
    assert_eq!(minutes(&white), ["01", "02"]);
    // INCLUDE: keys of both, Distance; not the other attributes.
    let mut names: Vec<&String> = white[0].keys().collect();
    names.sort();
    assert_eq!(names, ["Color", "Distance", "Name", "StatusTime"]);
    // UpdateItem moves an item from one index key to another.
    c.update_item()
        .table_name(TABLE)
        .key("Name", Av::S("Rocinante".into()))
        .key("StatusTime", Av::S("2026-12-02 01:02:00.000".into()))
        .update_expression("SET Color = :g")
        .expression_attribute_values(":g", Av::S("grey".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(minutes(&by_color(&c, "white").await), ["01"]);
    assert_eq!(minutes(&by_color(&c, "grey").await), ["02", "03"]);
    // DeleteItem and a transaction's delete and update.
    c.delete_item()
        .table_name(TABLE)
        .key("Name", Av::S("Rocinante".into()))
        .key("StatusTime", Av::S("2026-12-02 01:01:00.000".into()))
        .send()
        .await
        .unwrap();
    assert!(by_color(&c, "white").await.is_empty());
    c.transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .update(
                    Update::builder()
                        .table_name(TABLE)
                        .key("Name", Av::S("Bucephalus".into()))
                        .key("StatusTime", Av::S("2026-12-02 01:04:00.000".into()))
                        .update_expression("SET Color = :b")
                        .expression_attribute_values(":b", Av::S("black".into()))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(minutes(&by_color(&c, "black").await), ["04"]);
    c.batch_write_item()
        .request_items(
            TABLE,
            vec![WriteRequest::builder()
                .delete_request(
                    DeleteRequest::builder()
                        .key("Name", Av::S("Shadowfax".into()))
                        .key("StatusTime", Av::S("2026-12-02 01:03:00.000".into()))
                        .build()
                        .unwrap(),
                )
                .build()],
        )
        .send()
        .await
        .unwrap();
    assert_eq!(minutes(&by_color(&c, "grey").await), ["02"]);

    // The local index: sorted by Distance, keys only unless the table's
    // attributes are asked for (fetched from the table).
    for m in [9, 5, 7] {
        c.put_item()
            .table_name(TABLE)
            .set_item(Some(summary("Rocinante", m)))
            .send()
            .await
            .unwrap();
    }
    let q = c
        .query()
        .table_name(TABLE)
        .index_name("ByDistance")
        .key_condition_expression("#n = :n AND Distance > :d")
        .expression_attribute_names("#n", "Name")
        .expression_attribute_values(":n", Av::S("Rocinante".into()))
        .expression_attribute_values(":d", Av::N("102".into()))
        .scan_index_forward(false)
        .limit(2)
        .send()
        .await
        .unwrap();
    let items = q.items.unwrap();
    assert_eq!(minutes(&items), ["09", "07"]);
    assert_eq!(items[0].len(), 3, "keys only: {:?}", items[0]);
    let last = q.last_evaluated_key.unwrap();
    let mut last_names: Vec<&String> = last.keys().collect();
    last_names.sort();
    assert_eq!(last_names, ["Distance", "Name", "StatusTime"]);
    let rest = c
        .query()
        .table_name(TABLE)
        .index_name("ByDistance")
        .key_condition_expression("#n = :n AND Distance > :d")
        .expression_attribute_names("#n", "Name")
        .expression_attribute_values(":n", Av::S("Rocinante".into()))
        .expression_attribute_values(":d", Av::N("102".into()))
        .scan_index_forward(false)
        .select(Select::AllAttributes)
        .set_exclusive_start_key(Some(last))
        .send()
        .await
        .unwrap()
        .items
        .unwrap();
    assert_eq!(minutes(&rest), ["05"]);
    assert!(rest[0].contains_key("MaxHealthPoints"), "{:?}", rest[0]);

    // Scan of an index, and DescribeTable's figures of each index.
    let scan = c
        .scan()
        .table_name(TABLE)
        .index_name("ByColor")
        .send()
        .await
        .unwrap();
    assert_eq!(scan.count, 2);
    let desc = c.describe_table().table_name(TABLE).send().await.unwrap();
    let t = desc.table.unwrap();
    assert_eq!(t.item_count, Some(5));
    let gsi = &t.global_secondary_indexes()[0];
    assert_eq!(gsi.index_name(), Some("ByColor"));
    assert_eq!(gsi.index_status().map(|s| s.as_str()), Some("ACTIVE"));
    assert_eq!(gsi.item_count, Some(2));
    assert!(gsi.index_size_bytes.unwrap() > 0);
    let lsi = &t.local_secondary_indexes()[0];
    assert_eq!(lsi.index_name(), Some("ByDistance"));
    assert_eq!(lsi.item_count, Some(5));
}

#[tokio::test]
async fn update_table_creates_and_deletes_a_global_index() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    super::create_workshop_table(&c).await;
    for m in 0..5 {
        let mut item = summary("Rocinante", m);
        if m % 2 == 0 {
            item.insert("Color".into(), Av::S("white".into()));
        }
        c.put_item()
            .table_name(TABLE)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    let out = c
        .update_table()
        .table_name(TABLE)
        .attribute_definitions(attr("Color", ScalarAttributeType::S))
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .create(
                    CreateGlobalSecondaryIndexAction::builder()
                        .index_name("ByColor")
                        .key_schema(key("Color", KeyType::Hash))
                        .projection(projection(ProjectionType::All, &[]))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let t = out.table_description.unwrap();
    assert_eq!(t.global_secondary_indexes().len(), 1);
    assert_eq!(t.attribute_definitions().len(), 3);
    // The existing items were backfilled.
    let white = by_color(&c, "white").await;
    assert_eq!(white.len(), 3);
    assert!(white[0].contains_key("MaxHealthPoints"));
    c.update_table()
        .table_name(TABLE)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder()
                .delete(
                    DeleteGlobalSecondaryIndexAction::builder()
                        .index_name("ByColor")
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
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
    assert_eq!(
        err.message(),
        Some("The table does not have the specified index: ByColor")
    );
    let t = c.describe_table().table_name(TABLE).send().await.unwrap();
    assert!(t.table.unwrap().global_secondary_indexes().is_empty());
}

#[tokio::test]
async fn index_errors_are_the_services() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_indexed_table(&c).await;
    let msg = |e: &dyn ProvideErrorMetadata| {
        (
            e.code().unwrap_or_default().to_string(),
            e.message().unwrap_or_default().to_string(),
        )
    };
    let err = c
        .query()
        .table_name(TABLE)
        .index_name("ByColor")
        .key_condition_expression("Color = :c")
        .expression_attribute_values(":c", Av::S("white".into()))
        .select(Select::AllAttributes)
        .send()
        .await
        .unwrap_err();
    assert_eq!(msg(&err).1, "One or more parameter values were invalid: Select type ALL_ATTRIBUTES is not supported for global secondary index ByColor because its projection type is not ALL");
    let err = c
        .query()
        .table_name(TABLE)
        .index_name("ByColor")
        .key_condition_expression("Color = :c")
        .expression_attribute_values(":c", Av::S("white".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        msg(&err).1,
        "Consistent reads are not supported on global secondary indexes"
    );
    // An index key of the wrong type is refused and nothing is written.
    let mut item = summary("Rocinante", 1);
    item.insert("Color".into(), Av::N("7".into()));
    let err = c
        .put_item()
        .table_name(TABLE)
        .set_item(Some(item))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        msg(&err),
        (
            "ValidationException".into(),
            "One or more parameter values were invalid: Type mismatch for Index Key Color Expected: S Actual: N IndexName: ByColor".into()
        )
    );
    let n = c.scan().table_name(TABLE).send().await.unwrap().count;
    assert_eq!(n, 0);
    // A local index needs a table with a sort key.
    let err = c
        .create_table()
        .table_name("NoRange")
        .attribute_definitions(attr("Name", ScalarAttributeType::S))
        .attribute_definitions(attr("Distance", ScalarAttributeType::N))
        .key_schema(key("Name", KeyType::Hash))
        .local_secondary_indexes(
            LocalSecondaryIndex::builder()
                .index_name("ByDistance")
                .key_schema(key("Name", KeyType::Hash))
                .key_schema(key("Distance", KeyType::Range))
                .projection(projection(ProjectionType::All, &[]))
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap_err();
    assert_eq!(msg(&err).1, "One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex");
}
