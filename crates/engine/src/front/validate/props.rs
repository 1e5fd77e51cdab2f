//! The models themselves (they load, their Java patterns keep their meaning), DynamoDB's
//! wording of wrong types, and property tests: no input makes `check` panic.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::model::{java_to_rust, Kind};
use super::tests::serialization;
use super::{check, dynamodb, kinesis, Model};

#[test]
fn both_models_load_and_every_pattern_compiles() {
    for (model, operations) in [(kinesis(), 39), (dynamodb(), 57)] {
        assert_eq!(model.operations().len(), operations);
        for s in &model.shapes {
            if let Some(p) = &s.pattern {
                assert!(
                    p.regex.is_some(),
                    "{}: pattern {} does not compile",
                    s.name,
                    p.source
                );
            }
        }
    }
    assert_eq!(kinesis().namespace, "com.amazonaws.kinesis.v20131202");
}

#[test]
fn java_patterns_keep_their_java_meaning() {
    let cases: &[(&str, &str, bool)] = &[
        (r"\d+", "0123456789", true),
        (r"\d+", "\u{0663}", false), // Java's \d is ASCII only
        (r"[\w]+", "a_Z9", true),
        (r"\w+", "é", false),
        (r"\S+", "a b", false),
        (r"\S+", "é", true),
        (r"[,;:|\t ]", "\t", true),
        (r"\p{Print}+", "a b~", true),
        (r"\p{Print}+", "é", false),
        (
            r"[A-Za-z0-9][A-Za-z0-9\-\_\.]{0,126}[A-Za-z0-9]",
            "a-_.b",
            true,
        ),
        (r"stream\/[a-z]+", "stream/x", true),
        (
            r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*",
            "a😀\n",
            true,
        ),
        (
            r"[\u0020-\uD7FF\uE000-\uFFFD\uD800\uDC00-\uDBFF\uDFFF\r\n\t]*",
            "\u{1}",
            false,
        ),
        (r"^[^\$]+$", "a$", false),
        (r"[\x20-\x21\x23-\x2B]*", "!+", true),
        ("0|([1-9]\\d{0,38})", "01", false), // the whole value must match
        (r"a.+", "a\rb", false),
        (r"a[.]", "a.", true),
    ];
    for &(java, text, matches) in cases {
        let rust = regex::Regex::new(&format!("^(?:{})$", java_to_rust(java))).unwrap();
        assert_eq!(
            rust.is_match(text),
            matches,
            "{java} on {text:?} (as {rust})"
        );
    }
}

#[test]
fn wrong_types_are_worded_as_dynamodb_words_them() {
    let object = "Start of structure or map found where not expected";
    let cases: Vec<(&str, Value, &str)> = vec![
        ("DescribeTable", json!({"TableName": true}), "TRUE_VALUE cannot be converted to String"),
        ("DescribeTable", json!({"TableName": 1}), "NUMBER_VALUE cannot be converted to String"),
        ("DescribeTable", json!({"TableName": 1.5}), "DECIMAL_VALUE cannot be converted to String"),
        ("DescribeTable", json!({"TableName": []}), "Unrecognized collection type class java.lang.String"),
        ("DescribeTable", json!({"TableName": {}}), object),
        ("ListTables", json!({"Limit": "1"}), "STRING_VALUE cannot be converted to Integer"),
        ("ListTables", json!({"Limit": false}), "FALSE_VALUE cannot be converted to Integer"),
        ("CreateTable", json!({"ProvisionedThroughput": "x"}), "Unexpected field type"),
        ("CreateTable", json!({"ProvisionedThroughput": []}), "Unrecognized collection type class com.amazonaws.dynamodb.v20120810.ProvisionedThroughput"),
        ("CreateTable", json!({"KeySchema": "x"}), "Unexpected field type"),
        ("CreateTable", json!({"KeySchema": {}}), object),
        ("CreateTable", json!({"KeySchema": [1]}), "Unexpected value type in payload"),
        ("GetItem", json!({"Key": []}), "Unrecognized collection type java.util.Map<java.lang.String, com.amazonaws.dynamodb.v20120810.AttributeValue>"),
        ("GetItem", json!({"Key": {"a": {"B": 1}}}), "only base-64-encoded strings are convertible to bytes"),
        ("GetItem", json!({"Key": {"a": {"B": "abc"}}}), "Base64 encoded length is expected a multiple of 4 bytes but found: 3"),
        ("GetItem", json!({"Key": {"a": {"BOOL": "maybe"}}}), "Unexpected token received from parser"),
    ];
    for (op, input, expected) in cases {
        assert_eq!(
            serialization(dynamodb(), op, input.clone()),
            expected,
            "{op} {input}"
        );
    }
}

/// Arbitrary JSON, with object keys mostly drawn from the model's member names so the
/// values reach the checks at every depth.
fn arbitrary_json(names: Vec<String>) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        "[A-Za-z0-9+/=]{0,12}".prop_map(Value::String),
    ];
    let key = prop_oneof![3 => proptest::sample::select(names), 1 => "[a-zA-Z]{0,6}"];
    leaf.prop_recursive(5, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

/// Text around the edge of valid base64: random alphabet strings, real encodings, and
/// real encodings with their last character replaced.
fn base64_like() -> impl Strategy<Value = String> {
    use base64::Engine as _;
    let encoded = prop::collection::vec(any::<u8>(), 0..10)
        .prop_map(|b| base64::engine::general_purpose::STANDARD.encode(b));
    let retouched = (encoded.clone(), "[A-Za-z0-9+/=]").prop_map(|(e, c)| {
        let pad = e.bytes().rev().take_while(|&b| b == b'=').count();
        match e.len().checked_sub(pad + 1) {
            Some(i) => format!("{}{c}{}", &e[..i], &e[i + 1..]),
            None => e,
        }
    });
    prop_oneof!["[A-Za-z0-9+/=]{0,12}", ".{0,8}", encoded, retouched]
}

fn member_names(model: &Model) -> Vec<String> {
    let mut names: Vec<String> = model
        .shapes
        .iter()
        .flat_map(|s| match &s.kind {
            Kind::Structure(members) => members.iter().map(|m| m.name.clone()).collect(),
            _ => Vec::new(),
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn base64_is_judged_as_a_decoder_judges_it(text in base64_like()) {
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD.decode(&text);
        let judged = super::types::base64_len(&text);
        prop_assert_eq!(judged.ok(), decoded.ok().map(|b| b.len()), "{:?}", text);
    }

    #[test]
    fn arbitrary_json_never_panics(input in arbitrary_json(member_names(kinesis())), pick in any::<usize>()) {
        for op in kinesis().operations() {
            let _ = check(kinesis(), op, &input);
        }
        let ops = dynamodb().operations();
        let _ = check(dynamodb(), ops[pick % ops.len()], &input);
    }

    #[test]
    fn arbitrary_dynamodb_json_never_panics(input in arbitrary_json(member_names(dynamodb()))) {
        for op in dynamodb().operations() {
            let _ = check(dynamodb(), op, &input);
        }
    }
}
