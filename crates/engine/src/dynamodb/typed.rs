//! BatchWriteItem read straight from the request body into typed writes,
//! without a JSON tree and the model's walk over it: the hot path of the
//! workshop's writers. It reads only the plain valid form the SDKs send;
//! anything else (a member it does not know, a wrong JSON type, an explicit
//! null, a value the service refuses, a limit of the model crossed, a name
//! given twice) makes it decline, and the request is read the general way
//! ([`super::service::Service::call`]), which checks it as the service does
//! and words its errors. So this reader never answers an error itself, and
//! what it accepts reads as the general way reads it (tested below).

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::number::Number;
use super::value::{AttributeValue, Item};

/// One write of a BatchWriteItem.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Write {
    /// A PutRequest's Item.
    Put(Item),
    /// A DeleteRequest's Key.
    Delete(Item),
}

/// A BatchWriteItem request: the writes by table, in the request's order,
/// and its ReturnConsumedCapacity.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct BatchWrite {
    pub tables: Vec<(String, Vec<Write>)>,
    pub return_consumed: Option<String>,
}

/// The model's limits: tables per call, writes per table, table name and
/// attribute name lengths.
const MAX_TABLES: usize = 25;
const MAX_WRITES: usize = 25;
const MAX_TABLE_NAME: usize = 1024;
const MAX_ATTRIBUTE_NAME: usize = 65535;

/// The request in `body`, or None to read it the general way.
pub(crate) fn batch_write(body: &[u8]) -> Option<BatchWrite> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let request = Request.deserialize(&mut de).ok()?;
    de.end().ok()?;
    let total: usize = request.tables.iter().map(|(_, w)| w.len()).sum();
    (total <= MAX_WRITES).then_some(request)
}

fn decline<E: de::Error>() -> E {
    E::custom("read the general way")
}

/// Reads map keys as owned strings, declining a key seen before.
fn next_new_key<'de, A: MapAccess<'de>>(
    map: &mut A,
    seen: &mut Vec<String>,
) -> Result<Option<String>, A::Error> {
    let Some(key) = map.next_key::<String>()? else {
        return Ok(None);
    };
    if seen.contains(&key) {
        return Err(decline());
    }
    seen.push(key.clone());
    Ok(Some(key))
}

struct Request;

impl<'de> DeserializeSeed<'de> for Request {
    type Value = BatchWrite;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<BatchWrite, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Request {
    type Value = BatchWrite;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a BatchWriteItem request")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BatchWrite, A::Error> {
        let mut out = BatchWrite::default();
        let mut seen = Vec::new();
        let mut has_items = false;
        while let Some(key) = next_new_key(&mut map, &mut seen)? {
            match key.as_str() {
                "RequestItems" => {
                    out.tables = map.next_value_seed(Tables)?;
                    has_items = true;
                }
                "ReturnConsumedCapacity" => {
                    let v: String = map.next_value()?;
                    if !["INDEXES", "TOTAL", "NONE"].contains(&v.as_str()) {
                        return Err(decline());
                    }
                    out.return_consumed = Some(v);
                }
                "ReturnItemCollectionMetrics" => {
                    let v: String = map.next_value()?;
                    if !["SIZE", "NONE"].contains(&v.as_str()) {
                        return Err(decline());
                    }
                }
                _ => return Err(decline()),
            }
        }
        if !has_items {
            return Err(decline());
        }
        Ok(out)
    }
}

/// RequestItems: table name → writes.
struct Tables;

impl<'de> DeserializeSeed<'de> for Tables {
    type Value = Vec<(String, Vec<Write>)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Tables {
    type Value = Vec<(String, Vec<Write>)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RequestItems")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        while let Some(table) = next_new_key(&mut map, &mut seen)? {
            if table.is_empty() || table.len() > MAX_TABLE_NAME || out.len() == MAX_TABLES {
                return Err(decline());
            }
            let writes = map.next_value_seed(Writes)?;
            out.push((table, writes));
        }
        if out.is_empty() {
            return Err(decline());
        }
        Ok(out)
    }
}

/// One table's list of WriteRequests.
struct Writes;

impl<'de> DeserializeSeed<'de> for Writes {
    type Value = Vec<Write>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Write>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Writes {
    type Value = Vec<Write>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WriteRequests")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Write>, A::Error> {
        let mut out = Vec::new();
        while let Some(w) = seq.next_element_seed(OneWrite)? {
            if out.len() == MAX_WRITES {
                return Err(decline());
            }
            out.push(w);
        }
        if out.is_empty() {
            return Err(decline());
        }
        Ok(out)
    }
}

/// `{"PutRequest": {"Item": …}}` or `{"DeleteRequest": {"Key": …}}`.
struct OneWrite;

impl<'de> DeserializeSeed<'de> for OneWrite {
    type Value = Write;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Write, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for OneWrite {
    type Value = Write;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WriteRequest")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Write, A::Error> {
        let write = match map.next_key::<String>()?.as_deref() {
            Some("PutRequest") => Write::Put(map.next_value_seed(Inner("Item"))?),
            Some("DeleteRequest") => Write::Delete(map.next_value_seed(Inner("Key"))?),
            _ => return Err(decline()),
        };
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(decline());
        }
        Ok(write)
    }
}

/// A PutRequest or DeleteRequest: its one member `.0`, an item.
struct Inner(&'static str);

impl<'de> DeserializeSeed<'de> for Inner {
    type Value = Item;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Item, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Inner {
    type Value = Item;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
        if map.next_key::<String>()?.as_deref() != Some(self.0) {
            return Err(decline());
        }
        let item = map.next_value_seed(ItemSeed)?;
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(decline());
        }
        Ok(item)
    }
}

/// An item (or a map value): attribute name → value.
struct ItemSeed;

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
                return Err(decline());
            }
            let value = map.next_value_seed(ValueSeed)?;
            if item.insert(name, value).is_some() {
                return Err(decline());
            }
        }
        Ok(item)
    }
}

/// One attribute value: exactly one data type, its value valid.
struct ValueSeed;

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = AttributeValue;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<AttributeValue, D::Error> {
        d.deserialize_map(self)
    }
}

/// A value inside a list.
struct Listed(AttributeValue);

impl<'de> serde::Deserialize<'de> for Listed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ValueSeed.deserialize(d).map(Listed)
    }
}

fn number<E: de::Error>(text: &str) -> Result<Number, E> {
    Number::parse(text).map_err(|_| decline())
}

fn binary<E: de::Error>(text: &str) -> Result<Vec<u8>, E> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| decline())
}

/// A set: not empty, no value twice.
fn set<T: Ord, E: de::Error>(values: Vec<T>) -> Result<Vec<T>, E> {
    let mut sorted: Vec<&T> = values.iter().collect();
    sorted.sort();
    if values.is_empty() || sorted.windows(2).any(|w| w[0] == w[1]) {
        return Err(decline());
    }
    Ok(values)
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = AttributeValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an attribute value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AttributeValue, A::Error> {
        let ty = map.next_key::<String>()?.ok_or_else(decline)?;
        let value = match ty.as_str() {
            "S" => AttributeValue::S(map.next_value()?),
            "N" => AttributeValue::N(number(&map.next_value::<String>()?)?),
            "B" => AttributeValue::B(binary(&map.next_value::<String>()?)?),
            "BOOL" => AttributeValue::Bool(map.next_value()?),
            "NULL" => match map.next_value()? {
                true => AttributeValue::Null,
                false => return Err(decline()),
            },
            "M" => AttributeValue::M(map.next_value_seed(ItemSeed)?),
            "L" => AttributeValue::L(
                map.next_value::<Vec<Listed>>()?
                    .into_iter()
                    .map(|v| v.0)
                    .collect(),
            ),
            "SS" => AttributeValue::Ss(set(map.next_value()?)?),
            "NS" => {
                let texts: Vec<String> = map.next_value()?;
                let ns = texts.iter().map(|t| number(t)).collect::<Result<_, _>>()?;
                AttributeValue::Ns(set(ns)?)
            }
            "BS" => {
                let texts: Vec<String> = map.next_value()?;
                let bs = texts.iter().map(|t| binary(t)).collect::<Result<_, _>>()?;
                AttributeValue::Bs(set(bs)?)
            }
            _ => return Err(decline()),
        };
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(decline());
        }
        Ok(value)
    }
}

#[cfg(test)]
#[path = "typed_tests.rs"]
mod tests;
