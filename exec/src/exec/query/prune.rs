//! Column pruning: marks, for each table of a SELECT's FROM tree, the columns the query
//! reads, so full and range scans decode only those (`TableSource::read`); the others stay
//! NULL in the rows the scan returns.
//!
//! Invariant: a column is left unread only if no expression evaluated over the FROM rows can
//! reach it. Every expression of the select (WHERE, grouping keys and aggregate arguments,
//! HAVING, window calls, projections, ORDER BY keys) marks what it reads, conservatively
//! (after aggregation an expression's column numbers refer to the aggregate's row; marking
//! them too only keeps more columns). Inside the tree, join conditions, hash keys, USING
//! columns, LATERAL captures and table filters mark theirs, and a reordered join's
//! permutation is followed. Rows that are UPDATE / DELETE targets are never pruned.

use super::from::{Join, Source};
use super::{Body, SelectPlan};
use crate::expr::{AggCall, Bound as WindowBound, Expr, WinFunc};

/// Marks the columns each table under `plan`'s FROM tree must decode.
pub fn prune(plan: &mut SelectPlan) {
    let Body::Select(body) = &mut plan.body else {
        return;
    };
    let Some(width) = width(&body.source) else {
        return;
    };
    let mut used = Vec::new();
    let mut exprs: Vec<&Expr> = Vec::new();
    exprs.extend(body.filter.iter());
    exprs.extend(body.projections.iter());
    exprs.extend(plan.order.iter().map(|(k, _, _)| k));
    if let Some(agg) = &body.agg {
        exprs.extend(agg.keys.iter());
        exprs.extend(agg.having.iter());
        for call in &agg.aggs {
            call_exprs(call, &mut exprs);
        }
    }
    for w in &body.windows {
        exprs.extend(w.args.iter());
        exprs.extend(w.partition.iter());
        exprs.extend(w.order.iter().map(|(k, _, _)| k));
        for b in [&w.frame.start, &w.frame.end] {
            if let WindowBound::Preceding(e) | WindowBound::Following(e) = b {
                exprs.push(e);
            }
        }
        if let WinFunc::Agg(call) = &w.func {
            call_exprs(call, &mut exprs);
        }
    }
    for e in exprs {
        e.columns_used(&mut used);
    }
    let mut needed = vec![false; width];
    for c in used {
        if let Some(n) = needed.get_mut(c) {
            *n = true;
        }
    }
    mark(&mut body.source, &needed);
}

fn call_exprs<'e>(call: &'e AggCall, out: &mut Vec<&'e Expr>) {
    out.extend(call.arg.iter());
    out.extend(call.filter.iter());
    out.extend(call.order.iter().map(|(k, _, _)| k));
}

/// Columns in the rows `src` produces, when known.
fn width(src: &Source) -> Option<usize> {
    match src {
        Source::Unit => Some(0),
        Source::Table(t) => Some(t.table.columns.len() + usize::from(t.keyed)),
        Source::Join(j) if j.kind.left_only() => Some(j.left_width),
        Source::Join(j) => Some(j.left_width + j.right_width + j.merged.len()),
        Source::Derived { plan, .. } => Some(plan.columns.len()),
        Source::Rows(..) | Source::Function { .. } | Source::WorkTable { .. } => None,
    }
}

/// Marks, under `src`, what its output columns flagged in `needed` require.
fn mark(src: &mut Source, needed: &[bool]) {
    match src {
        Source::Table(t) => {
            if t.keyed {
                return;
            }
            let mut read: Vec<bool> = (0..t.table.columns.len())
                .map(|i| needed.get(i).copied().unwrap_or(true))
                .collect();
            if let Some(f) = &t.filter {
                let mut used = Vec::new();
                f.columns_used(&mut used);
                for c in used {
                    if let Some(r) = read.get_mut(c) {
                        *r = true;
                    }
                }
            }
            t.read = (!read.iter().all(|r| *r)).then_some(read);
        }
        Source::Join(j) => mark_join(j, needed),
        Source::Unit
        | Source::Rows(..)
        | Source::Derived { .. }
        | Source::Function { .. }
        | Source::WorkTable { .. } => {}
    }
}

fn mark_join(j: &mut Join, needed: &[bool]) {
    let (lw, rw) = (j.left_width, j.right_width);
    let mut inner = vec![false; lw + rw];
    let mut set = |c: usize| {
        if let Some(n) = inner.get_mut(c) {
            *n = true;
        }
    };
    for (i, n) in needed.iter().enumerate() {
        if !*n {
            continue;
        }
        if !j.permute.is_empty() {
            set(j.permute.get(i).copied().unwrap_or(usize::MAX));
        } else if i < lw + rw {
            set(i);
        } else if let Some((l, r)) = j.merged.get(i - lw - rw) {
            set(*l);
            set(lw + r);
        }
    }
    let mut used = Vec::new();
    if let Some(on) = &j.on {
        on.columns_used(&mut used);
    }
    for (l, _) in &j.keys {
        l.columns_used(&mut used);
    }
    // A USING column's value is taken from whichever side is not NULL.
    for (l, r) in &j.merged {
        used.push(*l);
        used.push(lw + r);
    }
    // A LATERAL right side is computed from the left row.
    match &j.right {
        Source::Derived { captures, .. } => captures.iter().for_each(|c| c.columns_used(&mut used)),
        Source::Function { args, .. } => args.iter().for_each(|a| a.columns_used(&mut used)),
        _ => {}
    }
    for c in used {
        set(c);
    }
    let mut right_used = Vec::new();
    for (_, r) in &j.keys {
        r.columns_used(&mut right_used);
    }
    for c in right_used {
        set(lw + c);
    }
    let (left, right) = inner.split_at(lw.min(inner.len()));
    mark(&mut j.left, left);
    mark(&mut j.right, right);
}
