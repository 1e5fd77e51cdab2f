//! The legacy (pre-expression) parameters: Expected with
//! ConditionalOperator, KeyConditions, QueryFilter, ScanFilter,
//! AttributesToGet and AttributeUpdates.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeAction, AttributeValue as Av, AttributeValueUpdate, ComparisonOperator as Op,
    Condition, ConditionalOperator, ExpectedAttributeValue, KeysAndAttributes,
};
use aws_sdk_dynamodb::Client;

use super::{batch_write, client, create_workshop_table, summary, TABLE};

fn s(v: &str) -> Av {
    Av::S(v.into())
}

fn n(v: &str) -> Av {
    Av::N(v.into())
}

fn key(minute: u32) -> HashMap<String, Av> {
    HashMap::from([
        ("Name".to_string(), s("Rocinante")),
        (
            "StatusTime".to_string(),
            s(&format!("2026-12-02 01:{minute:02}:00.000")),
        ),
    ])
}

fn cond(op: Op, values: &[Av]) -> Condition {
    Condition::builder()
        .comparison_operator(op)
        .set_attribute_value_list(Some(values.to_vec()))
        .build()
        .unwrap()
}

fn expect_op(op: Op, values: &[Av]) -> ExpectedAttributeValue {
    ExpectedAttributeValue::builder()
        .comparison_operator(op)
        .set_attribute_value_list((!values.is_empty()).then(|| values.to_vec()))
        .build()
}

async fn setup() -> (engine::EngineHandle, Client) {
    let e = engine::spawn_in_memory().await.unwrap();
    let c = client(&e.url());
    create_workshop_table(&c).await;
    (e, c)
}

/// Summary of minute 0 with Tags {a, b}.
fn tagged() -> HashMap<String, Av> {
    let mut item = summary("Rocinante", 0);
    item.insert("Tags".into(), Av::Ss(vec!["a".into(), "b".into()]));
    item
}

/// PutItem of [`tagged`] with `expected` (joined by `or` when set): Ok, or
/// the error's code.
async fn put_expecting(
    c: &Client,
    expected: Vec<(&str, ExpectedAttributeValue)>,
    or: bool,
) -> Result<(), String> {
    let mut req = c.put_item().table_name(TABLE).set_item(Some(tagged()));
    for (name, e) in expected {
        req = req.expected(name, e);
    }
    if or {
        req = req.conditional_operator(ConditionalOperator::Or);
    }
    req.send().await.map(|_| ()).map_err(|e| {
        e.into_service_error()
            .code()
            .unwrap_or_default()
            .to_string()
    })
}

#[tokio::test]
async fn expected_exists_false_refuses_to_overwrite() {
    let (_e, c) = setup().await;
    let absent = ExpectedAttributeValue::builder().exists(false).build();
    // No item yet: the put goes through.
    put_expecting(&c, vec![("Name", absent.clone())], false)
        .await
        .unwrap();
    c.update_item()
        .table_name(TABLE)
        .set_key(Some(key(0)))
        .update_expression("SET Marker = :m")
        .expression_attribute_values(":m", s("kept"))
        .send()
        .await
        .unwrap();
    let err = put_expecting(&c, vec![("Name", absent)], false)
        .await
        .unwrap_err();
    assert_eq!(err, "ConditionalCheckFailedException");
    let item = c
        .get_item()
        .table_name(TABLE)
        .set_key(Some(key(0)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["Marker"], s("kept"), "the item was overwritten");
    // The Value form: equal passes, different fails.
    let value = |v| ExpectedAttributeValue::builder().value(v).build();
    put_expecting(&c, vec![("Marker", value(s("kept")))], false)
        .await
        .unwrap();
    let err = put_expecting(&c, vec![("Distance", value(n("7")))], false)
        .await
        .unwrap_err();
    assert_eq!(err, "ConditionalCheckFailedException");
}

#[tokio::test]
async fn expected_comparison_operators() {
    let (_e, c) = setup().await;
    // The stored item: Distance 100, Name "Rocinante", Tags {a, b}.
    c.put_item()
        .table_name(TABLE)
        .set_item(Some(tagged()))
        .send()
        .await
        .unwrap();
    let cases: Vec<(&str, Op, Vec<Av>, Vec<Av>)> = vec![
        // attribute, operator, values that hold, values that do not
        ("Distance", Op::Eq, vec![n("100")], vec![n("101")]),
        ("Distance", Op::Ne, vec![n("101")], vec![n("100")]),
        ("Distance", Op::Lt, vec![n("101")], vec![n("100")]),
        ("Distance", Op::Le, vec![n("100")], vec![n("99")]),
        ("Distance", Op::Gt, vec![n("99")], vec![n("100")]),
        ("Distance", Op::Ge, vec![n("100")], vec![n("101")]),
        ("Distance", Op::NotNull, vec![], vec![]),
        ("Missing", Op::Null, vec![], vec![]),
        ("Name", Op::Contains, vec![s("cin")], vec![s("xyz")]),
        ("Tags", Op::Contains, vec![s("a")], vec![s("c")]),
        ("Name", Op::NotContains, vec![s("xyz")], vec![s("cin")]),
        ("Name", Op::BeginsWith, vec![s("Roc")], vec![s("cin")]),
        (
            "Distance",
            Op::In,
            vec![n("1"), n("100")],
            vec![n("1"), n("2")],
        ),
        (
            "Distance",
            Op::Between,
            vec![n("50"), n("100")],
            vec![n("101"), n("200")],
        ),
    ];
    for (attr, op, holds, fails) in cases {
        put_expecting(&c, vec![(attr, expect_op(op.clone(), &holds))], false)
            .await
            .unwrap_or_else(|e| panic!("{attr} {op:?} {holds:?}: {e}"));
        let no_values = matches!(op, Op::NotNull | Op::Null);
        // NOT_NULL and NULL fail on the other attribute's state.
        let (attr, op) = match op {
            Op::NotNull => ("Missing", Op::NotNull),
            Op::Null => ("Distance", Op::Null),
            other => (attr, other),
        };
        let err = put_expecting(&c, vec![(attr, expect_op(op.clone(), &fails))], false)
            .await
            .unwrap_err();
        assert_eq!(
            err, "ConditionalCheckFailedException",
            "{attr} {op:?} {fails:?} (no values: {no_values})"
        );
    }
    // AND by default, OR on request.
    let both = || {
        vec![
            ("Distance", expect_op(Op::Eq, &[n("100")])),
            ("Missing", expect_op(Op::NotNull, &[])),
        ]
    };
    assert_eq!(
        put_expecting(&c, both(), false).await.unwrap_err(),
        "ConditionalCheckFailedException"
    );
    put_expecting(&c, both(), true).await.unwrap();
}

#[tokio::test]
async fn key_conditions_query_filter_and_attributes_to_get() {
    let (_e, c) = setup().await;
    batch_write(&c, (0..6).map(|m| summary("Rocinante", m)).collect()).await;
    batch_write(&c, (0..3).map(|m| summary("Shadowfax", m)).collect()).await;
    let query = |range: Option<Condition>| {
        let mut q = c
            .query()
            .table_name(TABLE)
            .key_conditions("Name", cond(Op::Eq, &[s("Rocinante")]));
        if let Some(r) = range {
            q = q.key_conditions("StatusTime", r);
        }
        q
    };
    let minutes = |items: &[HashMap<String, Av>]| -> Vec<String> {
        items
            .iter()
            .map(|i| i["Distance"].as_n().unwrap().clone())
            .collect()
    };
    let out = query(None).send().await.unwrap();
    assert_eq!(out.count, 6);
    let t = |m: u32| s(&format!("2026-12-02 01:{m:02}:00.000"));
    let out = query(Some(cond(Op::Between, &[t(1), t(3)])))
        .send()
        .await
        .unwrap();
    assert_eq!(minutes(out.items()), ["101", "102", "103"]);
    let out = query(Some(cond(Op::Gt, &[t(3)])))
        .scan_index_forward(false)
        .send()
        .await
        .unwrap();
    assert_eq!(minutes(out.items()), ["105", "104"]);
    let out = query(Some(cond(Op::BeginsWith, &[s("2026-12-02 01:0")])))
        .send()
        .await
        .unwrap();
    assert_eq!(out.count, 6);
    // QueryFilter and AttributesToGet.
    let out = query(None)
        .query_filter("Distance", cond(Op::Ge, &[n("104")]))
        .attributes_to_get("Distance")
        .attributes_to_get("Name")
        .send()
        .await
        .unwrap();
    assert_eq!((out.count, out.scanned_count), (2, 6));
    assert_eq!(minutes(out.items()), ["104", "105"]);
    assert!(out.items().iter().all(|i| i.len() == 2));
    // A non-indexable operator on the key.
    let err = query(Some(cond(Op::Ne, &[t(1)])))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("Attempted conditional constraint is not an indexable operation")
    );
    // ScanFilter over both partitions.
    let out = c
        .scan()
        .table_name(TABLE)
        .scan_filter("Distance", cond(Op::In, &[n("100"), n("102")]))
        .send()
        .await
        .unwrap();
    assert_eq!(out.count, 4);
}

#[tokio::test]
async fn attributes_to_get_on_get_item_and_batch_get_item() {
    let (_e, c) = setup().await;
    batch_write(&c, (0..2).map(|m| summary("Rocinante", m)).collect()).await;
    let item = c
        .get_item()
        .table_name(TABLE)
        .set_key(Some(key(0)))
        .attributes_to_get("Distance")
        .attributes_to_get("Nothing")
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item, HashMap::from([("Distance".to_string(), n("100"))]));
    let out = c
        .batch_get_item()
        .request_items(
            TABLE,
            KeysAndAttributes::builder()
                .keys(key(0))
                .keys(key(1))
                .attributes_to_get("StatusTime")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let items = &out.responses.unwrap()[TABLE];
    assert_eq!(items.len(), 2);
    assert!(items
        .iter()
        .all(|i| i.len() == 1 && i.contains_key("StatusTime")));
}

#[tokio::test]
async fn attribute_updates_put_add_delete() {
    let (_e, c) = setup().await;
    let update = |action: AttributeAction, v: Option<Av>| {
        AttributeValueUpdate::builder()
            .action(action)
            .set_value(v)
            .build()
    };
    let out = c
        .update_item()
        .table_name(TABLE)
        .set_key(Some(key(0)))
        .attribute_updates("Label", update(AttributeAction::Put, Some(s("x"))))
        .attribute_updates("Rides", update(AttributeAction::Add, Some(n("2"))))
        .attribute_updates(
            "Tags",
            update(
                AttributeAction::Add,
                Some(Av::Ss(vec!["a".into(), "b".into(), "c".into()])),
            ),
        )
        .attribute_updates(
            "Log",
            update(AttributeAction::Add, Some(Av::L(vec![n("1")]))),
        )
        .send()
        .await
        .unwrap();
    assert!(out.attributes.is_none());
    let out = c
        .update_item()
        .table_name(TABLE)
        .set_key(Some(key(0)))
        .attribute_updates("Label", update(AttributeAction::Delete, None))
        .attribute_updates("Rides", update(AttributeAction::Add, Some(n("3"))))
        .attribute_updates(
            "Tags",
            update(AttributeAction::Delete, Some(Av::Ss(vec!["b".into()]))),
        )
        .attribute_updates(
            "Log",
            update(AttributeAction::Add, Some(Av::L(vec![n("2")]))),
        )
        .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
        .send()
        .await
        .unwrap();
    let item = out.attributes.unwrap();
    assert!(!item.contains_key("Label"));
    assert_eq!(item["Rides"], n("5"));
    assert_eq!(item["Tags"], Av::Ss(vec!["a".into(), "c".into()]));
    assert_eq!(item["Log"], Av::L(vec![n("1"), n("2")]));
    // A DELETE or ADD of another type: the legacy parameter's own words.
    for (name, wrong) in [
        ("Tags", Av::Ns(vec!["1".into()])),
        ("Rides", Av::Ns(vec!["1".into()])),
    ] {
        let err = c
            .update_item()
            .table_name(TABLE)
            .set_key(Some(key(0)))
            .attribute_updates(name, update(AttributeAction::Delete, Some(wrong.clone())))
            .send()
            .await
            .unwrap_err()
            .into_service_error();
        assert_eq!(
            err.message(),
            Some("Type mismatch for attribute to update"),
            "{name}"
        );
    }
    // Updating a key attribute is refused.
    let err = c
        .update_item()
        .table_name(TABLE)
        .set_key(Some(key(0)))
        .attribute_updates("StatusTime", update(AttributeAction::Put, Some(s("y"))))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Cannot update attribute StatusTime. This attribute is part of the key")
    );
}

#[tokio::test]
async fn legacy_validation_messages() {
    let (_e, c) = setup().await;
    let err = c
        .put_item()
        .table_name(TABLE)
        .set_item(Some(summary("Rocinante", 0)))
        .expected(
            "Name",
            ExpectedAttributeValue::builder().exists(false).build(),
        )
        .condition_expression("attribute_not_exists(#n)")
        .expression_attribute_names("#n", "Name")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationException"));
    assert_eq!(
        err.message(),
        Some("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}")
    );
    let err = c
        .delete_item()
        .table_name(TABLE)
        .set_key(Some(key(0)))
        .expected("Distance", expect_op(Op::Between, &[n("1")]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Invalid number of argument(s) for the BETWEEN ComparisonOperator")
    );
    let err = c
        .put_item()
        .table_name(TABLE)
        .set_item(Some(summary("Rocinante", 0)))
        .expected(
            "Distance",
            ExpectedAttributeValue::builder()
                .exists(false)
                .value(n("1"))
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: Distance")
    );
    let err = c
        .query()
        .table_name(TABLE)
        .key_conditions("Name", cond(Op::Eq, &[s("Rocinante")]))
        .query_filter("Distance", cond(Op::Between, &[n("5"), n("1")]))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("The BETWEEN condition was provided a range where the lower bound is greater than the upper bound")
    );
    let err = c
        .get_item()
        .table_name(TABLE)
        .set_key(Some(key(0)))
        .attributes_to_get("Distance")
        .projection_expression("Distance")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        err.message(),
        Some("Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}")
    );
}
