//! Decorrelation: a WHERE conjunct `EXISTS (subquery)` or `NOT EXISTS (subquery)` whose
//! subquery reads one table becomes a semi or anti join of the FROM tree with that table,
//! so the subquery's table is read once and hashed instead of searched once per row.
//!
//! The subquery's conditions that read the enclosing row (its correlation) become the join
//! condition, with each captured outer expression put back in place; the others stay on the
//! table as its filter and choose its access path. An equality between an enclosing column
//! and a column of the table becomes a hash key in `from::finish`.
//!
//! The rewrite is chosen by cost: it wins unless the enclosing rows are few and the
//! subquery's correlation lets it find its rows by an index lookup; then the join is made
//! only when it looks the table up by that index itself (an index nested-loop semi / anti
//! join: less work per row than running the subquery, and it may run in parallel).
//!
//! Only the plain shape is rewritten: one table (not locked, not an UPDATE target), no
//! aggregation, window functions, LIMIT or OFFSET, and no nested subquery in its conditions.
//! Anything else stays a subquery evaluated per row, which is always correct. The semantics
//! match: EXISTS is true when some table row passes every condition for this enclosing row
//! (a NULL correlation key passes none, so NOT EXISTS holds, as it does in PostgreSQL).
//!
//! [`pull_in`]: a table's filter conjunct `column IN (uncorrelated subquery)` becomes a semi
//! join of the table with the subquery (run once and hashed), where the conjunct was pushed
//! down: a row passes the filter exactly when the subquery has a value equal to its column
//! (NULL and false alike drop it), which is what the semi join keeps. As a join it can run
//! in parallel and drop the rows without a match before decoding them (TPC-H Q18's orders,
//! 57 of 1.5 million), where a filter with a subquery runs on one thread. When the table is
//! the whole FROM, its conjuncts with a correlated subquery move above the join (they run
//! for the rows it keeps), and when the subquery's values look few the join looks the
//! table up by each of them (`lookup::plan`).

use sqlparser::ast;

use super::access::choose_access;
use super::estimate;
use super::factor::into_conjuncts;
use super::from::{and, Join, JoinKind, Source};
use super::Body;
use crate::expr::{Expr, SubKind, Subquery};
use crate::types::{BinaryOp, DataType};

/// A subquery run per row with an index lookup costs about this many rows of a scan.
const LOOKUP_ROWS: f64 = 20.0;

/// Splits `filter` into its `EXISTS` / `NOT EXISTS` conjuncts and the rest.
pub fn split(filter: Expr) -> (Vec<Expr>, Option<Expr>) {
    let mut conjuncts = Vec::new();
    into_conjuncts(filter, &mut conjuncts);
    let mut rest: Option<Expr> = None;
    let mut exists = Vec::new();
    for c in conjuncts {
        let candidate = match &c {
            Expr::Not(inner) => {
                matches!(inner.as_ref(), Expr::Subquery(s) if matches!(s.kind, SubKind::Exists))
            }
            Expr::Subquery(s) => matches!(s.kind, SubKind::Exists),
            _ => false,
        };
        if candidate {
            exists.push(c);
        } else {
            rest = Some(and(rest, c));
        }
    }
    (exists, rest)
}

/// Makes each of `candidates` a semi / anti join around `source` (rows of `types`, its
/// conditions already pushed down) when it qualifies and one hashed pass over the
/// subquery's table is estimated cheaper than running the subquery once per row (with an
/// index lookup, when its correlation gave it one); returns the candidates kept per row.
pub fn attach(source: &mut Source, types: &[DataType], candidates: Vec<Expr>) -> Option<Expr> {
    let mut kept: Option<Expr> = None;
    for c in candidates {
        let Some((kind, right, right_types, on, indexed)) = semi_join(&c, types) else {
            kept = Some(and(kept, c));
            continue;
        };
        let left_rows = estimate::rows(source);
        let right_rows = estimate::rows(&right);
        let per_row = left_rows * if indexed { LOOKUP_ROWS } else { right_rows };
        let hashed = left_rows + 2.0 * right_rows <= per_row;
        let mut all = types.to_vec();
        all.extend(right_types);
        let left = std::mem::replace(source, Source::Unit);
        let join = Join::plain(kind, (left, right), types.len(), all, on);
        // A subquery that finds its rows by an index is run per row unless the join would
        // look them up the same way (its keys bind an index): the join does it with less
        // per row, and may run in parallel.
        if hashed || (indexed && looks_up(&join)) {
            *source = Source::Join(Box::new(join));
        } else {
            *source = join.left;
            kept = Some(and(kept, c));
        }
    }
    kept
}

/// Whether `join`, once its equi-join keys are taken from its condition, looks its right
/// table up per left row (`lookup`).
fn looks_up(join: &Join) -> bool {
    let mut trial = join.clone();
    super::lookup::equi_join(&mut trial);
    trial.lookup.is_some()
}

/// The join a conjunct becomes: (kind, right side, its types, condition, whether the
/// subquery found its rows by an index lookup per row), when it qualifies.
type SemiJoin = (JoinKind, Source, Vec<DataType>, Option<Expr>, bool);

fn semi_join(c: &Expr, types: &[DataType]) -> Option<SemiJoin> {
    let (sub, anti) = match c {
        Expr::Not(inner) => match inner.as_ref() {
            Expr::Subquery(s) => (s, true),
            _ => return None,
        },
        Expr::Subquery(s) => (s, false),
        _ => return None,
    };
    if !matches!(sub.kind, SubKind::Exists) || !qualifies(sub) {
        return None;
    }
    let Body::Select(body) = &sub.plan.body else {
        return None;
    };
    let Source::Table(t) = &body.source else {
        return None;
    };
    let indexed = !matches!(t.access, super::access::Access::Full);
    let mut table = t.clone();
    let mut conds = Vec::new();
    if let Some(f) = table.filter.take() {
        into_conjuncts(f, &mut conds);
    }
    if let Some(f) = body.filter.clone() {
        into_conjuncts(f, &mut conds);
    }
    let lw = types.len();
    let (mut own, mut on): (Option<Expr>, Option<Expr>) = (None, None);
    for mut e in conds {
        let slot = if reads_outer(&e) {
            correlate(&mut e, &sub.captures, lw);
            &mut on
        } else {
            &mut own
        };
        *slot = Some(and(slot.take(), e));
    }
    table.access = match &own {
        Some(f) => choose_access(&table.table, f),
        None => super::access::Access::Full,
    };
    table.filter = own;
    table.read = None;
    let right_types = table.table.columns.iter().map(|c| c.ty.clone()).collect();
    let kind = if anti { JoinKind::Anti } else { JoinKind::Semi };
    Some((kind, Source::Table(table), right_types, on, indexed))
}

/// Whether the subquery has the plain shape the rewrite handles (see the module doc).
fn qualifies(sub: &Subquery) -> bool {
    let plan = &sub.plan;
    let Body::Select(body) = &plan.body else {
        return false;
    };
    let Source::Table(t) = &body.source else {
        return false;
    };
    let plain = !sub.captures.is_empty()
        && plan.limit.is_none()
        && plan.offset.is_none()
        && body.agg.is_none()
        && body.windows.is_empty()
        && body.distinct_on.is_none()
        && !t.keyed
        && !t.for_update
        && !matches!(t.access, super::access::Access::Ann(_));
    // No nested subquery, and every outer reference names one of the captures.
    let n = sub.captures.len();
    let foreign = |x: &Expr| match x {
        Expr::Subquery(_) => true,
        Expr::Outer(i) => *i >= n,
        _ => false,
    };
    plain
        && [&t.filter, &body.filter]
            .into_iter()
            .flatten()
            .all(|e| !e.any(&foreign))
}

fn reads_outer(e: &Expr) -> bool {
    e.any(&|x| matches!(x, Expr::Outer(_)))
}

/// Moves a condition of the subquery onto the joined row: the table's columns come after
/// the enclosing row's `lw`, and each outer reference becomes the captured expression (over
/// the enclosing row).
fn correlate(e: &mut Expr, captures: &[Expr], lw: usize) {
    match e {
        Expr::Column(c) => *c += lw,
        Expr::Outer(i) => {
            if let Some(capture) = captures.get(*i) {
                *e = capture.clone();
            }
        }
        _ => {
            for c in e.children_mut() {
                correlate(c, captures, lw);
            }
        }
    }
}

/// [`pull_in`] for the FROM tree of `select`, unless a LIMIT over its rows (not groups) may
/// stop a scan early, or read an ANN index or the primary key's order, which it does on a
/// bare table only: then IN filters stay filters.
pub fn pull_in_unless_limited(
    source: &mut Source,
    query: &ast::Query,
    select: &ast::Select,
) -> Option<Expr> {
    let grouped = !matches!(&select.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty());
    if grouped || (query.limit_clause.is_none() && query.fetch.is_none()) {
        pull_in(source, true)
    } else {
        None
    }
}

/// Turns every table filter's `column IN (uncorrelated subquery)` conjuncts under `source`
/// into semi joins of the table with the subqueries (see the module doc). `top`: `source`
/// is the whole FROM (one table), whose row is the query's row: its filter's conjuncts
/// with a correlated subquery are given back, to run over the semi join's rows as the query's
/// WHERE (TPC-H Q20's correlated sum then runs for the 8,508 partsupp rows the IN keeps,
/// not for the 800,000 the scan reads).
pub fn pull_in(source: &mut Source, top: bool) -> Option<Expr> {
    match source {
        Source::Join(j) => {
            pull_in(&mut j.left, false);
            pull_in(&mut j.right, false);
            None
        }
        // Not under a locking read: it locks the rows its scan passes, one at a time up to
        // a LIMIT, which a join would read in chunks.
        Source::Table(t)
            if !t.keyed && !t.for_update && t.filter.as_ref().is_some_and(|f| has_in(f, top)) =>
        {
            let Source::Table(mut t) = std::mem::replace(source, Source::Unit) else {
                return None;
            };
            let mut conds = Vec::new();
            if let Some(f) = t.filter.take() {
                into_conjuncts(f, &mut conds);
            }
            let width = t.table.columns.len();
            let types: Vec<DataType> = t.table.columns.iter().map(|c| c.ty.clone()).collect();
            let mut subs = Vec::new();
            let mut lifted = None;
            for c in conds {
                match in_subquery(c, &types) {
                    Ok(found) => subs.push(found),
                    Err(c) if top && correlated(&c) => lifted = Some(and(lifted, c)),
                    Err(c) => t.filter = Some(and(t.filter.take(), c)),
                }
            }
            let mut built = Source::Table(t);
            for (col, plan, ty) in subs {
                let mut all = types.clone();
                all.push(ty);
                let right = Source::Derived {
                    plan,
                    captures: Vec::new(),
                    shared: None,
                };
                let on = Expr::Binary(
                    BinaryOp::Eq,
                    Box::new(Expr::Column(col)),
                    Box::new(Expr::Column(width)),
                );
                let join = Join::plain(JoinKind::Semi, (built, right), width, all, Some(on));
                built = Source::Join(Box::new(join));
            }
            *source = built;
            lifted
        }
        _ => None,
    }
}

/// Whether `e` holds a subquery.
fn has_subquery(e: &Expr) -> bool {
    e.any(&|e| matches!(e, Expr::Subquery(_)))
}

/// Whether `e` holds a subquery that reads the row it is evaluated on (or an enclosing
/// query's).
fn correlated(e: &Expr) -> bool {
    e.any(&|e| matches!(e, Expr::Subquery(s) if !s.captures.is_empty()))
}

/// Whether a table's filter has a conjunct to pull in, and no other subquery but (when
/// `lift`: they will run above the join) correlated ones: a filter's conjuncts run before
/// the semi join would, and one with a subquery (TPC-H Q20's correlated one) may be dear
/// enough that it should only see the rows the IN keeps.
fn has_in(filter: &Expr, lift: bool) -> bool {
    let mut conds = Vec::new();
    into_conjuncts(filter.clone(), &mut conds);
    let is_in = |c: &Expr| matches!(c, Expr::Subquery(s) if in_shape(s).is_some());
    let stays = |c: &&Expr| !(is_in(c) || (lift && correlated(c)));
    conds.iter().any(is_in) && conds.iter().filter(stays).all(|c| !has_subquery(c))
}

/// The column a subquery's `column = ANY (...)` tests and the type of the one column the
/// subquery gives, for an uncorrelated subquery.
fn in_shape(s: &Subquery) -> Option<(usize, DataType)> {
    let SubKind::Quantified {
        expr,
        op: BinaryOp::Eq,
        all: false,
    } = &s.kind
    else {
        return None;
    };
    let (Expr::Column(col), true, [out]) = (
        expr.as_ref(),
        s.captures.is_empty(),
        s.plan.columns.as_slice(),
    ) else {
        return None;
    };
    Some((*col, out.ty.clone()))
}

/// A conjunct `column IN (uncorrelated subquery)` over a table's row of `types` (the column
/// of the subquery's type): the column, the plan and its type; else the conjunct back.
#[allow(clippy::type_complexity)]
fn in_subquery(
    c: Expr,
    types: &[DataType],
) -> std::result::Result<(usize, Box<super::SelectPlan>, DataType), Expr> {
    let shape = match &c {
        Expr::Subquery(s) => in_shape(s),
        _ => None,
    };
    match (shape, c) {
        (Some((col, ty)), Expr::Subquery(s)) if types.get(col) == Some(&ty) => {
            let Subquery { plan, .. } = *s;
            Ok((col, Box::new(plan), ty))
        }
        (_, c) => Err(c),
    }
}
