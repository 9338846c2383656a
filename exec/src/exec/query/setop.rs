//! UNION, INTERSECT and EXCEPT, with and without ALL: planning (column counts, the common
//! type of each column, names from the left side) and combining the two sides' rows.
//!
//! Rows are compared by their memcomparable key, so NULLs are equal to each other here, as
//! SQL's set operations require.

use std::collections::HashMap;

use sqlparser::ast;

use super::{Body, Planner, SelectPlan};
use crate::error::{code, Error, Result};
use crate::exec::Column;
use crate::types::{DataType, Value};

/// The set operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    Union,
    Intersect,
    Except,
}

impl SetOp {
    fn name(self) -> &'static str {
        match self {
            SetOp::Union => "UNION",
            SetOp::Intersect => "INTERSECT",
            SetOp::Except => "EXCEPT",
        }
    }
}

/// A bare set-expression side as a query without ORDER BY or LIMIT.
pub(super) fn as_query(e: &ast::SetExpr) -> ast::Query {
    ast::Query {
        with: None,
        body: Box::new(e.clone()),
        order_by: None,
        limit_clause: None,
        fetch: None,
        locks: Vec::new(),
        for_clause: None,
        settings: None,
        format_clause: None,
        pipe_operators: Vec::new(),
    }
}

pub(super) fn plan_setop(
    p: &mut Planner<'_, '_>,
    op: &ast::SetOperator,
    quantifier: &ast::SetQuantifier,
    left: &ast::SetExpr,
    right: &ast::SetExpr,
    params: &mut Vec<DataType>,
) -> Result<SelectPlan> {
    let op = match op {
        ast::SetOperator::Union => SetOp::Union,
        ast::SetOperator::Intersect => SetOp::Intersect,
        ast::SetOperator::Except | ast::SetOperator::Minus => SetOp::Except,
    };
    let all = match quantifier {
        ast::SetQuantifier::All => true,
        ast::SetQuantifier::Distinct | ast::SetQuantifier::None => false,
        other => {
            return Err(Error::unsupported(format!(
                "{} {other} is not supported",
                op.name()
            )))
        }
    };
    // An untyped branch column (`SELECT NULL UNION SELECT 1`) takes the other branch's type.
    p.untyped_kept = true;
    let l = p.plan(&as_query(left), params);
    p.untyped_kept = true;
    let r = p.plan(&as_query(right), params);
    p.untyped_kept = false;
    let (l, r) = (l?, r?);
    if l.columns.len() != r.columns.len() {
        return Err(Error::new(
            code::SYNTAX_ERROR,
            format!(
                "each {} query must have the same number of columns",
                op.name()
            ),
        ));
    }
    let mut columns = Vec::with_capacity(l.columns.len());
    for (a, b) in l.columns.iter().zip(&r.columns) {
        let ty = match crate::expr::unify_types(a.ty.clone(), b.ty.clone(), op.name())? {
            DataType::Unknown => DataType::Text,
            t => t,
        };
        columns.push(Column {
            name: a.name.clone(),
            ty,
            table_oid: 0,
            column: 0,
        });
    }
    Ok(SelectPlan::new(
        Body::SetOp {
            op,
            all,
            left: Box::new(l),
            right: Box::new(r),
        },
        columns,
    ))
}

/// `rows` with each value cast to its column's type.
pub(super) fn cast_rows(rows: Vec<Vec<Value>>, columns: &[Column]) -> Result<Vec<Vec<Value>>> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .zip(columns)
                .map(|(v, c)| v.cast(&c.ty))
                .collect::<Result<Vec<_>>>()
        })
        .collect()
}

/// The rows of `left op right`, cast to the result's column types.
pub(super) fn combine(
    op: SetOp,
    all: bool,
    left: Vec<Vec<Value>>,
    right: Vec<Vec<Value>>,
    columns: &[Column],
) -> Result<Vec<Vec<Value>>> {
    let (left, right) = (cast_rows(left, columns)?, cast_rows(right, columns)?);
    let key = super::run::row_key;
    let mut out = Vec::new();
    match op {
        SetOp::Union => {
            let mut seen: HashMap<Vec<u8>, ()> = HashMap::new();
            for r in left.into_iter().chain(right) {
                if all || seen.insert(key(&r), ()).is_none() {
                    out.push(r);
                }
            }
        }
        SetOp::Intersect | SetOp::Except => {
            let mut counts: HashMap<Vec<u8>, usize> = HashMap::new();
            for r in &right {
                *counts.entry(key(r)).or_default() += 1;
            }
            let mut emitted: HashMap<Vec<u8>, ()> = HashMap::new();
            for r in left {
                let k = key(&r);
                let n = counts.get(&k).copied().unwrap_or(0);
                let keep = match (op, all) {
                    (SetOp::Intersect, true) => n > 0,
                    (SetOp::Except, true) => n == 0,
                    (SetOp::Intersect, false) => n > 0 && emitted.insert(k.clone(), ()).is_none(),
                    _ => n == 0 && emitted.insert(k.clone(), ()).is_none(),
                };
                if all && n > 0 {
                    // Each right row cancels (EXCEPT ALL) or pairs with (INTERSECT ALL) one left row.
                    counts.insert(k, n - 1);
                }
                if keep {
                    out.push(r);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{combine, SetOp};
    use crate::exec::Column;
    use crate::types::{DataType, Value};

    fn rows(v: &[Option<i32>]) -> Vec<Vec<Value>> {
        v.iter()
            .map(|x| vec![x.map(Value::Int4).unwrap_or(Value::Null)])
            .collect()
    }

    fn run(op: SetOp, all: bool, l: &[Option<i32>], r: &[Option<i32>]) -> Vec<Option<i32>> {
        let cols = [Column {
            name: "x".into(),
            ty: DataType::Int4,
            table_oid: 0,
            column: 0,
        }];
        let out = combine(op, all, rows(l), rows(r), &cols).unwrap_or_default();
        let mut v: Vec<Option<i32>> = out
            .into_iter()
            .map(|r| match r.first() {
                Some(Value::Int4(i)) => Some(*i),
                _ => None,
            })
            .collect();
        v.sort();
        v
    }

    #[test]
    fn set_operations_count_duplicates_and_treat_nulls_as_equal() {
        let l = [Some(1), Some(1), Some(2), None, None];
        let r = [Some(1), None, Some(3)];
        assert_eq!(
            run(SetOp::Union, false, &l, &r),
            [None, Some(1), Some(2), Some(3)]
        );
        assert_eq!(run(SetOp::Union, true, &l, &r).len(), 8);
        assert_eq!(run(SetOp::Intersect, false, &l, &r), [None, Some(1)]);
        assert_eq!(run(SetOp::Intersect, true, &l, &r), [None, Some(1)]);
        assert_eq!(run(SetOp::Except, false, &l, &r), [Some(2)]);
        assert_eq!(run(SetOp::Except, true, &l, &r), [None, Some(1), Some(2)]);
    }
}
