//! `WITH RECURSIVE`: planning a query that names itself.
//!
//! A recursive query has PostgreSQL's form `non-recursive-term UNION [ALL] recursive-term`.
//! The non-recursive term (the anchor) is planned first and fixes the columns' types; the
//! recursive term (the step) is planned with the query's own name standing for a *work
//! table*, the rows the previous iteration produced ([`Source::WorkTable`]). Running it
//! (`Runner::recursive`): the anchor's rows are the first work table; each iteration runs the
//! step over the work table, and its new rows (with `UNION`, those not produced before) are
//! both added to the result and the next work table, until an iteration produces none.
//!
//! PostgreSQL's restrictions hold, with its SQLSTATE 42P19: the own name may appear once in
//! the step, not in the anchor, not in a subquery, and a query naming itself must have that
//! form. A recursive query without a reference to itself is a plain UNION. A query that
//! never stops runs until `statement_timeout` or the query memory budget (53200) ends it, as
//! on PostgreSQL.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlparser::ast;

use super::{setop, Body, Cte, Planner, SelectPlan};
use crate::error::{code, Error, Result};
use crate::exec::Column;
use crate::types::DataType;

/// PostgreSQL's `invalid_recursion`.
const INVALID_RECURSION: &str = "42P19";

/// Work table ids: unique in the process, so nested and repeated recursive queries in one
/// statement never share one.
static NEXT_WORK_TABLE: AtomicUsize = AtomicUsize::new(1);

/// What a name in `WITH` stands for while a query is planned.
#[derive(Debug)]
pub(crate) enum CteKind {
    /// A query, planned where it is referenced (recursively if declared in `WITH
    /// RECURSIVE` and naming itself). `visible`: how many names before it in the list it
    /// was declared in its query sees, for a plain `WITH` (where a query sees the ones
    /// declared before it, not itself: its own name there is a table's).
    /// `shared`: the token every uncorrelated reference's source holds; `uses` counts those
    /// references, and the token is marked shared at the second (`named::share`).
    Query {
        recursive: bool,
        visible: usize,
        shared: std::sync::Arc<super::named::Shared>,
        uses: Cell<u32>,
    },
    /// A recursive query's own name inside its step: the previous iteration's rows.
    WorkTable {
        id: usize,
        columns: Vec<(String, DataType)>,
        /// References planned so far (more than one is an error).
        uses: Cell<u32>,
    },
    /// A name that may not be referenced where it is (the message says why).
    Forbidden(String),
}

/// A recursive query's plan ([`Body::Recursive`]).
#[derive(Debug, Clone)]
pub struct Recursive {
    /// The work table the step reads.
    pub id: usize,
    /// `UNION ALL` (keep duplicates) rather than `UNION`.
    pub all: bool,
    pub anchor: Box<SelectPlan>,
    pub step: Box<SelectPlan>,
}

/// The error a reference to a forbidden name raises.
pub(crate) fn forbidden(message: &str) -> Error {
    Error::new(INVALID_RECURSION, message.to_string())
}

/// `ctes` as a subquery sees them: a work table there is forbidden (PostgreSQL: "recursive
/// reference to query must not appear within a subquery").
pub(crate) fn in_subquery(ctes: &[Rc<Cte>]) -> Vec<Rc<Cte>> {
    ctes.iter()
        .map(|c| match c.kind {
            CteKind::WorkTable { .. } => shadow(
                c,
                CteKind::Forbidden(format!(
                    "recursive reference to query \"{}\" must not appear within a subquery",
                    c.name
                )),
            ),
            _ => Rc::clone(c),
        })
        .collect()
}

/// Plans the recursive query `cte` (declared in `WITH RECURSIVE`), where it is referenced,
/// with the columns of enclosing queries it reads (indexes into `p`'s outer scope, in the
/// order its `Expr::Outer` read them); `None` if it does not have the recursive form (it is
/// then planned as any `WITH` query, under [`not_recursive`]).
pub(super) fn plan(
    p: &mut Planner<'_, '_>,
    cte: &Cte,
    params: &mut Vec<DataType>,
) -> Result<Option<(SelectPlan, Vec<usize>)>> {
    let q = &cte.query;
    let (quantifier, left, right) = match q.body.as_ref() {
        ast::SetExpr::SetOperation {
            op: ast::SetOperator::Union,
            set_quantifier,
            left,
            right,
        } if q.with.is_none() => (set_quantifier, left, right),
        _ => return Ok(None),
    };
    if q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return Err(Error::unsupported(
            "ORDER BY, LIMIT or OFFSET in a recursive query is not implemented",
        ));
    }
    let all = match quantifier {
        ast::SetQuantifier::All => true,
        ast::SetQuantifier::Distinct | ast::SetQuantifier::None => false,
        other => {
            return Err(Error::unsupported(format!(
                "UNION {other} is not supported"
            )))
        }
    };
    let anchor_message = format!(
        "recursive reference to query \"{}\" must not appear within its non-recursive term",
        cte.name
    );
    let (anchor, captures) = with_cte(
        p,
        shadow(cte, CteKind::Forbidden(anchor_message)),
        Vec::new(),
        |sub, params| sub.plan(&setop::as_query(left), params),
        params,
    )?;
    if cte.columns.len() > anchor.columns.len() {
        return Err(Error::new(
            code::INVALID_COLUMN_REFERENCE,
            format!(
                "table \"{}\" has {} columns available but {} columns specified",
                cte.name,
                anchor.columns.len(),
                cte.columns.len()
            ),
        ));
    }
    let columns: Vec<Column> = anchor
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| Column {
            name: cte
                .columns
                .get(i)
                .cloned()
                .unwrap_or_else(|| c.name.clone()),
            ty: match &c.ty {
                DataType::Unknown => DataType::Text,
                t => t.clone(),
            },
            table_oid: 0,
            column: 0,
        })
        .collect();
    let id = NEXT_WORK_TABLE.fetch_add(1, Ordering::Relaxed);
    let work = Rc::new(Cte {
        name: cte.name.clone(),
        query: cte.query.clone(),
        columns: Vec::new(),
        kind: CteKind::WorkTable {
            id,
            columns: columns
                .iter()
                .map(|c| (c.name.clone(), c.ty.clone()))
                .collect(),
            uses: Cell::new(0),
        },
    });
    // The step shares the anchor's captures: both run with the same outer values.
    let (step, captures) = with_cte(
        p,
        Rc::clone(&work),
        captures,
        |sub, params| sub.plan(&setop::as_query(right), params),
        params,
    )?;
    if step.columns.len() != columns.len() {
        return Err(Error::new(
            code::SYNTAX_ERROR,
            "each UNION query must have the same number of columns",
        ));
    }
    let uses = match &work.kind {
        CteKind::WorkTable { uses, .. } => uses.get(),
        _ => 0,
    };
    if uses > 1 {
        return Err(forbidden(&format!(
            "recursive reference to query \"{}\" must not appear more than once",
            cte.name
        )));
    }
    for (i, (c, s)) in columns.iter().zip(&step.columns).enumerate() {
        let overall = crate::expr::unify_types(c.ty.clone(), s.ty.clone(), "UNION")?;
        if overall != c.ty && uses > 0 {
            return Err(Error::new(
                code::DATATYPE_MISMATCH,
                format!(
                    "recursive query \"{}\" column {} has type {} in non-recursive term but type {} overall",
                    cte.name,
                    i + 1,
                    c.ty,
                    overall
                ),
            )
            );
        }
    }
    let body = if uses == 0 {
        // It never names itself: a plain UNION.
        Body::SetOp {
            op: setop::SetOp::Union,
            all,
            left: Box::new(anchor),
            right: Box::new(step),
        }
    } else {
        Body::Recursive(Recursive {
            id,
            all,
            anchor: Box::new(anchor),
            step: Box::new(step),
        })
    };
    Ok(Some((SelectPlan::new(body, columns), captures)))
}

/// What a query declared in `WITH RECURSIVE` without the recursive form sees as its own name.
pub(super) fn not_recursive(cte: &Cte) -> Rc<Cte> {
    shadow(
        cte,
        CteKind::Forbidden(format!(
            "recursive query \"{}\" does not have the form non-recursive-term UNION [ALL] recursive-term",
            cte.name
        )),
    )
}

/// A name standing for `kind` in place of `cte`.
fn shadow(cte: &Cte, kind: CteKind) -> Rc<Cte> {
    Rc::new(Cte {
        name: cte.name.clone(),
        query: cte.query.clone(),
        columns: Vec::new(),
        kind,
    })
}

/// Plans with `f` at a level of its own that sees `extra` over `p`'s names, and the columns
/// of the queries enclosing `p`'s (as a `WITH` query referenced in FROM does); `captures`:
/// what it already reads of them (extended and returned).
fn with_cte(
    p: &mut Planner<'_, '_>,
    extra: Rc<Cte>,
    captures: Vec<usize>,
    f: impl FnOnce(&mut Planner<'_, '_>, &mut Vec<DataType>) -> Result<SelectPlan>,
    params: &mut Vec<DataType>,
) -> Result<(SelectPlan, Vec<usize>)> {
    let mut ctes = p.ctes.clone();
    ctes.push(extra);
    let mut sub = Planner {
        ctx: &mut *p.ctx,
        outer: p.outer.clone(),
        captures,
        untyped_kept: false,
        ctes,
        windows: None,
    };
    let plan = f(&mut sub, params)?;
    Ok((plan, sub.captures))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::test_support::{engine, explain, sorted_rows};

    #[test]
    fn explain_shows_the_recursive_union_over_its_work_table() {
        let engine = engine();
        let mut s = engine.session("postgres", "postgres");
        let plan = explain(
            &mut s,
            "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT n FROM t",
        );
        assert!(plan.contains("Recursive Union"), "{plan}");
        assert!(plan.contains("WorkTable Scan on t"), "{plan}");
        // Without a reference to itself it is a plain UNION.
        let plan = explain(
            &mut s,
            "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT 2) SELECT n FROM t",
        );
        assert!(!plan.contains("Recursive Union"), "{plan}");
    }

    #[test]
    fn nested_recursive_queries_keep_their_own_work_tables() {
        let engine = engine();
        let mut s = engine.session("postgres", "postgres");
        // For each n of the outer recursion, a recursion of its own counts up to it.
        let rows = sorted_rows(
            &mut s,
            "WITH RECURSIVE o(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM o WHERE n < 4) \
             SELECT n, (WITH RECURSIVE i(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM i WHERE k < o.n) SELECT sum(k) FROM i) FROM o",
        );
        assert_eq!(rows, ["1,1", "2,3", "3,6", "4,10"]);
    }
}
