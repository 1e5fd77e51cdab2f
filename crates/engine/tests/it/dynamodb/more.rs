//! Transactions, table settings, TTL and tags (split from `dynamodb.rs`).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue as Av, BillingMode};
use engine::Config;

use super::{client, create_workshop_table, query_names, TABLE};

#[tokio::test]
async fn transactions_are_all_or_nothing() {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::{
        ConditionCheck, Get, Put, TransactGetItem, TransactWriteItem, Update,
    };
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let key = |t: &str| {
        HashMap::from([
            ("Name".to_string(), Av::S("Rocinante".into())),
            ("StatusTime".to_string(), Av::S(t.into())),
        ])
    };
    let put_a = TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(TABLE)
                .set_item(Some(key("a")))
                .condition_expression("attribute_not_exists(StatusTime)")
                .build()
                .unwrap(),
        )
        .build();
    let update_b = TransactWriteItem::builder()
        .update(
            Update::builder()
                .table_name(TABLE)
                .set_key(Some(key("b")))
                .update_expression("ADD Rides :one")
                .expression_attribute_values(":one", Av::N("1".into()))
                .build()
                .unwrap(),
        )
        .build();
    let check_c = TransactWriteItem::builder()
        .condition_check(
            ConditionCheck::builder()
                .table_name(TABLE)
                .set_key(Some(key("c")))
                .condition_expression("attribute_exists(StatusTime)")
                .build()
                .unwrap(),
        )
        .build();
    let err = c
        .transact_write_items()
        .transact_items(put_a.clone())
        .transact_items(update_b.clone())
        .transact_items(check_c)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let TransactWriteItemsError::TransactionCanceledException(cancel) = err else {
        panic!("{err:?}");
    };
    let codes: Vec<_> = cancel
        .cancellation_reasons()
        .iter()
        .map(|r| r.code().unwrap_or_default().to_string())
        .collect();
    assert_eq!(codes, ["None", "None", "ConditionalCheckFailed"]);
    assert_eq!(
        cancel.message(),
        Some("Transaction cancelled, please refer cancellation reasons for specific reasons [None, None, ConditionalCheckFailed]")
    );
    assert_eq!(
        query_names(&c, "Rocinante").await.len(),
        0,
        "nothing written"
    );

    c.transact_write_items()
        .transact_items(put_a)
        .transact_items(update_b)
        .send()
        .await
        .unwrap();
    let got = c
        .transact_get_items()
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name(TABLE)
                        .set_key(Some(key("b")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .transact_items(
            TransactGetItem::builder()
                .get(
                    Get::builder()
                        .table_name(TABLE)
                        .set_key(Some(key("z")))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let responses = got.responses();
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[0].item().unwrap()["Rides"], Av::N("1".into()));
    assert!(responses[1].item().is_none());
}

#[tokio::test]
async fn table_settings_ttl_tags_and_deletion_protection_persist_across_a_restart() {
    use aws_sdk_dynamodb::types::{
        ProvisionedThroughput, Tag, TimeToLiveSpecification, TimeToLiveStatus,
    };
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..Config::default()
    };
    let e = engine::spawn(config.clone()).await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let arn = c
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
        .table_arn
        .unwrap();
    c.tag_resource()
        .resource_arn(&arn)
        .tags(
            Tag::builder()
                .key("module")
                .value("stream-processing")
                .build()
                .unwrap(),
        )
        .tags(Tag::builder().key("gone").value("x").build().unwrap())
        .send()
        .await
        .unwrap();
    c.untag_resource()
        .resource_arn(&arn)
        .tag_keys("gone")
        .send()
        .await
        .unwrap();
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
    c.update_table()
        .table_name(TABLE)
        .billing_mode(BillingMode::Provisioned)
        .provisioned_throughput(
            ProvisionedThroughput::builder()
                .read_capacity_units(5)
                .write_capacity_units(7)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // Protected from deletion, the only change of this update.
    c.update_table()
        .table_name(TABLE)
        .deletion_protection_enabled(true)
        .send()
        .await
        .unwrap();
    e.shutdown().await.unwrap();

    let e = engine::spawn(config).await.unwrap();
    let c = client(&e.url());
    let tags = c
        .list_tags_of_resource()
        .resource_arn(&arn)
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, [("module", "stream-processing")]);
    let ttl = c
        .describe_time_to_live()
        .table_name(TABLE)
        .send()
        .await
        .unwrap();
    let ttl = ttl.time_to_live_description().unwrap();
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name(), Some("ExpiresAt"));
    let desc = c
        .describe_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let t = desc.provisioned_throughput().unwrap();
    assert_eq!(
        (t.read_capacity_units(), t.write_capacity_units()),
        (Some(5), Some(7))
    );
    // The table is found by its ARN only; another name is the service's error.
    let err = c
        .list_tags_of_resource()
        .resource_arn(arn.replace(TABLE, "Other"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert_eq!(desc.deletion_protection_enabled(), Some(true));
    let refused = c
        .delete_table()
        .table_name(TABLE)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        refused.message(),
        Some("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.")
    );
    c.update_table()
        .table_name(TABLE)
        .deletion_protection_enabled(false)
        .send()
        .await
        .unwrap();
    c.delete_table().table_name(TABLE).send().await.unwrap();
    e.shutdown().await.unwrap();
}

/// Concurrent writes share durable commits (group commit); a conditional put
/// still sees every write before it: of 8 racing creators of one item,
/// exactly one wins, and every acknowledged batch is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_are_serialized_and_all_acknowledged_writes_stored() {
    let dir = tempfile::tempdir().unwrap();
    let e = engine::spawn(Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..Config::default()
    })
    .await
    .unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let mut racers = Vec::new();
    for i in 0..8 {
        let c = c.clone();
        racers.push(tokio::spawn(async move {
            c.put_item()
                .table_name(TABLE)
                .item("Name", Av::S("Rocinante".into()))
                .item("StatusTime", Av::S("first".into()))
                .item("Winner", Av::N(i.to_string()))
                .condition_expression("attribute_not_exists(#n)")
                .expression_attribute_names("#n", "Name")
                .send()
                .await
                .is_ok()
        }));
    }
    let mut writers = Vec::new();
    for w in 0..4 {
        let c = c.clone();
        writers.push(tokio::spawn(async move {
            for b in 0..5 {
                let reqs: Vec<_> = (0..25)
                    .map(|i| {
                        let item = HashMap::from([
                            ("Name".to_string(), Av::S(format!("writer{w}"))),
                            (
                                "StatusTime".to_string(),
                                Av::S(format!("{:04}", b * 25 + i)),
                            ),
                        ]);
                        aws_sdk_dynamodb::types::WriteRequest::builder()
                            .put_request(
                                aws_sdk_dynamodb::types::PutRequest::builder()
                                    .set_item(Some(item))
                                    .build()
                                    .unwrap(),
                            )
                            .build()
                    })
                    .collect();
                c.batch_write_item()
                    .request_items(TABLE, reqs)
                    .send()
                    .await
                    .unwrap();
            }
        }));
    }
    let mut wins = 0;
    for r in racers {
        wins += usize::from(r.await.unwrap());
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(wins, 1);
    for w in 0..4 {
        assert_eq!(query_names(&c, &format!("writer{w}")).await.len(), 125);
    }
}

#[tokio::test]
async fn a_transaction_retried_with_its_client_token_runs_once() {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    let key = HashMap::from([
        ("Name".to_string(), Av::S("Rocinante".into())),
        ("StatusTime".to_string(), Av::S("t".into())),
    ]);
    let add = |n: &str| {
        TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(TABLE)
                    .set_key(Some(key.clone()))
                    .update_expression("ADD n :one")
                    .expression_attribute_values(":one", Av::N(n.into()))
                    .build()
                    .unwrap(),
            )
            .build()
    };
    let send = |n: &str, token: &str| {
        c.transact_write_items()
            .transact_items(add(n))
            .client_request_token(token)
            .send()
    };
    // A retry (the SDK sends the same token again) changes nothing more.
    send("1", "token-1").await.unwrap();
    send("1", "token-1").await.unwrap();
    let n = || async {
        let item = c
            .get_item()
            .table_name(TABLE)
            .set_key(Some(key.clone()))
            .send()
            .await
            .unwrap();
        item.item.unwrap()["n"].clone()
    };
    assert_eq!(n().await, Av::N("1".into()));
    // Another request with that token is refused.
    let refused = send("5", "token-1").await.unwrap_err().into_service_error();
    assert!(
        matches!(
            refused,
            TransactWriteItemsError::IdempotentParameterMismatchException(_)
        ),
        "{refused:?}"
    );
    // Without a token of their own, the SDK's calls get one each.
    c.transact_write_items()
        .transact_items(add("1"))
        .send()
        .await
        .unwrap();
    c.transact_write_items()
        .transact_items(add("1"))
        .send()
        .await
        .unwrap();
    assert_eq!(n().await, Av::N("3".into()));
}
