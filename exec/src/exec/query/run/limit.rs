//! Where a LIMIT lets the work under it stop early.
//!
//! A SELECT that only filters and projects the rows of a scan or a join stops reading them
//! once it has OFFSET + LIMIT rows, as PostgreSQL's Limit node pulls only the rows it
//! returns: `SELECT * FROM big LIMIT 10` reads one chunk of `big`, not all of it. EXISTS
//! asks its subquery for one row. A LIMIT over a recursive query ends its iterations
//! ([`limits_recursion`]).
//!
//! Invariant: a cap is given only where the first rows the body produces are the rows the
//! query returns: no ORDER BY, DISTINCT, aggregation or window function between them.

use super::super::from::Source;
use super::super::{Body, SelectPlan};

/// How many rows of `plan`'s body are enough when it returns at most `limit` rows after
/// skipping `offset` (None: all of them are needed, or there is no limit).
pub(super) fn body_cap(plan: &SelectPlan, offset: usize, limit: usize) -> Option<usize> {
    let Body::Select(body) = &plan.body else {
        return None;
    };
    let plain = plan.order.is_empty()
        && body.agg.is_none()
        && body.windows.is_empty()
        && !body.distinct
        && body.distinct_on.is_none();
    (plain && limit < usize::MAX).then(|| offset.saturating_add(limit))
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
        && body.agg.is_none()
        && body.windows.is_empty()
        && !body.distinct
        && body.distinct_on.is_none()
        && matches!(&body.source, Source::Derived { plan: inner, .. }
            if matches!(inner.body, Body::Recursive(_)) && inner.limit.is_none() && inner.offset.is_none())
}

#[cfg(test)]
#[path = "limit_tests.rs"]
mod tests;
