//! What item actions return: the item a failed condition found, when the
//! request asks for it (`ReturnValuesOnConditionCheckFailure`), and an
//! update's `UPDATED_OLD` / `UPDATED_NEW`, which hold the changed paths only;
//! and a BatchGetItem's partial answer past 16 MB.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue as Av, ReturnValuesOnConditionCheckFailure as OnFail,
};
use serde_json::json;

use super::conformance::{ok, tables};

#[tokio::test]
async fn a_failed_condition_returns_the_item_when_asked_to() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let c = super::client(&url);
    let stored = [("a", Av::S("k".into())), ("n", Av::N("1".into()))];
    c.put_item()
        .table_name("hash")
        .set_item(Some(stored.clone().map(|(k, v)| (k.into(), v)).into()))
        .send()
        .await
        .unwrap();
    let key = || Av::S("k".into());
    let exists = "attribute_not_exists(a)";

    let put = |on_fail| {
        c.put_item()
            .table_name("hash")
            .item("a", key())
            .condition_expression(exists)
            .return_values_on_condition_check_failure(on_fail)
            .send()
    };
    let failed = put(OnFail::AllOld).await.unwrap_err().into_service_error();
    let PutItemError::ConditionalCheckFailedException(failed) = failed else {
        panic!("{failed:?}")
    };
    assert_eq!(
        failed.item().unwrap(),
        &stored.clone().map(|(k, v)| (k.into(), v)).into()
    );
    let failed = put(OnFail::None).await.unwrap_err().into_service_error();
    let PutItemError::ConditionalCheckFailedException(failed) = failed else {
        panic!("{failed:?}")
    };
    assert_eq!(failed.item(), None);

    let failed = c
        .update_item()
        .table_name("hash")
        .key("a", key())
        .update_expression("SET n = :n")
        .condition_expression("n = :n")
        .expression_attribute_values(":n", Av::N("2".into()))
        .return_values_on_condition_check_failure(OnFail::AllOld)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let UpdateItemError::ConditionalCheckFailedException(failed) = failed else {
        panic!("{failed:?}")
    };
    assert_eq!(failed.item().unwrap()["n"], Av::N("1".into()));

    let delete = |key: &str| {
        c.delete_item()
            .table_name("hash")
            .key("a", Av::S(key.into()))
            .condition_expression("n = :n")
            .expression_attribute_values(":n", Av::N("2".into()))
            .return_values_on_condition_check_failure(OnFail::AllOld)
            .send()
    };
    let failed = delete("k").await.unwrap_err().into_service_error();
    let DeleteItemError::ConditionalCheckFailedException(failed) = failed else {
        panic!("{failed:?}")
    };
    assert_eq!(failed.item().unwrap()["n"], Av::N("1".into()));
    // No item: no Item in the error.
    let failed = delete("missing").await.unwrap_err().into_service_error();
    let DeleteItemError::ConditionalCheckFailedException(failed) = failed else {
        panic!("{failed:?}")
    };
    assert_eq!(failed.item(), None);
}

#[tokio::test]
async fn updated_old_and_new_hold_only_the_changed_paths() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let item = json!({
        "a": {"S": "k"},
        "m": {"M": {
            "b": {"L": [{"N": "1"}, {"N": "2"}, {"M": {"c": {"S": "x"}, "d": {"S": "y"}}}]},
            "z": {"S": "q"},
        }},
        "t": {"S": "kept"},
    });
    ok(&url, "PutItem", json!({"TableName": "hash", "Item": item})).await;
    let update = |expression: &str, values: serde_json::Value, rv: &str| {
        let mut body = json!({
            "TableName": "hash",
            "Key": {"a": {"S": "k"}},
            "UpdateExpression": expression,
            "ReturnValues": rv,
        });
        if !values.as_object().unwrap().is_empty() {
            body["ExpressionAttributeValues"] = values;
        }
        body
    };
    // The changed path only, as it is now, then as it was.
    let at_c = |v: &str| json!({"m": {"M": {"b": {"L": [{"M": {"c": {"S": v}}}]}}}});
    for (value, rv, answered) in [
        ("new", "UPDATED_NEW", "new"),
        ("newer", "UPDATED_OLD", "new"),
    ] {
        let values = json!({":v": {"S": value}});
        let answer = ok(&url, "UpdateItem", update("SET m.b[2].c = :v", values, rv)).await;
        assert_eq!(answer["Attributes"], at_c(answered), "{rv}");
    }
    let v = json!({":v": {"S": "new"}});
    let answer = ok(
        &url,
        "UpdateItem",
        update("REMOVE m.z", json!({}), "UPDATED_OLD"),
    )
    .await;
    assert_eq!(answer["Attributes"], json!({"m": {"M": {"z": {"S": "q"}}}}));
    // A removed path holds nothing new.
    let answer = ok(
        &url,
        "UpdateItem",
        update("REMOVE m.b[0] SET t2 = :v", v, "UPDATED_NEW"),
    )
    .await;
    assert_eq!(answer["Attributes"], json!({"t2": {"S": "new"}}));
}

#[tokio::test]
async fn a_batch_get_answers_16_mb_at_most_and_leaves_the_rest_unprocessed() {
    let e = engine::spawn_in_memory().await.unwrap();
    let url = e.url();
    tables(&url).await;
    let big = "x".repeat(390 * 1024);
    let keys: Vec<serde_json::Value> = (0..50)
        .map(|i| json!({"a": {"S": format!("k{i}")}}))
        .collect();
    for key in &keys {
        let mut item = key.clone();
        item["b"] = json!({"S": big});
        ok(&url, "PutItem", json!({"TableName": "hash", "Item": item})).await;
    }
    let get = |keys: serde_json::Value| json!({"RequestItems": {"hash": {"Keys": keys}}});
    let answer = ok(&url, "BatchGetItem", get(json!(keys))).await;
    let answered = answer["Responses"]["hash"].as_array().unwrap().len();
    let rest = answer["UnprocessedKeys"]["hash"]["Keys"]
        .as_array()
        .unwrap()
        .clone();
    // 16 MiB hold 42 items of 390 KiB and a bit.
    assert_eq!((answered, rest.len()), (42, 8));
    let answer = ok(&url, "BatchGetItem", get(json!(rest))).await;
    assert_eq!(answer["Responses"]["hash"].as_array().unwrap().len(), 8);
    assert_eq!(answer["UnprocessedKeys"], json!({}));
}
