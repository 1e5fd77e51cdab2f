//! Printing ASTs back to expression text, with every name and value aliased
//! (`#n0`, `:v0`), so that parsing the text with the printed maps gives the
//! same AST. Used by tests (round trips) and by callers that build
//! expressions.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::ast::{Condition, Operand, Path, PathElem, Projection, SetValue, Update, UpdateOperand};
use crate::dynamodb::value::AttributeValue;

/// A scalar as the service shows it inside messages (`{S:abc}`, `{N:12}`).
pub fn scalar_text(v: &AttributeValue) -> String {
    match v {
        AttributeValue::S(s) => s.clone(),
        AttributeValue::N(n) => n.to_string(),
        AttributeValue::B(b) => base64::engine::general_purpose::STANDARD.encode(b),
        other => other.to_json().to_string(),
    }
}

/// Collects the aliases of what it prints.
#[derive(Debug, Default)]
pub struct Printer {
    /// `#nK` → attribute name.
    pub names: BTreeMap<String, String>,
    /// `:vK` → value.
    pub values: BTreeMap<String, AttributeValue>,
}

impl Printer {
    fn name(&mut self, name: &str) -> String {
        if let Some((alias, _)) = self.names.iter().find(|(_, n)| *n == name) {
            return alias.clone();
        }
        let alias = format!("#n{}", self.names.len());
        self.names.insert(alias.clone(), name.to_string());
        alias
    }

    fn value(&mut self, v: &AttributeValue) -> String {
        let alias = format!(":v{}", self.values.len());
        self.values.insert(alias.clone(), v.clone());
        alias
    }

    pub fn path(&mut self, p: &Path) -> String {
        let mut out = String::new();
        for (i, e) in p.0.iter().enumerate() {
            match e {
                PathElem::Name(n) => {
                    if i > 0 {
                        out.push('.');
                    }
                    out.push_str(&self.name(n));
                }
                PathElem::Index(k) => out.push_str(&format!("[{k}]")),
            }
        }
        out
    }

    pub fn operand(&mut self, op: &Operand) -> String {
        match op {
            Operand::Path(p) => self.path(p),
            Operand::Value(v) => self.value(v),
            Operand::Size(inner) => format!("size({})", self.operand(inner)),
        }
    }

    /// Prints a condition with only the parentheses precedence needs.
    pub fn condition(&mut self, c: &Condition) -> String {
        self.cond_at(c, 0)
    }

    fn cond_at(&mut self, c: &Condition, outer: u8) -> String {
        let (level, text) = match c {
            Condition::Or(a, b) => (
                1,
                format!("{} OR {}", self.cond_at(a, 1), self.cond_at(b, 2)),
            ),
            Condition::And(a, b) => (
                2,
                format!("{} AND {}", self.cond_at(a, 2), self.cond_at(b, 3)),
            ),
            Condition::Not(a) => (3, format!("NOT {}", self.cond_at(a, 3))),
            Condition::Compare(op, a, b) => (
                4,
                format!("{} {} {}", self.operand(a), op.symbol(), self.operand(b)),
            ),
            Condition::Between(x, lo, hi) => (
                4,
                format!(
                    "{} BETWEEN {} AND {}",
                    self.operand(x),
                    self.operand(lo),
                    self.operand(hi)
                ),
            ),
            Condition::In(x, list) => {
                let x = self.operand(x);
                let list: Vec<String> = list.iter().map(|o| self.operand(o)).collect();
                (4, format!("{x} IN ({})", list.join(", ")))
            }
            Condition::Exists(p) => (4, format!("attribute_exists({})", self.path(p))),
            Condition::NotExists(p) => (4, format!("attribute_not_exists({})", self.path(p))),
            Condition::AttributeType(p, t) => (
                4,
                format!("attribute_type({}, {})", self.path(p), self.operand(t)),
            ),
            Condition::BeginsWith(a, b) => (
                4,
                format!("begins_with({}, {})", self.operand(a), self.operand(b)),
            ),
            Condition::Contains(a, b) => (
                4,
                format!("contains({}, {})", self.operand(a), self.operand(b)),
            ),
        };
        if level < outer {
            format!("({text})")
        } else {
            text
        }
    }

    fn update_operand(&mut self, op: &UpdateOperand) -> String {
        match op {
            UpdateOperand::Path(p) => self.path(p),
            UpdateOperand::Value(v) => self.value(v),
            UpdateOperand::IfNotExists(p, v) => format!(
                "if_not_exists({}, {})",
                self.path(p),
                self.update_operand(v)
            ),
            UpdateOperand::ListAppend(a, b) => format!(
                "list_append({}, {})",
                self.update_operand(a),
                self.update_operand(b)
            ),
        }
    }

    pub fn update(&mut self, u: &Update) -> String {
        let mut clauses = Vec::new();
        if !u.set.is_empty() {
            let actions: Vec<String> = u
                .set
                .iter()
                .map(|(p, v)| {
                    let p = self.path(p);
                    let v = match v {
                        SetValue::Operand(a) => self.update_operand(a),
                        SetValue::Plus(a, b) => {
                            format!("{} + {}", self.update_operand(a), self.update_operand(b))
                        }
                        SetValue::Minus(a, b) => {
                            format!("{} - {}", self.update_operand(a), self.update_operand(b))
                        }
                    };
                    format!("{p} = {v}")
                })
                .collect();
            clauses.push(format!("SET {}", actions.join(", ")));
        }
        if !u.remove.is_empty() {
            let paths: Vec<String> = u.remove.iter().map(|p| self.path(p)).collect();
            clauses.push(format!("REMOVE {}", paths.join(", ")));
        }
        for (keyword, actions) in [("ADD", &u.add), ("DELETE", &u.delete)] {
            if !actions.is_empty() {
                let actions: Vec<String> = actions
                    .iter()
                    .map(|(p, v)| format!("{} {}", self.path(p), self.value(v)))
                    .collect();
                clauses.push(format!("{keyword} {}", actions.join(", ")));
            }
        }
        clauses.join(" ")
    }

    pub fn projection(&mut self, p: &Projection) -> String {
        let paths: Vec<String> = p.0.iter().map(|p| self.path(p)).collect();
        paths.join(", ")
    }
}
