//! Applying an UpdateExpression to an item.
//!
//! Every operand is read from the item as it was before the update; the
//! actions are then applied (SET, REMOVE with list indexes taken against the
//! original list, ADD, DELETE).

use super::ast::{Path, PathElem, SetValue, Update, UpdateOperand};
use super::eval::resolve;
use crate::dynamodb::number::NumberError;
use crate::dynamodb::value::{AttributeValue, Item};

/// Why an update cannot be applied; `Display` is the service's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpdateError {
    #[error("The provided expression refers to an attribute that does not exist in the item")]
    MissingAttribute,
    #[error("An operand in the update expression has an incorrect data type")]
    WrongType,
    #[error("The document path provided in the update expression is invalid for update")]
    InvalidPath,
    #[error("{0}")]
    Number(#[from] NumberError),
}

fn operand(item: &Item, op: &UpdateOperand) -> Result<AttributeValue, UpdateError> {
    match op {
        UpdateOperand::Path(p) => resolve(item, p)
            .cloned()
            .ok_or(UpdateError::MissingAttribute),
        UpdateOperand::Value(v) => Ok(v.clone()),
        UpdateOperand::IfNotExists(p, default) => match resolve(item, p) {
            Some(v) => Ok(v.clone()),
            None => operand(item, default),
        },
        UpdateOperand::ListAppend(a, b) => match (operand(item, a)?, operand(item, b)?) {
            (AttributeValue::L(mut a), AttributeValue::L(b)) => {
                a.extend(b);
                Ok(AttributeValue::L(a))
            }
            _ => Err(UpdateError::WrongType),
        },
    }
}

fn set_value(item: &Item, v: &SetValue) -> Result<AttributeValue, UpdateError> {
    let numbers = |a, b| match (operand(item, a)?, operand(item, b)?) {
        (AttributeValue::N(a), AttributeValue::N(b)) => Ok((a, b)),
        _ => Err(UpdateError::WrongType),
    };
    Ok(match v {
        SetValue::Operand(a) => operand(item, a)?,
        SetValue::Plus(a, b) => {
            let (a, b) = numbers(a, b)?;
            AttributeValue::N(a.add(&b)?)
        }
        SetValue::Minus(a, b) => {
            let (a, b) = numbers(a, b)?;
            AttributeValue::N(a.sub(&b)?)
        }
    })
}

/// The parent container of `path`'s last step, and that step.
fn parent_mut<'a>(
    item: &'a mut Item,
    path: &'a Path,
) -> Result<(Option<&'a mut AttributeValue>, &'a PathElem), UpdateError> {
    let (last, init) = path.0.split_last().ok_or(UpdateError::InvalidPath)?;
    if init.is_empty() {
        return Ok((None, last));
    }
    let PathElem::Name(head) = &init[0] else {
        return Err(UpdateError::InvalidPath);
    };
    let mut current = item.get_mut(head).ok_or(UpdateError::InvalidPath)?;
    for elem in &init[1..] {
        current = match (elem, current) {
            (PathElem::Name(n), AttributeValue::M(m)) => {
                m.get_mut(n).ok_or(UpdateError::InvalidPath)?
            }
            (PathElem::Index(i), AttributeValue::L(l)) => {
                l.get_mut(*i as usize).ok_or(UpdateError::InvalidPath)?
            }
            _ => return Err(UpdateError::InvalidPath),
        };
    }
    Ok((Some(current), last))
}

fn put(item: &mut Item, path: &Path, value: AttributeValue) -> Result<(), UpdateError> {
    if let [PathElem::Name(n)] = path.0.as_slice() {
        item.insert(n.clone(), value);
        return Ok(());
    }
    match parent_mut(item, path)? {
        (Some(AttributeValue::M(m)), PathElem::Name(n)) => {
            m.insert(n.clone(), value);
        }
        (Some(AttributeValue::L(l)), PathElem::Index(i)) => match l.get_mut(*i as usize) {
            Some(slot) => *slot = value,
            // Past the end: appended.
            None => l.push(value),
        },
        _ => return Err(UpdateError::InvalidPath),
    }
    Ok(())
}

fn remove(item: &mut Item, path: &Path) -> Result<(), UpdateError> {
    if let [PathElem::Name(n)] = path.0.as_slice() {
        item.remove(n);
        return Ok(());
    }
    match parent_mut(item, path) {
        Ok((Some(AttributeValue::M(m)), PathElem::Name(n))) => {
            m.remove(n);
        }
        Ok((Some(AttributeValue::L(l)), PathElem::Index(i))) => {
            if (*i as usize) < l.len() {
                l.remove(*i as usize);
            }
        }
        // Below an attribute that does not exist, or of the wrong kind:
        // refused (as recorded: `REMOVE y.a` without `y`).
        Ok(_) => return Err(UpdateError::InvalidPath),
        Err(e) => return Err(e),
    }
    Ok(())
}

/// That `path`'s parent exists and holds its last step's kind (a map for
/// `.name`, a list for `[i]`): what REMOVE and DELETE need even when the
/// path itself is absent.
fn check_parent(item: &Item, path: &Path) -> Result<(), UpdateError> {
    let (last, init) = path.0.split_last().ok_or(UpdateError::InvalidPath)?;
    if init.is_empty() {
        return Ok(());
    }
    match (resolve(item, &Path(init.to_vec())), last) {
        (Some(AttributeValue::M(_)), PathElem::Name(_))
        | (Some(AttributeValue::L(_)), PathElem::Index(_)) => Ok(()),
        _ => Err(UpdateError::InvalidPath),
    }
}

fn union<T: Ord + Clone>(a: &mut Vec<T>, b: &[T]) {
    for x in b {
        if !a.contains(x) {
            a.push(x.clone());
        }
    }
}

fn add(
    existing: Option<&AttributeValue>,
    value: &AttributeValue,
) -> Result<AttributeValue, UpdateError> {
    Ok(match (existing, value) {
        (None, v) => v.clone(),
        (Some(AttributeValue::N(a)), AttributeValue::N(b)) => AttributeValue::N(a.add(b)?),
        (Some(AttributeValue::Ss(a)), AttributeValue::Ss(b)) => {
            let mut a = a.clone();
            union(&mut a, b);
            AttributeValue::Ss(a)
        }
        (Some(AttributeValue::Ns(a)), AttributeValue::Ns(b)) => {
            let mut a = a.clone();
            union(&mut a, b);
            AttributeValue::Ns(a)
        }
        (Some(AttributeValue::Bs(a)), AttributeValue::Bs(b)) => {
            let mut a = a.clone();
            union(&mut a, b);
            AttributeValue::Bs(a)
        }
        _ => return Err(UpdateError::WrongType),
    })
}

/// The set minus the value's elements; None when nothing is left.
fn delete(
    existing: &AttributeValue,
    value: &AttributeValue,
) -> Result<Option<AttributeValue>, UpdateError> {
    let left = match (existing, value) {
        (AttributeValue::Ss(a), AttributeValue::Ss(b)) => {
            AttributeValue::Ss(a.iter().filter(|x| !b.contains(x)).cloned().collect())
        }
        (AttributeValue::Ns(a), AttributeValue::Ns(b)) => {
            AttributeValue::Ns(a.iter().filter(|x| !b.contains(x)).cloned().collect())
        }
        (AttributeValue::Bs(a), AttributeValue::Bs(b)) => {
            AttributeValue::Bs(a.iter().filter(|x| !b.contains(x)).cloned().collect())
        }
        _ => return Err(UpdateError::WrongType),
    };
    let empty = match &left {
        AttributeValue::Ss(x) => x.is_empty(),
        AttributeValue::Ns(x) => x.is_empty(),
        AttributeValue::Bs(x) => x.is_empty(),
        _ => false,
    };
    Ok(if empty { None } else { Some(left) })
}

impl Update {
    /// The item after the update (`item` is the stored item, or the key
    /// attributes alone when there is none). The input is left untouched.
    pub fn apply(&self, item: &Item) -> Result<Item, UpdateError> {
        // Read every operand against the original item first.
        let mut sets: Vec<(&Path, AttributeValue)> = self
            .set
            .iter()
            .map(|(p, v)| Ok((p, set_value(item, v)?)))
            .collect::<Result<_, UpdateError>>()?;
        let mut adds: Vec<(&Path, AttributeValue)> = self
            .add
            .iter()
            .map(|(p, v)| Ok((p, add(resolve(item, p), v)?)))
            .collect::<Result<_, UpdateError>>()?;
        let mut deletes: Vec<(&Path, Option<AttributeValue>)> = Vec::new();
        for (p, v) in &self.delete {
            match resolve(item, p) {
                Some(existing) => deletes.push((p, delete(existing, v)?)),
                None => check_parent(item, p)?,
            }
        }
        let mut out = item.clone();
        // In path order, so list elements past the end are appended in index
        // order (as recorded: SET c[4] = .., c[2] = .. on two elements).
        sets.sort_by(|a, b| a.0.cmp(b.0));
        for (p, v) in sets {
            put(&mut out, p, v)?;
        }
        // List elements go from the highest index down, so indexes stay those
        // of the original list.
        let mut removes: Vec<&Path> = self.remove.iter().collect();
        removes.sort_by(|a, b| b.cmp(a));
        for p in removes {
            remove(&mut out, p)?;
        }
        adds.sort_by(|a, b| a.0.cmp(b.0));
        for (p, v) in adds {
            put(&mut out, p, v)?;
        }
        for (p, left) in deletes {
            match left {
                Some(v) => put(&mut out, p, v)?,
                None => remove(&mut out, p)?,
            }
        }
        Ok(out)
    }
}
