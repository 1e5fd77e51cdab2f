//! A service model: botocore's shapes, parsed once from the trimmed JSON in
//! `crates/engine/models/` (see `trim.py` there), with every pattern compiled.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

use regex::Regex;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

/// How a service words its SerializationExceptions. The services run different
/// generations of the same framework, and their type errors read differently
/// (Kinesis: "class java.lang.String can not be converted to an Integer", DynamoDB:
/// "STRING_VALUE cannot be converted to Integer").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Kinesis,
    #[allow(dead_code)] // served once DynamoDB joins the engine (issue 15); tested now
    DynamoDb,
}

/// Index of a shape in [`Model::shapes`].
pub(super) type ShapeId = usize;

/// One AWS service's operations and shapes, as its botocore model describes them.
pub(crate) struct Model {
    pub(super) dialect: Dialect,
    /// The Java package of the service's classes, e.g. `com.amazonaws.kinesis.v20131202`;
    /// the service names structure values by it in its messages.
    pub(super) namespace: String,
    pub(super) shapes: Vec<Shape>,
    /// Operation name to its input shape (`None`: the operation takes no input).
    operations: HashMap<String, Option<ShapeId>>,
}

pub(super) struct Shape {
    pub(super) name: String,
    pub(super) kind: Kind,
    pub(super) min: Option<f64>,
    pub(super) max: Option<f64>,
    pub(super) pattern: Option<Pattern>,
    pub(super) enumeration: Option<Vec<String>>,
}

/// A member's pattern: the Java regex as the model (and the service's message) spells
/// it, and the same expression for the `regex` crate, anchored to match the whole value.
pub(super) struct Pattern {
    pub(super) source: String,
    /// `None` when the Java expression uses something `regex` cannot express; such a
    /// pattern is not checked (the model tests assert there is none).
    pub(super) regex: Option<Regex>,
}

pub(super) enum Kind {
    Structure(Vec<Member>),
    List(ShapeId),
    Map { key: ShapeId, value: ShapeId },
    String,
    Integer,
    Long,
    Float,
    Double,
    Boolean,
    Blob,
    Timestamp,
}

pub(super) struct Member {
    /// The member's name on the wire, e.g. `StreamName`.
    pub(super) name: String,
    /// The name in validation messages, e.g. `streamName`.
    pub(super) path_name: String,
    pub(super) shape: ShapeId,
    pub(super) required: bool,
}

impl Model {
    /// Parses a trimmed model. Any error is a broken vendored file, reported by the
    /// model tests, never by a request.
    pub(super) fn parse(json: &str, dialect: Dialect) -> Result<Model, String> {
        let raw: RawModel = serde_json::from_str(json).map_err(|e| e.to_string())?;
        let names: Vec<&String> = raw.shapes.0.iter().map(|(n, _)| n).collect();
        let index: HashMap<&str, ShapeId> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let id = |r: &RawRef| {
            index
                .get(r.shape.as_str())
                .copied()
                .ok_or_else(|| format!("unknown shape {}", r.shape))
        };
        let mut shapes = Vec::with_capacity(raw.shapes.0.len());
        for (name, s) in &raw.shapes.0 {
            let reference = |r: &Option<RawRef>, what: &str| {
                r.as_ref()
                    .ok_or_else(|| format!("{name} has no {what}"))
                    .and_then(id)
            };
            let kind = match s.kind.as_str() {
                "structure" => {
                    let mut members = Vec::new();
                    for (m, r) in s.members.iter().flat_map(|m| m.0.iter()) {
                        members.push(Member {
                            name: m.clone(),
                            path_name: lower_first(m),
                            shape: id(r)?,
                            required: s.required.contains(m),
                        });
                    }
                    Kind::Structure(members)
                }
                "list" => Kind::List(reference(&s.member, "member")?),
                "map" => Kind::Map {
                    key: reference(&s.key, "key")?,
                    value: reference(&s.value, "value")?,
                },
                "string" => Kind::String,
                "integer" => Kind::Integer,
                "long" => Kind::Long,
                "float" => Kind::Float,
                "double" => Kind::Double,
                "boolean" => Kind::Boolean,
                "blob" => Kind::Blob,
                "timestamp" => Kind::Timestamp,
                other => return Err(format!("{name} has unknown type {other}")),
            };
            let pattern = s.pattern.as_ref().map(|p| Pattern {
                source: p.clone(),
                regex: Regex::new(&format!("^(?:{})$", java_to_rust(p))).ok(),
            });
            shapes.push(Shape {
                name: name.clone(),
                kind,
                min: s.min,
                max: s.max,
                pattern,
                enumeration: s.enumeration.clone().map(|set| service_order(name, set)),
            });
        }
        let mut operations = HashMap::new();
        for (name, op) in raw.operations {
            operations.insert(name, op.input.as_ref().map(id).transpose()?);
        }
        let namespace = format!(
            "com.amazonaws.{}.v{}",
            raw.metadata.endpoint_prefix,
            raw.metadata.api_version.replace('-', "")
        );
        Ok(Model {
            dialect,
            namespace,
            shapes,
            operations,
        })
    }

    /// The operation's input shape: `None` for an operation the model does not have,
    /// `Some(None)` for one that takes no input.
    pub(super) fn input(&self, operation: &str) -> Option<Option<ShapeId>> {
        self.operations.get(operation).copied()
    }

    /// Whether the model has `operation`.
    pub(crate) fn has_operation(&self, operation: &str) -> bool {
        self.operations.contains_key(operation)
    }

    /// Whether `operation`'s input has a member called `member`.
    pub(crate) fn has_member(&self, operation: &str, member: &str) -> bool {
        let Some(Some(id)) = self.input(operation) else {
            return false;
        };
        match &self.shapes[id].kind {
            Kind::Structure(members) => members.iter().any(|m| m.name == member),
            _ => false,
        }
    }

    /// The names of all operations, sorted.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn operations(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.operations.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }
}

/// The first letter in lower case, as the service names members in its messages.
pub(super) fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Rewrites a Java regular expression for the `regex` crate: Java's `\d`, `\w`, `\s` and
/// POSIX classes (`\p{Print}`) are ASCII-only, `\uXXXX` escapes are UTF-16 (a surrogate
/// pair is one character), `.` stops at every line terminator, and Java lets any
/// punctuation be escaped.
pub(super) fn java_to_rust(java: &str) -> String {
    let chars: Vec<char> = java.chars().collect();
    let mut out = String::with_capacity(java.len() + 8);
    let mut depth = 0usize; // nesting of [...] classes
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '[' => {
                depth += 1;
                out.push(c);
            }
            ']' if depth > 0 => {
                depth -= 1;
                out.push(c);
            }
            // Java's dot stops at every line terminator, not only at \n.
            '.' if depth == 0 => out.push_str(r"[^\n\r\x{85}\x{2028}\x{2029}]"),
            '\\' if i < chars.len() => {
                let e = chars[i];
                i += 1;
                let inside = depth > 0;
                let class = |set: &str, negated: bool| match (inside, negated) {
                    (true, false) => Some(set.to_string()),
                    (false, false) => Some(format!("[{set}]")),
                    (false, true) => Some(format!("[^{set}]")),
                    (true, true) => None,
                };
                let simple = match e {
                    'd' | 'D' => class("0-9", e == 'D'),
                    'w' | 'W' => class("0-9A-Za-z_", e == 'W'),
                    's' | 'S' => class(r"\t\n\x0B\x0C\r\x20", e == 'S'),
                    'e' => Some(r"\x1B".to_string()),
                    _ => None,
                };
                if let Some(s) = simple {
                    out.push_str(&s);
                    continue;
                }
                match e {
                    'p' | 'P' if chars.get(i) == Some(&'{') => {
                        let end = chars[i..].iter().position(|&c| c == '}').map(|p| i + p);
                        let Some(end) = end else {
                            out.push('\\');
                            out.push(e);
                            continue;
                        };
                        let name: String = chars[i + 1..end].iter().collect();
                        i = end + 1;
                        match posix(&name).and_then(|set| class(set, e == 'P')) {
                            Some(s) => out.push_str(&s),
                            None => {
                                let name = name.strip_prefix("Is").unwrap_or(&name);
                                out.push_str(&format!("\\{e}{{{name}}}"));
                            }
                        }
                    }
                    'u' => {
                        let unit = |at: usize| {
                            let hex: String = chars.get(at..at + 4)?.iter().collect();
                            u32::from_str_radix(&hex, 16).ok()
                        };
                        let Some(high) = unit(i) else {
                            out.push_str("\\u");
                            continue;
                        };
                        i += 4;
                        let mut code = high;
                        if (0xD800..0xDC00).contains(&high)
                            && chars.get(i) == Some(&'\\')
                            && chars.get(i + 1) == Some(&'u')
                        {
                            if let Some(low) = unit(i + 2).filter(|l| (0xDC00..0xE000).contains(l))
                            {
                                code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                                i += 6;
                            }
                        }
                        if (0xD800..0xE000).contains(&code) {
                            code = 0xFFFD; // a lone surrogate: no Rust string holds one
                        }
                        out.push_str(&format!("\\x{{{code:X}}}"));
                    }
                    e if e.is_ascii_punctuation() => out.push_str(&regex::escape(&e.to_string())),
                    e => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// Java's POSIX character classes (US-ASCII only, as Java defines them).
fn posix(name: &str) -> Option<&'static str> {
    Some(match name {
        "Lower" => "a-z",
        "Upper" => "A-Z",
        "ASCII" => r"\x00-\x7F",
        "Alpha" => "a-zA-Z",
        "Digit" => "0-9",
        "Alnum" => "a-zA-Z0-9",
        "Punct" => r"!-/:-@\[-`{-~",
        "Graph" => "!-~",
        "Print" => r"\x20-\x7E",
        "Blank" => r"\x20\t",
        "Cntrl" => r"\x00-\x1F\x7F",
        "XDigit" => "0-9a-fA-F",
        "Space" => r"\t\n\x0B\x0C\r\x20",
        _ => return None,
    })
}

#[derive(Deserialize)]
struct RawModel {
    metadata: RawMetadata,
    operations: HashMap<String, RawOperation>,
    shapes: Ordered<RawShape>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetadata {
    api_version: String,
    endpoint_prefix: String,
}

#[derive(Deserialize)]
struct RawOperation {
    input: Option<RawRef>,
}

#[derive(Deserialize)]
struct RawRef {
    shape: String,
}

#[derive(Deserialize)]
struct RawShape {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    required: Vec<String>,
    members: Option<Ordered<RawRef>>,
    member: Option<RawRef>,
    key: Option<RawRef>,
    value: Option<RawRef>,
    min: Option<f64>,
    max: Option<f64>,
    pattern: Option<String>,
    #[serde(rename = "enum")]
    enumeration: Option<Vec<String>>,
}

/// A JSON object read in the file's order (members are checked in that order).
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Entries<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(Entries(PhantomData))
    }
}

/// The order in which the service lists an enum's values where it is not the
/// model's: DynamoDB's `ScalarAttributeType` is `[B, N, S]` in its messages
/// (the model lists S, N, B) and `ProjectionType` `[ALL, INCLUDE,
/// KEYS_ONLY]`, as recorded by dynalite's suite (and the first by a newer
/// suite); other enums keep the model's order, as recorded too.
fn service_order(shape: &str, mut set: Vec<String>) -> Vec<String> {
    if ["ScalarAttributeType", "ProjectionType"].contains(&shape) {
        set.sort();
    }
    set
}
