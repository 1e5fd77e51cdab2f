//! The parsed expressions, with names and values already substituted.

use std::fmt;

use crate::dynamodb::value::AttributeValue;

/// One step of a document path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathElem {
    /// A map key or top-level attribute name (after `#n` substitution).
    Name(String),
    /// A list index.
    Index(u32),
}

/// A document path such as `a.b[2].c`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Path(pub Vec<PathElem>);

impl Path {
    /// The top-level attribute the path starts at.
    pub fn head(&self) -> &str {
        match self.0.first() {
            Some(PathElem::Name(n)) => n,
            _ => "",
        }
    }
}

/// As the service prints a path in messages: `[a, b, [2]]`.
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match e {
                PathElem::Name(n) => f.write_str(n)?,
                PathElem::Index(i) => write!(f, "[{i}]")?,
            }
        }
        f.write_str("]")
    }
}

/// A value in a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    Path(Path),
    Value(AttributeValue),
    Size(Box<Operand>),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Comparator {
    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "<>",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
        }
    }
}

/// A condition (ConditionExpression, FilterExpression, KeyConditionExpression).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Compare(Comparator, Operand, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    Exists(Path),
    NotExists(Path),
    AttributeType(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
    Not(Box<Condition>),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
}

/// The right-hand side of a SET action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetValue {
    Operand(UpdateOperand),
    Plus(UpdateOperand, UpdateOperand),
    Minus(UpdateOperand, UpdateOperand),
}

/// An operand of a SET action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateOperand {
    Path(Path),
    Value(AttributeValue),
    IfNotExists(Path, Box<UpdateOperand>),
    ListAppend(Box<UpdateOperand>, Box<UpdateOperand>),
}

/// An UpdateExpression: its four clauses (each at most once, in any order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub set: Vec<(Path, SetValue)>,
    pub remove: Vec<Path>,
    pub add: Vec<(Path, AttributeValue)>,
    pub delete: Vec<(Path, AttributeValue)>,
}

impl UpdateOperand {
    fn paths<'a>(&'a self, out: &mut Vec<&'a Path>) {
        match self {
            UpdateOperand::Path(p) => out.push(p),
            UpdateOperand::Value(_) => {}
            UpdateOperand::IfNotExists(p, default) => {
                out.push(p);
                default.paths(out);
            }
            UpdateOperand::ListAppend(a, b) => {
                a.paths(out);
                b.paths(out);
            }
        }
    }
}

impl SetValue {
    /// The type of what it sets when the expression alone tells: a value's,
    /// N for `+` and `-`, L for `list_append`.
    pub fn known_type(&self) -> Option<&'static str> {
        match self {
            SetValue::Plus(..) | SetValue::Minus(..) => Some("N"),
            SetValue::Operand(UpdateOperand::Value(v)) => Some(v.type_name()),
            SetValue::Operand(UpdateOperand::ListAppend(..)) => Some("L"),
            SetValue::Operand(_) => None,
        }
    }
}

impl Update {
    /// Every path the update reads or writes.
    pub fn paths(&self) -> Vec<&Path> {
        let mut out: Vec<&Path> = Vec::new();
        for (target, value) in &self.set {
            out.push(target);
            match value {
                SetValue::Operand(a) => a.paths(&mut out),
                SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
                    a.paths(&mut out);
                    b.paths(&mut out);
                }
            }
        }
        out.extend(self.targets().skip(self.set.len()));
        out
    }

    /// Every path the update writes (for "cannot update a key attribute").
    pub fn targets(&self) -> impl Iterator<Item = &Path> {
        self.set
            .iter()
            .map(|(p, _)| p)
            .chain(self.remove.iter())
            .chain(self.add.iter().map(|(p, _)| p))
            .chain(self.delete.iter().map(|(p, _)| p))
    }
}

/// A ProjectionExpression: the paths to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection(pub Vec<Path>);

impl Condition {
    /// Every document path the condition reads.
    pub fn paths(&self) -> Vec<&Path> {
        fn operand<'a>(op: &'a Operand, out: &mut Vec<&'a Path>) {
            match op {
                Operand::Path(p) => out.push(p),
                Operand::Size(inner) => operand(inner, out),
                Operand::Value(_) => {}
            }
        }
        fn walk<'a>(c: &'a Condition, out: &mut Vec<&'a Path>) {
            match c {
                Condition::Compare(_, a, b)
                | Condition::BeginsWith(a, b)
                | Condition::Contains(a, b) => {
                    operand(a, out);
                    operand(b, out);
                }
                Condition::Between(a, b, c) => {
                    for op in [a, b, c] {
                        operand(op, out);
                    }
                }
                Condition::In(a, list) => {
                    operand(a, out);
                    list.iter().for_each(|op| operand(op, out));
                }
                Condition::Exists(p) | Condition::NotExists(p) => out.push(p),
                Condition::AttributeType(p, ty) => {
                    out.push(p);
                    operand(ty, out);
                }
                Condition::Not(c) => walk(c, out),
                Condition::And(a, b) | Condition::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}
