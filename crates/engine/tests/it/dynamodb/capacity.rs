//! ConsumedCapacity: only when ReturnConsumedCapacity asks, with the
//! service's unit arithmetic.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue as Av, ConsumedCapacity, Put, ReturnConsumedCapacity, TransactWriteItem,
};

use super::indexes::create_indexed_table;
use super::{client, create_workshop_table, put, summary, TABLE};

/// An item of the workshop's table of about `bytes` bytes.
fn sized(minute: u32, bytes: usize) -> HashMap<String, Av> {
    let mut item = summary("Rocinante", minute);
    item.insert("Pad".into(), Av::S("x".repeat(bytes)));
    item
}

fn units(c: Option<&ConsumedCapacity>) -> Option<f64> {
    c.and_then(|c| c.capacity_units)
}

/// A request with the raw wire answer's body.
async fn raw(url: &str, target: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(url.trim_start_matches("http://"))
        .await
        .unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.{target}\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test]
async fn consumed_capacity_is_answered_only_when_asked_with_the_services_units() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    // Not asked: no ConsumedCapacity member at all (not even null).
    let item =
        r#"{"TableName":"UnicornSensorData","Item":{"Name":{"S":"a"},"StatusTime":{"S":"b"}}}"#;
    let out = raw(&e.url(), "PutItem", item).await;
    assert!(out.ends_with("{}"), "{out}");
    let get = r#"{"TableName":"UnicornSensorData","Key":{"Name":{"S":"a"},"StatusTime":{"S":"b"}},"ReturnConsumedCapacity":"NONE"}"#;
    let out = raw(&e.url(), "GetItem", get).await;
    assert!(
        !out.contains("ConsumedCapacity") && !out.contains("null"),
        "{out}"
    );

    // Writes: 1 KB units of the larger of old and new, at least one.
    let total = Some(ReturnConsumedCapacity::Total);
    let w = c
        .put_item()
        .table_name(TABLE)
        .set_item(Some(sized(1, 1500)))
        .set_return_consumed_capacity(total.clone())
        .send()
        .await
        .unwrap();
    let cc = w.consumed_capacity.unwrap();
    assert_eq!(cc.table_name(), Some(TABLE));
    assert_eq!(cc.capacity_units, Some(2.0));
    assert!(cc.table.is_none(), "TOTAL has no per-table part");
    let w = c
        .put_item()
        .table_name(TABLE)
        .set_item(Some(sized(1, 10)))
        .set_return_consumed_capacity(total.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        units(w.consumed_capacity.as_ref()),
        Some(2.0),
        "old item counted"
    );
    // Reads: 4 KB units, halved when eventually consistent; a missing item costs the minimum.
    c.put_item()
        .table_name(TABLE)
        .set_item(Some(sized(2, 9000)))
        .send()
        .await
        .unwrap();
    for (consistent, want) in [(false, 1.5), (true, 3.0)] {
        let r = c
            .get_item()
            .table_name(TABLE)
            .key("Name", Av::S("Rocinante".into()))
            .key("StatusTime", Av::S("2026-12-02 01:02:00.000".into()))
            .consistent_read(consistent)
            .set_return_consumed_capacity(total.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(units(r.consumed_capacity.as_ref()), Some(want));
    }
    let r = c
        .get_item()
        .table_name(TABLE)
        .key("Name", Av::S("nobody".into()))
        .key("StatusTime", Av::S("x".into()))
        .set_return_consumed_capacity(total.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(units(r.consumed_capacity.as_ref()), Some(0.5));
    // Query: the total size read, not each item (three items, ~9.2 KB: 3 units, halved).
    let q = c
        .query()
        .table_name(TABLE)
        .key_condition_expression("#n = :n")
        .expression_attribute_names("#n", "Name")
        .expression_attribute_values(":n", Av::S("Rocinante".into()))
        .set_return_consumed_capacity(total.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(q.count, 2);
    assert_eq!(units(q.consumed_capacity.as_ref()), Some(1.5));
    // Batches answer one entry per table.
    let b = c
        .batch_write_item()
        .request_items(TABLE, vec![put(sized(3, 10)), put(sized(4, 2100))])
        .set_return_consumed_capacity(total.clone())
        .send()
        .await
        .unwrap();
    let list = b.consumed_capacity.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].capacity_units, Some(4.0));
    // Transactions count twice.
    let t = c
        .transact_write_items()
        .transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(TABLE)
                        .set_item(Some(sized(5, 10)))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .set_return_consumed_capacity(total)
        .send()
        .await
        .unwrap();
    assert_eq!(units(t.consumed_capacity().first()), Some(2.0));
}

#[tokio::test]
async fn indexes_mode_splits_the_table_and_each_index() {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_indexed_table(&c).await;
    let mut item = summary("Rocinante", 1);
    item.insert("Color".into(), Av::S("white".into()));
    let w = c
        .put_item()
        .table_name(TABLE)
        .set_item(Some(item))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let cc = w.consumed_capacity.unwrap();
    assert_eq!(cc.capacity_units, Some(3.0));
    assert_eq!(cc.table.unwrap().capacity_units, Some(1.0));
    let gsi = cc.global_secondary_indexes.unwrap();
    assert_eq!(gsi["ByColor"].capacity_units, Some(1.0));
    let lsi = cc.local_secondary_indexes.unwrap();
    assert_eq!(lsi["ByDistance"].capacity_units, Some(1.0));
    // Changing the global index's key is a delete and a put there.
    let w = c
        .update_item()
        .table_name(TABLE)
        .key("Name", Av::S("Rocinante".into()))
        .key("StatusTime", Av::S("2026-12-02 01:01:00.000".into()))
        .update_expression("SET Color = :g")
        .expression_attribute_values(":g", Av::S("grey".into()))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let cc = w.consumed_capacity.unwrap();
    assert_eq!(
        cc.global_secondary_indexes.unwrap()["ByColor"].capacity_units,
        Some(2.0)
    );
    // A query of an index is charged to that index.
    let q = c
        .query()
        .table_name(TABLE)
        .index_name("ByColor")
        .key_condition_expression("Color = :c")
        .expression_attribute_values(":c", Av::S("grey".into()))
        .return_consumed_capacity(ReturnConsumedCapacity::Indexes)
        .send()
        .await
        .unwrap();
    let cc = q.consumed_capacity.unwrap();
    assert_eq!(cc.capacity_units, Some(0.5));
    assert_eq!(
        cc.global_secondary_indexes.unwrap()["ByColor"].capacity_units,
        Some(0.5)
    );
}
