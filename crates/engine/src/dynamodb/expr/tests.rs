//! Parsing: the service's error wording rule by rule, round trips, precedence.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::json;

use super::ast::{Comparator, Operand, Path, PathElem, SetValue, UpdateOperand};
use super::print::Printer;
use super::*;
use crate::dynamodb::value::AttributeValue;

pub(super) fn ctx(names: &[(&str, &str)], values: serde_json::Value) -> Context {
    let names: BTreeMap<String, String> = names
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    let values = values.as_object().cloned().unwrap_or_default();
    Context::new(
        (!names.is_empty()).then_some(&names),
        (!values.is_empty()).then_some(&values),
    )
    .unwrap()
}

fn cond_err(text: &str, names: &[(&str, &str)], values: serde_json::Value) -> String {
    ctx(names, values)
        .condition(ExprKind::Condition, text)
        .unwrap_err()
        .to_string()
}

pub(super) fn name(n: &str) -> PathElem {
    PathElem::Name(n.to_string())
}

#[test]
fn syntax_errors_name_the_token_and_its_neighbours() {
    let v = json!({":v": {"S": "x"}});
    for (text, message) in [
        ("a = ", "Syntax error; token: \"<EOF>\", near: \"=\""),
        ("a = :v :v", "Syntax error; token: \":v\", near: \":v :v\""),
        ("a == :v", "Syntax error; token: \"=\", near: \"== :v\""),
        ("a ! :v", "Syntax error; token: \"!\", near: \"a ! :v\""),
        (
            "attribute_not_exists(_c)",
            "Syntax error; token: \"_\", near: \"(_c\"",
        ),
        (
            "attribute_not_exists(c._d)",
            "Syntax error; token: \"_\", near: \"._d\"",
        ),
        ("a-b = :v", "Syntax error; token: \"-\", near: \"a-b\""),
        (
            "a = :v AND",
            "Syntax error; token: \"<EOF>\", near: \"AND\"",
        ),
        ("(a = :v", "Syntax error; token: \"<EOF>\", near: \":v\""),
        (
            "a BETWEEN :v",
            "Syntax error; token: \"<EOF>\", near: \":v\"",
        ),
        (
            "AND (a = :v)",
            "Syntax error; token: \"AND\", near: \"AND (\"",
        ),
        ("a[x] = :v", "Syntax error; token: \"x\", near: \"[x]\""),
    ] {
        assert_eq!(
            cond_err(text, &[], v.clone()),
            format!("Invalid ConditionExpression: {message}"),
            "{text}"
        );
    }
    assert_eq!(
        ctx(&[], json!({}))
            .projection("dummy-id")
            .unwrap_err()
            .to_string(),
        "Invalid ProjectionExpression: Syntax error; token: \"-\", near: \"dummy-id\""
    );
    // Recorded from the service: integers lex as `0` or digits without a
    // leading zero, so `03` is two tokens.
    assert_eq!(
        ctx(&[("#AMZN_MAPPED_2021", "m")], json!({}))
            .projection("#AMZN_MAPPED_2021-03-03")
            .unwrap_err()
            .to_string(),
        "Invalid ProjectionExpression: Syntax error; token: \"-\", near: \"#AMZN_MAPPED_2021-0\""
    );
    assert_eq!(
        cond_err("a = 1", &[], json!({})),
        "Invalid ConditionExpression: Syntax error; token: \"1\", near: \"= 1\""
    );
    assert_eq!(
        ctx(&[], json!({}))
            .projection("!!")
            .unwrap_err()
            .to_string(),
        "Invalid ProjectionExpression: Syntax error; token: \"!\", near: \"!!\""
    );
    assert_eq!(
        ctx(&[], json!({":incr": {"N": "1"}}))
            .update("ADD hits : incr")
            .unwrap_err()
            .to_string(),
        "Invalid UpdateExpression: Syntax error; token: \":\", near: \"hits : incr\""
    );
    assert_eq!(
        ctx(&[], json!({}))
            .condition(ExprKind::Filter, "")
            .unwrap_err()
            .to_string(),
        "Invalid FilterExpression: The expression can not be empty;"
    );
}

#[test]
fn semantic_errors_use_the_service_wording() {
    let v = json!({":v": {"S": "x"}, ":n": {"N": "1"}, ":l": {"L": []}});
    let cases: &[(&str, &str)] = &[
        ("Name = :v", "Attribute name is a reserved keyword; reserved keyword: Name"),
        ("#x = :v", "An expression attribute name used in the document path is not defined; attribute name: #x"),
        ("a = :nope", "An expression attribute value used in expression is not defined; attribute value: :nope"),
        ("foo(a)", "Invalid function name; function: foo"),
        ("attribute_exists(a, b)", "Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"),
        ("attribute_exists(:v)", "Operator or function requires a document path; operator or function: attribute_exists"),
        ("begins_with(a, :n)", "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"),
        ("attribute_type(a, :n)", "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N"),
        ("attribute_type(a, :v)", "Invalid attribute type name found; type: x, valid types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}"),
        ("size(a) = :n AND size(:n) = :n", "Incorrect operand type for operator or function; operator or function: size, operand type: N"),
        ("size(a)", "The function is not allowed to be used this way in an expression; function: size"),
        ("attribute_exists(a) = :v", "The function is not allowed to be used this way in an expression; function: attribute_exists"),
        ("a = a", "The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"),
        ("((a = :v))", "The expression has redundant parentheses;"),
        ("((a)) = :v", "The expression has redundant parentheses;"),
        // Before a syntax error further on, as recorded.
        ("(a)between(((b.c)).d)and(c)", "The expression has redundant parentheses;"),
        ("a BETWEEN :n AND :v", "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: AttributeValue: {S:x}"),
        // Only numbers, strings and binary values are ordered, wherever the
        // comparison sits.
        ("a < :l", "Incorrect operand type for operator or function; operator or function: <, operand type: L"),
        ("a = :v OR NOT (:l >= a)", "Incorrect operand type for operator or function; operator or function: >=, operand type: L"),
        ("a BETWEEN :l AND :l", "Incorrect operand type for operator or function; operator or function: BETWEEN, operand type: L"),
    ];
    for (text, detail) in cases {
        assert_eq!(
            cond_err(text, &[], v.clone()),
            format!("Invalid ConditionExpression: {detail}"),
            "{text}"
        );
    }
    let bounds = json!({":a": {"N": "5"}, ":b": {"N": "1"}});
    assert_eq!(
        cond_err("a BETWEEN :a AND :b", &[], bounds),
        "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {N:5}, upper bound operand: AttributeValue: {N:1}"
    );
    // One pair of parentheses around an operand is not redundant (as
    // recorded: `(size(b)) = :b` scans).
    let n = json!({":n": {"N": "3"}});
    for text in ["(size(b)) = :n", "((size(b)) = :n) AND (c) = :n"] {
        assert!(
            ctx(&[], n.clone())
                .condition(ExprKind::Condition, text)
                .is_ok(),
            "{text}"
        );
    }
    // A function's parentheses around a parenthesised operand are not
    // doubled; the values' and operands' checks report the first met.
    let sv = json!({":v": {"S": "x"}});
    for (text, detail) in [
        ("a = a AND whatever((:v)) > a", "Invalid function name; function: whatever"),
        ("a = a AND ((a = a AND a = a)) AND a = a", "The expression has redundant parentheses;"),
        ("begins_with(:hello, #a, #b)", "An expression attribute value used in expression is not defined; attribute value: :hello"),
        ("a = a AND :undefined > a", "The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [a]"),
        ("attribute_type(a, size(a)) AND a = a", "Incorrect operand type for operator or function; operator or function: attribute_type, operand type: N"),
        ("attribute_exists(:v) AND a = a", "Operator or function requires a document path; operator or function: attribute_exists"),
    ] {
        assert_eq!(
            cond_err(text, &[], sv.clone()),
            format!("Invalid ConditionExpression: {detail}"),
            "{text}"
        );
    }
    // Parentheses outrank unknown functions, which outrank reserved words.
    assert_eq!(
        cond_err("((foo(Name)))", &[], json!({})),
        "Invalid ConditionExpression: The expression has redundant parentheses;"
    );
    assert_eq!(
        cond_err("foo(Name)", &[], json!({})),
        "Invalid ConditionExpression: Invalid function name; function: foo"
    );
    // Function names are case-sensitive; keywords are not.
    assert_eq!(
        cond_err("SIZE(a) > :n", &[], v.clone()),
        "Invalid ConditionExpression: Invalid function name; function: SIZE"
    );
    assert!(ctx(&[], v)
        .condition(
            ExprKind::Condition,
            "a = :v and not b = :n or c in (:v, :n)"
        )
        .is_ok());
}

#[test]
fn names_and_values_maps_are_checked_and_must_all_be_used() {
    let names: BTreeMap<String, String> = BTreeMap::new();
    assert_eq!(
        Context::new(Some(&names), None).unwrap_err().to_string(),
        "ExpressionAttributeNames must not be empty"
    );
    let values = serde_json::Map::new();
    assert_eq!(
        Context::new(None, Some(&values)).unwrap_err().to_string(),
        "ExpressionAttributeValues must not be empty"
    );
    let names: BTreeMap<String, String> = [("n".to_string(), "x".to_string())].into();
    assert_eq!(
        Context::new(Some(&names), None).unwrap_err().to_string(),
        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"n\""
    );
    let values = json!({"v": {"S": "x"}}).as_object().cloned().unwrap();
    assert_eq!(
        Context::new(None, Some(&values)).unwrap_err().to_string(),
        "ExpressionAttributeValues contains invalid key: Syntax error; key: \"v\""
    );
    let values = json!({":v": {"N": "x"}}).as_object().cloned().unwrap();
    assert_eq!(
        Context::new(None, Some(&values)).unwrap_err().to_string(),
        "ExpressionAttributeValues contains invalid value: The parameter cannot be converted to a numeric value: x for key :v"
    );

    let mut c = ctx(
        &[("#a", "Name"), ("#b", "b")],
        json!({":x": {"S": "1"}, ":y": {"S": "2"}, ":z": {"S": "3"}}),
    );
    c.condition(ExprKind::Condition, "#a = :x").unwrap();
    assert_eq!(
        c.finish().unwrap_err().to_string(),
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
    );
    c.projection("#b").unwrap();
    assert_eq!(
        c.finish().unwrap_err().to_string(),
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:y, :z}"
    );
    c.update("SET c = :y, e = :z").unwrap();
    assert_eq!(c.finish(), Ok(()));
}

#[test]
fn update_expressions_parse_and_check() {
    let v = json!({":n": {"N": "1"}, ":s": {"S": "x"}, ":ss": {"SS": ["a"]}, ":l": {"L": []}});
    let mut c = ctx(&[("#n", "name")], v.clone());
    let u = c.update("set a.b[2] = if_not_exists(c, :n) + :n, d = list_append(d, :l) remove e, f[1] add g :n delete h :ss").unwrap();
    assert_eq!(u.set.len(), 2);
    assert_eq!(
        u.set[0].0,
        Path(vec![name("a"), name("b"), PathElem::Index(2)])
    );
    assert!(matches!(
        &u.set[0].1,
        SetValue::Plus(UpdateOperand::IfNotExists(..), UpdateOperand::Value(_))
    ));
    assert_eq!(u.remove.len(), 2);
    assert_eq!(u.add.len(), 1);
    assert_eq!(u.delete.len(), 1);
    let err = |text: &str| ctx(&[], v.clone()).update(text).unwrap_err().to_string();
    for (text, detail) in [
        ("SET a = :n SET b = :n", "The \"SET\" section can only be used once in an update expression;"),
        ("SET a = :n REMOVE a", "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"),
        ("SET a.b = :n, a.b.c = :n", "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, b, c]"),
        ("SET a.b = :n, a[1] = :n", "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]"),
        // Named in the order of the text, whatever the clauses.
        ("REMOVE a.c SET a[1] = :n", "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, c], path two: [a, [1]]"),
        ("ADD a :s", "Incorrect operand type for operator or function; operator: ADD, operand type: STRING"),
        ("DELETE a :n", "Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER"),
        ("SET a = :s + :n", "Incorrect operand type for operator or function; operator or function: +, operand type: S"),
        ("SET a = list_append(:n, b)", "Incorrect operand type for operator or function; operator or function: list_append, operand type: N"),
        ("SET a = if_not_exists(:n, :n)", "Operator or function requires a document path; operator or function: if_not_exists"),
        ("SET a = list_append(b)", "Incorrect number of operands for operator or function; operator or function: list_append, number of operands: 1"),
        ("SET a = foo(b)", "Invalid function name; function: foo"),
        ("SET Name = :n", "Attribute name is a reserved keyword; reserved keyword: Name"),
        ("SET a = :nope", "An expression attribute value used in expression is not defined; attribute value: :nope"),
        ("SET a = :n,", "Syntax error; token: \"<EOF>\", near: \",\""),
        ("PUT a = :n", "Syntax error; token: \"PUT\", near: \"PUT a\""),
        ("set a=set", "Syntax error; token: \"set\", near: \"=set\""),
    ] {
        assert_eq!(err(text), format!("Invalid UpdateExpression: {detail}"), "{text}");
    }
}

#[test]
fn projections_parse_and_check() {
    let mut c = ctx(&[("#s", "status")], json!({}));
    let p = c.projection("a, b.c[1], #s").unwrap();
    assert_eq!(p.0[2], Path(vec![name("status")]));
    let err = |text: &str| {
        ctx(&[], json!({}))
            .projection(text)
            .unwrap_err()
            .to_string()
    };
    assert_eq!(err("a, a"), "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]");
    assert_eq!(err("a.b, a[0]"), "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [0]]");
    assert_eq!(err("Name"), "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: Name");
    assert_eq!(
        err("a,"),
        "Invalid ProjectionExpression: Syntax error; token: \"<EOF>\", near: \",\""
    );
}

#[test]
fn not_binds_tighter_than_and_which_binds_tighter_than_or() {
    let mut c = ctx(&[], json!({":v": {"S": "x"}}));
    let parsed = c
        .condition(ExprKind::Condition, "NOT a = :v AND b = :v OR c = :v")
        .unwrap();
    let eq = |n: &str| {
        Condition::Compare(
            Comparator::Eq,
            Operand::Path(Path(vec![name(n)])),
            Operand::Value(AttributeValue::S("x".into())),
        )
    };
    let expected = Condition::Or(
        Box::new(Condition::And(
            Box::new(Condition::Not(Box::new(eq("a")))),
            Box::new(eq("b")),
        )),
        Box::new(eq("c")),
    );
    assert_eq!(parsed, expected);
    let grouped = c
        .condition(ExprKind::Condition, "NOT (a = :v AND (b = :v OR c = :v))")
        .unwrap();
    let expected = Condition::Not(Box::new(Condition::And(
        Box::new(eq("a")),
        Box::new(Condition::Or(Box::new(eq("b")), Box::new(eq("c")))),
    )));
    assert_eq!(grouped, expected);
}

fn path_strategy() -> impl Strategy<Value = Path> {
    let elem = prop_oneof![
        "[a-z][a-z0-9_]{0,4}".prop_map(PathElem::Name),
        "[A-Za-z .-]{1,6}".prop_map(PathElem::Name),
        (0u32..5).prop_map(PathElem::Index),
    ];
    ("[a-z]{1,3}", proptest::collection::vec(elem, 0..3)).prop_map(|(head, rest)| {
        let mut v = vec![PathElem::Name(head)];
        v.extend(rest);
        Path(v)
    })
}

fn value_strategy() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        "[a-z]{0,4}".prop_map(AttributeValue::S),
        (-50i64..50).prop_map(|n| AttributeValue::N(n.to_string().parse().unwrap())),
        any::<bool>().prop_map(AttributeValue::Bool),
    ]
}

fn operand_strategy() -> impl Strategy<Value = Operand> {
    prop_oneof![
        path_strategy().prop_map(Operand::Path),
        value_strategy().prop_map(Operand::Value),
        path_strategy().prop_map(|p| Operand::Size(Box::new(Operand::Path(p)))),
    ]
}

pub(super) fn condition_strategy() -> impl Strategy<Value = Condition> {
    let comparators = prop_oneof![
        Just(Comparator::Eq),
        Just(Comparator::Ne),
        Just(Comparator::Lt),
        Just(Comparator::Le),
        Just(Comparator::Gt),
        Just(Comparator::Ge)
    ];
    let leaf = prop_oneof![
        (comparators, path_strategy(), operand_strategy())
            .prop_filter("distinct operands", |(_, p, o)| *o
                != Operand::Path(p.clone()))
            // Only = and <> compare values that have no order.
            .prop_filter("ordered operands", |(c, _, o)| matches!(
                c,
                Comparator::Eq | Comparator::Ne
            ) || !matches!(
                o,
                Operand::Value(AttributeValue::Bool(_))
            ))
            .prop_map(|(c, p, o)| Condition::Compare(c, Operand::Path(p), o)),
        path_strategy().prop_map(Condition::Exists),
        path_strategy().prop_map(Condition::NotExists),
        (path_strategy(), "[a-z]{1,3}").prop_map(|(p, s)| Condition::BeginsWith(
            Operand::Path(p),
            Operand::Value(AttributeValue::S(s))
        )),
        (path_strategy(), value_strategy())
            .prop_map(|(p, v)| Condition::Contains(Operand::Path(p), Operand::Value(v))),
        (
            path_strategy(),
            proptest::collection::vec(value_strategy(), 1..4)
        )
            .prop_map(|(p, vs)| Condition::In(
                Operand::Path(p),
                vs.into_iter().map(Operand::Value).collect()
            )),
        (path_strategy(), -9i64..0, 0i64..9).prop_map(|(p, lo, hi)| Condition::Between(
            Operand::Path(p),
            Operand::Value(AttributeValue::N(lo.to_string().parse().unwrap())),
            Operand::Value(AttributeValue::N(hi.to_string().parse().unwrap()))
        )),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Condition::Not(Box::new(c))),
            (inner.clone(), inner.clone())
                .prop_map(|(a, b)| Condition::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner).prop_map(|(a, b)| Condition::Or(Box::new(a), Box::new(b))),
        ]
    })
}

fn update_strategy() -> impl Strategy<Value = Update> {
    let set_operand = prop_oneof![
        path_strategy().prop_map(UpdateOperand::Path),
        value_strategy().prop_map(UpdateOperand::Value),
        (path_strategy(), value_strategy())
            .prop_map(|(p, v)| UpdateOperand::IfNotExists(p, Box::new(UpdateOperand::Value(v)))),
        path_strategy().prop_map(|p| UpdateOperand::ListAppend(
            Box::new(UpdateOperand::Path(p)),
            Box::new(UpdateOperand::Value(AttributeValue::L(vec![])))
        )),
    ];
    let set_value = prop_oneof![
        set_operand.clone().prop_map(SetValue::Operand),
        path_strategy().prop_map(|p| SetValue::Plus(
            UpdateOperand::Path(p),
            UpdateOperand::Value(AttributeValue::N("1".parse().unwrap()))
        )),
        path_strategy().prop_map(|p| SetValue::Minus(
            UpdateOperand::Path(p),
            UpdateOperand::Value(AttributeValue::N("2".parse().unwrap()))
        )),
    ];
    // Distinct top-level names keep the paths from overlapping.
    (
        proptest::collection::vec(set_value, 0..3),
        0usize..3,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(sets, removes, add, delete)| {
            let mut k = 0;
            let mut next = || {
                k += 1;
                Path(vec![PathElem::Name(format!("t{k}"))])
            };
            let mut u = Update::default();
            for v in sets {
                u.set.push((next(), v));
            }
            for _ in 0..removes {
                u.remove.push(next());
            }
            if add || u.set.is_empty() && u.remove.is_empty() {
                u.add
                    .push((next(), AttributeValue::N("3".parse().unwrap())));
            }
            if delete {
                u.delete
                    .push((next(), AttributeValue::Ss(vec!["a".into()])));
            }
            u
        })
}

fn reparse_context(p: &Printer) -> Context {
    Context::from_parts(p.names.clone(), p.values.clone())
}

proptest! {
    #[test]
    fn printed_conditions_parse_back_to_the_same_tree(c in condition_strategy()) {
        let mut p = Printer::default();
        let text = p.condition(&c);
        let mut ctx = reparse_context(&p);
        let parsed = ctx.condition(ExprKind::Filter, &text);
        prop_assert_eq!(parsed, Ok(c), "{}", text);
        prop_assert_eq!(ctx.finish(), Ok(()));
    }

    #[test]
    fn evaluating_any_condition_never_panics(c in condition_strategy()) {
        let item = crate::dynamodb::value::item_from_json(&json!({
            "a": {"N": "1"}, "b": {"L": [{"S": "x"}, {"M": {"c": {"SS": ["y"]}}}]}, "ab": {"M": {"x": {"B": "AA=="}}}
        }))
        .unwrap();
        let _ = c.eval(&item);
        let _ = Condition::Not(Box::new(c)).eval(&item);
    }

    #[test]
    fn printed_updates_parse_back_to_the_same_update(u in update_strategy()) {
        let mut p = Printer::default();
        let text = p.update(&u);
        let parsed = reparse_context(&p).update(&text);
        prop_assert_eq!(parsed, Ok(u), "{}", text);
    }

    #[test]
    fn printed_projections_parse_back(paths in proptest::collection::vec("[a-z]{1,2}", 1..5)) {
        let mut unique: Vec<String> = paths;
        unique.sort();
        unique.dedup();
        let projection = Projection(unique.into_iter().map(|n| Path(vec![PathElem::Name(n)])).collect());
        let mut p = Printer::default();
        let text = p.projection(&projection);
        prop_assert_eq!(reparse_context(&p).projection(&text), Ok(projection));
    }

    #[test]
    fn random_text_never_panics_the_parsers(text in "[a-zA-Z0-9_#:()\\[\\]., <>=!+-]{0,60}|\\PC{0,30}") {
        let mut c = ctx(&[("#a", "x")], json!({":a": {"S": "x"}, ":n": {"N": "1"}}));
        let _ = c.condition(ExprKind::Condition, &text);
        let _ = c.update(&text);
        let _ = c.projection(&text);
        let _ = c.key_condition(&text);
    }
}

#[test]
fn deep_nesting_is_a_syntax_error_not_a_crash() {
    // As deep as the 4 KB of an expression allow.
    let text = format!("{}a = :v{}", "(a = :v AND ".repeat(300), ")".repeat(300));
    assert!(text.len() <= 4096);
    let err = ctx(&[], json!({":v": {"S": "x"}}))
        .condition(ExprKind::Condition, &text)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Invalid ConditionExpression: Syntax error; token: "),
        "{err}"
    );
    let nots = format!("{}a = :v", "NOT ".repeat(1000));
    assert!(ctx(&[], json!({":v": {"S": "x"}}))
        .condition(ExprKind::Condition, &nots)
        .is_err());
}
