//! Decorrelation: a WHERE conjunct `EXISTS (subquery)` or `NOT EXISTS (subquery)` whose
//! subquery reads one table becomes a semi or anti join of the FROM tree with that table,
//! so the subquery's table is read once and hashed instead of searched once per row.
//!
//! The subquery's conditions that read the enclosing row (its correlation) become the join
//! condition, with each captured outer expression put back in place; the others stay on the
//! table as its filter and choose its access path. An equality between an enclosing column
//! and a column of the table becomes a hash key in `from::finish`.
//!
//! Only the plain shape is rewritten: one table (not locked, not an UPDATE target), no
//! aggregation, window functions, LIMIT or OFFSET, and no nested subquery in its conditions.
//! Anything else stays a subquery evaluated per row, which is always correct. The semantics
//! match: EXISTS is true when some table row passes every condition for this enclosing row
//! (a NULL correlation key passes none, so NOT EXISTS holds, as it does in PostgreSQL).

use super::access::choose_access;
use super::factor::into_conjuncts;
use super::from::{Join, JoinKind, Source};
use super::Body;
use crate::expr::{Expr, SubKind, Subquery};
use crate::types::DataType;

/// Turns the qualifying `EXISTS` / `NOT EXISTS` conjuncts of `filter` into semi / anti
/// joins around `source`, whose rows have `types`; returns the conjuncts left.
pub fn extract(source: &mut Source, types: &[DataType], filter: Expr) -> Option<Expr> {
    let mut conjuncts = Vec::new();
    into_conjuncts(filter, &mut conjuncts);
    let mut rest: Option<Expr> = None;
    for c in conjuncts {
        match semi_join(c, types) {
            Ok((kind, right, right_types, on)) => {
                let left = std::mem::replace(source, Source::Unit);
                let mut all = types.to_vec();
                all.extend(right_types);
                *source = Source::Join(Box::new(Join {
                    kind,
                    left,
                    right,
                    left_width: types.len(),
                    right_width: all.len() - types.len(),
                    types: all,
                    on,
                    keys: Vec::new(),
                    merged: Vec::new(),
                    lateral: false,
                    permute: Vec::new(),
                }));
            }
            Err(c) => {
                rest = Some(match rest {
                    Some(r) => Expr::And(Box::new(r), Box::new(c)),
                    None => c,
                })
            }
        }
    }
    rest
}

/// The join a conjunct becomes: (kind, right side, its types, condition), or the conjunct
/// back when it does not qualify.
type SemiJoin = (JoinKind, Source, Vec<DataType>, Option<Expr>);

fn semi_join(c: Expr, types: &[DataType]) -> Result<SemiJoin, Expr> {
    let (sub, anti) = match &c {
        Expr::Not(inner) => match inner.as_ref() {
            Expr::Subquery(s) => (s, true),
            _ => return Err(c),
        },
        Expr::Subquery(s) => (s, false),
        _ => return Err(c),
    };
    if !matches!(sub.kind, SubKind::Exists) || !qualifies(sub) {
        return Err(c);
    }
    let Body::Select(body) = &sub.plan.body else {
        return Err(c);
    };
    let Source::Table(t) = &body.source else {
        return Err(c);
    };
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
        *slot = Some(match slot.take() {
            Some(prev) => Expr::And(Box::new(prev), Box::new(e)),
            None => e,
        });
    }
    table.access = match &own {
        Some(f) => choose_access(&table.table, f),
        None => super::access::Access::Full,
    };
    table.filter = own;
    table.read = None;
    let right_types = table.table.columns.iter().map(|c| c.ty.clone()).collect();
    let kind = if anti { JoinKind::Anti } else { JoinKind::Semi };
    Ok((kind, Source::Table(table), right_types, on))
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
        && !t.keyed
        && !t.for_update
        && !matches!(t.access, super::access::Access::Ann(_));
    let conds_ok = |e: &Option<Expr>| e.as_ref().is_none_or(|e| !has_subquery(e));
    plain
        && conds_ok(&t.filter)
        && conds_ok(&body.filter)
        && [&t.filter, &body.filter]
            .into_iter()
            .flatten()
            .all(|e| outer_within(e, sub.captures.len()))
}

fn has_subquery(e: &Expr) -> bool {
    matches!(e, Expr::Subquery(_)) || e.children().into_iter().any(has_subquery)
}

fn reads_outer(e: &Expr) -> bool {
    matches!(e, Expr::Outer(_)) || e.children().into_iter().any(reads_outer)
}

/// Every outer reference of `e` names one of `n` captures.
fn outer_within(e: &Expr, n: usize) -> bool {
    match e {
        Expr::Outer(i) => *i < n,
        _ => e.children().into_iter().all(|c| outer_within(c, n)),
    }
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
