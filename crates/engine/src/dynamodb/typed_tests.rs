//! The typed reader accepts exactly what the general way reads, and reads
//! it the same; it declines everything else.

use base64::Engine as _;
use proptest::prelude::*;
use serde_json::{json, Value as Json};

use super::*;
use crate::dynamodb::value::item_from_json;

/// The writes as the general way reads them.
fn general(body: &Json) -> Vec<(String, Vec<Write>)> {
    body["RequestItems"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(t, ws)| {
            let writes = ws
                .as_array()
                .unwrap()
                .iter()
                .map(|w| match (w.get("PutRequest"), w.get("DeleteRequest")) {
                    (Some(p), _) => Write::Put(item_from_json(&p["Item"]).unwrap()),
                    (_, Some(d)) => Write::Delete(item_from_json(&d["Key"]).unwrap()),
                    _ => unreachable!(),
                })
                .collect();
            (t.clone(), writes)
        })
        .collect()
}

fn read(body: &Json) -> Option<BatchWrite> {
    batch_write(body.to_string().as_bytes())
}

#[test]
fn the_workshops_batch_reads_as_the_general_way_reads_it() {
    let body = json!({
        "RequestItems": {"UnicornSensorData": [
            {"PutRequest": {"Item": {
                "Name": {"S": "Rocinante"}, "StatusTime": {"S": "2026-12-03 10:00:00"},
                "Distance": {"N": "175.50"}, "Ok": {"BOOL": true}, "None": {"NULL": true},
                "Raw": {"B": "aGk="}, "Tags": {"SS": ["a", "b"]}, "Ns": {"NS": ["1", "2.0"]},
                "Bs": {"BS": ["aGk=", "aA=="]},
                "Doc": {"M": {"l": {"L": [{"N": "1"}, {"S": "x"}, {"M": {}}]}}},
            }}},
            {"DeleteRequest": {"Key": {"Name": {"S": "Bucephalus"}, "StatusTime": {"S": "t"}}}},
        ]},
        "ReturnConsumedCapacity": "TOTAL",
        "ReturnItemCollectionMetrics": "NONE",
    });
    let read = read(&body).expect("the plain form is read");
    assert_eq!(read.tables, general(&body));
    assert_eq!(read.return_consumed.as_deref(), Some("TOTAL"));
}

#[test]
fn anything_outside_the_plain_valid_form_is_declined() {
    let put = |item: Json| json!({"RequestItems": {"t": [{"PutRequest": {"Item": item}}]}});
    let many = |n: usize| json!({"RequestItems": {"t": (0..n).map(|i| json!({"PutRequest": {"Item": {"k": {"S": i.to_string()}}}})).collect::<Vec<_>>()}});
    let declined = [
        json!({}),
        json!({"RequestItems": {}}),
        json!({"RequestItems": {"t": []}}),
        json!({"RequestItems": {"": [{"DeleteRequest": {"Key": {"k": {"S": "1"}}}}]}}),
        json!({"RequestItems": {"t": [{}]}}),
        json!({"RequestItems": {"t": [{"PutRequest": {"Item": {"k": {"S": "1"}}}, "DeleteRequest": {"Key": {"k": {"S": "1"}}}}]}}),
        json!({"RequestItems": {"t": [{"PutRequest": {}}]}}),
        json!({"RequestItems": {"t": [{"PutRequest": {"Item": {"k": {"S": "1"}}, "Other": 1}}]}}),
        json!({"RequestItems": null}),
        json!({"RequestItems": {"t": [{"PutRequest": {"Item": {"k": {"S": "1"}}}}]}, "Extra": 1}),
        json!({"RequestItems": {"t": [{"PutRequest": {"Item": {"k": {"S": "1"}}}}]}, "ReturnConsumedCapacity": "ALL"}),
        json!({"RequestItems": {"t": [{"PutRequest": {"Item": {"k": {"S": "1"}}}}]}, "ReturnItemCollectionMetrics": null}),
        many(26),
        put(json!({"k": {}})),
        put(json!({"k": {"S": "1", "N": "1"}})),
        put(json!({"k": {"S": "1", "N": null}})),
        put(json!({"k": {"S": 1}})),
        put(json!({"k": {"N": "1e400"}})),
        put(json!({"k": {"N": "x"}})),
        put(json!({"k": {"B": "not base64!"}})),
        put(json!({"k": {"NULL": false}})),
        put(json!({"k": {"BOOL": "true"}})),
        put(json!({"k": {"SS": []}})),
        put(json!({"k": {"SS": ["a", "a"]}})),
        put(json!({"k": {"NS": ["1", "1.0"]}})),
        put(json!({"k": {"BS": ["aGk=", "aGk="]}})),
        put(json!({"k": {"X": "1"}})),
        put(json!({"": {"S": "1"}})),
        put(json!({"k": {"L": [{"S": "1", "N": "1"}]}})),
        put(json!({"k": {"M": {"a": {"N": "x"}}}})),
        put(json!([])),
    ];
    for body in declined {
        assert_eq!(read(&body), None, "{body}");
    }
    // A name given twice (not expressible in a serde_json::Value).
    let twice = br#"{"RequestItems": {"t": [{"PutRequest": {"Item": {"k": {"S": "1"}, "k": {"S": "2"}}}}]}}"#;
    assert_eq!(batch_write(twice), None);
    assert_eq!(batch_write(b"{\"RequestItems\": {}} x"), None);
    assert!(read(&many(25)).is_some());
}

/// Attribute values of every type, nested.
fn value() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        "[a-z]{0,4}".prop_map(|s| json!({"S": s})),
        (-999i64..999, 0u32..3)
            .prop_map(|(n, d)| json!({"N": format!("{n}{}", ".5".repeat(d.min(1) as usize))})),
        any::<bool>().prop_map(|b| json!({"BOOL": b})),
        Just(json!({"NULL": true})),
        "[a-z]{1,3}"
            .prop_map(|s| json!({"B": base64::engine::general_purpose::STANDARD.encode(s)})),
        prop::collection::btree_set("[a-z]{1,3}", 1..4).prop_map(|s| json!({"SS": s})),
        prop::collection::btree_set(0i64..50, 1..4)
            .prop_map(|s| json!({"NS": s.iter().map(|n| n.to_string()).collect::<Vec<_>>()})),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|l| json!({"L": l})),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..4).prop_map(|m| json!({"M": m})),
        ]
    })
}

proptest! {
    #[test]
    fn what_is_read_is_what_the_general_way_reads(
        items in prop::collection::vec(prop::collection::btree_map("[a-z]{1,4}", value(), 1..5), 1..25),
    ) {
        let body = json!({"RequestItems": {"t": items.iter().map(|i| json!({"PutRequest": {"Item": i}})).collect::<Vec<_>>()}});
        let read = read(&body);
        prop_assert!(read.is_some(), "{}", body);
        prop_assert_eq!(read.unwrap().tables, general(&body));
    }
}
