//! The service's checks of key attributes named in expressions: a Query's
//! FilterExpression may not name the primary key, and no path may reach
//! into a key attribute (`key.a`, `key[0]`: keys are scalars).

use super::expr::ast::{Operand, Path};
use super::expr::{Condition, Projection};
use super::index::IndexMeta;
use super::service::{validation, TableMeta};
use crate::front::error::ApiError;

const NOT_SCALAR: &str =
    "Key attributes must be scalars; list random access '[]' and map lookup '.' are not allowed";

impl TableMeta {
    /// The table's key attribute names, then those of its indexes.
    fn key_names(&self) -> (Vec<&str>, Vec<&str>) {
        let table = std::iter::once(&self.hash)
            .chain(self.range.as_ref())
            .map(|(n, _)| n.as_str())
            .collect();
        let indexes = self
            .indexes
            .iter()
            .flat_map(|i| std::iter::once(&i.hash).chain(i.range.as_ref()))
            .map(|(n, _)| n.as_str())
            .collect();
        (table, indexes)
    }

    /// A path that reaches into a key attribute, as the service refuses it.
    fn check_scalar_key_path(&self, path: &Path) -> Result<(), ApiError> {
        if path.0.len() < 2 {
            return Ok(());
        }
        let head = path.head();
        let (table, indexes) = self.key_names();
        if table.contains(&head) {
            return Err(validation(format!("{NOT_SCALAR}: Key: {head}")));
        }
        if indexes.contains(&head) {
            return Err(validation(format!("{NOT_SCALAR}: IndexKey: {head}")));
        }
        Ok(())
    }

    /// A ProjectionExpression's paths into key attributes (GetItem).
    pub(crate) fn check_projection_keys(&self, projection: &Projection) -> Result<(), ApiError> {
        projection
            .0
            .iter()
            .try_for_each(|p| self.check_scalar_key_path(p))
    }

    /// A Query's FilterExpression: the primary key (the table's, or the
    /// queried index's) may not be named at all, other key attributes only
    /// whole.
    pub(crate) fn check_filter_keys(
        &self,
        filter: &Condition,
        index: Option<&IndexMeta>,
    ) -> Result<(), ApiError> {
        let mut primary: Vec<&str> = std::iter::once(&self.hash)
            .chain(self.range.as_ref())
            .map(|(n, _)| n.as_str())
            .collect();
        if let Some(i) = index {
            primary.extend(
                std::iter::once(&i.hash)
                    .chain(i.range.as_ref())
                    .map(|(n, _)| n.as_str()),
            );
        }
        let mut paths = Vec::new();
        condition_paths(filter, &mut paths);
        for path in paths {
            let head = path.head();
            if primary.contains(&head) {
                return Err(validation(format!(
                    "Filter Expression can only contain non-primary key attributes: Primary key attribute: {head}"
                )));
            }
            self.check_scalar_key_path(path)?;
        }
        Ok(())
    }
}

/// The paths of a condition, in the order they are written.
fn condition_paths<'a>(c: &'a Condition, out: &mut Vec<&'a Path>) {
    match c {
        Condition::Compare(_, a, b) | Condition::BeginsWith(a, b) | Condition::Contains(a, b) => {
            operand_paths(a, out);
            operand_paths(b, out);
        }
        Condition::Between(a, b, c) => {
            for o in [a, b, c] {
                operand_paths(o, out);
            }
        }
        Condition::In(a, list) => {
            operand_paths(a, out);
            for o in list {
                operand_paths(o, out);
            }
        }
        Condition::Exists(p) | Condition::NotExists(p) => out.push(p),
        Condition::AttributeType(p, o) => {
            out.push(p);
            operand_paths(o, out);
        }
        Condition::Not(c) => condition_paths(c, out),
        Condition::And(a, b) | Condition::Or(a, b) => {
            condition_paths(a, out);
            condition_paths(b, out);
        }
    }
}

fn operand_paths<'a>(o: &'a Operand, out: &mut Vec<&'a Path>) {
    match o {
        Operand::Path(p) => out.push(p),
        Operand::Size(inner) => operand_paths(inner, out),
        Operand::Value(_) => {}
    }
}
