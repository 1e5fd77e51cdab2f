//! Fault injection and provisioned throughput (`enforce_limits`), on a
//! frozen ManualClock.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeValue as Av, BillingMode, KeysAndAttributes, ProvisionedThroughput,
    ScalarAttributeType,
};
use aws_sdk_dynamodb::Client;
use engine::{Config, ManualClock};

use super::indexes::{attr, key};
use super::{client, put, summary, TABLE};

async fn provisioned_table(c: &Client, read: i64, write: i64) {
    use aws_sdk_dynamodb::types::KeyType;
    c.create_table()
        .table_name(TABLE)
        .attribute_definitions(attr("Name", ScalarAttributeType::S))
        .attribute_definitions(attr("StatusTime", ScalarAttributeType::S))
        .key_schema(key("Name", KeyType::Hash))
        .key_schema(key("StatusTime", KeyType::Range))
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(read)
                .write_capacity_units(write)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn failing_calls_are_internal_server_errors_and_entries_unprocessed_keys() {
    let e = engine::spawn(Config {
        fail_call_ratio: 1.0,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    let err = c.list_tables().send().await.unwrap_err();
    assert_eq!(err.code(), Some("InternalServerError"));
    assert_eq!(err.message(), Some("Internal server error"));
    let raw = err.raw_response().unwrap();
    assert_eq!(raw.status().as_u16(), 500);

    let e = engine::spawn(Config {
        fail_entry_ratio: 1.0,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    super::create_workshop_table(&c).await;
    let keys = KeysAndAttributes::builder()
        .keys(
            [
                ("Name".to_string(), Av::S("Rocinante".into())),
                ("StatusTime".to_string(), Av::S("x".into())),
            ]
            .into(),
        )
        .build()
        .unwrap();
    let out = c
        .batch_get_item()
        .request_items(TABLE, keys)
        .send()
        .await
        .unwrap();
    assert_eq!(out.unprocessed_keys.unwrap()[TABLE].keys().len(), 1);
}

#[tokio::test]
async fn provisioned_writes_beyond_the_burst_are_unprocessed_then_throttled() {
    let clock = ManualClock::frozen();
    let e = engine::spawn(Config {
        clock: Arc::new(clock.clone()),
        enforce_limits: true,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    provisioned_table(&c, 1, 1).await;
    // 1 WCU keeps 300 s of burst: 300 one-unit writes pass, the next wait.
    let mut written = 0;
    let mut unprocessed = 0;
    for batch in 0..13 {
        let items = (0..25)
            .map(|i| put(summary(&format!("U{batch}"), i)))
            .collect();
        match c
            .batch_write_item()
            .request_items(TABLE, items)
            .send()
            .await
        {
            Ok(out) => {
                let left = out
                    .unprocessed_items
                    .unwrap_or_default()
                    .get(TABLE)
                    .map_or(0, Vec::len);
                written += 25 - left;
                unprocessed += left;
            }
            Err(err) => {
                assert_eq!(batch, 12, "only the last batch is refused whole");
                assert_eq!(err.code(), Some("ProvisionedThroughputExceededException"));
                assert_eq!(err.message(), Some("The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API."));
            }
        }
    }
    assert_eq!((written, unprocessed), (300, 0));
    // Ten seconds later, ten more units.
    clock.advance(Duration::from_secs(10));
    let items = (0..25).map(|i| put(summary("Later", i))).collect();
    let out = c
        .batch_write_item()
        .request_items(TABLE, items)
        .send()
        .await
        .unwrap();
    assert_eq!(out.unprocessed_items.unwrap()[TABLE].len(), 15);
    // Reads have their own bucket: a 300 KB item read strongly is 75 units.
    let mut big = summary("Big", 0);
    big.insert("Pad".into(), Av::S("x".repeat(300 * 1024)));
    clock.advance(Duration::from_secs(400));
    c.put_item()
        .table_name(TABLE)
        .set_item(Some(big))
        .send()
        .await
        .unwrap();
    let get = || {
        c.get_item()
            .table_name(TABLE)
            .key("Name", Av::S("Big".into()))
            .key("StatusTime", Av::S("2026-12-02 01:00:00.000".into()))
            .consistent_read(true)
            .send()
    };
    for _ in 0..4 {
        get().await.unwrap();
    }
    let err = get().await.unwrap_err();
    assert_eq!(err.code(), Some("ProvisionedThroughputExceededException"));
}

#[tokio::test]
async fn on_demand_tables_are_never_throttled() {
    let e = engine::spawn(Config {
        clock: Arc::new(ManualClock::frozen()),
        enforce_limits: true,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    super::create_workshop_table(&c).await;
    for batch in 0..16 {
        let items = (0..25)
            .map(|i| put(summary(&format!("U{batch}"), i)))
            .collect();
        let out = c
            .batch_write_item()
            .request_items(TABLE, items)
            .send()
            .await
            .unwrap();
        assert!(out.unprocessed_items.unwrap_or_default().is_empty());
    }
}

#[tokio::test]
async fn a_batch_write_body_over_16_mib_is_refused_before_it_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let e = engine::spawn_in_memory().await.unwrap();
    let mut stream = tokio::net::TcpStream::connect(e.addr()).await.unwrap();
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.BatchWriteItem\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{{",
        (16 << 20) + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut out = vec![0u8; 4096];
    let n = stream.read(&mut out).await.unwrap();
    let out = String::from_utf8_lossy(&out[..n]);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
}

#[tokio::test]
async fn a_throttled_transaction_is_cancelled_with_the_throughput_reason() {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
    let e = engine::spawn(Config {
        clock: Arc::new(ManualClock::frozen()),
        enforce_limits: true,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    provisioned_table(&c, 1, 1).await;
    // 1 WCU keeps 300 s of burst: 300 one-unit writes use it up.
    for batch in 0..12 {
        let items = (0..25)
            .map(|i| put(summary(&format!("U{batch}"), i)))
            .collect();
        c.batch_write_item()
            .request_items(TABLE, items)
            .send()
            .await
            .unwrap();
    }
    let put_of = |name: &str| {
        TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(TABLE)
                    .set_item(Some(summary(name, 0)))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let err = c
        .transact_write_items()
        .transact_items(put_of("T1"))
        .transact_items(put_of("T2"))
        .send()
        .await
        .unwrap_err();
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        err.as_service_error()
    else {
        panic!("expected TransactionCanceledException, got {err:?}");
    };
    let codes: Vec<_> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|r| r.code().unwrap_or_default())
        .collect();
    assert_eq!(
        codes,
        [
            "ProvisionedThroughputExceeded",
            "ProvisionedThroughputExceeded"
        ]
    );
    assert_eq!(
        cancelled.message(),
        Some("Transaction cancelled, please refer cancellation reasons for specific reasons [ProvisionedThroughputExceeded, ProvisionedThroughputExceeded]")
    );
    // Nothing was written.
    let got = c
        .get_item()
        .table_name(TABLE)
        .key("Name", Av::S("T1".into()))
        .key("StatusTime", Av::S("2026-12-02 01:00:00.000".into()))
        .send()
        .await
        .unwrap();
    assert!(got.item.is_none());
}
