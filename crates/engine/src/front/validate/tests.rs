//! One table per rule, on the Kinesis model; the expected messages are the service's,
//! as kinesalite's suite recorded them against AWS.

use serde_json::{json, Value};

use super::{check, kinesis, Invalid, Model};

pub(super) fn serialization(model: &Model, op: &str, input: Value) -> String {
    match check(model, op, &input) {
        Err(Invalid::Serialization(m)) => m,
        other => panic!("{op} {input}: expected a SerializationException, got {other:?}"),
    }
}

fn validation(op: &str, input: Value) -> String {
    match check(kinesis(), op, &input) {
        Err(e @ Invalid::Validation(_)) => {
            assert_eq!(e.code(), "ValidationException");
            e.message()
        }
        other => panic!("{op} {input}: expected a ValidationException, got {other:?}"),
    }
}

fn passes(model: &Model, op: &str, input: Value) {
    assert_eq!(check(model, op, &input), Ok(()), "{op} {input}");
}

#[test]
fn wrong_types_are_worded_as_kinesis_words_them() {
    const NUMBER: &str = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber";
    let list = "Start of list found where not expected";
    let object = "Start of structure or map found where not expected.";
    let cases: Vec<(&str, Value, String)> = vec![
        ("CreateStream", json!({"StreamName": true}), "class java.lang.Boolean can not be converted to an String".into()),
        ("CreateStream", json!({"StreamName": 23}), format!("{NUMBER} can not be converted to an String")),
        ("CreateStream", json!({"StreamName": 34.56}), format!("{NUMBER} can not be converted to an String")),
        ("CreateStream", json!({"StreamName": []}), list.into()),
        ("CreateStream", json!({"StreamName": {}}), object.into()),
        ("CreateStream", json!({"ShardCount": "23"}), "class java.lang.String can not be converted to an Integer".into()),
        ("CreateStream", json!({"ShardCount": true}), "class java.lang.Boolean can not be converted to an Integer".into()),
        ("CreateStream", json!({"ShardCount": [1]}), list.into()),
        ("CreateStream", json!({"StreamModeDetails": "x"}), "Expected null".into()),
        ("CreateStream", json!({"StreamModeDetails": []}), list.into()),
        ("DeleteStream", json!({"EnforceConsumerDeletion": "hello"}), "'HELLO' can not be converted to an Boolean".into()),
        ("DeleteStream", json!({"EnforceConsumerDeletion": 23}), format!("{NUMBER} can not be converted to an Boolean")),
        ("DeleteStream", json!({"EnforceConsumerDeletion": {}}), object.into()),
        ("PutRecord", json!({"Data": true}), "class java.lang.Boolean can not be converted to a Blob".into()),
        ("PutRecord", json!({"Data": 23}), format!("{NUMBER} can not be converted to a Blob")),
        ("PutRecord", json!({"Data": "23456"}), "'23456' can not be converted to a Blob: Base64 encoded length is expected a multiple of 4 bytes but found: 5".into()),
        ("PutRecord", json!({"Data": "=+/="}), "'=+/=' can not be converted to a Blob: Invalid Base64 character: '='".into()),
        ("PutRecord", json!({"Data": "ab c"}), "'ab c' can not be converted to a Blob: Invalid Base64 character: ' '".into()),
        ("PutRecord", json!({"Data": "+/+="}), "'+/+=' can not be converted to a Blob: Invalid last non-pad Base64 character dectected".into()),
        ("PutRecords", json!({"Records": "23"}), "Expected list or null".into()),
        ("PutRecords", json!({"Records": {}}), object.into()),
        ("PutRecords", json!({"Records": [23]}), "Expected null".into()),
        ("PutRecords", json!({"Records": [[]]}), list.into()),
        ("PutRecords", json!({"Records": [{"PartitionKey": 1}]}), format!("{NUMBER} can not be converted to an String")),
        ("AddTagsToStream", json!({"Tags": "23"}), "Expected map or null".into()),
        ("AddTagsToStream", json!({"Tags": []}), list.into()),
        ("AddTagsToStream", json!({"Tags": {"a": false}}), "class java.lang.Boolean can not be converted to an String".into()),
        ("GetShardIterator", json!({"Timestamp": "yesterday"}), "class java.lang.String can not be converted to milliseconds since epoch".into()),
        ("GetShardIterator", json!({"Timestamp": true}), "class java.lang.Boolean can not be converted to milliseconds since epoch".into()),
        // The first wrong member in the service's order wins, whatever the request's order.
        ("CreateStream", json!({"StreamName": 1, "ShardCount": "x"}), "class java.lang.String can not be converted to an Integer".into()),
        // A request that is not an object at all.
        ("CreateStream", json!([1]), list.into()),
        ("CreateStream", json!("x"), "Expected null".into()),
    ];
    for (op, input, expected) in cases {
        assert_eq!(
            serialization(kinesis(), op, input.clone()),
            expected,
            "{op} {input}"
        );
    }
}

#[test]
fn right_types_pass_the_type_pass() {
    let ok = [
        json!({"StreamName": "s", "ShardCount": 1.5}),
        json!({"StreamName": "s", "Bogus": {"ignored": [true]}}),
        json!({"StreamName": "s", "ShardCount": null, "Tags": null}),
    ];
    for input in ok {
        passes(kinesis(), "CreateStream", input);
    }
    for b in ["true", "FALSE", "1", "0", "yes", "No"] {
        passes(
            kinesis(),
            "DeleteStream",
            json!({"StreamName": "s", "EnforceConsumerDeletion": b}),
        );
    }
    for t in [json!(1.7e9), json!(0), json!(1_700_000_000.5)] {
        let input = json!({"StreamName": "s", "ShardId": "s", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": t});
        passes(kinesis(), "GetShardIterator", input);
    }
    // Kinesis refuses a timestamp in a string, even one of digits (recorded).
    for t in ["23", "2024-01-31T12:00:00Z"] {
        let input = json!({"StreamName": "s", "ShardId": "s", "ShardIteratorType": "AT_TIMESTAMP", "Timestamp": t});
        assert_eq!(
            check(kinesis(), "GetShardIterator", &input),
            Err(Invalid::Serialization(
                "class java.lang.String can not be converted to milliseconds since epoch".into()
            ))
        );
    }
    for data in ["", "QQ==", "QUI=", "QUJD"] {
        passes(
            kinesis(),
            "PutRecord",
            json!({"PartitionKey": "a", "Data": data}),
        );
    }
    assert_eq!(check(kinesis(), "NoSuchAction", &json!([])), Ok(()));
}

/// "N validation errors detected: " and the violations joined with "; ".
fn listing(violations: &[String]) -> String {
    let n = violations.len();
    format!(
        "{n} validation error{} detected: {}",
        if n == 1 { "" } else { "s" },
        violations.join("; ")
    )
}

fn at(value: &str, path: &str, rule: &str) -> String {
    format!("Value {value} at '{path}' failed to satisfy constraint: {rule}")
}

const NAME: &str = "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+";
const MIN1: &str = "Member must have length greater than or equal to 1";
const MAX128: &str = "Member must have length less than or equal to 128";
const NOT_NULL: &str = "Member must not be null";

#[test]
fn required_members_must_not_be_null() {
    let cases = [
        (
            "CreateStream",
            json!({}),
            vec![at("null", "streamName", NOT_NULL)],
        ),
        (
            "CreateStream",
            json!({"StreamName": null}),
            vec![at("null", "streamName", NOT_NULL)],
        ),
        (
            "PutRecords",
            json!({}),
            vec![at("null", "records", NOT_NULL)],
        ),
        (
            "SplitShard",
            json!({}),
            vec![
                at("null", "newStartingHashKey", NOT_NULL),
                at("null", "shardToSplit", NOT_NULL),
            ],
        ),
        (
            "CreateStream",
            json!({"StreamName": "s", "StreamModeDetails": {}}),
            vec![at("null", "streamModeDetails.streamMode", NOT_NULL)],
        ),
    ];
    for (op, input, expected) in cases {
        assert_eq!(
            validation(op, input.clone()),
            listing(&expected),
            "{op} {input}"
        );
    }
}

#[test]
fn strings_are_checked_for_pattern_then_length_in_the_services_member_order() {
    // Recorded by kinesalite against Kinesis, message for message.
    let long = "a".repeat(129);
    let q = |s: &str| format!("'{s}'");
    let cases = [
        (
            "CreateStream",
            json!({"StreamName": "", "ShardCount": 0}),
            vec![
                at(
                    "'0'",
                    "shardCount",
                    "Member must have value greater than or equal to 1",
                ),
                at("''", "streamName", NAME),
                at("''", "streamName", MIN1),
            ],
        ),
        (
            "DescribeStream",
            json!({"StreamName": long, "Limit": 100000, "ExclusiveStartShardId": long}),
            vec![
                at(
                    "'100000'",
                    "limit",
                    "Member must have value less than or equal to 10000",
                ),
                at(&q(&long), "exclusiveStartShardId", MAX128),
                at(&q(&long), "streamName", MAX128),
            ],
        ),
        (
            "SplitShard",
            json!({"StreamName": "", "ShardToSplit": "", "NewStartingHashKey": ""}),
            vec![
                at(
                    "''",
                    "newStartingHashKey",
                    "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
                ),
                at("''", "streamName", NAME),
                at("''", "streamName", MIN1),
                at("''", "shardToSplit", NAME),
                at("''", "shardToSplit", MIN1),
            ],
        ),
    ];
    for (op, input, expected) in cases {
        assert_eq!(validation(op, input.clone()), listing(&expected), "{op}");
    }
}

#[test]
fn lengths_count_utf16_units_as_java_does() {
    let ok = "😀".repeat(128); // 256 UTF-16 units: the most a partition key may have
    passes(
        kinesis(),
        "PutRecord",
        json!({"PartitionKey": ok, "Data": ""}),
    );
    let long = "😀".repeat(129);
    assert_eq!(
        validation("PutRecord", json!({"PartitionKey": long, "Data": ""})),
        listing(&[at(
            &format!("'{long}'"),
            "partitionKey",
            "Member must have length less than or equal to 256"
        )])
    );
}

#[test]
fn enums_list_their_values_in_the_services_order() {
    // As kinesalite recorded it (trim.py's ENUM_ORDER); other enums keep the model's order.
    let input = json!({"ShardId": "s", "ShardIteratorType": "SOON"});
    let rule = "Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_TIMESTAMP, AT_SEQUENCE_NUMBER, TRIM_HORIZON]";
    assert_eq!(
        validation("GetShardIterator", input),
        listing(&[at("'SOON'", "shardIteratorType", rule)])
    );
    let input = json!({"StreamName": "s", "StreamModeDetails": {"StreamMode": "x"}});
    let rule = "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]";
    assert_eq!(
        validation("CreateStream", input),
        listing(&[at("'x'", "streamModeDetails.streamMode", rule)])
    );
}

#[test]
fn numbers_are_read_as_their_java_type_before_the_range_check() {
    let cases = [
        (
            json!(0.5),
            Some(("'0'", "Member must have value greater than or equal to 1")),
        ),
        (json!(1.5), None),
        (
            json!(-3),
            Some(("'-3'", "Member must have value greater than or equal to 1")),
        ),
        (
            json!(1e12),
            Some((
                "'2147483647'",
                "Member must have value less than or equal to 10000",
            )),
        ),
        (json!(10000), None),
    ];
    for (limit, expected) in cases {
        let input = json!({"StreamName": "s", "Limit": limit});
        match expected {
            None => passes(kinesis(), "DescribeStream", input),
            Some((value, rule)) => {
                assert_eq!(
                    validation("DescribeStream", input),
                    listing(&[at(value, "limit", rule)]),
                    "{limit}"
                )
            }
        }
    }
}

#[test]
fn list_elements_are_checked_at_their_own_paths() {
    let key = "a".repeat(257);
    let data = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        vec![0u8; 10_485_761],
    );
    let input = json!({"StreamName": "", "Records": [
        {"PartitionKey": "a", "Data": ""},
        {"PartitionKey": key, "Data": data, "ExplicitHashKey": ""},
    ]});
    let expected = [
        at(
            &format!("'{key}'"),
            "records.2.member.partitionKey",
            "Member must have length less than or equal to 256",
        ),
        at(
            "''",
            "records.2.member.explicitHashKey",
            "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})",
        ),
        at(
            "'java.nio.HeapByteBuffer[pos=0 lim=10485761 cap=10485761]'",
            "records.2.member.data",
            "Member must have length less than or equal to 10485760",
        ),
        at("''", "streamName", NAME),
        at("''", "streamName", MIN1),
    ];
    assert_eq!(validation("PutRecords", input), listing(&expected));
    assert_eq!(
        validation("PutRecords", json!({"Records": []})),
        listing(&[at("'[]'", "records", MIN1)])
    );
}

#[test]
fn at_most_ten_violations_are_listed_and_counted() {
    // Recorded by kinesalite against Kinesis: 501 records with empty partition keys.
    let records: Vec<Value> = (0..501)
        .map(|_| json!({"PartitionKey": "", "Data": ""}))
        .collect();
    let entry = "com.amazonaws.kinesis.v20131202.PutRecordsRequestEntry@c965e310";
    let shown = format!("'[{}]'", vec![entry; 501].join(", "));
    let mut expected = vec![at(
        &shown,
        "records",
        "Member must have length less than or equal to 500",
    )];
    for i in 1..=9 {
        expected.push(at("''", &format!("records.{i}.member.partitionKey"), MIN1));
    }
    assert_eq!(
        validation("PutRecords", json!({"StreamName": "", "Records": records})),
        listing(&expected)
    );
    assert!(listing(&expected).starts_with("10 validation errors detected: "));
}

#[test]
fn list_members_of_plain_types_are_checked_as_one() {
    let rule = "Member must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]";
    assert_eq!(
        validation(
            "RemoveTagsFromStream",
            json!({"StreamName": "s", "TagKeys": ["", "a", ""]})
        ),
        listing(&[at("'[, a, ]'", "tagKeys", rule)])
    );
    let metrics = "IncomingBytes, IncomingRecords, OutgoingBytes, OutgoingRecords, WriteProvisionedThroughputExceeded, ReadProvisionedThroughputExceeded, IteratorAgeMilliseconds, ALL";
    let rule = format!(
        "Member must satisfy constraint: [Member must satisfy enum value set: [{metrics}]]"
    );
    assert_eq!(
        validation(
            "EnableEnhancedMonitoring",
            json!({"StreamName": "s", "ShardLevelMetrics": ["ALL", "Bytes"]})
        ),
        listing(&[at("'[ALL, Bytes]'", "shardLevelMetrics", &rule)])
    );
}

#[test]
fn maps_check_their_size_keys_and_values() {
    let keys = "Map keys must satisfy constraint: [Member must have length less than or equal to 128, Member must have length greater than or equal to 1]";
    let values = "Map value must satisfy constraint: [Member must have length less than or equal to 256, Member must have length greater than or equal to 0]";
    let long = "v".repeat(257);
    let cases = [
        (json!({}), vec![at("'{}'", "tags", MIN1)]),
        (json!({"": "v"}), vec![at("'{=v}'", "tags", keys)]),
        (
            json!({"k": long}),
            vec![at(&format!("'{{k={long}}}'"), "tags", values)],
        ),
    ];
    for (tags, expected) in cases {
        let input = json!({"StreamName": "s", "Tags": tags});
        assert_eq!(
            validation("AddTagsToStream", input),
            listing(&expected),
            "{tags}"
        );
    }
    passes(
        kinesis(),
        "AddTagsToStream",
        json!({"StreamName": "s", "Tags": {"k": ""}}),
    );
}

#[test]
fn one_violation_is_worded_in_the_singular() {
    let e = check(kinesis(), "CreateStream", &json!({})).unwrap_err();
    assert_eq!(
        e.message(),
        "1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null"
    );
    let e = check(kinesis(), "CreateStream", &json!({"StreamName": 1})).unwrap_err();
    assert_eq!(e.code(), "SerializationException");
}
