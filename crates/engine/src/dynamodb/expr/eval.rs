//! Evaluating conditions against an item, and projecting items.
//!
//! The service's semantics: a path that does not resolve makes every
//! comparison false except `<>` (true); comparisons between different types
//! are false (`<>` true); ordering applies to S (UTF-8 bytes), N (numeric)
//! and B (bytes) only.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::ast::{Comparator, Condition, Operand, Path, PathElem, Projection};
use crate::dynamodb::number::Number;
use crate::dynamodb::value::{AttributeValue, Item};

/// The value at `path` in `item`, if every step resolves.
pub fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a AttributeValue> {
    let mut elems = path.0.iter();
    let mut current = match elems.next()? {
        PathElem::Name(n) => item.get(n)?,
        PathElem::Index(_) => return None,
    };
    for elem in elems {
        current = match (elem, current) {
            (PathElem::Name(n), AttributeValue::M(m)) => m.get(n)?,
            (PathElem::Index(i), AttributeValue::L(l)) => l.get(*i as usize)?,
            _ => return None,
        };
    }
    Some(current)
}

/// Order of two values of one scalar type (S, N, B); None otherwise.
pub fn compare_values(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    match (a, b) {
        (AttributeValue::S(x), AttributeValue::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (AttributeValue::N(x), AttributeValue::N(y)) => Some(x.cmp(y)),
        (AttributeValue::B(x), AttributeValue::B(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Equality as the service sees it (sets compare as sets).
pub fn values_equal(a: &AttributeValue, b: &AttributeValue) -> bool {
    fn same_set<T: Ord + Clone>(x: &[T], y: &[T]) -> bool {
        let (mut x, mut y) = (x.to_vec(), y.to_vec());
        x.sort();
        y.sort();
        x == y
    }
    match (a, b) {
        (AttributeValue::Ss(x), AttributeValue::Ss(y)) => same_set(x, y),
        (AttributeValue::Ns(x), AttributeValue::Ns(y)) => same_set(x, y),
        (AttributeValue::Bs(x), AttributeValue::Bs(y)) => same_set(x, y),
        (AttributeValue::L(x), AttributeValue::L(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| values_equal(a, b))
        }
        (AttributeValue::M(x), AttributeValue::M(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

/// `size()` of a value: a string's length in characters (UTF-16 units, as
/// the service counts: `size` of "abÿ" is 3, as recorded), binary length,
/// elements of a set, list or map; none for N, BOOL and NULL.
pub fn size_of(v: &AttributeValue) -> Option<Number> {
    let n = match v {
        AttributeValue::S(s) => s.encode_utf16().count(),
        AttributeValue::B(b) => b.len(),
        AttributeValue::Ss(x) => x.len(),
        AttributeValue::Ns(x) => x.len(),
        AttributeValue::Bs(x) => x.len(),
        AttributeValue::L(x) => x.len(),
        AttributeValue::M(x) => x.len(),
        AttributeValue::N(_) | AttributeValue::Bool(_) | AttributeValue::Null => return None,
    };
    Number::parse(&n.to_string()).ok()
}

fn operand<'a>(item: &'a Item, op: &'a Operand) -> Option<std::borrow::Cow<'a, AttributeValue>> {
    use std::borrow::Cow;
    match op {
        Operand::Path(p) => resolve(item, p).map(Cow::Borrowed),
        Operand::Value(v) => Some(Cow::Borrowed(v)),
        Operand::Size(inner) => {
            let inner = operand(item, inner)?;
            size_of(inner.as_ref()).map(|n| Cow::Owned(AttributeValue::N(n)))
        }
    }
}

fn compare(c: Comparator, a: Option<&AttributeValue>, b: Option<&AttributeValue>) -> bool {
    let (Some(a), Some(b)) = (a, b) else {
        return c == Comparator::Ne;
    };
    match c {
        Comparator::Eq => values_equal(a, b),
        Comparator::Ne => !values_equal(a, b),
        _ => match compare_values(a, b) {
            None => false,
            Some(o) => match c {
                Comparator::Lt => o == Ordering::Less,
                Comparator::Le => o != Ordering::Greater,
                Comparator::Gt => o == Ordering::Greater,
                _ => o != Ordering::Less,
            },
        },
    }
}

fn contains(haystack: &AttributeValue, needle: &AttributeValue) -> bool {
    match (haystack, needle) {
        (AttributeValue::S(h), AttributeValue::S(n)) => h.contains(n.as_str()),
        (AttributeValue::B(h), AttributeValue::B(n)) => {
            n.is_empty() || h.windows(n.len()).any(|w| w == n.as_slice())
        }
        (AttributeValue::Ss(h), AttributeValue::S(n)) => h.contains(n),
        (AttributeValue::Ns(h), AttributeValue::N(n)) => h.contains(n),
        (AttributeValue::Bs(h), AttributeValue::B(n)) => h.contains(n),
        (AttributeValue::L(h), n) => h.iter().any(|v| values_equal(v, n)),
        _ => false,
    }
}

impl Condition {
    /// True if `item` satisfies the condition.
    pub fn eval(&self, item: &Item) -> bool {
        match self {
            Condition::Compare(c, a, b) => {
                compare(*c, operand(item, a).as_deref(), operand(item, b).as_deref())
            }
            Condition::Between(x, lo, hi) => {
                let (x, lo, hi) = (operand(item, x), operand(item, lo), operand(item, hi));
                let (Some(x), Some(lo), Some(hi)) = (x, lo, hi) else {
                    return false;
                };
                compare_values(&x, &lo).is_some_and(|o| o != Ordering::Less)
                    && compare_values(&x, &hi).is_some_and(|o| o != Ordering::Greater)
            }
            Condition::In(x, list) => {
                let Some(x) = operand(item, x) else {
                    return false;
                };
                list.iter()
                    .any(|op| operand(item, op).is_some_and(|v| values_equal(&x, &v)))
            }
            Condition::Exists(p) => resolve(item, p).is_some(),
            Condition::NotExists(p) => resolve(item, p).is_none(),
            Condition::AttributeType(p, ty) => {
                match (resolve(item, p), operand(item, ty).as_deref()) {
                    (Some(v), Some(AttributeValue::S(t))) => v.type_name() == t,
                    _ => false,
                }
            }
            Condition::BeginsWith(a, b) => {
                match (operand(item, a).as_deref(), operand(item, b).as_deref()) {
                    (Some(AttributeValue::S(a)), Some(AttributeValue::S(b))) => {
                        a.starts_with(b.as_str())
                    }
                    (Some(AttributeValue::B(a)), Some(AttributeValue::B(b))) => a.starts_with(b),
                    _ => false,
                }
            }
            Condition::Contains(a, b) => match (operand(item, a), operand(item, b)) {
                (Some(a), Some(b)) => contains(&a, &b),
                _ => false,
            },
            Condition::Not(c) => !c.eval(item),
            Condition::And(a, b) => a.eval(item) && b.eval(item),
            Condition::Or(a, b) => a.eval(item) || b.eval(item),
        }
    }
}

impl Projection {
    /// The item reduced to the projected paths; list elements keep their
    /// relative order and close up, paths that do not resolve are left out.
    pub fn apply(&self, item: &Item) -> Item {
        let mut root: BTreeMap<String, Node> = BTreeMap::new();
        for path in &self.0 {
            let (Some(PathElem::Name(head)), Some(value)) = (path.0.first(), resolve(item, path))
            else {
                continue;
            };
            let mut node = root.entry(head.clone()).or_insert(Node::Empty);
            for elem in &path.0[1..] {
                if matches!(node, Node::Leaf(_)) {
                    break;
                }
                node = match (elem, node) {
                    (PathElem::Name(k), n) => {
                        if !matches!(n, Node::Map(_)) {
                            *n = Node::Map(BTreeMap::new());
                        }
                        let Node::Map(m) = n else { unreachable!() };
                        m.entry(k.clone()).or_insert(Node::Empty)
                    }
                    (PathElem::Index(i), n) => {
                        if !matches!(n, Node::List(_)) {
                            *n = Node::List(BTreeMap::new());
                        }
                        let Node::List(l) = n else { unreachable!() };
                        l.entry(*i).or_insert(Node::Empty)
                    }
                };
            }
            if !matches!(node, Node::Leaf(_)) {
                *node = Node::Leaf(value.clone());
            }
        }
        root.into_iter()
            .filter_map(|(k, n)| Some((k, n.into_value()?)))
            .collect()
    }
}

/// The projected part of a value while paths are merged.
enum Node {
    Empty,
    Leaf(AttributeValue),
    Map(BTreeMap<String, Node>),
    List(BTreeMap<u32, Node>),
}

impl Node {
    fn into_value(self) -> Option<AttributeValue> {
        match self {
            Node::Empty => None,
            Node::Leaf(v) => Some(v),
            Node::Map(m) => Some(AttributeValue::M(
                m.into_iter()
                    .filter_map(|(k, n)| Some((k, n.into_value()?)))
                    .collect(),
            )),
            Node::List(l) => Some(AttributeValue::L(
                l.into_values().filter_map(Node::into_value).collect(),
            )),
        }
    }
}
