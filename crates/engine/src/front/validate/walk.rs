//! Walks a whole model: for every operation, every member reachable from its input
//! (nested structures, list elements, map values) and every constraint on it
//! (required, enum, pattern, length, range, list and map members), it builds a request
//! that is valid but for that one constraint and checks that `check` refuses it with a
//! ValidationException naming that member and that constraint.

use std::collections::HashMap;

use base64::Engine as _;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::{json, Map, Value};

use super::model::{java_to_rust, Kind, Model, Shape, ShapeId};
use super::{check, dynamodb, kinesis, Invalid};

/// A request breaking one constraint, and what the refusal must name.
struct Case {
    request: Value,
    path: String,
    rule: String,
}

/// A value of a member's shape that breaks one of its constraints.
struct Breaker {
    value: Value,
    rule: String,
}

struct Walker<'m> {
    model: &'m Model,
    runner: TestRunner,
    samples: HashMap<ShapeId, Value>,
    /// Constraints for which no breaking value could be built.
    problems: Vec<String>,
}

const NOT_NULL: &str = "Member must not be null";
/// Deeper than this the walk stops (DynamoDB's AttributeValue nests itself).
const MAX_DEPTH: usize = 8;
/// Lists, maps and strings longer than this are not built to break a maximum.
const MAX_BUILT: f64 = 11_000_000.0;

impl<'m> Walker<'m> {
    fn new(model: &'m Model) -> Self {
        Walker {
            model,
            runner: TestRunner::deterministic(),
            samples: HashMap::new(),
            problems: Vec::new(),
        }
    }

    fn shape(&self, id: ShapeId) -> &'m Shape {
        &self.model.shapes[id]
    }

    /// Strings of the shape's pattern, generated from it, that also fit its length.
    fn pattern_samples(&mut self, id: ShapeId, wanted: usize) -> Vec<String> {
        let s = self.shape(id);
        let Some(p) = &s.pattern else {
            return Vec::new();
        };
        let source = java_to_rust(&p.source);
        let source = source.strip_prefix('^').unwrap_or(&source);
        let source = source.strip_suffix('$').unwrap_or(source);
        let Ok(strategy) = proptest::string::string_regex(source) else {
            return Vec::new();
        };
        let mut found: Vec<String> = Vec::new();
        for _ in 0..500 {
            let Ok(tree) = strategy.new_tree(&mut self.runner) else {
                break;
            };
            let text = tree.current();
            if fits(s, &text) && !found.contains(&text) {
                found.push(text);
                if found.len() == wanted {
                    break;
                }
            }
        }
        found
    }

    /// `n` distinct valid strings of a string shape.
    fn strings(&mut self, id: ShapeId, n: usize) -> Vec<String> {
        let s = self.shape(id);
        if let Some(set) = &s.enumeration {
            return set.iter().take(n).cloned().collect();
        }
        if s.pattern.is_some() {
            return self.pattern_samples(id, n);
        }
        let len = s.min.unwrap_or(0.0).max(1.0).min(s.max.unwrap_or(f64::MAX)) as usize;
        (0..n)
            .map(|i| {
                let tag = format!("k{i}");
                let pad = len.saturating_sub(tag.encode_utf16().count());
                format!("{tag}{}", "a".repeat(pad))
            })
            .filter(|t| fits(s, t))
            .collect()
    }

    /// A valid value of the shape, with only the required members of structures.
    fn valid(&mut self, id: ShapeId, depth: usize) -> Value {
        if let Some(v) = self.samples.get(&id) {
            return v.clone();
        }
        let s = self.shape(id);
        let min = s.min.unwrap_or(0.0).max(0.0) as usize;
        let value = match &s.kind {
            Kind::String => match self.strings(id, 1).pop() {
                Some(t) => Value::String(t),
                None => {
                    self.problems.push(format!("{}: no valid string", s.name));
                    json!("")
                }
            },
            Kind::Blob => json!(b64(min)),
            Kind::Integer | Kind::Long | Kind::Float | Kind::Double => {
                let n = s.min.unwrap_or(1.0).max(s.max.map_or(1.0, |m| m.min(1.0)));
                json!(n as i64)
            }
            Kind::Boolean => json!(true),
            Kind::Timestamp => json!(1_700_000_000),
            Kind::Structure(members) if depth < MAX_DEPTH => {
                let mut object = Map::new();
                for m in members.iter().filter(|m| m.required) {
                    let v = self.valid(m.shape, depth + 1);
                    object.insert(m.name.clone(), v);
                }
                Value::Object(object)
            }
            Kind::Structure(_) => json!({}),
            Kind::List(element) => {
                let e = self.valid(*element, depth + 1);
                Value::Array(vec![e; min])
            }
            Kind::Map { key, value } => {
                let keys = self.strings(*key, min);
                let v = self.valid(*value, depth + 1);
                Value::Object(keys.into_iter().map(|k| (k, v.clone())).collect())
            }
        };
        self.samples.insert(id, value.clone());
        value
    }

    /// Values breaking each of the shape's own constraints (for lists and maps, also
    /// those of their plain members, which the service reports at the list's path).
    fn breakers(&mut self, id: ShapeId) -> Vec<Breaker> {
        let s = self.shape(id);
        let mut out = Vec::new();
        let too = |n: usize, rule: &str| (n, rule.to_string());
        let mut lengths = Vec::new();
        if let Some(min) = s.min.filter(|&m| m >= 1.0) {
            lengths.push(too(
                min as usize - 1,
                &format!("Member must have length greater than or equal to {min}"),
            ));
        }
        if let Some(max) = s.max.filter(|&m| m < MAX_BUILT) {
            lengths.push(too(
                max as usize + 1,
                &format!("Member must have length less than or equal to {max}"),
            ));
        }
        match &s.kind {
            Kind::String => {
                if let Some(set) = &s.enumeration {
                    let rule = format!("Member must satisfy enum value set: [{}]", set.join(", "));
                    out.push(Breaker {
                        value: json!("NOT_ONE_OF_THEM"),
                        rule,
                    });
                }
                if let Some(p) = &s.pattern {
                    let rule = format!(
                        "Member must satisfy regular expression pattern: {}",
                        p.source
                    );
                    match breaks_pattern(s) {
                        Some(t) => out.push(Breaker {
                            value: json!(t),
                            rule,
                        }),
                        None => self
                            .problems
                            .push(format!("{}: no string breaks {}", s.name, p.source)),
                    }
                }
                for (n, rule) in lengths {
                    out.push(Breaker {
                        value: json!("a".repeat(n)),
                        rule,
                    });
                }
            }
            Kind::Blob => {
                for (n, rule) in lengths {
                    out.push(Breaker {
                        value: json!(b64(n)),
                        rule,
                    });
                }
            }
            Kind::Integer | Kind::Long | Kind::Float | Kind::Double => {
                let int_max = if matches!(s.kind, Kind::Integer) {
                    f64::from(i32::MAX)
                } else {
                    9e15
                };
                if let Some(min) = s.min.filter(|&m| m > -9e15) {
                    let rule = format!(
                        "Member must have value greater than or equal to {}",
                        show(min)
                    );
                    out.push(Breaker {
                        value: json!((min - 1.0) as i64),
                        rule,
                    });
                }
                if let Some(max) = s.max.filter(|&m| m < int_max) {
                    let rule =
                        format!("Member must have value less than or equal to {}", show(max));
                    out.push(Breaker {
                        value: json!((max + 1.0) as i64),
                        rule,
                    });
                }
            }
            Kind::List(element) => {
                let e = self.valid(*element, 1);
                for (n, rule) in lengths {
                    out.push(Breaker {
                        value: Value::Array(vec![e.clone(); n]),
                        rule,
                    });
                }
                if is_plain(self.shape(*element)) {
                    let min = s.min.unwrap_or(0.0) as usize;
                    for b in self.breakers(*element) {
                        let mut items = vec![b.value];
                        items.extend(std::iter::repeat_n(e.clone(), min.saturating_sub(1)));
                        out.push(Breaker {
                            value: Value::Array(items),
                            rule: b.rule,
                        });
                    }
                }
            }
            Kind::Map { key, value } => {
                let v = self.valid(*value, 1);
                let most = lengths.iter().map(|(n, _)| *n).max().unwrap_or(0).max(1);
                let keys = self.strings(*key, most);
                for (n, rule) in lengths {
                    if keys.len() < n {
                        self.problems
                            .push(format!("{}: too few distinct keys", s.name));
                        continue;
                    }
                    let entries = keys
                        .iter()
                        .take(n)
                        .map(|k| (k.clone(), v.clone()))
                        .collect();
                    out.push(Breaker {
                        value: Value::Object(entries),
                        rule,
                    });
                }
                let filler: Map<String, Value> = keys
                    .iter()
                    .take(s.min.unwrap_or(0.0) as usize)
                    .map(|k| (k.clone(), v.clone()))
                    .collect();
                for b in self.breakers(*key) {
                    let Value::String(bad) = b.value else {
                        continue;
                    };
                    let mut entries = filler.clone();
                    entries.remove(keys.first().map_or("", String::as_str));
                    entries.insert(bad, v.clone());
                    out.push(Breaker {
                        value: Value::Object(entries),
                        rule: b.rule,
                    });
                }
                if is_plain(self.shape(*value)) {
                    for b in self.breakers(*value) {
                        let mut entries = filler.clone();
                        let k = keys.first().cloned().unwrap_or_else(|| "k".into());
                        entries.insert(k, b.value);
                        out.push(Breaker {
                            value: Value::Object(entries),
                            rule: b.rule,
                        });
                    }
                }
            }
            Kind::Boolean | Kind::Timestamp | Kind::Structure(_) => {}
        }
        out
    }

    /// Records the cases of one member site: `current` is its value in the valid
    /// request (if any) and `rebuild` puts a value (or its absence) back into the request.
    #[allow(clippy::too_many_arguments)]
    fn site(
        &mut self,
        id: ShapeId,
        current: Option<Value>,
        required: bool,
        path: &str,
        rebuild: &dyn Fn(Option<Value>) -> Value,
        stack: &mut Vec<ShapeId>,
        out: &mut Vec<Case>,
    ) {
        if required {
            out.push(Case {
                request: rebuild(None),
                path: path.into(),
                rule: NOT_NULL.into(),
            });
        }
        for b in self.breakers(id) {
            out.push(Case {
                request: rebuild(Some(b.value)),
                path: path.into(),
                rule: b.rule,
            });
        }
        if stack.contains(&id) || stack.len() > MAX_DEPTH {
            return;
        }
        stack.push(id);
        let here = current.unwrap_or_else(|| self.valid(id, stack.len()));
        match &self.shape(id).kind {
            Kind::Structure(members) => {
                for m in members {
                    let at = if path.is_empty() {
                        m.path_name.clone()
                    } else {
                        format!("{path}.{}", m.path_name)
                    };
                    let put = |v: Option<Value>| {
                        let mut object = here.as_object().cloned().unwrap_or_default();
                        match v {
                            Some(v) => object.insert(m.name.clone(), v),
                            None => object.remove(&m.name),
                        };
                        rebuild(Some(Value::Object(object)))
                    };
                    let current = here.get(&m.name).cloned();
                    self.site(m.shape, current, m.required, &at, &put, stack, out);
                }
            }
            Kind::List(element) if !is_plain(self.shape(*element)) => {
                let mut items = here.as_array().cloned().unwrap_or_default();
                if items.is_empty() {
                    items.push(self.valid(*element, stack.len()));
                }
                let first = items[0].clone();
                let put = |v: Option<Value>| {
                    let mut items = items.clone();
                    items[0] = v.unwrap_or(Value::Null);
                    rebuild(Some(Value::Array(items)))
                };
                self.site(
                    *element,
                    Some(first),
                    false,
                    &format!("{path}.1.member"),
                    &put,
                    stack,
                    out,
                );
            }
            Kind::Map { key, value } if !is_plain(self.shape(*value)) => {
                let mut entries = here.as_object().cloned().unwrap_or_default();
                if entries.is_empty() {
                    let k = self.strings(*key, 1).pop().unwrap_or_else(|| "k".into());
                    let v = self.valid(*value, stack.len());
                    entries.insert(k, v);
                }
                let (k, first) = entries
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .unwrap_or_default();
                let put = |v: Option<Value>| {
                    let mut entries = entries.clone();
                    entries.insert(k.clone(), v.unwrap_or(Value::Null));
                    rebuild(Some(Value::Object(entries)))
                };
                self.site(
                    *value,
                    Some(first),
                    false,
                    &format!("{path}.{k}.member"),
                    &put,
                    stack,
                    out,
                );
            }
            _ => {}
        }
        stack.pop();
    }

    /// Every case of every operation, with the operation's name.
    fn cases(&mut self) -> Vec<(String, Case)> {
        let mut all = Vec::new();
        for op in self.model.operations() {
            let Some(Some(input)) = self.model.input(op) else {
                continue;
            };
            let base = self.valid(input, 0);
            match check(self.model, op, &base) {
                Ok(()) => {}
                Err(e) => self
                    .problems
                    .push(format!("{op}: the valid request {base} is refused: {e}")),
            }
            let mut out = Vec::new();
            self.site(
                input,
                Some(base),
                false,
                "",
                &|v| v.unwrap_or(Value::Null),
                &mut Vec::new(),
                &mut out,
            );
            all.extend(out.into_iter().map(|c| (op.to_string(), c)));
        }
        all
    }
}

fn b64(n: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(vec![b'a'; n])
}

fn show(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

fn is_plain(shape: &Shape) -> bool {
    !matches!(
        shape.kind,
        Kind::Structure(_) | Kind::List(_) | Kind::Map { .. }
    )
}

/// Whether `text` has a length the string shape allows.
fn fits(s: &Shape, text: &str) -> bool {
    let n = text.encode_utf16().count() as f64;
    s.min.is_none_or(|m| n >= m) && s.max.is_none_or(|m| n <= m)
}

/// A string of an allowed length that the shape's pattern refuses.
fn breaks_pattern(s: &Shape) -> Option<String> {
    let regex = s.pattern.as_ref()?.regex.as_ref()?;
    let min = s.min.unwrap_or(0.0).max(1.0) as usize;
    ["!", " ", "\u{1}", "$", "a", "0", "-", "é"]
        .iter()
        .flat_map(|c| [c.to_string(), c.repeat(min)])
        .find(|t| fits(s, t) && !regex.is_match(t))
}

/// Runs every case of the model; returns the failures, and how many cases ran.
fn walk(model: &Model) -> (Vec<String>, usize) {
    let mut walker = Walker::new(model);
    let cases = walker.cases();
    let mut failures = std::mem::take(&mut walker.problems);
    for (op, case) in &cases {
        let wanted = format!("at '{}' failed to satisfy constraint: ", case.path);
        // A map's value may be named at the map, with all of its rules.
        let at_map = case
            .path
            .strip_suffix(".member")
            .and_then(|p| p.rsplit_once('.'))
            .map(|(map, _)| {
                format!(
                    "at '{map}' failed to satisfy constraint: Map value must satisfy constraint: ["
                )
            });
        match check(model, op, &case.request) {
            Err(Invalid::Validation(violations)) => {
                let named = violations.iter().any(|v| {
                    let place = v.contains(&wanted)
                        || at_map.as_ref().is_some_and(|m| v.contains(m.as_str()));
                    place && v.contains(&case.rule)
                });
                if !named {
                    failures.push(format!(
                        "{op} {}: [{}] not in {violations:?}",
                        case.path, case.rule
                    ));
                }
            }
            other => failures.push(format!(
                "{op} {}: [{}] gave {other:?}",
                case.path, case.rule
            )),
        }
    }
    (failures, cases.len())
}

#[test]
fn every_constraint_of_every_kinesis_member_is_enforced() {
    let (failures, cases) = walk(kinesis());
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases > 150, "only {cases} cases");
}

#[test]
fn every_constraint_of_every_dynamodb_member_is_enforced() {
    let (failures, cases) = walk(dynamodb());
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases > 500, "only {cases} cases");
}

/// The same walk through the Kinesis service itself: each broken request is
/// refused by the engine with a ValidationException naming the member and
/// the constraint (validation comes before existence, state and limits).
#[tokio::test]
async fn every_constraint_is_enforced_by_the_kinesis_service() {
    let (engine, _writer) = crate::kinesis::Engine::open(crate::Config::default())
        .await
        .unwrap();
    let mut walker = Walker::new(kinesis());
    let cases = walker.cases();
    let mut failures = Vec::new();
    for (op, case) in &cases {
        let wanted = format!("at '{}' failed to satisfy constraint: ", case.path);
        match engine.call(op, case.request.clone(), "us-east-1").await {
            Err(e)
                if e.code == crate::front::error::Code::ValidationException
                    && e.message.contains(&wanted)
                    && e.message.contains(&case.rule) => {}
            Err(e) => failures.push(format!(
                "{op} {}: [{}] gave {:?} {}",
                case.path, case.rule, e.code, e.message
            )),
            Ok(_) => failures.push(format!("{op} {}: [{}] was accepted", case.path, case.rule)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(cases.len() > 150, "only {} cases", cases.len());
}
