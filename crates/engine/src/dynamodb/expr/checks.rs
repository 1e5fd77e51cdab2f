//! The service's checks of function calls and operands, recorded while parsing.

use super::ast::Operand;
use super::parser::{Cat, Parser};
use crate::dynamodb::value::AttributeValue;

impl Parser<'_, '_> {
    /// Records the service's checks of a function call.
    pub(crate) fn check_function(&mut self, name: &str, args: &[Operand]) {
        let arity = match name {
            "attribute_exists" | "attribute_not_exists" | "size" => 1,
            "attribute_type" | "begins_with" | "contains" => 2,
            _ => {
                self.problem(
                    Cat::UnknownFunction,
                    format!("Invalid function name; function: {name}"),
                );
                return;
            }
        };
        if args.len() != arity {
            let msg = format!(
                "Incorrect number of operands for operator or function; operator or function: {name}, number of operands: {}",
                args.len()
            );
            self.problem(Cat::Operand, msg);
            return;
        }
        self.check_distinct(name, args);
        let bad_type = |p: &mut Self, ty: &str| {
            let msg = format!("Incorrect operand type for operator or function; operator or function: {name}, operand type: {ty}");
            p.problem(Cat::Function, msg);
        };
        match name {
            "attribute_exists" | "attribute_not_exists" if !matches!(args[0], Operand::Path(_)) => {
                let msg = format!(
                    "Operator or function requires a document path; operator or function: {name}"
                );
                self.problem(Cat::Function, msg);
            }
            "begins_with" => {
                for arg in args {
                    if let Some(ty) = static_type(arg).filter(|t| *t != "S" && *t != "B") {
                        bad_type(self, ty);
                        break;
                    }
                }
            }
            "attribute_type" => match &args[1] {
                Operand::Value(AttributeValue::S(ty)) => {
                    if !["S", "N", "B", "NULL", "SS", "BOOL", "L", "BS", "NS", "M"]
                        .contains(&ty.as_str())
                    {
                        let msg = format!("Invalid attribute type name found; type: {ty}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}");
                        self.problem(Cat::Function, msg);
                    }
                }
                other => bad_type(
                    self,
                    static_type(other).unwrap_or("{NS,SS,L,BS,N,M,B,BOOL,NULL,S}"),
                ),
            },
            "size" => {
                if let Some(ty) =
                    static_type(&args[0]).filter(|t| ["N", "BOOL", "NULL"].contains(t))
                {
                    bad_type(self, ty);
                }
            }
            _ => {}
        }
    }

    /// `a = a`, `contains(a, a)`: the service wants distinct operands.
    pub(crate) fn check_distinct(&mut self, name: &str, args: &[Operand]) {
        if let [Operand::Path(a), Operand::Path(b)] = args {
            if a == b {
                let msg = format!(
                    "The first operand must be distinct from the remaining operands for this operator or function; operator: {name}, first operand: {a}"
                );
                self.problem(Cat::Distinct, msg);
            }
        }
    }

    /// `<`, `<=`, `>`, `>=` and BETWEEN order numbers, strings and binary
    /// values only: an operand of another type known before any item is
    /// read is refused, wherever the comparison sits (as recorded). Returns
    /// whether every operand may be ordered.
    pub(crate) fn check_ordered(&mut self, name: &str, operands: &[&Operand]) -> bool {
        let unordered = operands
            .iter()
            .find_map(|op| static_type(op).filter(|t| !["N", "S", "B"].contains(t)));
        if let Some(ty) = unordered {
            let msg = format!("Incorrect operand type for operator or function; operator or function: {name}, operand type: {ty}");
            self.problem(Cat::Function, msg);
        }
        unordered.is_none()
    }

    pub(crate) fn check_between(&mut self, low: &Operand, high: &Operand) {
        let (Operand::Value(a), Operand::Value(b)) = (low, high) else {
            return;
        };
        let shown = |v: &AttributeValue| {
            format!(
                "AttributeValue: {{{}:{}}}",
                v.type_name(),
                super::print::scalar_text(v)
            )
        };
        let bounds = format!(
            "lower bound operand: {}, upper bound operand: {}",
            shown(a),
            shown(b)
        );
        if a.type_name() != b.type_name() {
            self.problem(Cat::Function, format!("The BETWEEN operator requires same data type for lower and upper bounds; {bounds}"));
        } else if super::eval::compare_values(a, b) == Some(std::cmp::Ordering::Greater) {
            let msg = format!("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; {bounds}");
            self.problem(Cat::Function, msg);
        }
    }
}

/// The type an operand is known to have before any item is seen.
pub(crate) fn static_type(op: &Operand) -> Option<&'static str> {
    match op {
        Operand::Path(_) => None,
        Operand::Value(v) => Some(v.type_name()),
        Operand::Size(_) => Some("N"),
    }
}
