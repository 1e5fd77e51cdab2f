use super::*;
use proptest::prelude::*;
use serde_json::json;

fn v(j: Json) -> Result<AttributeValue, String> {
    AttributeValue::from_json(&j).map_err(|e| e.to_string())
}

#[test]
fn every_type_round_trips_through_dynamodb_json() {
    let item = json!({
        "s": {"S": "x"}, "n": {"N": "1.50"}, "b": {"B": "AQID"}, "t": {"BOOL": true},
        "z": {"NULL": true}, "m": {"M": {"a": {"L": [{"S": "y"}, {"N": "2"}]}}},
        "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2"]}, "bs": {"BS": ["AQ==", "Ag=="]}
    });
    let parsed = item_from_json(&item).unwrap();
    assert_eq!(parsed["b"], AttributeValue::B(vec![1, 2, 3]));
    let back = item_to_json(&parsed);
    assert_eq!(
        back["n"],
        json!({"N": "1.5"}),
        "numbers are stored canonical"
    );
    let mut expected = item.clone();
    expected["n"] = json!({"N": "1.5"});
    assert_eq!(back, expected);
    let serde: Item = serde_json::from_value(item).unwrap();
    assert_eq!(serde, parsed);
}

#[test]
fn invalid_values_give_the_service_wording() {
    assert_eq!(
        v(json!({})).unwrap_err(),
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
    );
    assert_eq!(
        v(json!({"S": "a", "N": "1"})).unwrap_err(),
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
    );
    assert_eq!(
        v(json!({"NULL": false})).unwrap_err(),
        "One or more parameter values were invalid: Null attribute value types must have the value of true"
    );
    assert_eq!(
        v(json!({"SS": []})).unwrap_err(),
        "One or more parameter values were invalid: An string set  may not be empty"
    );
    assert_eq!(
        v(json!({"NS": []})).unwrap_err(),
        "One or more parameter values were invalid: An number set  may not be empty"
    );
    assert_eq!(
        v(json!({"BS": []})).unwrap_err(),
        "One or more parameter values were invalid: Binary sets should not be empty"
    );
    assert_eq!(
        v(json!({"SS": ["a", "a"]})).unwrap_err(),
        "One or more parameter values were invalid: Input collection [a, a] contains duplicates."
    );
    assert_eq!(
        v(json!({"NS": ["1", "1.0"]})).unwrap_err(),
        "Input collection contains duplicates"
    );
    assert_eq!(
        v(json!({"N": "1e126"})).unwrap_err(),
        NumberError::Overflow.to_string()
    );
    assert!(matches!(
        AttributeValue::from_json(&json!({"B": "!!"})),
        Err(ValueError::Shape(_))
    ));
    assert!(matches!(
        AttributeValue::from_json(&json!({"S": 1})),
        Err(ValueError::Shape(_))
    ));
}

/// As recorded against the service (dynalite's suite): members that are no
/// data type are ignored, each data type's value is checked before more
/// than one data type is refused, and booleans may be given as text.
#[test]
fn the_checks_run_in_the_services_order() {
    let empty =
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes";
    for value in [
        json!({"a": ""}),
        json!({"M": {"a": {}}}),
        json!({"L": [{}]}),
        json!({"L": [{"a": {}}]}),
        json!({"S": null}),
    ] {
        assert_eq!(v(value.clone()).unwrap_err(), empty, "{value}");
    }
    let null_false = "One or more parameter values were invalid: Null attribute value types must have the value of true";
    assert_eq!(v(json!({"NULL": "no"})).unwrap_err(), null_false);
    assert_eq!(v(json!({"NULL": "FALSE"})).unwrap_err(), null_false);
    assert_eq!(v(json!({"NULL": "yes"})), Ok(AttributeValue::Null));
    assert_eq!(v(json!({"BOOL": "0"})), Ok(AttributeValue::Bool(false)));
    assert_eq!(
        v(json!({"S": "a", "x": 1})),
        Ok(AttributeValue::S("a".into()))
    );
    let not_numeric = "The parameter cannot be converted to a numeric value";
    assert_eq!(v(json!({"S": "", "N": ""})).unwrap_err(), not_numeric);
    assert_eq!(v(json!({"S": "a", "N": ""})).unwrap_err(), not_numeric);
    assert_eq!(
        v(json!({"S": "a", "N": "b"})).unwrap_err(),
        format!("{not_numeric}: b")
    );
    assert_eq!(
        v(json!({"S": "a", "M": {"x": {"NULL": false}}})).unwrap_err(),
        null_false
    );
    assert_eq!(
        v(json!({"S": "a", "BOOL": true})).unwrap_err(),
        ValueError::MoreThanOne.to_string()
    );
}

#[test]
fn not_an_object_is_a_shape_error() {
    assert!(matches!(
        AttributeValue::from_json(&json!("S")),
        Err(ValueError::Shape(_))
    ));
}

#[test]
fn item_size_counts_names_and_values() {
    let item = item_from_json(&json!({
        "name": {"S": "héllo"}, "n": {"N": "12345"}, "b": {"BOOL": false},
        "l": {"L": [{"S": "ab"}]}, "m": {"M": {"k": {"NULL": true}}}
    }))
    .unwrap();
    // name 4 + 6 UTF-8 bytes; n 1 + 4; b 1 + 1; l 1 + 3 + 1 + 2; m 1 + 3 + 1 + 1 + 1.
    assert_eq!(item_size(&item), 10 + 5 + 2 + 7 + 7);
    let big: Item = [(
        "a".to_string(),
        AttributeValue::S("x".repeat(MAX_ITEM_SIZE)),
    )]
    .into();
    assert!(item_size(&big) > MAX_ITEM_SIZE);
}

#[test]
fn key_bytes_only_for_key_types() {
    assert!(AttributeValue::Bool(true).key_bytes().is_none());
    assert!(AttributeValue::Ss(vec!["a".into()]).key_bytes().is_none());
    assert_eq!(
        AttributeValue::S("a\0b".into()).key_bytes(),
        Some(vec![b'a', 0, 0xff, b'b', 0, 0])
    );
    assert_eq!(AttributeValue::from_key_bytes("S", &[b'a', 0, 7]), None);
    assert_eq!(
        AttributeValue::from_key_bytes("S", &[0xff, 0, 0]),
        None,
        "not UTF-8"
    );
    assert_eq!(AttributeValue::from_key_bytes("BOOL", &[0, 0]), None);
}

proptest! {
    #[test]
    fn string_and_binary_key_bytes_keep_byte_order(a in proptest::collection::vec(any::<u8>(), 0..8), b in proptest::collection::vec(any::<u8>(), 0..8), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
        let (ka, kb) = (AttributeValue::B(a.clone()).key_bytes().unwrap(), AttributeValue::B(b.clone()).key_bytes().unwrap());
        prop_assert_eq!(ka.cmp(&kb), a.cmp(&b));
        // Self-delimiting: what follows a key does not change the order or the decoding.
        let mut ka_tail = ka.clone();
        ka_tail.extend(&tail);
        if a != b {
            prop_assert_eq!(ka_tail.cmp(&kb), a.cmp(&b));
        }
        prop_assert_eq!(AttributeValue::from_key_bytes("B", &ka_tail), Some((AttributeValue::B(a), ka.len())));
    }

    #[test]
    fn string_key_bytes_order_is_utf8_order(a in "\\PC{0,6}", b in "\\PC{0,6}") {
        let (ka, kb) = (AttributeValue::S(a.clone()).key_bytes().unwrap(), AttributeValue::S(b.clone()).key_bytes().unwrap());
        prop_assert_eq!(ka.cmp(&kb), a.as_bytes().cmp(b.as_bytes()));
        prop_assert_eq!(AttributeValue::from_key_bytes("S", &ka), Some((AttributeValue::S(a), ka.len())));
    }
}
