//! Where a LIMIT lets the work under it stop early.
//!
//! A SELECT that only filters and projects the rows of a scan or a join stops reading them
//! once it has OFFSET + LIMIT rows, as PostgreSQL's Limit node pulls only the rows it
//! returns: `SELECT * FROM big LIMIT 10` reads one chunk of `big`, not all of it. EXISTS
//! asks its subquery for one row. A LIMIT over a recursive query ends its iterations
//! ([`limits_recursion`]).
//!
//! Invariant: a cap is given only where the first rows the body produces are the rows the
//! query returns: no DISTINCT, aggregation or window function between them, and no ORDER BY
//! other than the order the rows are read in (`in_scan_order`).

use super::super::access::Access;
use super::super::from::Source;
use super::super::{Body, SelectBody, SelectPlan};
use crate::expr::Expr;
use crate::types::DataType;

/// How many rows of `plan`'s body are enough when it returns at most `limit` rows after
/// skipping `offset` (None: all of them are needed, or there is no limit).
pub(super) fn body_cap(plan: &SelectPlan, offset: usize, limit: usize) -> Option<usize> {
    let Body::Select(body) = &plan.body else {
        return None;
    };
    let plain = (plan.order.is_empty() || in_scan_order(plan, body)) && row_by_row(body);
    (plain && limit < usize::MAX).then(|| offset.saturating_add(limit))
}

/// Whether `body` makes each row from one row of its source: no aggregation, window function
/// or DISTINCT between its source and its projections.
pub(super) fn row_by_row(body: &SelectBody) -> bool {
    body.agg.is_none() && body.windows.is_empty() && !body.distinct && body.distinct_on.is_none()
}

/// Whether `plan`'s ORDER BY is the order its body's rows come in anyway: the leading
/// primary-key columns of the one table it reads, ascending, read by a full or primary-key
/// range scan (in key order), of types whose stored order is their SQL order. The first rows
/// read are then the first rows sorted (`ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`, a job
/// queue's poll, reads and locks one row, as on PostgreSQL).
fn in_scan_order(plan: &SelectPlan, body: &SelectBody) -> bool {
    let Source::Table(t) = &body.source else {
        return false;
    };
    if !matches!(t.access, Access::Full | Access::Range(..)) || plan.order.is_empty() {
        return false;
    }
    let table = &t.table;
    let mut pk = table.primary_key.iter().map(|id| table.column_by_id(*id));
    plan.order.iter().all(|(key, descending, _)| {
        // A key past the select list's end is an output column (see `SelectPlan::order`).
        let column = match key {
            Expr::Column(c) if *c > usize::MAX / 2 => {
                body.projections.get(usize::MAX - c).and_then(|p| match p {
                    Expr::Column(c) => Some(*c),
                    _ => None,
                })
            }
            Expr::Column(c) => Some(*c),
            _ => None,
        };
        let ordered_type = |c: usize| {
            table.columns.get(c).is_some_and(|col| {
                matches!(
                    col.ty,
                    DataType::Int2 | DataType::Int4 | DataType::Int8 | DataType::Date
                )
            })
        };
        !descending
            && column.is_some()
            && pk.next().flatten() == column
            && column.is_some_and(ordered_type)
    })
}

/// Whether `plan` only takes the first rows of a recursive query: `SELECT <expressions> FROM
/// t [LIMIT/OFFSET]`, without WHERE, grouping, windows, DISTINCT or ORDER BY, over a
/// recursive query (`Runner::recursive` then stops early).
pub(super) fn limits_recursion(plan: &SelectPlan) -> bool {
    let Body::Select(body) = &plan.body else {
        return false;
    };
    plan.order.is_empty()
        && body.filter.is_none()
        && row_by_row(body)
        // A WITH query read more than once is run once for all its readers: whole.
        && matches!(&body.source, Source::Derived { plan: inner, shared, .. }
            if matches!(inner.body, Body::Recursive(_))
                && inner.limit.is_none()
                && inner.offset.is_none()
                && !shared.as_ref().is_some_and(|s| s.many()))
}

#[cfg(test)]
#[path = "limit_tests.rs"]
mod tests;
