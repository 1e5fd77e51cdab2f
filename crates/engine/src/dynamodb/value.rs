//! Attribute values and items, read from and written as DynamoDB JSON
//! (`{"S": "x"}`, `{"N": "1"}`, B and BS in standard base64).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value as Json};

use super::number::{Number, NumberError};

/// The largest item DynamoDB stores (400 KB).
pub const MAX_ITEM_SIZE: usize = 400 * 1024;

/// An item: attribute name → value.
pub type Item = BTreeMap<String, AttributeValue>;

/// One attribute value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(BTreeMap<String, AttributeValue>),
    L(Vec<AttributeValue>),
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

/// Why a JSON value is not an attribute value; `Display` is the service's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error(
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
    )]
    Empty,
    #[error("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes")]
    MoreThanOne,
    #[error("{0}")]
    Number(#[from] NumberError),
    #[error("One or more parameter values were invalid: Null attribute value types must have the value of true")]
    NullFalse,
    #[error("One or more parameter values were invalid: An string set  may not be empty")]
    EmptySs,
    #[error("One or more parameter values were invalid: An number set  may not be empty")]
    EmptyNs,
    #[error("One or more parameter values were invalid: Binary sets should not be empty")]
    EmptyBs,
    #[error(
        "One or more parameter values were invalid: Input collection {0} contains duplicates."
    )]
    Duplicates(String),
    #[error("Input collection contains duplicates")]
    DuplicateNumbers,
    /// The JSON shape is wrong (the front reports it as a SerializationException).
    #[error("{0}")]
    Shape(String),
}

/// The type descriptor as the service names it (`S`, `NS`, `BOOL`, …).
impl AttributeValue {
    /// An empty string or binary value, which no key attribute may hold.
    pub(crate) fn is_empty_scalar(&self) -> bool {
        match self {
            AttributeValue::S(s) => s.is_empty(),
            AttributeValue::B(b) => b.is_empty(),
            _ => false,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null => "NULL",
            AttributeValue::M(_) => "M",
            AttributeValue::L(_) => "L",
            AttributeValue::Ss(_) => "SS",
            AttributeValue::Ns(_) => "NS",
            AttributeValue::Bs(_) => "BS",
        }
    }

    /// Reads DynamoDB JSON (`{"S": "x"}`), with the service's checks in
    /// its order: members that are no data type are ignored (none left:
    /// [`ValueError::Empty`]), each data type's value is checked (numbers,
    /// empty or duplicate sets, nested values), and only then is more than
    /// one data type refused.
    pub fn from_json(json: &Json) -> Result<Self, ValueError> {
        let obj = json
            .as_object()
            .ok_or_else(|| shape("an attribute value must be an object"))?;
        let mut found = None;
        let mut types = 0;
        for (ty, v) in obj.iter().filter(|(ty, v)| !v.is_null() && is_type(ty)) {
            let value = Self::typed(ty, v)?;
            types += 1;
            found.get_or_insert(value);
        }
        match (found, types) {
            (None, _) => Err(ValueError::Empty),
            (Some(value), 1) => Ok(value),
            (Some(_), _) => Err(ValueError::MoreThanOne),
        }
    }

    /// The value of data type `ty` (one of [`TYPES`]) given as `v`.
    fn typed(ty: &str, v: &Json) -> Result<Self, ValueError> {
        let string = |v: &Json| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| shape("expected a string"))
        };
        let bytes = |v: &Json| -> Result<Vec<u8>, ValueError> {
            let s = v
                .as_str()
                .ok_or_else(|| shape("expected a base64 string"))?;
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| shape("invalid base64"))
        };
        Ok(match ty {
            "S" => AttributeValue::S(string(v)?),
            "N" => AttributeValue::N(Number::parse(&string(v)?)?),
            "B" => AttributeValue::B(bytes(v)?),
            "BOOL" => AttributeValue::Bool(boolean(v).ok_or_else(|| shape("expected a boolean"))?),
            "NULL" => match boolean(v) {
                Some(true) => AttributeValue::Null,
                Some(false) => return Err(ValueError::NullFalse),
                None => return Err(shape("expected a boolean")),
            },
            "M" => {
                let m = v.as_object().ok_or_else(|| shape("expected a map"))?;
                AttributeValue::M(item_from_map(m)?)
            }
            "L" => AttributeValue::L(
                list(v)?
                    .iter()
                    .map(AttributeValue::from_json)
                    .collect::<Result<_, _>>()?,
            ),
            "SS" => {
                let ss: Vec<String> = list(v)?.iter().map(string).collect::<Result<_, _>>()?;
                if ss.is_empty() {
                    return Err(ValueError::EmptySs);
                }
                if has_duplicates(&ss) {
                    return Err(ValueError::Duplicates(format!("[{}]", ss.join(", "))));
                }
                AttributeValue::Ss(ss)
            }
            "NS" => {
                let raw: Vec<String> = list(v)?.iter().map(string).collect::<Result<_, _>>()?;
                if raw.is_empty() {
                    return Err(ValueError::EmptyNs);
                }
                let ns: Vec<Number> = raw
                    .iter()
                    .map(|s| Number::parse(s))
                    .collect::<Result<_, _>>()?;
                if has_duplicates(&ns) {
                    return Err(ValueError::DuplicateNumbers);
                }
                AttributeValue::Ns(ns)
            }
            "BS" => {
                let bs: Vec<Vec<u8>> = list(v)?.iter().map(bytes).collect::<Result<_, _>>()?;
                if bs.is_empty() {
                    return Err(ValueError::EmptyBs);
                }
                if has_duplicates(&bs) {
                    let shown: Vec<String> = list(v)?
                        .iter()
                        .filter_map(|b| b.as_str().map(str::to_string))
                        .collect();
                    return Err(ValueError::Duplicates(format!(
                        "[{}]of type BS",
                        shown.join(", ")
                    )));
                }
                AttributeValue::Bs(bs)
            }
            other => return Err(shape(&format!("unknown attribute value type {other}"))),
        })
    }

    /// Writes DynamoDB JSON.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }

    /// Size as DynamoDB counts it (UTF-8 bytes of strings, raw bytes of
    /// binaries, ~digits/2 for numbers, 3 + members for documents).
    pub fn size(&self) -> usize {
        match self {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => n.size(),
            AttributeValue::B(b) => b.len(),
            AttributeValue::Bool(_) | AttributeValue::Null => 1,
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| 1 + k.len() + v.size()).sum::<usize>()
            }
            AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + v.size()).sum::<usize>(),
            AttributeValue::Ss(ss) => ss.iter().map(String::len).sum(),
            AttributeValue::Ns(ns) => ns.iter().map(Number::size).sum(),
            AttributeValue::Bs(bs) => bs.iter().map(Vec::len).sum(),
        }
    }
}

impl AttributeValue {
    /// For key attributes (S, N, B): a self-delimiting byte string whose
    /// bytewise order is the service's key order (strings by UTF-8 bytes,
    /// numbers numerically, binaries bytewise), so keys can be concatenated
    /// in an ordered key-value store. None for other types.
    pub fn key_bytes(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        self.push_key_bytes(&mut out).then_some(out)
    }

    /// Appends [`AttributeValue::key_bytes`] to `out`; false (and nothing
    /// appended) for other types than S, N and B.
    pub fn push_key_bytes(&self, out: &mut Vec<u8>) -> bool {
        fn escaped(out: &mut Vec<u8>, bytes: &[u8]) {
            // 0x00 becomes 0x00 0xFF; 0x00 0x00 ends the value.
            out.reserve(bytes.len() + 2);
            for &b in bytes {
                out.push(b);
                if b == 0 {
                    out.push(0xff);
                }
            }
            out.extend([0, 0]);
        }
        match self {
            AttributeValue::S(s) => escaped(out, s.as_bytes()),
            AttributeValue::B(b) => escaped(out, b),
            AttributeValue::N(n) => out.extend(n.key_bytes()),
            _ => return false,
        }
        true
    }

    /// Decodes [`AttributeValue::key_bytes`] of a key of type `ty` (`S`, `N`
    /// or `B`); returns the value and the bytes used.
    pub fn from_key_bytes(ty: &str, bytes: &[u8]) -> Option<(AttributeValue, usize)> {
        let unescape = || -> Option<(Vec<u8>, usize)> {
            let mut out = Vec::new();
            let mut i = 0;
            loop {
                let b = *bytes.get(i)?;
                if b != 0 {
                    out.push(b);
                    i += 1;
                    continue;
                }
                match *bytes.get(i + 1)? {
                    0 => return Some((out, i + 2)),
                    0xff => {
                        out.push(0);
                        i += 2;
                    }
                    _ => return None,
                }
            }
        };
        match ty {
            "S" => unescape()
                .and_then(|(b, used)| Some((AttributeValue::S(String::from_utf8(b).ok()?), used))),
            "B" => unescape().map(|(b, used)| (AttributeValue::B(b), used)),
            "N" => Number::from_key_bytes(bytes).map(|(n, used)| (AttributeValue::N(n), used)),
            _ => None,
        }
    }
}

/// The data types of an attribute value, as the members of its JSON object.
const TYPES: [&str; 10] = ["S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"];

fn is_type(name: &str) -> bool {
    TYPES.contains(&name)
}

/// A boolean as the service reads one: `true`/`false`, or the text
/// `true`, `false`, `1`, `0`, `yes`, `no` (any case).
fn boolean(v: &Json) -> Option<bool> {
    if let Some(b) = v.as_bool() {
        return Some(b);
    }
    let t = v.as_str()?.to_ascii_lowercase();
    match t.as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

fn list(v: &Json) -> Result<&Vec<Json>, ValueError> {
    v.as_array().ok_or_else(|| shape("expected a list"))
}

fn shape(msg: &str) -> ValueError {
    ValueError::Shape(msg.to_string())
}

fn has_duplicates<T: Ord>(values: &[T]) -> bool {
    let mut sorted: Vec<&T> = values.iter().collect();
    sorted.sort();
    sorted.windows(2).any(|w| w[0] == w[1])
}

fn item_from_map(map: &Map<String, Json>) -> Result<Item, ValueError> {
    map.iter()
        .map(|(k, v)| Ok((k.clone(), AttributeValue::from_json(v)?)))
        .collect()
}

/// Reads an item (`{"name": {"S": "x"}, …}`).
pub fn item_from_json(json: &Json) -> Result<Item, ValueError> {
    item_from_map(
        json.as_object()
            .ok_or_else(|| shape("an item must be an object"))?,
    )
}

/// Writes an item as DynamoDB JSON.
pub fn item_to_json(item: &Item) -> Json {
    Json::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Item size as DynamoDB counts it: the UTF-8 length of every attribute name
/// plus the size of its value (compare with [`MAX_ITEM_SIZE`]).
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// Maps and lists nested in one attribute at most: the service keeps 32
/// levels, the attribute itself the first.
pub const MAX_NESTED: usize = 31;

/// Whether no attribute of `item` nests maps and lists deeper than
/// [`MAX_NESTED`].
pub fn nesting_within_limits(item: &Item) -> bool {
    fn nested(v: &AttributeValue, limit: usize) -> bool {
        let children: Box<dyn Iterator<Item = &AttributeValue>> = match v {
            AttributeValue::M(m) => Box::new(m.values()),
            AttributeValue::L(l) => Box::new(l.iter()),
            _ => return true,
        };
        limit > 0 && children.into_iter().all(|c| nested(c, limit - 1))
    }
    item.values().all(|v| nested(v, MAX_NESTED))
}

/// Written straight as DynamoDB JSON (`{"S": "x"}`), without a JSON tree in
/// between: items are stored and answered this way.
impl serde::Serialize for AttributeValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = serializer.serialize_map(Some(1))?;
        match self {
            AttributeValue::S(s) => m.serialize_entry("S", s)?,
            AttributeValue::N(n) => n.with_text(|text| m.serialize_entry("N", text))?,
            AttributeValue::B(b) => m.serialize_entry("B", &Text(Base64(b)))?,
            AttributeValue::Bool(b) => m.serialize_entry("BOOL", b)?,
            AttributeValue::Null => m.serialize_entry("NULL", &true)?,
            AttributeValue::M(map) => m.serialize_entry("M", map)?,
            AttributeValue::L(l) => m.serialize_entry("L", l)?,
            AttributeValue::Ss(ss) => m.serialize_entry("SS", ss)?,
            AttributeValue::Ns(ns) => m.serialize_entry("NS", &Texts(ns.iter()))?,
            AttributeValue::Bs(bs) => {
                m.serialize_entry("BS", &Texts(bs.iter().map(|b| Base64(b))))?
            }
        }
        m.end()
    }
}

/// A value written as a JSON string through its `Display`.
struct Text<T>(T);

impl<T: std::fmt::Display> serde::Serialize for Text<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// Values written as a list of JSON strings.
struct Texts<I>(I);

impl<I: Iterator<Item = T> + Clone, T: std::fmt::Display> serde::Serialize for Texts<I> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.clone().map(Text))
    }
}

/// Bytes shown in standard base64.
struct Base64<'a>(&'a [u8]);

impl std::fmt::Display for Base64<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use base64::display::Base64Display;
        Base64Display::new(self.0, &base64::engine::general_purpose::STANDARD).fmt(f)
    }
}

impl<'de> serde::Deserialize<'de> for AttributeValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = Json::deserialize(deserializer)?;
        AttributeValue::from_json(&json).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[path = "value_tests.rs"]
mod tests;
