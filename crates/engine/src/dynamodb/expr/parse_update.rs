//! Parsing update and projection expressions.

use super::ast::{Path, PathElem, Projection, SetValue, Update, UpdateOperand};
use super::lexer::Tok;
use super::parser::{Cat, PResult, Parser};
use super::{Context, ExprError, ExprKind};
use crate::dynamodb::value::AttributeValue;

/// Records overlapping or conflicting paths among `paths`, in order.
fn check_paths(p: &mut Parser<'_, '_>, paths: &[&Path]) {
    for (j, later) in paths.iter().enumerate() {
        for earlier in &paths[..j] {
            let mut conflict = false;
            let mut diverge = false;
            for (a, b) in earlier.0.iter().zip(later.0.iter()) {
                match (a, b) {
                    (PathElem::Name(x), PathElem::Name(y)) if x != y => diverge = true,
                    (PathElem::Index(x), PathElem::Index(y)) if x != y => diverge = true,
                    (PathElem::Name(_), PathElem::Index(_))
                    | (PathElem::Index(_), PathElem::Name(_)) => conflict = true,
                    _ => continue,
                }
                break;
            }
            let which = format!(
                "must remove or rewrite one of these paths; path one: {earlier}, path two: {later}"
            );
            if conflict {
                p.problem(
                    Cat::PathConflict,
                    format!("Two document paths conflict with each other; {which}"),
                );
            } else if !diverge {
                p.problem(
                    Cat::PathOverlap,
                    format!("Two document paths overlap with each other; {which}"),
                );
            }
        }
    }
}

/// A clause's keyword (SET, REMOVE, ADD, DELETE), in any case.
fn is_clause(word: &str) -> bool {
    ["SET", "REMOVE", "ADD", "DELETE"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(word))
}

fn type_word(v: &AttributeValue) -> Option<&'static str> {
    Some(match v {
        AttributeValue::S(_) => "STRING",
        AttributeValue::N(_) => "NUMBER",
        AttributeValue::B(_) => "BINARY",
        AttributeValue::Null => "NULL",
        AttributeValue::Bool(_) => "BOOLEAN",
        AttributeValue::L(_) => "LIST",
        AttributeValue::M(_) => "MAP",
        _ => return None,
    })
}

impl Parser<'_, '_> {
    fn update_operand(&mut self) -> PResult<UpdateOperand> {
        self.enter()?;
        let op = self.update_operand_inner();
        self.leave();
        op
    }

    fn update_operand_inner(&mut self) -> PResult<UpdateOperand> {
        match self.peek().clone() {
            Tok::ValueRef(key) => {
                self.advance();
                Ok(UpdateOperand::Value(self.value_ref(&key, Cat::AttrValue)))
            }
            Tok::Ident(name)
                if !Self::is_keyword(&name) && *self.peek_at(1) == Tok::Sym("(".into()) =>
            {
                self.advance();
                self.advance();
                let mut args = vec![self.update_operand()?];
                while self.is_sym(",") {
                    self.advance();
                    args.push(self.update_operand()?);
                }
                self.expect_sym(")")?;
                Ok(self.update_function(&name, args))
            }
            // A parenthesised operand: `(c[1]) + (b.a)`.
            Tok::Sym(s) if s == "(" => {
                self.advance();
                let op = self.update_operand()?;
                self.expect_sym(")")?;
                Ok(op)
            }
            // A clause's keyword cannot be an operand (`SET a = set`).
            Tok::Ident(name) if is_clause(&name) => Err(self.error()),
            _ => Ok(UpdateOperand::Path(self.parse_path()?)),
        }
    }

    fn update_function(&mut self, name: &str, args: Vec<UpdateOperand>) -> UpdateOperand {
        let placeholder = UpdateOperand::Value(AttributeValue::Null);
        if name != "if_not_exists" && name != "list_append" {
            self.problem(
                Cat::UnknownFunction,
                format!("Invalid function name; function: {name}"),
            );
            return placeholder;
        }
        if args.len() != 2 {
            let msg = format!(
                "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                args.len()
            );
            self.problem(Cat::Function, msg);
            return placeholder;
        }
        let mut args = args.into_iter();
        let (a, b) = (
            args.next().unwrap_or(placeholder.clone()),
            args.next().unwrap_or(placeholder.clone()),
        );
        if name == "if_not_exists" {
            let UpdateOperand::Path(path) = a else {
                let msg = format!(
                    "Operator or function requires a document path; operator or function: {name}"
                );
                self.problem(Cat::Function, msg);
                return placeholder;
            };
            return UpdateOperand::IfNotExists(path, Box::new(b));
        }
        for arg in [&a, &b] {
            if let UpdateOperand::Value(v) = arg {
                if v.type_name() != "L" {
                    self.bad_operand_type(name, v.type_name());
                }
            }
        }
        UpdateOperand::ListAppend(Box::new(a), Box::new(b))
    }

    fn bad_operand_type(&mut self, name: &str, ty: &str) {
        let msg = format!("Incorrect operand type for operator or function; operator or function: {name}, operand type: {ty}");
        self.problem(Cat::Function, msg);
    }

    fn set_value(&mut self) -> PResult<SetValue> {
        // `(b + c)` whole, up to the next action: the same value.
        if self.is_sym("(") {
            if let Some(close) = self.matching_paren(self.pos) {
                let ends = match &self.toks[(close + 1).min(self.toks.len() - 1)].tok {
                    Tok::Eof => true,
                    Tok::Sym(s) => s == ",",
                    Tok::Ident(w) => is_clause(w),
                    _ => false,
                };
                if ends {
                    self.advance();
                    let value = self.set_value()?;
                    self.expect_sym(")")?;
                    return Ok(value);
                }
            }
        }
        let a = self.update_operand()?;
        let op = if self.is_sym("+") {
            "+"
        } else if self.is_sym("-") {
            "-"
        } else {
            return Ok(SetValue::Operand(a));
        };
        self.advance();
        let b = self.update_operand()?;
        for arg in [&a, &b] {
            if let UpdateOperand::Value(v) = arg {
                if v.type_name() != "N" {
                    self.bad_operand_type(op, v.type_name());
                }
            }
        }
        Ok(if op == "+" {
            SetValue::Plus(a, b)
        } else {
            SetValue::Minus(a, b)
        })
    }

    /// `path :value` of ADD and DELETE, with the operand type check.
    fn path_value(&mut self, clause: &str) -> PResult<(Path, AttributeValue)> {
        let path = self.parse_path()?;
        let Tok::ValueRef(key) = self.peek().clone() else {
            return Err(self.error());
        };
        self.advance();
        let value = self.value_ref(&key, Cat::AttrValue);
        let allowed = matches!(
            value,
            AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)
        ) || (clause == "ADD" && matches!(value, AttributeValue::N(_)));
        if !allowed {
            if let Some(word) = type_word(&value) {
                let msg = format!("Incorrect operand type for operator or function; operator: {clause}, operand type: {word}");
                self.problem(Cat::Operand, msg);
            }
        }
        Ok((path, value))
    }

    /// The update, and the paths it writes in the order of the text.
    fn update_clauses(&mut self) -> PResult<(Update, Vec<Path>)> {
        let mut update = Update::default();
        let mut seen: Vec<String> = Vec::new();
        let mut written: Vec<Path> = Vec::new();
        loop {
            let clause = match self.peek() {
                Tok::Ident(w) if is_clause(w) => w.to_ascii_uppercase(),
                _ => return Err(self.error()),
            };
            self.advance();
            if seen.contains(&clause) {
                let msg = format!(
                    "The \"{clause}\" section can only be used once in an update expression;"
                );
                self.problem(Cat::Section, msg);
            }
            seen.push(clause.clone());
            loop {
                match clause.as_str() {
                    "SET" => {
                        let path = self.parse_path()?;
                        self.expect_sym("=")?;
                        let value = self.set_value()?;
                        written.push(path.clone());
                        update.set.push((path, value));
                    }
                    "REMOVE" => {
                        let path = self.parse_path()?;
                        written.push(path.clone());
                        update.remove.push(path);
                    }
                    "ADD" => {
                        let (path, value) = self.path_value("ADD")?;
                        written.push(path.clone());
                        update.add.push((path, value));
                    }
                    _ => {
                        let (path, value) = self.path_value("DELETE")?;
                        written.push(path.clone());
                        update.delete.push((path, value));
                    }
                }
                if !self.is_sym(",") {
                    break;
                }
                self.advance();
            }
            if *self.peek() == Tok::Eof {
                return Ok((update, written));
            }
        }
    }
}

/// Parses an UpdateExpression.
pub(crate) fn parse_update(ctx: &mut Context, text: &str) -> Result<Update, ExprError> {
    let invalid = |detail: String| ExprError::Invalid {
        kind: ExprKind::Update,
        detail,
    };
    super::check_text(ExprKind::Update, text)?;
    let mut p = Parser::new(ctx, text);
    let (update, written) = p.update_clauses().map_err(|e| invalid(e.0))?;
    // Conflicts name the paths in the order of the text (as recorded).
    let targets: Vec<&Path> = written.iter().collect();
    check_paths(&mut p, &targets);
    let order = [
        Cat::Reserved,
        Cat::UnknownFunction,
        Cat::Section,
        Cat::AttrName,
        Cat::AttrValue,
        Cat::PathOverlap,
        Cat::PathConflict,
        Cat::Operand,
        Cat::Function,
    ];
    match p.first_problem(&order) {
        Some(detail) => Err(invalid(detail)),
        None => Ok(update),
    }
}

/// Parses a ProjectionExpression.
pub(crate) fn parse_projection(ctx: &mut Context, text: &str) -> Result<Projection, ExprError> {
    let invalid = |detail: String| ExprError::Invalid {
        kind: ExprKind::Projection,
        detail,
    };
    super::check_text(ExprKind::Projection, text)?;
    let mut p = Parser::new(ctx, text);
    let mut paths = Vec::new();
    loop {
        paths.push(p.parse_path().map_err(|e| invalid(e.0))?);
        if p.is_sym(",") {
            p.advance();
        } else if *p.peek() == Tok::Eof {
            break;
        } else {
            return Err(invalid(p.error().0));
        }
    }
    let refs: Vec<&Path> = paths.iter().collect();
    check_paths(&mut p, &refs);
    match p.first_problem(&[
        Cat::Reserved,
        Cat::AttrName,
        Cat::PathOverlap,
        Cat::PathConflict,
    ]) {
        Some(detail) => Err(invalid(detail)),
        None => Ok(Projection(paths)),
    }
}
