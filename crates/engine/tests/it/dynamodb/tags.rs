//! Tags: TagResource, UntagResource, ListTagsOfResource and CreateTable's
//! Tags, through the SDK; the order of the service's checks and its
//! wording (as recorded by dynalite's suite) as raw JSON.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, Tag,
};
use aws_sdk_dynamodb::Client;
use engine::{Config, ManualClock};
use serde_json::json;

use super::conformance::{call, invalid, ok, refused};
use super::{client, TABLE};

const ARN: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/UnicornSensorData";

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build().unwrap()
}

/// The workshop's table, created with `tags`.
async fn create_tagged(c: &Client, tags: Vec<Tag>) -> Result<(), String> {
    c.create_table()
        .table_name(TABLE)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("Name")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("Name")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .set_tags(Some(tags))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| {
            let e = e.into_service_error();
            format!("{}: {}", e.code().unwrap_or(""), e.message().unwrap_or(""))
        })
}

async fn tags_of(c: &Client) -> Vec<(String, String)> {
    let out = c
        .list_tags_of_resource()
        .resource_arn(ARN)
        .send()
        .await
        .unwrap();
    out.tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn tags_are_given_at_creation_changed_by_arn_limited_and_durable() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..Config::default()
    };
    let e = engine::spawn(config.clone()).await.unwrap();
    let c = client(&e.url());
    // 51 tags: refused, and no table is created.
    let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
    assert_eq!(
        create_tagged(&c, many).await.unwrap_err(),
        "ValidationException: Number of Tags exceed the current limit for the provided ResourceArn"
    );
    assert!(c
        .list_tables()
        .send()
        .await
        .unwrap()
        .table_names()
        .is_empty());
    create_tagged(&c, vec![tag("team", "rides"), tag("stage", "dev")])
        .await
        .unwrap();
    let desc = c.describe_table().table_name(TABLE).send().await.unwrap();
    assert_eq!(desc.table().unwrap().table_arn(), Some(ARN));
    assert_eq!(
        tags_of(&c).await,
        pairs(&[("stage", "dev"), ("team", "rides")])
    );
    // A key given again takes the new value; untagging an absent key is fine.
    c.tag_resource()
        .resource_arn(ARN)
        .tags(tag("team", "fleet"))
        .tags(tag("cost center", "unicorns: 42/a+b=c@d"))
        .tags(tag("empty", ""))
        .send()
        .await
        .unwrap();
    c.untag_resource()
        .resource_arn(ARN)
        .tag_keys("stage")
        .tag_keys("never-there")
        .send()
        .await
        .unwrap();
    let expected = pairs(&[
        ("cost center", "unicorns: 42/a+b=c@d"),
        ("empty", ""),
        ("team", "fleet"),
    ]);
    assert_eq!(tags_of(&c).await, expected);
    // At most 50 on a table: 47 more is one too many, and nothing changes.
    let refused = c
        .tag_resource()
        .resource_arn(ARN)
        .set_tags(Some((0..48).map(|i| tag(&format!("k{i}"), "v")).collect()))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(refused.code(), Some("ValidationException"));
    assert_eq!(tags_of(&c).await, expected);
    c.tag_resource()
        .resource_arn(ARN)
        .set_tags(Some((0..47).map(|i| tag(&format!("k{i}"), "v")).collect()))
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of(&c).await.len(), 50);
    // Keys and values: the service's characters and lengths.
    let long = "x".repeat(129);
    let too_long = format!("1 validation error detected: Value '{long}' at 'tags.1.member.key' failed to satisfy constraint: Member must have length less than or equal to 128");
    for (k, v, message) in [
        ("hi!", "x", "The Tag Key provided is invalid, Key: hi!"),
        ("ok", "d%g", "The Tag Value provided is invalid, Value: d%g"),
        (
            "aws:owner",
            "x",
            "Tag Key cannot be prefixed with aws:, Key: aws:owner",
        ),
        (long.as_str(), "x", too_long.as_str()),
    ] {
        let e = c
            .tag_resource()
            .resource_arn(ARN)
            .tags(tag(k, v))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(
            (e.code(), e.message()),
            (Some("ValidationException"), Some(message))
        );
    }
    // A table's tags are durable with it.
    e.shutdown().await.unwrap();
    let e = engine::spawn(config).await.unwrap();
    let c = client(&e.url());
    assert_eq!(tags_of(&c).await.len(), 50);
    c.delete_table().table_name(TABLE).send().await.unwrap();
    let e2 = c
        .list_tags_of_resource()
        .resource_arn(ARN)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(e2.code(), Some("ResourceNotFoundException"));
    e.shutdown().await.unwrap();
}

#[tokio::test]
async fn tagging_checks_come_in_the_services_order_with_its_wording() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    let short = "arn:aws:dynamodb:us-east-1:000000000000:table/ab";
    let absent = "arn:aws:dynamodb:us-east-1:000000000000:table/absent";
    let tags = json!([{"Key": "a", "Value": "b"}]);
    for action in ["TagResource", "UntagResource", "ListTagsOfResource"] {
        // A missing ResourceArn, before any other check.
        invalid(&url, action, json!({}), "Invalid TableArn").await;
        // No ARN at all: refused by IAM, before the model's checks.
        for (arn, resource) in [("", "*"), ("abcd", "abcd"), ("a:b:c:d:e/f", "a:b:c:d:e/f")] {
            let (status, answer) =
                call(&url, action, &json!({"ResourceArn": arn}).to_string()).await;
            assert_eq!(status, 400);
            assert_eq!(
                answer,
                json!({
                    "__type": "com.amazon.coral.service#AccessDeniedException",
                    "Message": format!("User: arn:aws:iam::000000000000:root is not authorized to perform: dynamodb:{action} on resource: {resource}"),
                })
            );
        }
    }
    // The model's checks, then the ARN's, then the tags.
    invalid(
        &url,
        "TagResource",
        json!({"ResourceArn": "a:b:c:d:e:f/g"}),
        "1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null",
    )
    .await;
    invalid(
        &url,
        "UntagResource",
        json!({"ResourceArn": "a:b:c:d:e:f/g"}),
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
    )
    .await;
    for arn in [
        "a:b:c:d:e:f/g",
        short,
        "arn:aws:dynamodb:eu-west-1:000000000000:table/absent",
        "arn:aws:dynamodb:us-east-1:000000000000:table/absent/index/x",
    ] {
        let message = format!("Invalid TableArn: Invalid ResourceArn provided as input {arn}");
        invalid(
            &url,
            "TagResource",
            json!({"ResourceArn": arn, "Tags": []}),
            &message,
        )
        .await;
        invalid(
            &url,
            "UntagResource",
            json!({"ResourceArn": arn, "TagKeys": []}),
            &message,
        )
        .await;
        invalid(
            &url,
            "ListTagsOfResource",
            json!({"ResourceArn": arn}),
            &message,
        )
        .await;
    }
    invalid(
        &url,
        "TagResource",
        json!({"ResourceArn": absent, "Tags": []}),
        "Atleast one Tag needs to be provided as Input.",
    )
    .await;
    invalid(
        &url,
        "UntagResource",
        json!({"ResourceArn": absent, "TagKeys": []}),
        "Atleast one Tag Key needs to be provided as Input.",
    )
    .await;
    invalid(
        &url,
        "TagResource",
        json!({"ResourceArn": absent, "Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}),
        "Duplicate Tag Keys provided as input: Duplicate Tag Key found a",
    )
    .await;
    // Then the table.
    let not_found = format!("Requested resource not found: ResourcArn: {absent} not found");
    let missing = "ResourceNotFoundException";
    refused(
        &url,
        "TagResource",
        json!({"ResourceArn": absent, "Tags": tags}),
        missing,
        &not_found,
    )
    .await;
    refused(
        &url,
        "ListTagsOfResource",
        json!({"ResourceArn": absent}),
        missing,
        &not_found,
    )
    .await;
    refused(
        &url,
        "UntagResource",
        json!({"ResourceArn": absent, "TagKeys": ["a"]}),
        missing,
        "Requested resource not found",
    )
    .await;
    // Another account's table: not this caller's to tag.
    let theirs = "arn:aws:dynamodb:us-east-1:111111111111:table/absent";
    let (_, answer) = call(
        &url,
        "ListTagsOfResource",
        &json!({"ResourceArn": theirs}).to_string(),
    )
    .await;
    assert_eq!(
        answer["__type"],
        "com.amazon.coral.service#AccessDeniedException"
    );
}

#[tokio::test]
async fn tags_of_a_table_being_created_are_not_found_and_of_one_being_deleted_stay_put() {
    let clock = ManualClock::frozen();
    let e = engine::spawn(Config {
        clock: Arc::new(clock.clone()),
        stream_activation_delay: Duration::from_secs(5),
        ..Config::default()
    })
    .await
    .unwrap();
    let url = e.url();
    let c = client(&url);
    create_tagged(&c, vec![tag("team", "rides")]).await.unwrap();
    let not_found = format!("Requested resource not found: ResourcArn: {ARN} not found");
    let missing = "ResourceNotFoundException";
    refused(
        &url,
        "ListTagsOfResource",
        json!({"ResourceArn": ARN}),
        missing,
        &not_found,
    )
    .await;
    refused(
        &url,
        "TagResource",
        json!({"ResourceArn": ARN, "Tags": [{"Key": "a", "Value": "b"}]}),
        missing,
        &not_found,
    )
    .await;
    clock.advance(Duration::from_secs(5));
    assert_eq!(tags_of(&c).await, pairs(&[("team", "rides")]));
    ok(&url, "DeleteTable", json!({"TableName": TABLE})).await;
    refused(
        &url,
        "TagResource",
        json!({"ResourceArn": ARN, "Tags": [{"Key": "a", "Value": "b"}]}),
        "ResourceInUseException",
        "Attempt to change a resource which is still in use: Table is being deleted: UnicornSensorData",
    )
    .await;
    assert_eq!(tags_of(&c).await, pairs(&[("team", "rides")]));
}
