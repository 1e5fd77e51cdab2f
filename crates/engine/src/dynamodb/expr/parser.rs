//! Recursive-descent parsing of conditions, operands and paths.
//!
//! Syntax errors stop the parse at once (`Syntax error; token: "x", near:
//! "…"`). Other problems are recorded by category and the parse goes on; at
//! the end the first recorded problem of the highest-ranked category is the
//! error, the order the service reports them in.

use super::ast::{Comparator, Condition, Operand, Path, PathElem};
use super::lexer::{tokenize, Tok, Token};
use super::{is_reserved, Context, ExprError, ExprKind};
use crate::dynamodb::value::AttributeValue;

/// Categories of non-syntax problems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Cat {
    UnknownFunction,
    MisusedFunction,
    Reserved,
    Section,
    AttrName,
    AttrValue,
    Operand,
    Distinct,
    Function,
    PathOverlap,
    PathConflict,
}

/// A syntax error, raised at a token.
#[derive(Debug)]
pub(crate) struct SyntaxError(pub String);

pub(crate) type PResult<T> = Result<T, SyntaxError>;

pub(crate) struct Parser<'a, 'c> {
    pub src: &'a str,
    pub toks: Vec<Token>,
    pub pos: usize,
    pub ctx: &'c mut Context,
    problems: Vec<(Cat, String)>,
    depth: usize,
}

/// Nesting deeper than this is a syntax error (it bounds the recursion).
const MAX_DEPTH: usize = 200;

const BOOL_FUNCTIONS: [&str; 5] = [
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
];

impl<'a, 'c> Parser<'a, 'c> {
    pub fn new(ctx: &'c mut Context, src: &'a str) -> Self {
        Parser {
            src,
            toks: tokenize(src),
            pos: 0,
            ctx,
            problems: Vec::new(),
            depth: 0,
        }
    }

    pub fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].tok
    }

    pub fn peek_at(&self, ahead: usize) -> &Tok {
        &self.toks[(self.pos + ahead).min(self.toks.len() - 1)].tok
    }

    pub fn advance(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    /// A syntax error at the current token.
    pub fn error(&self) -> SyntaxError {
        let i = self.pos.min(self.toks.len() - 1);
        let tok = &self.toks[i];
        let start = if i > 0 {
            self.toks[i - 1].start
        } else {
            tok.start
        };
        let end = match self.toks.get(i + 1) {
            Some(next) if next.tok != Tok::Eof => next.end,
            _ if tok.tok == Tok::Eof && i > 0 => self.toks[i - 1].end,
            _ => tok.end,
        };
        SyntaxError(format!(
            "Syntax error; token: \"{}\", near: \"{}\"",
            tok.text(self.src),
            &self.src[start..end]
        ))
    }

    /// Enters one nesting level (parenthesis, NOT, call).
    pub fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error());
        }
        Ok(())
    }

    pub fn leave(&mut self) {
        self.depth -= 1;
    }

    pub fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Tok::Sym(x) if x == s)
    }

    pub fn expect_sym(&mut self, s: &str) -> PResult<()> {
        if self.is_sym(s) {
            self.advance();
            Ok(())
        } else {
            Err(self.error())
        }
    }

    /// True if the current token is the (case-insensitive) keyword.
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(x) if x.eq_ignore_ascii_case(kw))
    }

    pub fn problem(&mut self, cat: Cat, msg: String) {
        if !self.problems.iter().any(|(c, _)| *c == cat) {
            self.problems.push((cat, msg));
        }
    }

    /// The first problem in the given category order, as the error detail.
    pub fn first_problem(&self, order: &[Cat]) -> Option<String> {
        order.iter().find_map(|cat| {
            self.problems
                .iter()
                .find(|(c, _)| c == cat)
                .map(|(_, m)| m.clone())
        })
    }

    /// The first problem recorded, in the order of the parse, among `cats`.
    pub fn first_of(&self, cats: &[Cat]) -> Option<String> {
        self.problems
            .iter()
            .find(|(c, _)| cats.contains(c))
            .map(|(_, m)| m.clone())
    }

    pub(crate) fn is_keyword(word: &str) -> bool {
        ["AND", "OR", "NOT", "BETWEEN", "IN"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(word))
    }

    /// A document path: `name`, `#alias`, then `.name` and `[n]` steps.
    pub fn parse_path(&mut self) -> PResult<Path> {
        let mut elems = vec![self.path_name()?];
        loop {
            if self.is_sym(".") {
                self.advance();
                elems.push(self.path_name()?);
            } else if self.is_sym("[") {
                self.advance();
                let index = match self.peek() {
                    Tok::Int(digits) => digits.parse::<u32>().map_err(|_| self.error())?,
                    _ => return Err(self.error()),
                };
                self.advance();
                self.expect_sym("]")?;
                elems.push(PathElem::Index(index));
            } else {
                return Ok(Path(elems));
            }
        }
    }

    fn path_name(&mut self) -> PResult<PathElem> {
        match self.peek().clone() {
            Tok::Ident(name) if !Self::is_keyword(&name) => {
                self.advance();
                if is_reserved(&name) {
                    self.problem(
                        Cat::Reserved,
                        format!("Attribute name is a reserved keyword; reserved keyword: {name}"),
                    );
                }
                Ok(PathElem::Name(name))
            }
            Tok::NameRef(alias) => {
                self.advance();
                match self.ctx.name(&alias) {
                    Some(name) => Ok(PathElem::Name(name)),
                    None => {
                        self.undefined_name(&alias);
                        Ok(PathElem::Name(alias))
                    }
                }
            }
            _ => Err(self.error()),
        }
    }

    /// Conditions report undefined names and values in one category; update
    /// expressions in two.
    pub fn undefined_name(&mut self, alias: &str) {
        let msg = format!("An expression attribute name used in the document path is not defined; attribute name: {alias}");
        self.problem(Cat::AttrName, msg);
    }

    pub fn value_ref(&mut self, key: &str, cat: Cat) -> AttributeValue {
        match self.ctx.value(key) {
            Some(v) => v,
            None => {
                let msg = format!("An expression attribute value used in expression is not defined; attribute value: {key}");
                self.problem(cat, msg);
                AttributeValue::Null
            }
        }
    }

    /// An operand of a condition: a path, a `:value`, or a function call
    /// (only `size` is an operand; others are recorded as misused).
    pub fn parse_operand(&mut self) -> PResult<Operand> {
        self.enter()?;
        let op = self.parse_operand_inner();
        self.leave();
        op
    }

    fn parse_operand_inner(&mut self) -> PResult<Operand> {
        match self.peek().clone() {
            Tok::ValueRef(key) => {
                self.advance();
                Ok(Operand::Value(self.value_ref(&key, Cat::AttrValue)))
            }
            Tok::Ident(name)
                if !Self::is_keyword(&name) && *self.peek_at(1) == Tok::Sym("(".into()) =>
            {
                let args = self.parse_call_args()?;
                self.check_function(&name, &args);
                if name != "size" {
                    if BOOL_FUNCTIONS.contains(&name.as_str()) {
                        self.misused(&name);
                    }
                    return Ok(Operand::Value(AttributeValue::Null));
                }
                Ok(Operand::Size(Box::new(
                    args.into_iter()
                        .next()
                        .unwrap_or(Operand::Value(AttributeValue::Null)),
                )))
            }
            Tok::Sym(s) if s == "(" => {
                // A parenthesised operand (`(size(b)) = :n`, as recorded);
                // doubled parentheses are found before parsing.
                self.advance();
                let op = self.parse_operand()?;
                self.expect_sym(")")?;
                Ok(op)
            }
            _ => Ok(Operand::Path(self.parse_path()?)),
        }
    }

    pub(crate) fn misused(&mut self, name: &str) {
        let msg = format!(
            "The function is not allowed to be used this way in an expression; function: {name}"
        );
        self.problem(Cat::MisusedFunction, msg);
    }

    /// `name ( operand, … )`, positioned at the name.
    fn parse_call_args(&mut self) -> PResult<Vec<Operand>> {
        self.advance();
        self.expect_sym("(")?;
        let mut args = vec![self.parse_operand()?];
        while self.is_sym(",") {
            self.advance();
            args.push(self.parse_operand()?);
        }
        self.expect_sym(")")?;
        Ok(args)
    }

    pub fn parse_or(&mut self) -> PResult<Condition> {
        let mut left = self.parse_and()?;
        while self.is_kw("OR") {
            self.advance();
            let right = self.parse_and()?;
            left = Condition::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_and(&mut self) -> PResult<Condition> {
        let mut left = self.parse_not()?;
        while self.is_kw("AND") {
            self.advance();
            let right = self.parse_not()?;
            left = Condition::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn parse_not(&mut self) -> PResult<Condition> {
        self.enter()?;
        let cond = if self.is_kw("NOT") {
            self.advance();
            self.parse_not().map(|c| Condition::Not(Box::new(c)))
        } else {
            self.parse_primary()
        };
        self.leave();
        cond
    }

    /// Index of the `)` matching the `(` at token `open`.
    pub(crate) fn matching_paren(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for (i, t) in self.toks.iter().enumerate().skip(open) {
            match &t.tok {
                Tok::Sym(s) if s == "(" => depth += 1,
                Tok::Sym(s) if s == ")" => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// True if parentheses enclose nothing but parentheses somewhere (`((a
    /// = b))`, `((views))`): the service reports it before any other error,
    /// even a syntax error further on (as recorded).
    fn doubled_parens(&self) -> bool {
        // Positions of the open `(`; a `)` closing the one opened right after
        // its outer one, itself closed right after, is a doubled pair.
        let mut open: Vec<usize> = Vec::new();
        let mut closed_inner: Option<(usize, usize)> = None;
        for (i, t) in self.toks.iter().enumerate() {
            match &t.tok {
                Tok::Sym(s) if s == "(" => open.push(i),
                Tok::Sym(s) if s == ")" => {
                    let Some(start) = open.pop() else { continue };
                    // A function's own parentheses group nothing.
                    let call = start > 0
                        && matches!(&self.toks[start - 1].tok, Tok::Ident(w) if !Self::is_keyword(w));
                    if !call && closed_inner == Some((start + 1, i - 1)) {
                        return true;
                    }
                    closed_inner = Some((start, i));
                }
                _ => {}
            }
        }
        false
    }

    /// True if the `(` here encloses a single operand followed by an operator.
    fn paren_operand_ahead(&self) -> bool {
        let Some(close) = self.matching_paren(self.pos) else {
            return false;
        };
        let inner = &self.toks[self.pos + 1..close];
        let operand_like = inner.iter().all(|t| match &t.tok {
            Tok::Ident(w) => !Self::is_keyword(w),
            Tok::Sym(s) => [".", "[", "]", "(", ")", ","].contains(&s.as_str()),
            _ => true,
        });
        let after = &self.toks[(close + 1).min(self.toks.len() - 1)].tok;
        let operator_after = match after {
            Tok::Sym(s) => ["=", "<>", "<", "<=", ">", ">="].contains(&s.as_str()),
            Tok::Ident(w) => w.eq_ignore_ascii_case("BETWEEN") || w.eq_ignore_ascii_case("IN"),
            _ => false,
        };
        operand_like && operator_after
    }

    fn parse_primary(&mut self) -> PResult<Condition> {
        if self.is_sym("(") && !self.paren_operand_ahead() {
            self.advance();
            let cond = self.parse_or()?;
            self.expect_sym(")")?;
            return Ok(cond);
        }
        if let (Tok::Ident(name), Tok::Sym(open)) = (self.peek().clone(), self.peek_at(1).clone()) {
            if open == "(" && name != "size" && !Self::is_keyword(&name) {
                let args = self.parse_call_args()?;
                self.check_function(&name, &args);
                if self.operator_ahead() {
                    // `attribute_exists(a) = :v`: a condition used as an operand.
                    if BOOL_FUNCTIONS.contains(&name.as_str()) {
                        self.misused(&name);
                    }
                    return self.parse_comparison(Operand::Value(AttributeValue::Null));
                }
                let mut args = args.into_iter();
                let mut next = || args.next().unwrap_or(Operand::Value(AttributeValue::Null));
                let path = |op: Operand| match op {
                    Operand::Path(p) => p,
                    _ => Path(Vec::new()),
                };
                return Ok(match name.as_str() {
                    "attribute_exists" => Condition::Exists(path(next())),
                    "attribute_not_exists" => Condition::NotExists(path(next())),
                    "attribute_type" => Condition::AttributeType(path(next()), next()),
                    "begins_with" => Condition::BeginsWith(next(), next()),
                    "contains" => Condition::Contains(next(), next()),
                    _ => Condition::Exists(Path(Vec::new())),
                });
            }
        }
        let left = self.parse_operand()?;
        self.parse_comparison(left)
    }

    /// True if the current token is `= <> < <= > >=`, BETWEEN or IN.
    fn operator_ahead(&self) -> bool {
        match self.peek() {
            Tok::Sym(s) => ["=", "<>", "<", "<=", ">", ">="].contains(&s.as_str()),
            _ => self.is_kw("BETWEEN") || self.is_kw("IN"),
        }
    }

    /// The rest of a comparison, BETWEEN or IN after its first operand.
    fn parse_comparison(&mut self, left: Operand) -> PResult<Condition> {
        let comparator = match self.peek() {
            Tok::Sym(s) => match s.as_str() {
                "=" => Some(Comparator::Eq),
                "<>" => Some(Comparator::Ne),
                "<" => Some(Comparator::Lt),
                "<=" => Some(Comparator::Le),
                ">" => Some(Comparator::Gt),
                ">=" => Some(Comparator::Ge),
                _ => None,
            },
            _ => None,
        };
        if let Some(c) = comparator {
            self.advance();
            let right = self.parse_operand()?;
            self.check_distinct(c.symbol(), &[left.clone(), right.clone()]);
            if !matches!(c, Comparator::Eq | Comparator::Ne) {
                self.check_ordered(c.symbol(), &[&left, &right]);
            }
            return Ok(Condition::Compare(c, left, right));
        }
        if self.is_kw("BETWEEN") {
            self.advance();
            let low = self.parse_operand()?;
            if !self.is_kw("AND") {
                return Err(self.error());
            }
            self.advance();
            let high = self.parse_operand()?;
            if self.check_ordered("BETWEEN", &[&left, &low, &high]) {
                self.check_between(&low, &high);
            }
            return Ok(Condition::Between(left, low, high));
        }
        if self.is_kw("IN") {
            self.advance();
            self.expect_sym("(")?;
            let mut list = vec![self.parse_operand()?];
            while self.is_sym(",") {
                self.advance();
                list.push(self.parse_operand()?);
            }
            self.expect_sym(")")?;
            return Ok(Condition::In(left, list));
        }
        if matches!(left, Operand::Size(_)) {
            // `size(a)` alone parses but is not a condition.
            self.misused("size");
            return Ok(Condition::Exists(Path(Vec::new())));
        }
        Err(self.error())
    }
}

/// Parses a condition-like expression (condition, filter, key condition).
pub(crate) fn parse_condition(
    ctx: &mut Context,
    kind: ExprKind,
    text: &str,
) -> Result<Condition, ExprError> {
    let invalid = |detail: String| ExprError::Invalid { kind, detail };
    super::check_text(kind, text)?;
    let mut p = Parser::new(ctx, text);
    if p.doubled_parens() {
        return Err(invalid("The expression has redundant parentheses;".into()));
    }
    let cond = p.parse_or().map_err(|e| invalid(e.0.clone()))?;
    if *p.peek() != Tok::Eof {
        return Err(invalid(p.error().0));
    }
    let order = [Cat::UnknownFunction, Cat::MisusedFunction, Cat::Reserved];
    // Then the checks of names, values and operands, whichever the parse
    // met first (as recorded: `a = a AND :undefined > a` names the `=`,
    // `begins_with(:undefined, #undefined, b)` the value).
    let semantic = [
        Cat::AttrName,
        Cat::AttrValue,
        Cat::Operand,
        Cat::Distinct,
        Cat::Function,
    ];
    match p.first_problem(&order).or_else(|| p.first_of(&semantic)) {
        Some(detail) => Err(invalid(detail)),
        None => Ok(cond),
    }
}
