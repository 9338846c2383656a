//! Subqueries inside expressions: scalar `(SELECT ...)`, `EXISTS`, `IN` / `ANY` / `ALL`
//! and `ARRAY(SELECT ...)`.
//!
//! A subquery is planned once, while its enclosing expression is bound. Names it takes from
//! enclosing queries become *captures*: expressions over the enclosing row, evaluated each
//! time the subquery runs and read inside it as `Expr::Outer(i)`. A subquery without
//! captures is uncorrelated, and the runner evaluates it at most once per statement.

use std::sync::Arc;

use super::{EvalContext, Expr};
use crate::error::{code, Error, Result};
use crate::exec::query::SelectPlan;
use crate::types::{BinaryOp, DataType, Value};

/// A subquery and how its rows become a value.
#[derive(Debug, Clone)]
pub struct Subquery {
    pub plan: SelectPlan,
    pub kind: SubKind,
    /// What the subquery reads from enclosing queries, as expressions over the row the
    /// subquery is evaluated on; inside the plan, capture i is `Expr::Outer(i)`.
    pub captures: Vec<Expr>,
}

/// How a subquery's rows become a value.
#[derive(Debug, Clone)]
pub enum SubKind {
    /// `(SELECT x ...)`: its single value, NULL without rows, 21000 with more than one.
    Scalar,
    /// `EXISTS (SELECT ...)`.
    Exists,
    /// `expr op ANY (SELECT ...)` (`IN` is `= ANY`) or `expr op ALL (SELECT ...)`.
    Quantified {
        expr: Box<Expr>,
        op: BinaryOp,
        all: bool,
    },
    /// `ARRAY(SELECT ...)` of the element type.
    Array(DataType),
    /// `(e1, ..., en) IN (SELECT c1, ..., cn ...)`: rows compared pair by pair.
    RowIn { exprs: Vec<Expr> },
}

/// Runs what an expression cannot evaluate alone: subqueries and sequence functions. The
/// statement's runner implements it (it owns the transaction and the session state).
pub trait SubqueryExec {
    /// The rows of `plan`, with `outer` as the values its `Expr::Outer` read.
    fn rows(&self, plan: &SelectPlan, outer: &[Value]) -> Result<Arc<Vec<Vec<Value>>>>;

    /// Whether `plan` has a row, with `outer` as the values its `Expr::Outer` read (EXISTS:
    /// its first row decides, and no more need be read).
    fn exists(&self, plan: &SelectPlan, outer: &[Value]) -> Result<bool> {
        Ok(!self.rows(plan, outer)?.is_empty())
    }

    /// nextval / currval / lastval / setval(`name`, `value`, `is_called`).
    fn sequence(
        &self,
        op: super::func::SeqOp,
        name: Option<&str>,
        value: Option<i64>,
        is_called: bool,
    ) -> Result<i64>;

    /// Runs a session or server function (`func_backend`: pg_sleep, pg_backend_pid, ...).
    fn backend(&self, f: super::BackendFunc, args: &[Value]) -> Result<Value> {
        let _ = args;
        Err(super::func_backend::not_here(f))
    }

    /// The first column of an uncorrelated `plan`'s rows as a hashed set, built once per
    /// statement, for `x IN (SELECT ...)`; None where the runner keeps no such sets.
    fn key_set(&self, plan: &SelectPlan) -> Result<Option<Arc<KeySet>>> {
        let _ = plan;
        Ok(None)
    }

    /// The statement's catalog snapshot, loaded on first use, for catalog functions and
    /// reg* casts (`EvalContext::sys` takes precedence). None where no catalog is reachable.
    fn catalog(&self) -> Result<Option<&crate::catalog::system::SystemSnapshot>> {
        Ok(None)
    }
}

impl Subquery {
    /// The subquery's value for `row`.
    pub fn eval(&self, row: &[Value], ctx: &EvalContext<'_>) -> Result<Value> {
        let Some(exec) = ctx.exec else {
            return Err(Error::unsupported("cannot use subquery in this context"));
        };
        let outer = self
            .captures
            .iter()
            .map(|c| c.eval(row, ctx))
            .collect::<Result<Vec<_>>>()?;
        // The left operand first: PostgreSQL evaluates it even when the subquery is empty.
        let left = match &self.kind {
            SubKind::Quantified { expr, .. } => Some(expr.eval(row, ctx)?),
            _ => None,
        };
        let left_row = match &self.kind {
            SubKind::RowIn { exprs } => exprs
                .iter()
                .map(|e| e.eval(row, ctx))
                .collect::<Result<Vec<_>>>()?,
            _ => Vec::new(),
        };
        if let (SubKind::Quantified { op, all, .. }, Some(left), true) =
            (&self.kind, &left, self.captures.is_empty())
        {
            let member = matches!((op, all), (BinaryOp::Eq, false) | (BinaryOp::NotEq, true));
            if member {
                if let Some(v) = exec.key_set(&self.plan)?.and_then(|s| s.contains(left)) {
                    // `x <> ALL (...)` is NOT (x = ANY (...)) in three-valued logic.
                    return Ok(match (v, *all) {
                        (Value::Bool(b), true) => Value::Bool(!b),
                        (v, _) => v,
                    });
                }
            }
        }
        if let SubKind::Exists = self.kind {
            return Ok(Value::Bool(exec.exists(&self.plan, &outer)?));
        }
        let rows = exec.rows(&self.plan, &outer)?;
        let first = |r: &Vec<Value>| r.first().cloned().unwrap_or(Value::Null);
        Ok(match &self.kind {
            SubKind::Scalar => match rows.as_slice() {
                [] => Value::Null,
                [one] => first(one),
                _ => {
                    return Err(Error::new(
                        code::CARDINALITY_VIOLATION,
                        "more than one row returned by a subquery used as an expression",
                    ))
                }
            },
            SubKind::Exists => Value::Bool(!rows.is_empty()),
            SubKind::Array(elem) => {
                Value::Array(Box::new(elem.clone()), rows.iter().map(first).collect())
            }
            SubKind::Quantified { op, all, .. } => {
                let left = left.unwrap_or(Value::Null);
                quantified(&left, *op, *all, rows.iter().map(first))?
            }
            SubKind::RowIn { .. } => row_in(&left_row, rows.iter())?,
        })
    }
}

/// The values of a subquery's column as a set of keys, for `IN` / `NOT IN` lookups in
/// constant time. Keys are memcomparable encodings, which are equal exactly when the values
/// are, for the value kinds in [`KeySet::hashable`] and only between values of one kind.
/// Integers of every width are one kind, kept as `bigint` (an `int` column `IN` a `bigint`
/// subquery compares the numbers, as PostgreSQL does).
#[derive(Debug, Default)]
pub struct KeySet {
    keys: std::collections::HashSet<Vec<u8>>,
    has_null: bool,
    /// The kind of every non-NULL value; None for no values, or when kinds are mixed or
    /// not hashable (then `usable` is false).
    kind: Option<std::mem::Discriminant<Value>>,
    usable: bool,
}

impl KeySet {
    /// Kinds whose key equality is SQL equality.
    fn hashable(v: &Value) -> bool {
        matches!(
            v,
            Value::Bool(_)
                | Value::Int2(_)
                | Value::Int4(_)
                | Value::Int8(_)
                | Value::Date(_)
                | Value::Timestamp(_)
                | Value::Timestamptz(_)
                | Value::Uuid(_)
                | Value::Oid(_)
        )
    }

    /// `v` as the set keeps it: integers widened to `bigint`.
    fn widened(v: &Value) -> std::borrow::Cow<'_, Value> {
        match v {
            Value::Int2(x) => std::borrow::Cow::Owned(Value::Int8(i64::from(*x))),
            Value::Int4(x) => std::borrow::Cow::Owned(Value::Int8(i64::from(*x))),
            other => std::borrow::Cow::Borrowed(other),
        }
    }

    /// The set of `values`.
    pub fn new<'v>(values: impl Iterator<Item = &'v Value>) -> KeySet {
        let mut set = KeySet {
            usable: true,
            ..KeySet::default()
        };
        for v in values {
            if v.is_null() {
                set.has_null = true;
                continue;
            }
            let v = KeySet::widened(v);
            let kind = std::mem::discriminant(v.as_ref());
            if !KeySet::hashable(&v) || set.kind.is_some_and(|k| k != kind) {
                set.usable = false;
                return set;
            }
            set.kind = Some(kind);
            let mut k = Vec::new();
            crate::row::append_key(&mut k, &[v.as_ref()]);
            set.keys.insert(k);
        }
        set
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// `left = ANY (set)` in three-valued logic, or None when the set cannot answer for
    /// `left` (kinds differ: the caller compares value by value, with coercions).
    pub fn contains(&self, left: &Value) -> Option<Value> {
        if !self.usable {
            return None;
        }
        if self.keys.is_empty() && !self.has_null {
            return Some(Value::Bool(false));
        }
        if left.is_null() {
            return Some(Value::Null);
        }
        let left = KeySet::widened(left);
        if self
            .kind
            .is_some_and(|k| k != std::mem::discriminant(left.as_ref()))
        {
            return None;
        }
        let mut k = Vec::new();
        crate::row::append_key(&mut k, &[left.as_ref()]);
        Some(if self.keys.contains(&k) {
            Value::Bool(true)
        } else if self.has_null {
            Value::Null
        } else {
            Value::Bool(false)
        })
    }
}

/// `left IN (rows)` for a row `left`: a row matches when every pair is equal, fails when
/// some pair differs, and is unknown otherwise (a NULL in a pair); true if one matches, else
/// NULL if one was unknown, else false.
pub fn row_in<'a>(left: &[Value], rows: impl Iterator<Item = &'a Vec<Value>>) -> Result<Value> {
    let mut saw_null = false;
    for r in rows {
        let (mut differs, mut unknown) = (false, false);
        for (l, v) in left.iter().zip(r) {
            if l.is_null() || v.is_null() {
                unknown = true;
            } else if Value::binary(BinaryOp::Eq, l, v)?.as_bool()? != Some(true) {
                differs = true;
                break;
            }
        }
        match (differs, unknown) {
            (false, false) => return Ok(Value::Bool(true)),
            (false, true) => saw_null = true,
            _ => {}
        }
    }
    Ok(if saw_null {
        Value::Null
    } else {
        Value::Bool(false)
    })
}

/// `left op ANY/ALL (items)` with SQL's three-valued logic.
pub fn quantified(
    left: &Value,
    op: BinaryOp,
    all: bool,
    items: impl Iterator<Item = Value>,
) -> Result<Value> {
    let mut saw_null = false;
    for item in items {
        let hit = if left.is_null() || item.is_null() {
            None
        } else {
            Value::binary(op, left, &item)?.as_bool()?
        };
        match (hit, all) {
            (Some(true), false) => return Ok(Value::Bool(true)),
            (Some(false), true) => return Ok(Value::Bool(false)),
            (None, _) => saw_null = true,
            _ => {}
        }
    }
    Ok(if saw_null {
        Value::Null
    } else {
        Value::Bool(all)
    })
}

#[cfg(test)]
mod tests {
    use super::{quantified, row_in, KeySet};
    use crate::types::{BinaryOp, Value};

    fn q(left: Option<i32>, items: &[Option<i32>], all: bool) -> Option<bool> {
        let v = |x: &Option<i32>| x.map(Value::Int4).unwrap_or(Value::Null);
        quantified(&v(&left), BinaryOp::Eq, all, items.iter().map(v))
            .ok()?
            .as_bool()
            .ok()?
    }

    #[test]
    fn in_and_not_in_follow_three_valued_logic() {
        // x IN (...) is = ANY; x NOT IN (...) is NOT (= ANY).
        assert_eq!(q(Some(1), &[Some(1), None], false), Some(true));
        assert_eq!(q(Some(2), &[Some(1), None], false), None);
        assert_eq!(q(Some(2), &[Some(1)], false), Some(false));
        assert_eq!(q(None, &[Some(1)], false), None);
        assert_eq!(q(None, &[], false), Some(false));
        // = ALL
        assert_eq!(q(Some(1), &[Some(1), Some(1)], true), Some(true));
        assert_eq!(q(Some(1), &[Some(1), Some(2)], true), Some(false));
        assert_eq!(q(Some(1), &[Some(1), None], true), None);
        assert_eq!(q(Some(1), &[], true), Some(true));
    }

    #[test]
    fn a_key_set_answers_for_integers_of_any_width() {
        let set = KeySet::new([Value::Int8(7), Value::Int8(1 << 40)].iter());
        assert_eq!(set.contains(&Value::Int4(7)), Some(Value::Bool(true)));
        assert_eq!(set.contains(&Value::Int2(7)), Some(Value::Bool(true)));
        assert_eq!(set.contains(&Value::Int4(8)), Some(Value::Bool(false)));
        let narrow = KeySet::new([Value::Int2(3), Value::Int4(-5)].iter());
        assert_eq!(narrow.contains(&Value::Int8(-5)), Some(Value::Bool(true)));
        assert_eq!(
            narrow.contains(&Value::Int8(1 << 40)),
            Some(Value::Bool(false))
        );
        // Other kinds still differ: the caller compares value by value.
        assert_eq!(set.contains(&Value::Float8(7.0)), None);
    }

    #[test]
    fn a_row_in_rows_is_pairwise_with_three_valued_logic() {
        let v = |x: Option<i32>| x.map(Value::Int4).unwrap_or(Value::Null);
        let rows = |rs: &[[Option<i32>; 2]]| -> Vec<Vec<Value>> {
            rs.iter()
                .map(|r| r.iter().map(|x| v(*x)).collect())
                .collect()
        };
        let check = |left: [Option<i32>; 2], rs: &[[Option<i32>; 2]]| {
            let left: Vec<Value> = left.iter().map(|x| v(*x)).collect();
            row_in(&left, rows(rs).iter()).ok()?.as_bool().ok()?
        };
        assert_eq!(check([Some(1), Some(2)], &[[Some(1), Some(2)]]), Some(true));
        assert_eq!(
            check([Some(1), Some(2)], &[[Some(1), Some(3)]]),
            Some(false)
        );
        // A NULL pair makes a row unknown unless another pair differs.
        assert_eq!(check([Some(1), None], &[[Some(1), Some(2)]]), None);
        assert_eq!(check([Some(1), None], &[[Some(2), Some(2)]]), Some(false));
        assert_eq!(
            check([Some(1), None], &[[Some(1), Some(9)], [Some(1), None]]),
            None
        );
        assert_eq!(
            check([Some(1), None], &[[None, Some(2)], [Some(1), Some(2)]]),
            None
        );
        assert_eq!(
            check([Some(3), Some(4)], &[[None, Some(2)], [Some(3), Some(4)]]),
            Some(true)
        );
        assert_eq!(check([Some(1), Some(2)], &[]), Some(false));
    }

    proptest::proptest! {
        /// The hashed set answers IN and NOT IN exactly as the value-by-value comparison.
        #[test]
        fn key_sets_agree_with_the_comparisons(
            left in proptest::option::of(0i64..6),
            items in proptest::collection::vec(proptest::option::of(0i64..6), 0..8),
        ) {
            let v = |x: &Option<i64>| x.map(Value::Int8).unwrap_or(Value::Null);
            let values: Vec<Value> = items.iter().map(v).collect();
            let set = super::KeySet::new(values.iter());
            let got = set.contains(&v(&left)).expect("one kind");
            let want = quantified(&v(&left), BinaryOp::Eq, false, values.iter().cloned()).unwrap();
            proptest::prop_assert_eq!(&got, &want);
            let not_in = quantified(&v(&left), BinaryOp::NotEq, true, values.iter().cloned()).unwrap();
            let negated = match got {
                Value::Bool(b) => Value::Bool(!b),
                other => other,
            };
            proptest::prop_assert_eq!(negated, not_in);
        }
    }

    #[test]
    fn key_sets_step_aside_for_other_kinds() {
        let set = super::KeySet::new([Value::Int4(1), Value::Int4(2)].iter());
        assert_eq!(set.contains(&Value::Int4(2)), Some(Value::Bool(true)));
        // float8 against int4 values: compared value by value instead.
        assert_eq!(set.contains(&Value::Float8(2.0)), None);
        let text = super::KeySet::new([Value::Text("a".into())].iter());
        assert_eq!(text.contains(&Value::Text("a".into())), None);
        let mixed = super::KeySet::new([Value::Int4(1), Value::Date(2)].iter());
        assert_eq!(mixed.contains(&Value::Int4(1)), None);
    }
}
