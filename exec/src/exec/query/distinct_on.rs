//! DISTINCT ON's planning: its keys become the leading keys of the sort (PostgreSQL's
//! `transformDistinctOnClause`), and the runner keeps the first row of each run of rows
//! equal in them (`SelectBody::distinct_on`).

use super::Expr;
use crate::error::{code, Error, Result};

/// Merges DISTINCT ON's keys `on` into the sort `order` as PostgreSQL does, returning how
/// many leading sort keys are DISTINCT ON's. ORDER BY items that are DISTINCT ON keys must
/// come before any that are not (42P10 otherwise); DISTINCT ON keys ORDER BY lacks are
/// appended, ascending, provided it named nothing else.
/// A key naming an output column (`Expr::Column(usize::MAX - i)`) is compared as that
/// column's projection in `projections`.
pub(super) fn merge(
    on: Vec<Expr>,
    order: &mut Vec<(Expr, bool, bool)>,
    projections: &[Expr],
) -> Result<usize> {
    let resolved = |k: &Expr| match k {
        Expr::Column(m) if *m > usize::MAX / 2 => projections.get(usize::MAX - m).cloned(),
        _ => None,
    };
    // Bound expressions have no equality of their own; their debug forms are their
    // structure (a column is its position, a constant its value).
    let form = |k: &Expr| format!("{:?}", resolved(k).as_ref().unwrap_or(k));
    let same = |a: &Expr, b: &Expr| form(a) == form(b);
    let mismatch = || {
        Error::new(
            code::INVALID_COLUMN_REFERENCE,
            "SELECT DISTINCT ON expressions must match initial ORDER BY expressions",
        )
    };
    let mut leading = 0;
    let mut skipped = false;
    for (key, _, _) in order.iter() {
        if on.iter().any(|o| same(o, key)) {
            if skipped {
                return Err(mismatch());
            }
            leading += 1;
        } else {
            skipped = true;
        }
    }
    for key in on {
        if order[..leading].iter().any(|(k, _, _)| same(k, &key)) {
            continue;
        }
        if skipped {
            return Err(mismatch());
        }
        // PostgreSQL's default: ascending, NULLs last.
        order.insert(leading, (key, false, false));
        leading += 1;
    }
    Ok(leading)
}
