//! Cardinality estimates for join ordering: how many rows a FROM node produces and how
//! many distinct values a column holds, from ANALYZE's statistics where a table has them and
//! PostgreSQL's default selectivities where it does not.
//!
//! Estimates only steer plan choice, never results: a constant that cannot be evaluated
//! while planning, or a condition of a shape not modelled here, falls back to a default.

use std::collections::HashMap;

use super::from::{JoinKind, Source, TableSource};
use crate::catalog::{Cmp, ColumnStats, TableDef};
use crate::expr::{EvalContext, Expr};
use crate::row::append_key;
use crate::types::{BinaryOp, DataType, Value};

/// Rows assumed for a table never analyzed (and for a set-returning function).
pub const DEFAULT_ROWS: f64 = 1000.0;
/// PostgreSQL's defaults: `=` on a value without statistics, one-sided and two-sided
/// ranges, pattern matches, and any other condition.
const EQ_SEL: f64 = 0.005;
const INEQ_SEL: f64 = 1.0 / 3.0;
const RANGE_SEL: f64 = 0.005;
const MATCH_SEL: f64 = 0.1;
pub(super) const OTHER_SEL: f64 = 1.0 / 3.0;
/// Distinct values assumed for a column without statistics (PostgreSQL: 200).
const DEFAULT_DISTINCT: f64 = 200.0;

/// One end of a range: a constant's key and whether it is included.
type KeyBound = Option<(Vec<u8>, bool)>;

/// Rows `src` produces (after the conditions pushed into it), at least 1.
pub fn rows(src: &Source) -> f64 {
    let n = match src {
        Source::Unit => 1.0,
        Source::Rows(_, rows) => rows.len() as f64,
        Source::Function { .. } => DEFAULT_ROWS,
        Source::Derived { .. } | Source::WorkTable { .. } => DEFAULT_ROWS,
        Source::Table(t) => table_rows(&t.table) * t.filter.as_ref().map_or(1.0, |f| sel(t, f)),
        Source::Join(j) => {
            let (l, r) = (rows(&j.left), rows(&j.right));
            // Equi-join keys (known once `from::finish` made them): each left row meets the
            // right rows sharing its value, |L|·|R| / max(distinct values of either side),
            // counting only the most selective key. Without keys, assume the larger side (a
            // foreign-key join).
            let keyed = j
                .keys
                .iter()
                .filter_map(|k| match k {
                    (Expr::Column(a), Expr::Column(b)) => {
                        let d = distinct(&j.left, *a, l).max(distinct(&j.right, *b, r));
                        Some(l * r / d.max(1.0))
                    }
                    _ => None,
                })
                .reduce(f64::min);
            let inner = match keyed {
                Some(n) => n,
                None if j.on.is_none() && j.keys.is_empty() => l * r,
                None => l.max(r),
            };
            match j.kind {
                JoinKind::Inner => inner,
                JoinKind::Left => inner.max(l),
                JoinKind::Right => inner.max(r),
                JoinKind::Full => inner.max(l + r),
                // Half the left rows have a match (PostgreSQL's default for semi joins).
                JoinKind::Semi | JoinKind::Anti => l * 0.5,
            }
        }
    };
    n.max(1.0)
}

/// Rows a subquery's plan gives, as an upper bound from its FROM (after the conditions
/// pushed into it): a grouped SELECT gives at most as many groups as it reads rows, and one
/// row without grouping keys; anything else (a set operation, VALUES) [`DEFAULT_ROWS`].
pub fn plan_rows(plan: &super::SelectPlan) -> f64 {
    let n = match &plan.body {
        super::Body::Select(b) => match &b.agg {
            Some(a) if a.keys.is_empty() => 1.0,
            _ => rows(&b.source),
        },
        _ => DEFAULT_ROWS,
    };
    n.max(1.0)
}

/// Rows in `table` (ANALYZE's count, else [`DEFAULT_ROWS`]).
pub fn table_rows(table: &TableDef) -> f64 {
    table
        .stats
        .as_ref()
        .map_or(DEFAULT_ROWS, |s| s.rows.max(1.0))
}

/// Distinct values of column `col` of `src`, which produces `rows` rows.
pub fn distinct(src: &Source, col: usize, rows: f64) -> f64 {
    let d = match src {
        Source::Table(t) => table_distinct(&t.table, col),
        Source::Join(j) => {
            // A reordered (or turned around) join's output column `col` is column
            // `permute[col]` of left ++ right; merged USING columns are past both.
            let col = match j.permute.get(col) {
                Some(c) => *c,
                None if j.permute.is_empty() => col,
                None => usize::MAX,
            };
            if col < j.left_width {
                distinct(&j.left, col, rows)
            } else if col < j.left_width + j.right_width {
                distinct(&j.right, col - j.left_width, rows)
            } else {
                DEFAULT_DISTINCT
            }
        }
        _ => DEFAULT_DISTINCT,
    };
    d.clamp(1.0, rows.max(1.0))
}

/// Distinct values of column position `col` of `table`, before any filter.
fn table_distinct(table: &TableDef, col: usize) -> f64 {
    let Some(c) = table.columns.get(col) else {
        return DEFAULT_DISTINCT;
    };
    if let Some(s) = table.stats.as_ref().and_then(|s| s.column(c.id)) {
        return s.distinct.max(1.0);
    }
    let unique = table
        .indexes
        .iter()
        .any(|i| i.unique && i.columns.as_slice() == [c.id])
        || table.primary_key.as_slice() == [c.id];
    if unique {
        table_rows(table)
    } else {
        DEFAULT_DISTINCT.min(table_rows(table))
    }
}

/// Selectivity of `filter` (over `t`'s row) on table `t`.
pub fn sel(t: &TableSource, filter: &Expr) -> f64 {
    let mut conjuncts = Vec::new();
    super::access::flatten_and(filter, &mut conjuncts);
    let mut s = 1.0;
    // Range bounds per column, combined so `a >= x AND a < y` is one range.
    let mut ranges: HashMap<usize, (KeyBound, KeyBound)> = HashMap::new();
    for c in conjuncts {
        if let Some((col, cmp, key)) = comparison(&t.table, c) {
            let r = ranges.entry(col).or_default();
            match cmp {
                Cmp::Gt | Cmp::GtEq => r.0 = Some((key, cmp == Cmp::GtEq)),
                Cmp::Lt | Cmp::LtEq => r.1 = Some((key, cmp == Cmp::LtEq)),
            }
            continue;
        }
        s *= one(&t.table, c);
    }
    for (col, (lo, hi)) in ranges {
        let lo = lo.as_ref().map(|(k, i)| (k.as_slice(), *i));
        let hi = hi.as_ref().map(|(k, i)| (k.as_slice(), *i));
        s *= match column_stats(&t.table, col) {
            Some(cs) => cs.range_sel(lo, hi),
            None if lo.is_some() && hi.is_some() => RANGE_SEL,
            None => INEQ_SEL,
        };
    }
    s.clamp(0.0, 1.0)
}

/// Selectivity of one condition (not a column-versus-constant range).
fn one(table: &TableDef, e: &Expr) -> f64 {
    match e {
        Expr::Or(a, b) => {
            let (a, b) = (whole(table, a), whole(table, b));
            a + b - a * b
        }
        Expr::And(..) => whole(table, e),
        Expr::Not(a) => 1.0 - whole(table, a),
        Expr::Literal(Value::Bool(true)) => 1.0,
        Expr::Literal(Value::Bool(false) | Value::Null) => 0.0,
        Expr::IsNull(a, negated) => {
            let f = column_of(a)
                .and_then(|c| column_stats(table, c))
                .map_or(EQ_SEL, |s| s.null_frac);
            if *negated {
                1.0 - f
            } else {
                f
            }
        }
        Expr::Binary(op @ (BinaryOp::Eq | BinaryOp::NotEq), a, b) => {
            let eq = match column_and_constant(table, a, b) {
                Some((col, key)) => match column_stats(table, col) {
                    Some(s) => s.eq_sel(&key),
                    None => 1.0 / table_distinct(table, col),
                },
                // A value known only when the query runs (a parameter, or an enclosing
                // query's column in a correlated subquery): an average value's share, as
                // PostgreSQL estimates it.
                None => match (a.as_ref(), b.as_ref()) {
                    (Expr::Column(c), v) | (v, Expr::Column(c)) if v.is_row_independent() => {
                        1.0 / table_distinct(table, *c)
                    }
                    _ => EQ_SEL,
                },
            };
            if *op == BinaryOp::Eq {
                eq
            } else {
                1.0 - eq
            }
        }
        Expr::Binary(BinaryOp::Lt | BinaryOp::LtEq | BinaryOp::Gt | BinaryOp::GtEq, ..) => INEQ_SEL,
        Expr::InList {
            expr,
            list,
            negated,
        } => {
            let stats = column_of(expr).and_then(|c| column_stats(table, c).map(|s| (c, s)));
            let each = |item: &Expr| match (&stats, constant(item)) {
                (Some((c, s)), Some(v)) => key_of(table, *c, v).map_or(EQ_SEL, |k| s.eq_sel(&k)),
                (None, _) => column_of(expr).map_or(EQ_SEL, |c| 1.0 / table_distinct(table, c)),
                _ => EQ_SEL,
            };
            let s = list.iter().map(each).sum::<f64>().min(1.0);
            if *negated {
                1.0 - s
            } else {
                s
            }
        }
        Expr::Like { negated, .. } => {
            if *negated {
                1.0 - MATCH_SEL
            } else {
                MATCH_SEL
            }
        }
        _ => OTHER_SEL,
    }
}

/// Selectivity of condition `e` (over `table`'s row) on `table`.
pub fn condition_sel(table: &TableDef, e: &Expr) -> f64 {
    whole(table, e).clamp(0.0, 1.0)
}

/// Selectivity of a whole condition (a conjunction inside OR / NOT).
fn whole(table: &TableDef, e: &Expr) -> f64 {
    let mut conjuncts = Vec::new();
    super::access::flatten_and(e, &mut conjuncts);
    if conjuncts.len() == 1 {
        return match comparison(table, e) {
            Some((col, cmp, key)) => {
                column_stats(table, col).map_or(INEQ_SEL, |s| s.compare_sel(cmp, &key))
            }
            None => one(table, e),
        };
    }
    conjuncts.into_iter().map(|c| whole(table, c)).product()
}

/// `column <op> constant` (either way round) as (column, comparison, constant's key).
fn comparison(table: &TableDef, e: &Expr) -> Option<(usize, Cmp, Vec<u8>)> {
    let Expr::Binary(op, a, b) = e else {
        return None;
    };
    let cmp = |op: &BinaryOp, flipped: bool| {
        Some(match (op, flipped) {
            (BinaryOp::Lt, false) | (BinaryOp::Gt, true) => Cmp::Lt,
            (BinaryOp::LtEq, false) | (BinaryOp::GtEq, true) => Cmp::LtEq,
            (BinaryOp::Gt, false) | (BinaryOp::Lt, true) => Cmp::Gt,
            (BinaryOp::GtEq, false) | (BinaryOp::LtEq, true) => Cmp::GtEq,
            _ => return None,
        })
    };
    if let (Some(col), Some(v)) = (column_of(a), constant(b)) {
        return Some((col, cmp(op, false)?, key_of(table, col, v)?));
    }
    let (col, v) = (column_of(b)?, constant(a)?);
    Some((col, cmp(op, true)?, key_of(table, col, v)?))
}

fn column_and_constant(table: &TableDef, a: &Expr, b: &Expr) -> Option<(usize, Vec<u8>)> {
    let (col, v) = match (column_of(a), column_of(b)) {
        (Some(c), _) => (c, constant(b)?),
        (_, Some(c)) => (c, constant(a)?),
        _ => return None,
    };
    Some((col, key_of(table, col, v)?))
}

/// The column `e` reads, looking through casts.
fn column_of(e: &Expr) -> Option<usize> {
    match e {
        Expr::Column(i) => Some(*i),
        Expr::Cast(a, _) => column_of(a),
        _ => None,
    }
}

/// `e`'s value when it is a constant that can be computed while planning (no parameters,
/// outer references, subqueries or catalog reads; anything failing is not a constant).
fn constant(e: &Expr) -> Option<Value> {
    if let Expr::Literal(v) = e {
        return Some(v.clone());
    }
    if !e.is_row_independent()
        || e.any(&|x| matches!(x, Expr::Param(_) | Expr::Outer(_) | Expr::Subquery(_)))
    {
        return None;
    }
    let ctx = EvalContext::constant();
    e.eval(&[], &ctx).ok()
}

/// The key of `v` as a value of column `col` (None when it is NULL or cannot be one).
fn key_of(table: &TableDef, col: usize, v: Value) -> Option<Vec<u8>> {
    let ty = table
        .columns
        .get(col)
        .map_or(DataType::Unknown, |c| c.ty.clone());
    let v = v.cast(&ty).ok()?;
    if v.is_null() {
        return None;
    }
    let mut k = Vec::new();
    append_key(&mut k, &[&v]);
    Some(k)
}

fn column_stats(table: &TableDef, col: usize) -> Option<&ColumnStats> {
    let id = table.columns.get(col)?.id;
    table.stats.as_ref()?.column(id)
}
