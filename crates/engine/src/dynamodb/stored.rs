//! DynamoDB JSON read straight into [`Item`]s, without a JSON tree in
//! between: stored items (GetItem, a Query or Scan that filters or
//! projects, and every write that needs the old item read them) and the
//! items of a BatchWriteItem in its plain form ([`super::typed`]). It reads
//! only valid items in the plain form: one data type per value, valid
//! numbers and base64, sets neither empty nor with a value twice, NULL
//! `true`, attribute names neither empty, too long nor given twice. Anything
//! else is an error: for a stored item the store reports a damaged record
//! (the engine wrote it with [`AttributeValue`]'s `Serialize`); a request
//! is then read the general way, [`AttributeValue::from_json`], with the
//! service's checks and words.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use super::number::Number;
use super::value::{AttributeValue, Item};

/// Reads a stored item.
pub(crate) fn item_from_slice(json: &[u8]) -> Option<Item> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let item = ItemSeed.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(item)
}

/// The longest attribute name (the model's `AttributeName`).
const MAX_ATTRIBUTE_NAME: usize = 65535;

/// An item: attribute name → value.
pub(crate) struct ItemSeed;

impl<'de> DeserializeSeed<'de> for ItemSeed {
    type Value = Item;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Item, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an item")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        let mut item = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            if name.is_empty() || name.len() > MAX_ATTRIBUTE_NAME {
                return Err(de::Error::custom("an attribute name empty or too long"));
            }
            let value = map.next_value_seed(ValueSeed)?;
            if item.insert(name, value).is_some() {
                return Err(de::Error::custom("an attribute name given twice"));
            }
        }
        Ok(item)
    }
}

/// One attribute value: `{"TYPE": value}`.
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = AttributeValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<AttributeValue, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = AttributeValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attribute value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AttributeValue, A::Error> {
        let ty = map
            .next_key::<Tag>()?
            .ok_or_else(|| de::Error::custom("an attribute value without a type"))?;
        let value = match ty {
            Tag::S => AttributeValue::S(map.next_value()?),
            Tag::N => AttributeValue::N(map.next_value::<StoredNumber>()?.0),
            Tag::B => AttributeValue::B(map.next_value::<StoredBinary>()?.0),
            Tag::Bool => AttributeValue::Bool(map.next_value()?),
            Tag::Null => match map.next_value()? {
                true => AttributeValue::Null,
                false => return Err(de::Error::custom("NULL false")),
            },
            Tag::M => AttributeValue::M(map.next_value_seed(ItemSeed)?),
            Tag::L => AttributeValue::L(inner(map.next_value::<Vec<StoredValue>>()?, |v| v.0)),
            Tag::Ss => AttributeValue::Ss(set(map.next_value()?)?),
            Tag::Ns => {
                AttributeValue::Ns(set(inner(map.next_value::<Vec<StoredNumber>>()?, |n| n.0))?)
            }
            Tag::Bs => {
                AttributeValue::Bs(set(inner(map.next_value::<Vec<StoredBinary>>()?, |b| b.0))?)
            }
        };
        if map.next_key::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("an attribute value with two types"));
        }
        Ok(value)
    }
}

/// A set: neither empty nor with a value twice.
fn set<T: Ord, E: de::Error>(values: Vec<T>) -> Result<Vec<T>, E> {
    let mut sorted: Vec<&T> = values.iter().collect();
    sorted.sort();
    if values.is_empty() || sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(E::custom("a set empty or with a value twice"));
    }
    Ok(values)
}

/// The values inside newtypes (collected in place: same layout).
fn inner<T, U>(list: Vec<T>, f: impl FnMut(T) -> U) -> Vec<U> {
    list.into_iter().map(f).collect()
}

/// A value inside a list.
struct StoredValue(AttributeValue);

impl<'de> serde::Deserialize<'de> for StoredValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ValueSeed.deserialize(d).map(StoredValue)
    }
}

/// A number: its canonical text.
struct StoredNumber(Number);

impl<'de> serde::Deserialize<'de> for StoredNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Str::deserialize(d)?;
        Number::parse(&text.0)
            .map(StoredNumber)
            .map_err(de::Error::custom)
    }
}

/// A binary: standard base64.
struct StoredBinary(Vec<u8>);

impl<'de> serde::Deserialize<'de> for StoredBinary {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Str::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.0.as_bytes())
            .map(StoredBinary)
            .map_err(de::Error::custom)
    }
}

/// A string, borrowed from the input when it has no escapes.
struct Str<'a>(std::borrow::Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(s.into()))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Str<'de>, E> {
                Ok(Str(s.to_owned().into()))
            }
        }
        d.deserialize_str(V)
    }
}

/// The data type member of an attribute value.
enum Tag {
    S,
    N,
    B,
    Bool,
    Null,
    M,
    L,
    Ss,
    Ns,
    Bs,
}

impl<'de> serde::Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Str::deserialize(d)?;
        Ok(match &*s.0 {
            "S" => Tag::S,
            "N" => Tag::N,
            "B" => Tag::B,
            "BOOL" => Tag::Bool,
            "NULL" => Tag::Null,
            "M" => Tag::M,
            "L" => Tag::L,
            "SS" => Tag::Ss,
            "NS" => Tag::Ns,
            "BS" => Tag::Bs,
            other => return Err(de::Error::custom(format!("unknown data type {other}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::value::item_from_json;

    #[test]
    fn every_data_type_reads_back_as_written() {
        let json = serde_json::json!({
            "s": {"S": "a \"quoted\" \u{e9}"}, "n": {"N": "-12.5e3"}, "b": {"B": "AAEC"},
            "t": {"BOOL": true}, "z": {"NULL": true},
            "m": {"M": {"in": {"L": [{"N": "1"}, {"S": "x"}, {"M": {}}]}}},
            "ss": {"SS": ["a", "b"]}, "ns": {"NS": ["1", "2.5"]}, "bs": {"BS": ["AA==", "AQ=="]},
        });
        let item = item_from_json(&json).unwrap();
        let stored = serde_json::to_vec(&item).unwrap();
        assert_eq!(item_from_slice(&stored), Some(item));
    }

    #[test]
    fn anything_but_the_stored_form_is_refused() {
        for bad in [
            r#"{"a": {"S": "x", "N": "1"}}"#,
            r#"{"a": {}}"#,
            r#"{"a": {"X": "1"}}"#,
            r#"{"a": {"N": "one"}}"#,
            r#"{"a": {"B": "!!"}}"#,
            r#"{"a": {"S": "x"}} trailing"#,
            r#"[1]"#,
            r#"{"a": {"NULL": false}}"#,
            r#"{"a": {"SS": []}}"#,
            r#"{"a": {"NS": ["1", "1.0"]}}"#,
            r#"{"": {"S": "x"}}"#,
            r#"{"a": {"S": "x"}, "a": {"S": "y"}}"#,
        ] {
            assert_eq!(item_from_slice(bad.as_bytes()), None, "{bad}");
        }
    }
}
