//! Evaluation: conditions on items, updates, projections, key conditions.

use serde_json::json;

use super::key::KeyOp;
use super::tests::ctx;
use super::update::UpdateError;
use super::*;
use crate::dynamodb::value::{item_from_json, item_to_json, AttributeValue, Item};

fn item() -> Item {
    item_from_json(&json!({
        "Name": {"S": "Rocinante"}, "StatusTime": {"S": "2024-01-01 10:00"},
        "Distance": {"N": "42"}, "Tags": {"SS": ["fast", "white"]}, "Nums": {"NS": ["1", "2"]},
        "Blob2": {"B": "AQID"}, "Alive": {"BOOL": true}, "Nothing": {"NULL": true},
        "Doc": {"M": {"elems": {"L": [{"S": "a"}, {"N": "7"}, {"M": {"deep": {"S": "x"}}}]}, "k": {"S": "v"}}}
    }))
    .unwrap()
}

fn values() -> serde_json::Value {
    json!({
        ":rocinante": {"S": "Rocinante"}, ":roc": {"S": "Roc"}, ":n40": {"N": "40"}, ":n42": {"N": "42.0"},
        ":n50": {"N": "50"}, ":s42": {"S": "42"}, ":fast": {"S": "fast"}, ":one": {"N": "1"},
        ":ss": {"S": "SS"}, ":nstype": {"S": "NS"}, ":b12": {"B": "AQI="}, ":two": {"N": "2"}, ":seven": {"N": "7"}, ":a": {"S": "a"},
        ":l": {"L": [{"S": "z"}]}, ":tags": {"SS": ["fast", "new"]}, ":nums": {"NS": ["2", "3"]}, ":m": {"M": {}}
    })
}

fn check(text: &str) -> bool {
    let mut c = ctx(&[("#n", "Name")], values());
    c.condition(ExprKind::Condition, text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .eval(&item())
}

#[test]
fn conditions_follow_the_service_semantics() {
    let truths = [
        "#n = :rocinante",
        "Distance = :n42",
        "Distance BETWEEN :n40 AND :n50",
        "Distance > :n40 AND Distance < :n50",
        "Distance <> :s42",
        "Absent <> :one",
        "attribute_exists(Doc.elems[2].deep)",
        "attribute_not_exists(Doc.elems[3])",
        "attribute_not_exists(Doc.k.deeper)",
        "attribute_type(Tags, :ss)",
        "begins_with(#n, :roc)",
        "begins_with(Blob2, :b12)",
        "contains(Tags, :fast)",
        "contains(#n, :roc)",
        "contains(Nums, :two)",
        "contains(Doc.elems, :seven)",
        "size(Tags) = :two",
        "size(Doc.elems) > :two",
        "Distance IN (:one, :n42)",
        "NOT Distance < :n40",
        "Distance < :n40 OR Alive = Alive2 OR attribute_exists(Nothing)",
        "Doc.elems[1] = :seven",
    ];
    for text in truths {
        assert!(check(text), "{text} should hold");
    }
    let falsehoods = [
        "Absent = :one",
        "Absent < :one",
        "Distance = :s42",
        "Distance < :s42",
        "Distance >= :s42",
        "Tags > :a",
        "size(Absent) = :one",
        "size(Distance) = :one",
        "begins_with(Distance, :roc)",
        "contains(Nums, :fast)",
        "Distance BETWEEN :n50 AND :n50",
        "Distance IN (:one, :two)",
        "attribute_type(Tags, :nstype)",
        "#n = :roc AND attribute_exists(Doc)",
        "NOT attribute_exists(Doc)",
    ];
    for text in falsehoods {
        assert!(!check(text), "{text} should not hold");
    }
}

fn apply(update: &str) -> Result<serde_json::Value, UpdateError> {
    let mut c = ctx(&[], values());
    let u = c.update(update).unwrap_or_else(|e| panic!("{update}: {e}"));
    u.apply(&item()).map(|i| item_to_json(&i))
}

#[test]
fn updates_apply_each_clause() {
    let out = apply("SET Distance = Distance + :one, Doc.k = :a, Doc.elems[1] = :two, Doc.elems[9] = :a, Fresh = if_not_exists(Fresh, :one)").unwrap();
    assert_eq!(out["Distance"], json!({"N": "43"}));
    assert_eq!(out["Doc"]["M"]["k"], json!({"S": "a"}));
    assert_eq!(out["Doc"]["M"]["elems"]["L"][1], json!({"N": "2"}));
    assert_eq!(
        out["Doc"]["M"]["elems"]["L"][3],
        json!({"S": "a"}),
        "past the end appends"
    );
    assert_eq!(out["Fresh"], json!({"N": "1"}));
    let out = apply(
        "SET Distance = if_not_exists(Distance, :one) - :two, L = list_append(:l, Doc.elems)",
    )
    .unwrap();
    assert_eq!(out["Distance"], json!({"N": "40"}));
    assert_eq!(out["L"]["L"].as_array().unwrap().len(), 4);
    let out = apply("REMOVE Doc.elems[0], Doc.elems[2], Tags, NotThere").unwrap();
    assert_eq!(
        out["Doc"]["M"]["elems"],
        json!({"L": [{"N": "7"}]}),
        "indexes are the original elems's"
    );
    assert!(out.get("Tags").is_none());
    let out = apply("ADD Distance :one, Tags :tags, Nums :nums, Tally :two").unwrap();
    assert_eq!(out["Distance"], json!({"N": "43"}));
    assert_eq!(out["Tags"], json!({"SS": ["fast", "white", "new"]}));
    assert_eq!(out["Nums"], json!({"NS": ["1", "2", "3"]}));
    assert_eq!(out["Tally"], json!({"N": "2"}));
    let out = apply("DELETE Tags :tags, Nums :nums, Nope :nums").unwrap();
    assert_eq!(out["Tags"], json!({"SS": ["white"]}));
    assert_eq!(out["Nums"], json!({"NS": ["1"]}));
    let mut c = ctx(&[], json!({":both": {"NS": ["1", "2"]}}));
    let emptied = c
        .update("DELETE Nums :both")
        .unwrap()
        .apply(&item())
        .unwrap();
    assert!(!emptied.contains_key("Nums"), "an emptied set is removed");
}

#[test]
fn update_errors_use_the_service_wording() {
    for (update, error) in [
        ("SET a = Absent", UpdateError::MissingAttribute),
        ("SET a = Absent + :one", UpdateError::MissingAttribute),
        ("SET a = Alive + :one", UpdateError::WrongType),
        ("SET a = list_append(Distance, :l)", UpdateError::WrongType),
        ("ADD Tags :one", UpdateError::WrongType),
        ("ADD Tags :nums", UpdateError::WrongType),
        ("DELETE Distance :tags", UpdateError::WrongType),
        ("SET Absent.a = :one", UpdateError::InvalidPath),
        ("SET Distance.a = :one", UpdateError::InvalidPath),
        ("SET Doc.elems.x = :one", UpdateError::InvalidPath),
        // REMOVE and DELETE need the parent, of the right kind (as recorded).
        ("REMOVE Absent.a", UpdateError::InvalidPath),
        ("REMOVE Absent[1]", UpdateError::InvalidPath),
        ("REMOVE Distance.a", UpdateError::InvalidPath),
        ("DELETE Absent.a :tags", UpdateError::InvalidPath),
        ("DELETE Distance.a :tags", UpdateError::InvalidPath),
        ("DELETE Doc[1] :tags", UpdateError::InvalidPath),
        ("DELETE Doc.elems.x :tags", UpdateError::InvalidPath),
    ] {
        assert_eq!(apply(update), Err(error), "{update}");
    }
    // A missing leaf in a parent of the right kind changes nothing.
    for update in [
        "REMOVE Doc.absent",
        "DELETE Doc.absent :tags",
        "DELETE Absent :tags",
    ] {
        assert_eq!(apply(update), Ok(item_to_json(&item())), "{update}");
    }
    assert_eq!(
        UpdateError::MissingAttribute.to_string(),
        "The provided expression refers to an attribute that does not exist in the item"
    );
    assert_eq!(
        UpdateError::WrongType.to_string(),
        "An operand in the update expression has an incorrect data type"
    );
    let mut c = ctx(
        &[],
        json!({":big": {"N": "9.9999999999999999999999999999999999999E+125"}}),
    );
    let u = c.update("SET a = :big + :big").unwrap();
    assert_eq!(
        u.apply(&Item::new()).unwrap_err().to_string(),
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    );
}

#[test]
fn projections_keep_only_the_named_paths() {
    let mut c = ctx(&[("#n", "Name")], json!({}));
    let p = c
        .projection("#n, Doc.elems[2].deep, Doc.elems[0], Absent, Distance.x")
        .unwrap();
    let out = item_to_json(&p.apply(&item()));
    assert_eq!(
        out,
        json!({
            "Name": {"S": "Rocinante"},
            "Doc": {"M": {"elems": {"L": [{"S": "a"}, {"M": {"deep": {"S": "x"}}}]}}}
        })
    );
}

#[test]
fn key_conditions_are_what_query_allows() {
    let v = json!({":n": {"S": "Rocinante"}, ":t": {"S": "2024"}, ":u": {"S": "2025"}, ":x": {"N": "1"}});
    let key = |text: &str| {
        ctx(&[("#n", "Name")], v.clone())
            .key_condition(text)
            .map_err(|e| e.to_string())
    };
    let k = key("#n = :n AND StatusTime BETWEEN :t AND :u").unwrap();
    let (hash, range) = k
        .for_schema(("Name", "S"), Some(("StatusTime", "S")))
        .unwrap();
    assert_eq!(hash, AttributeValue::S("Rocinante".into()));
    assert!(matches!(range, Some(KeyOp::Between(..))));
    let k = key(":t <= StatusTime AND #n = :n").unwrap();
    assert_eq!(
        k.0[0].1,
        KeyOp::Ge(AttributeValue::S("2024".into())),
        "flipped operands flip the operator"
    );
    assert!(key("begins_with(StatusTime, :t) AND #n = :n").is_ok());
    for (text, message) in [
        ("#n = :n OR StatusTime = :t", "Invalid operator used in KeyConditionExpression: OR"),
        ("#n <> :n", "Invalid operator used in KeyConditionExpression: <>"),
        ("#n IN (:n)", "Invalid operator used in KeyConditionExpression: IN"),
        ("attribute_exists(#n)", "Invalid operator used in KeyConditionExpression: attribute_exists"),
        ("#n = :n AND #n = :n", "KeyConditionExpressions must only contain one condition per key"),
        ("#n.a = :n", "KeyConditionExpressions cannot have conditions on nested attributes"),
        ("size(#n) = :x", "KeyConditionExpressions cannot contain nested operations"),
        ("#n = StatusTime", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
        (":n = :t", "Invalid condition in KeyConditionExpression: No key attribute specified"),
        ("begins_with(StatusTime, :x)", "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
    ] {
        assert_eq!(key(text).unwrap_err(), message, "{text}");
    }
    let schema = |text: &str| {
        key(text)
            .unwrap()
            .for_schema(("Name", "S"), Some(("StatusTime", "S")))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        schema("StatusTime = :t"),
        Err("Query condition missed key schema element: Name".into())
    );
    assert_eq!(
        schema("#n > :n"),
        Err("Query key condition not supported".into())
    );
    assert_eq!(schema("#n = :x"), Err("One or more parameter values were invalid: Condition parameter type does not match schema type".into()));
    assert_eq!(
        schema("#n = :n AND Spare = :t"),
        Err("Query condition missed key schema element: StatusTime".into())
    );
    assert_eq!(schema("#n = :n"), Ok(()));
    let hash_only = key("#n = :n AND StatusTime = :t")
        .unwrap()
        .for_schema(("Name", "S"), None);
    assert_eq!(
        hash_only.unwrap_err().to_string(),
        "Query key condition not supported"
    );
}

#[test]
fn size_of_a_string_counts_characters() {
    use super::eval::size_of;
    let three = crate::dynamodb::number::Number::parse("3").ok();
    assert_eq!(size_of(&AttributeValue::S("abÿ".into())), three);
    assert_eq!(size_of(&AttributeValue::B(b"abc".to_vec())), three);
}

#[test]
fn parenthesised_update_values_parse_and_lists_fill_in_index_order() {
    // Doc.elems has three elements; the new ones go past the end.
    let out = apply(
        "SET Doc.elems[5] = (Distance - :one), Doc.elems[3] = ((Distance) + (:one)), x = (:one)",
    )
    .unwrap();
    assert_eq!(
        out["Doc"]["M"]["elems"]["L"],
        json!([{"S": "a"}, {"N": "7"}, {"M": {"deep": {"S": "x"}}}, {"N": "43"}, {"N": "41"}])
    );
    assert_eq!(out["x"], json!({"N": "1"}));
    let mut c = ctx(&[], values());
    for text in [
        "SET (a = (b + c))",
        "SET a = (b.c).d + e",
        "SET a = (b.c)[0] + e",
    ] {
        let err = c.update(text).unwrap_err().to_string();
        assert!(
            err.starts_with("Invalid UpdateExpression: Syntax error; "),
            "{text}: {err}"
        );
    }
}
