//! The type pass: every member present must have the JSON type its shape wants, or the
//! request is a SerializationException worded as the service words it. The first
//! mismatch, in the service's member order, is the answer.

use serde_json::Value;

use super::model::{Dialect, Kind, Model, ShapeId};

/// Where a value sits: DynamoDB words a wrong structure differently as a field of a
/// structure and as an element of a list or map.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    Field,
    Element,
}

/// What the request has where the shape wants something else.
enum Found<'a> {
    Bool(bool),
    Integer,
    Decimal,
    Text(&'a str),
    List,
    Object,
}

/// Checks the types of `value` (not null) against `shape`, depth first, members in
/// model order.
pub(super) fn check(
    model: &Model,
    shape: ShapeId,
    value: &Value,
    place: Place,
) -> Result<(), String> {
    let s = &model.shapes[shape];
    let found = match value {
        Value::Null => return Ok(()),
        Value::Bool(b) => Found::Bool(*b),
        Value::Number(n) if n.is_f64() => Found::Decimal,
        Value::Number(_) => Found::Integer,
        Value::String(t) => Found::Text(t),
        Value::Array(_) => Found::List,
        Value::Object(_) => Found::Object,
    };
    match (&s.kind, value) {
        (Kind::Structure(members), Value::Object(object)) => {
            for m in members {
                if let Some(v) = object.get(&m.name) {
                    check(model, m.shape, v, Place::Field)?;
                }
            }
            Ok(())
        }
        (Kind::List(member), Value::Array(items)) => {
            for item in items {
                check(model, *member, item, Place::Element)?;
            }
            Ok(())
        }
        (Kind::Map { value: v, .. }, Value::Object(object)) => {
            for item in object.values() {
                check(model, *v, item, Place::Element)?;
            }
            Ok(())
        }
        (Kind::String, Value::String(_)) => Ok(()),
        (Kind::Integer | Kind::Long | Kind::Float | Kind::Double, Value::Number(_)) => Ok(()),
        (Kind::Boolean, Value::Bool(_)) => Ok(()),
        (Kind::Boolean, Value::String(t)) if boolean_text(t) => Ok(()),
        (Kind::Timestamp, Value::Number(_)) => Ok(()),
        // Kinesis takes only numbers (a string, even of digits, is refused,
        // as recorded); DynamoDB also reads ISO 8601 text.
        (Kind::Timestamp, Value::String(t))
            if model.dialect == Dialect::DynamoDb && timestamp_text(t) =>
        {
            Ok(())
        }
        (Kind::Blob, Value::String(t)) => blob(model.dialect, t),
        _ => Err(message(model, shape, found, place)),
    }
}

/// The strings the service reads as a boolean.
fn boolean_text(t: &str) -> bool {
    ["true", "false", "1", "0", "yes", "no"]
        .iter()
        .any(|b| t.eq_ignore_ascii_case(b))
}

/// The strings read as a timestamp: epoch seconds in a string, or an ISO 8601 date and
/// time (`2024-01-31T12:00:00Z`, `2024-01-31T12:00:00.5+01:00`).
pub(super) fn timestamp_text(t: &str) -> bool {
    if !t.is_empty() && t.parse::<f64>().is_ok_and(f64::is_finite) {
        return true;
    }
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let mut rest = &t[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    let zone = rest.as_bytes();
    rest.is_empty()
        || rest.eq_ignore_ascii_case("z")
        || (zone.len() == 6
            && matches!(zone[0], b'+' | b'-')
            && zone[1..3].iter().all(u8::is_ascii_digit)
            && zone[3] == b':'
            && zone[4..6].iter().all(u8::is_ascii_digit))
}

/// A blob is base64 text; the service checks its length, its characters, then its
/// last character.
fn blob(dialect: Dialect, t: &str) -> Result<(), String> {
    let Err(e) = base64_len(t) else {
        return Ok(());
    };
    // Kinesis quotes the whole value (built only here: blobs are large).
    let prefix = match dialect {
        Dialect::Kinesis => format!("'{t}' can not be converted to a Blob: "),
        Dialect::DynamoDb => String::new(),
    };
    Err(match (e, dialect) {
        (Base64Error::Length(n), _) => {
            format!(
                "{prefix}Base64 encoded length is expected a multiple of 4 bytes but found: {n}"
            )
        }
        (Base64Error::Character(c), Dialect::Kinesis) => {
            format!("{prefix}Invalid Base64 character: '{c}'")
        }
        (_, _) => format!("{prefix}Invalid last non-pad Base64 character dectected"),
    })
}

/// Why text is not canonical base64.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Base64Error {
    /// Its length (in UTF-16 units, as Java counts) is not a multiple of 4.
    Length(usize),
    /// A character outside the alphabet, or padding before the end.
    Character(char),
    /// Too much padding, or bits set past the last byte.
    Last,
}

/// Whether `c` is in base64's alphabet (its padding aside). Branch-free, so
/// that a check over many bytes is vectorised.
fn in_alphabet(c: u8) -> bool {
    (c.wrapping_sub(b'A') < 26)
        | (c.wrapping_sub(b'a') < 26)
        | (c.wrapping_sub(b'0') < 10)
        | (c == b'+')
        | (c == b'/')
}

/// The number of bytes canonical base64 `text` decodes to, found without decoding it.
pub(super) fn base64_len(text: &str) -> Result<usize, Base64Error> {
    let units = if text.is_ascii() {
        text.len()
    } else {
        text.encode_utf16().count()
    };
    if units % 4 != 0 {
        return Err(Base64Error::Length(units));
    }
    let b = text.as_bytes();
    // Padding ends the text; the rest must all be in the alphabet. The first
    // byte that is not (a `=` before the end included) is the bad character.
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    let body = &b[..b.len() - pad];
    let valid = body
        .chunks(64)
        .all(|chunk| chunk.iter().fold(true, |ok, &c| ok & in_alphabet(c)));
    if let Some(i) = (!valid)
        .then(|| body.iter().position(|&c| !in_alphabet(c)))
        .flatten()
    {
        // Every byte before was ASCII, so a character starts here.
        let c = text[i..]
            .chars()
            .next()
            .unwrap_or(char::REPLACEMENT_CHARACTER);
        return Err(Base64Error::Character(c));
    }
    if pad > 2 {
        return Err(Base64Error::Last);
    }
    let Some(&last) = b.len().checked_sub(pad + 1).and_then(|i| b.get(i)) else {
        return Ok(0);
    };
    let sextet = match last {
        b'A'..=b'Z' => last - b'A',
        b'a'..=b'z' => last - b'a' + 26,
        b'0'..=b'9' => last - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let unused = [0u8, 0b11, 0b1111][pad];
    if sextet & unused != 0 {
        return Err(Base64Error::Last);
    }
    Ok(b.len() / 4 * 3 - pad)
}

/// The SerializationException message for `found` where `shape` was wanted.
fn message(model: &Model, shape: ShapeId, found: Found, place: Place) -> String {
    let s = &model.shapes[shape];
    match model.dialect {
        Dialect::Kinesis => kinesis(&s.kind, found),
        Dialect::DynamoDb => dynamodb(model, shape, found, place),
    }
}

fn java_type(kind: &Kind) -> &'static str {
    match kind {
        Kind::Integer => "Integer",
        Kind::Long => "Long",
        Kind::Float => "Float",
        Kind::Double => "Double",
        Kind::Boolean => "Boolean",
        Kind::Timestamp => "Date",
        _ => "String",
    }
}

/// Kinesis's wording, as recorded against the service by kinesalite's test suite.
fn kinesis(kind: &Kind, found: Found) -> String {
    const NUMBER: &str = "class com.amazon.coral.value.json.numbers.TruncatingBigNumber";
    let list = "Start of list found where not expected".to_string();
    let object = "Start of structure or map found where not expected.".to_string();
    match (kind, found) {
        (Kind::Structure(_), Found::List) => list,
        (Kind::Structure(_), _) => "Expected null".into(),
        (Kind::List(_), Found::Object) => object,
        (Kind::List(_), _) => "Expected list or null".into(),
        (Kind::Map { .. }, Found::List) => list,
        (Kind::Map { .. }, _) => "Expected map or null".into(),
        (_, Found::List) => list,
        (_, Found::Object) => object,
        (Kind::Blob, Found::Bool(_)) => {
            "class java.lang.Boolean can not be converted to a Blob".into()
        }
        (Kind::Blob, _) => format!("{NUMBER} can not be converted to a Blob"),
        (Kind::Timestamp, Found::Bool(_)) => {
            "class java.lang.Boolean can not be converted to milliseconds since epoch".into()
        }
        (Kind::Timestamp, _) => {
            "class java.lang.String can not be converted to milliseconds since epoch".into()
        }
        (Kind::Boolean, Found::Text(t)) => {
            format!("'{}' can not be converted to an Boolean", t.to_uppercase())
        }
        (k, Found::Bool(_)) => format!(
            "class java.lang.Boolean can not be converted to an {}",
            java_type(k)
        ),
        (k, Found::Text(_)) => format!(
            "class java.lang.String can not be converted to an {}",
            java_type(k)
        ),
        (k, Found::Integer | Found::Decimal) => {
            format!("{NUMBER} can not be converted to an {}", java_type(k))
        }
    }
}

const PARAMETERIZED: &str = "class sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl cannot be cast to class java.lang.Class (sun.reflect.generics.reflectiveObjects.ParameterizedTypeImpl and java.lang.Class are in module java.base of loader 'bootstrap')";

/// The Java type the service reads `shape` into.
fn java_class(model: &Model, shape: ShapeId) -> String {
    let s = &model.shapes[shape];
    match s.kind {
        Kind::Structure(_) => format!("{}.{}", model.namespace, s.name),
        Kind::List(member) => format!("java.util.List<{}>", java_class(model, member)),
        _ => format!("java.lang.{}", java_type(&s.kind)),
    }
}

/// DynamoDB's wording, as recorded against the service by dynalite's test suite.
fn dynamodb(model: &Model, shape: ShapeId, found: Found, place: Place) -> String {
    let s = &model.shapes[shape];
    let object = "Start of structure or map found where not expected".to_string();
    let scalar = |found: &Found| match found {
        Found::Bool(true) => "TRUE_VALUE",
        Found::Bool(false) => "FALSE_VALUE",
        Found::Integer => "NUMBER_VALUE",
        Found::Decimal => "DECIMAL_VALUE",
        _ => "STRING_VALUE",
    };
    match (&s.kind, found) {
        (Kind::Structure(_), Found::List) => {
            format!(
                "Unrecognized collection type class {}.{}",
                model.namespace, s.name
            )
        }
        (Kind::Structure(_), _) => match place {
            Place::Field => "Unexpected field type".into(),
            Place::Element => "Unexpected value type in payload".into(),
        },
        (Kind::List(_), Found::Object) => object,
        // A collection inside a collection is a parameterized type to the
        // service's Java reader, which fails to cast it (as recorded).
        (
            Kind::List(_) | Kind::Map { .. },
            Found::Bool(_) | Found::Integer | Found::Decimal | Found::Text(_),
        ) if place == Place::Element => PARAMETERIZED.into(),
        (Kind::List(_), _) => "Unexpected field type".into(),
        (Kind::Map { value, .. }, Found::List) => {
            format!(
                "Unrecognized collection type java.util.Map<java.lang.String, {}>",
                java_class(model, *value)
            )
        }
        (Kind::Map { .. }, _) => "Unexpected field type".into(),
        (_, Found::Object) => object,
        (Kind::Blob, Found::List) => {
            "Unrecognized collection type class java.nio.ByteBuffer".into()
        }
        (Kind::Blob, _) => "only base-64-encoded strings are convertible to bytes".into(),
        (k, Found::List) => format!(
            "Unrecognized collection type class java.lang.{}",
            java_type(k)
        ),
        (Kind::Boolean, Found::Text(_)) => "Unexpected token received from parser".into(),
        (k, f) => format!("{} cannot be converted to {}", scalar(&f), java_type(k)),
    }
}
