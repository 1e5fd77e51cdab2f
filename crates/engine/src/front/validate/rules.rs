//! The constraint pass: every constraint of every member (required, enum, pattern,
//! length, range; list and map members), in the service's member order, each violation
//! worded as the service words it. Runs only on input that passed the type pass.

use serde_json::{Map, Number, Value};

use super::model::{Kind, Model, Shape, ShapeId};

/// The service lists at most this many violations (and counts only those).
pub(super) const MAX_LISTED: usize = 10;

/// Java's identity hash in the name of a structure value; the real one cannot be
/// reproduced, this is the one the service printed in kinesalite's recording.
const IDENTITY_HASH: &str = "c965e310";

/// Where a value sits in the request, as the service names it
/// (`records.1.member.partitionKey`). Written out only for a violation, so a
/// valid request of many records allocates no paths.
#[derive(Clone, Copy)]
pub(super) enum Path<'a> {
    Root,
    /// A structure member: `parent.name`, or `name` at the top.
    Member(&'a Path<'a>, &'a str),
    /// A list element, 0-based here: `parent.N.member` with N from 1.
    Item(&'a Path<'a>, usize),
    /// A map value: `parent.KEY.member`.
    Key(&'a Path<'a>, &'a str),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Member(Path::Root, name) => f.write_str(name),
            Path::Member(parent, name) => write!(f, "{parent}.{name}"),
            Path::Item(parent, i) => write!(f, "{parent}.{}.member", i + 1),
            Path::Key(parent, key) => write!(f, "{parent}.{key}.member"),
        }
    }
}

/// Checks the members of a structure value at `prefix`.
pub(super) fn structure(
    model: &Model,
    shape: ShapeId,
    object: &Map<String, Value>,
    prefix: &Path<'_>,
    out: &mut Vec<String>,
) {
    let Kind::Structure(members) = &model.shapes[shape].kind else {
        return;
    };
    for m in members {
        let path = Path::Member(prefix, &m.path_name);
        let value = object.get(&m.name).filter(|v| !v.is_null());
        member(model, m.shape, value, m.required, &path, out);
    }
}

/// Checks one value (absent: `None`) at `path`.
fn member(
    model: &Model,
    id: ShapeId,
    value: Option<&Value>,
    required: bool,
    path: &Path<'_>,
    out: &mut Vec<String>,
) {
    if out.len() >= MAX_LISTED {
        return;
    }
    let Some(value) = value else {
        if required {
            push(out, None, path, "Member must not be null");
        }
        return;
    };
    let shape = &model.shapes[id];
    let shown = || render(model, id, value);
    for rule in violations(shape, value) {
        push(out, Some(shown()), path, &rule);
    }
    match (&shape.kind, value) {
        (Kind::Structure(_), Value::Object(object)) => structure(model, id, object, path, out),
        (Kind::List(element), Value::Array(items)) => {
            if is_scalar(&model.shapes[*element]) {
                let e = &model.shapes[*element];
                if items
                    .iter()
                    .any(|v| !v.is_null() && !violations(e, v).is_empty())
                {
                    let all = all_rules(e).join(", ");
                    push(
                        out,
                        Some(shown()),
                        path,
                        &format!("Member must satisfy constraint: [{all}]"),
                    );
                }
            } else {
                for (i, item) in items.iter().enumerate() {
                    let at = Path::Item(path, i);
                    member(
                        model,
                        *element,
                        Some(item).filter(|v| !v.is_null()),
                        false,
                        &at,
                        out,
                    );
                }
            }
        }
        (Kind::Map { key, value: v }, Value::Object(object)) => {
            let k = &model.shapes[*key];
            let keys_bad = object
                .keys()
                .any(|name| !violations(k, &Value::String(name.clone())).is_empty());
            if keys_bad {
                let all = all_rules(k).join(", ");
                push(
                    out,
                    Some(shown()),
                    path,
                    &format!("Map keys must satisfy constraint: [{all}]"),
                );
            }
            let vs = &model.shapes[*v];
            if is_scalar(vs) {
                if object
                    .values()
                    .any(|x| !x.is_null() && !violations(vs, x).is_empty())
                {
                    map_value_violation(out, shown(), path, vs);
                }
            } else {
                // A list value over its maximum is named at the map, with
                // every rule of the list (as recorded for BatchWriteItem's
                // 26 writes); one under its minimum at its own path.
                let too_long = |x: &Value| {
                    let len = x.as_array().map(Vec::len);
                    matches!((len, vs.max), (Some(n), Some(max)) if n as f64 > max)
                };
                if object.values().any(too_long) {
                    map_value_violation(out, shown(), path, vs);
                }
                for (name, item) in object.iter().filter(|(_, x)| !too_long(x)) {
                    let at = Path::Key(path, name);
                    member(
                        model,
                        *v,
                        Some(item).filter(|x| !x.is_null()),
                        false,
                        &at,
                        out,
                    );
                }
            }
        }
        _ => {}
    }
}

/// A map's values named at the map, with every rule of the value's shape.
fn map_value_violation(out: &mut Vec<String>, shown: String, path: &Path<'_>, value: &Shape) {
    let all = all_rules(value).join(", ");
    push(
        out,
        Some(shown),
        path,
        &format!("Map value must satisfy constraint: [{all}]"),
    );
}

fn push(out: &mut Vec<String>, shown: Option<String>, path: &Path<'_>, rule: &str) {
    if out.len() >= MAX_LISTED {
        return;
    }
    let shown = match shown {
        Some(s) => format!("'{s}'"),
        None => "null".to_string(),
    };
    out.push(format!(
        "Value {shown} at '{path}' failed to satisfy constraint: {rule}"
    ));
}

/// Shapes whose list or map members the service checks as one ("Member must satisfy
/// constraint: [...]") rather than one path per element.
fn is_scalar(shape: &Shape) -> bool {
    !matches!(
        shape.kind,
        Kind::Structure(_) | Kind::List(_) | Kind::Map { .. }
    )
}

/// The shape's own constraints that `value` breaks, in the service's order: enum,
/// pattern, minimum then maximum length, minimum then maximum value.
fn violations(shape: &Shape, value: &Value) -> Vec<String> {
    let mut broken = Vec::new();
    if let (Some(set), Value::String(s)) = (&shape.enumeration, value) {
        if !set.contains(s) {
            broken.push(enum_rule(set));
        }
    }
    if let (Some(p), Value::String(s)) = (&shape.pattern, value) {
        if p.regex.as_ref().is_some_and(|r| !r.is_match(s)) {
            broken.push(pattern_rule(&p.source));
        }
    }
    if let Some(len) = length(shape, value) {
        if let Some(min) = shape.min.filter(|&m| (len as f64) < m) {
            broken.push(format!(
                "Member must have length greater than or equal to {}",
                num(min)
            ));
        }
        if let Some(max) = shape.max.filter(|&m| (len as f64) > m) {
            broken.push(format!(
                "Member must have length less than or equal to {}",
                num(max)
            ));
        }
    }
    if let Some(n) = numeric(shape, value) {
        if let Some(min) = shape.min.filter(|&m| n < m) {
            broken.push(format!(
                "Member must have value greater than or equal to {}",
                num(min)
            ));
        }
        if let Some(max) = shape.max.filter(|&m| n > m) {
            broken.push(format!(
                "Member must have value less than or equal to {}",
                num(max)
            ));
        }
    }
    broken
}

/// Every constraint of a list's or map's member shape, as the service lists them
/// inside "Member must satisfy constraint: [...]": maximum before minimum.
fn all_rules(shape: &Shape) -> Vec<String> {
    let mut rules = Vec::new();
    let sized = matches!(
        shape.kind,
        Kind::String | Kind::Blob | Kind::List(_) | Kind::Map { .. }
    );
    if sized {
        if let Some(max) = shape.max {
            rules.push(format!(
                "Member must have length less than or equal to {}",
                num(max)
            ));
        }
        if let Some(min) = shape.min {
            rules.push(format!(
                "Member must have length greater than or equal to {}",
                num(min)
            ));
        }
    }
    if let Some(p) = &shape.pattern {
        rules.push(pattern_rule(&p.source));
    }
    if let Some(set) = &shape.enumeration {
        rules.push(enum_rule(set));
    }
    if !sized {
        if let Some(max) = shape.max {
            rules.push(format!(
                "Member must have value less than or equal to {}",
                num(max)
            ));
        }
        if let Some(min) = shape.min {
            rules.push(format!(
                "Member must have value greater than or equal to {}",
                num(min)
            ));
        }
    }
    rules
}

fn enum_rule(set: &[String]) -> String {
    format!("Member must satisfy enum value set: [{}]", set.join(", "))
}

fn pattern_rule(source: &str) -> String {
    format!("Member must satisfy regular expression pattern: {source}")
}

/// The length the service measures: UTF-16 units of a string, bytes of a blob,
/// elements of a list or map.
fn length(shape: &Shape, value: &Value) -> Option<usize> {
    match (&shape.kind, value) {
        (Kind::String, Value::String(s)) => Some(s.encode_utf16().count()),
        (Kind::Blob, Value::String(s)) => Some(blob_len(s)),
        (Kind::List(_), Value::Array(a)) => Some(a.len()),
        (Kind::Map { .. }, Value::Object(o)) => Some(o.len()),
        _ => None,
    }
}

/// Bytes of a blob. The type pass has checked its base64, so it is ASCII with at most
/// two padding characters, and counting is enough.
fn blob_len(base64: &str) -> usize {
    let pad = base64
        .bytes()
        .rev()
        .take_while(|&c| c == b'=')
        .count()
        .min(2);
    (base64.len() / 4 * 3).saturating_sub(pad)
}

/// A number as the service reads it for its shape: integers are truncated toward
/// minus infinity, and an Integer above its range reads as Integer.MAX_VALUE.
fn numeric(shape: &Shape, value: &Value) -> Option<f64> {
    let Value::Number(n) = value else { return None };
    let f = n.as_f64()?;
    Some(match shape.kind {
        Kind::Integer => f.floor().min(f64::from(i32::MAX)),
        Kind::Long => f.floor(),
        Kind::Float | Kind::Double => f,
        _ => return None,
    })
}

/// A model bound as the service prints it (`1`, `0.5`).
fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e18 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// A number value as the service prints it after reading it for its shape.
fn number_text(shape: &Shape, n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return match shape.kind {
            Kind::Integer => i.min(i64::from(i32::MAX)).to_string(),
            _ => i.to_string(),
        };
    }
    if let Some(u) = n.as_u64() {
        return match shape.kind {
            Kind::Integer => i32::MAX.to_string(),
            _ => u.to_string(),
        };
    }
    match numeric(shape, &Value::Number(n.clone())) {
        Some(f) => num(f),
        None => n.to_string(),
    }
}

/// A value as the service shows it in "Value '...' at": strings as they are, blobs as
/// the Java buffer holding them, lists as `[a, b]`, maps as `{k=v}`, structures by
/// their Java class.
fn render(model: &Model, id: ShapeId, value: &Value) -> String {
    let shape = &model.shapes[id];
    match (&shape.kind, value) {
        (_, Value::Null) => "null".to_string(),
        (Kind::Blob, Value::String(s)) => {
            let n = blob_len(s);
            format!("java.nio.HeapByteBuffer[pos=0 lim={n} cap={n}]")
        }
        (Kind::Structure(_), _) => format!("{}.{}@{IDENTITY_HASH}", model.namespace, shape.name),
        (Kind::List(element), Value::Array(items)) => {
            let shown: Vec<String> = items.iter().map(|v| render(model, *element, v)).collect();
            format!("[{}]", shown.join(", "))
        }
        (Kind::Map { value: v, .. }, Value::Object(object)) => {
            let shown: Vec<String> = object
                .iter()
                .map(|(k, x)| format!("{k}={}", render(model, *v, x)))
                .collect();
            format!("{{{}}}", shown.join(", "))
        }
        (_, Value::String(s)) => s.clone(),
        (_, Value::Number(n)) => number_text(shape, n),
        (_, other) => other.to_string(),
    }
}
