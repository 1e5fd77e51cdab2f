//! BatchWriteItem read straight from the request body into typed writes,
//! without a JSON tree and the model's walk over it: the hot path of the
//! workshop's writers. It reads only the plain valid form the SDKs send;
//! anything else (a member it does not know, a wrong JSON type, an explicit
//! null, a value the service refuses, a limit of the model crossed, a name
//! given twice) makes it decline, and the request is read the general way
//! ([`super::service::Service::call`]), which checks it as the service does
//! and words its errors. So this reader never answers an error itself, and
//! what it accepts reads as the general way reads it (tested below). Items
//! are read by the reader of stored items ([`super::stored::ItemSeed`]),
//! which accepts valid items only.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::stored::ItemSeed;
use super::value::Item;

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

/// The model's limits: tables per call, writes per table, table name length.
const MAX_TABLES: usize = 25;
const MAX_WRITES: usize = 25;
const MAX_TABLE_NAME: usize = 1024;

/// The request in `body`, or None to read it the general way.
pub(crate) fn batch_write(body: &[u8]) -> Option<BatchWrite> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let request = Request.deserialize(&mut de).ok()?;
    de.end().ok()?;
    let total: usize = request.tables.iter().map(|(_, w)| w.len()).sum();
    // Tables named by ARN are read the general way (`super::arns`).
    let by_arn = request.tables.iter().any(|(t, _)| t.starts_with("arn:"));
    (total <= MAX_WRITES && !by_arn).then_some(request)
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

#[cfg(test)]
#[path = "typed_tests.rs"]
mod tests;
