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
//! permutation is followed.
//!
//! Joins are narrowed the same way: each emits only the columns read above it, its `permute`
//! listing them, and every expression that reads its rows is renumbered (the parent join's
//! conditions, keys, USING columns and LATERAL captures; for the root, the select's
//! expressions over the FROM row). Invariant: after pruning, every join's `left_width` and
//! `right_width` are its children's output widths (`Join::output_width`), and every column
//! number an expression over a join's rows holds is below that join's output width. A root
//! whose rows window functions extend keeps its layout, unread columns NULL
//! (`Join::needed`). Rows that are UPDATE / DELETE targets are never pruned.

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
    // A root join is narrowed too, and the expressions over its rows renumbered: WHERE, then
    // the grouping keys and aggregate arguments (what comes after aggregation reads the
    // aggregate's rows), or without aggregation the select list and ORDER BY (an ORDER BY
    // naming an output column, `usize::MAX - i`, is left alone). Not with window functions:
    // their values go at `window_base`, the FROM row's width.
    if let (Source::Join(j), true) = (&mut body.source, body.windows.is_empty()) {
        if !wide_joins() {
            let map = mark_join(j, &needed, false);
            let renumber = |c: usize| match c > usize::MAX / 2 {
                true => c,
                false => moved_to(&map, c),
            };
            let mut from_row: Vec<&mut Expr> = body.filter.iter_mut().collect();
            match &mut body.agg {
                Some(agg) => {
                    from_row.extend(agg.keys.iter_mut());
                    for call in &mut agg.aggs {
                        from_row.extend(call.arg.iter_mut());
                        from_row.extend(call.filter.iter_mut());
                        from_row.extend(call.order.iter_mut().map(|(k, _, _)| k));
                    }
                }
                None => {
                    from_row.extend(body.projections.iter_mut());
                    from_row.extend(plan.order.iter_mut().map(|(k, _, _)| k));
                }
            }
            for e in from_row {
                e.remap_columns(&renumber);
            }
            return;
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
        Source::Join(j) => Some(j.output_width()),
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
        Source::Join(j) => {
            mark_join(j, needed, true);
        }
        Source::Unit
        | Source::Rows(..)
        | Source::Derived { .. }
        | Source::Function { .. }
        | Source::WorkTable { .. } => {}
    }
}

impl Join {
    /// Columns in the rows the join emits: its left row's (a semi or anti join), its
    /// permutation's, or `left ++ right ++ merged`.
    pub(crate) fn output_width(&self) -> usize {
        if self.kind.left_only() {
            self.left_width
        } else if self.permute.is_empty() {
            self.left_width + self.right_width + self.merged.len()
        } else {
            self.permute.len()
        }
    }
}

#[cfg(test)]
thread_local! {
    /// Set by tests: joins keep their layouts (the oracle of `prune_tests`).
    pub(crate) static WIDE_JOINS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[cfg(test)]
fn wide_joins() -> bool {
    WIDE_JOINS.with(std::cell::Cell::get)
}

#[cfg(not(test))]
fn wide_joins() -> bool {
    false
}

/// Where each of a source's old output columns went after [`narrow`]: its new position,
/// None when dropped.
type Moved = Vec<Option<usize>>;

/// Where column `c` went (`map[c]`). A column the map lost (none can be: a column is
/// renumbered only where it was read, and what is read is kept) becomes one that fails as
/// "outside the row", never one an ORDER BY reads as an output column's number.
fn moved_to(map: &Moved, c: usize) -> usize {
    map.get(c).copied().flatten().unwrap_or(usize::MAX / 2)
}

/// Marks `src`'s tables like [`mark`], and narrows a join's output to the columns flagged in
/// `needed` unless `keep_width` (the caller renumbers what it reads of them through the
/// returned map). Other sources keep their columns.
fn narrow(src: &mut Source, needed: &[bool], keep_width: bool) -> Moved {
    match src {
        Source::Join(j) => mark_join(j, needed, keep_width),
        other => {
            mark(other, needed);
            (0..needed.len()).map(Some).collect()
        }
    }
}

/// Which columns of join `j`'s `left ++ right` are read: by its output columns flagged in
/// `needed` (through `permute` and USING merges), and by the join itself (ON, keys, USING
/// columns, a LATERAL right side's captures).
fn inputs_read(j: &Join, needed: &[bool]) -> Vec<bool> {
    let (lw, rw) = (j.left_width, j.right_width);
    let mut inner = vec![false; lw + rw];
    let mut set = |c: usize| {
        if let Some(n) = inner.get_mut(c) {
            *n = true;
        }
    };
    for k in (0..j.output_width()).filter(|k| needed.get(*k).copied().unwrap_or(true)) {
        let p = j.permute.get(k).copied().unwrap_or(k);
        if p < lw + rw {
            set(p);
        } else if let Some((l, r)) = j.merged.get(p - lw - rw) {
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
    inner
}

/// Marks what join `j`'s output columns flagged in `needed` require below it; a join below
/// is narrowed to just those columns (rows built and copied a join at a time are as wide as
/// what the query reads, not as every table joined: TPC-H Q5's lineitem lookups carried 47
/// columns, 6 of them read), and `j`'s own references are renumbered to match. With
/// `keep_width` (a root whose rows window functions extend at `window_base`, a semi join's
/// left side under such a root, and every join under `WIDE_JOINS`) `j` keeps its output
/// layout, unread columns NULL (`Join::needed`); otherwise its output is narrowed too and
/// the returned map says where each column went.
fn mark_join(j: &mut Join, needed: &[bool], keep_width: bool) -> Moved {
    let keep_width = keep_width || wide_joins();
    let (lw, rw) = (j.left_width, j.right_width);
    let out_width = j.output_width();
    let read = |k: usize| needed.get(k).copied().unwrap_or(true);
    // Column `permute[k]` (or k) of `left ++ right ++ merged` for output column k.
    let source = |k: usize| j.permute.get(k).copied().unwrap_or(k);
    let inner = inputs_read(j, needed);
    let (left, right) = inner.split_at(lw.min(inner.len()));
    // A semi or anti join's output is its left row: at the root, that keeps its layout.
    let lmap = narrow(&mut j.left, left, keep_width && j.kind.left_only());
    let rmap = narrow(&mut j.right, right, false);
    let width = |m: &Moved| m.iter().flatten().count();
    let (new_lw, new_rw) = (width(&lmap), width(&rmap));
    // Where column p of the old `left ++ right ++ merged` is now (every column read at this
    // join was kept: `inner` flagged them).
    let moved = |p: usize| -> Option<usize> {
        if p < lw {
            lmap.get(p).copied().flatten()
        } else if p < lw + rw {
            rmap.get(p - lw).copied().flatten().map(|c| new_lw + c)
        } else {
            Some(new_lw + new_rw + (p - lw - rw))
        }
    };
    let renumber = |c: usize| moved(c).unwrap_or(usize::MAX / 2);
    if let Some(on) = &mut j.on {
        on.remap_columns(&renumber);
    }
    let on_left = |c: usize| moved_to(&lmap, c);
    let on_right = |c: usize| moved_to(&rmap, c);
    for (l, r) in &mut j.keys {
        l.remap_columns(&on_left);
        r.remap_columns(&on_right);
    }
    for (l, r) in &mut j.merged {
        (*l, *r) = (on_left(*l), on_right(*r));
    }
    match &mut j.right {
        Source::Derived { captures, .. } => {
            captures.iter_mut().for_each(|c| c.remap_columns(&on_left))
        }
        Source::Function { args, .. } => args.iter_mut().for_each(|a| a.remap_columns(&on_left)),
        _ => {}
    }
    let types = std::mem::take(&mut j.types);
    j.types = types
        .into_iter()
        .enumerate()
        .filter(|(p, _)| moved(*p).is_some())
        .map(|(_, t)| t)
        .collect();
    (j.left_width, j.right_width) = (new_lw, new_rw);
    if j.kind.left_only() {
        // The output is the left row: it moved as the left side did.
        let mut flags = vec![true; new_lw];
        for (p, to) in lmap.iter().enumerate() {
            if let Some(f) = to.and_then(|to| flags.get_mut(to)) {
                *f = read(p);
            }
        }
        j.needed = (!flags.iter().all(|r| *r)).then_some(flags);
        return lmap;
    }
    let mut kept: Vec<usize> = (0..out_width).filter(|k| keep_width || read(*k)).collect();
    j.needed = if keep_width {
        (!(0..out_width).all(read)).then(|| (0..out_width).map(read).collect())
    } else {
        None
    };
    let inputs = new_lw + new_rw + j.merged.len();
    if kept.is_empty() && inputs > 0 {
        // Nothing above reads this join, but its own conditions keep input columns: an
        // empty `permute` would mean all of them. One unread column stands in.
        kept.extend((0..out_width).find(|k| moved(source(*k)).is_some()));
        j.needed = Some(vec![false; kept.len()]);
    }
    j.permute = kept
        .iter()
        .map(|k| moved(source(*k)).unwrap_or(0))
        .collect();
    let natural = j.permute.len() == inputs && j.permute.iter().enumerate().all(|(i, p)| i == *p);
    if natural {
        j.permute.clear();
    }
    let mut map = vec![None; out_width];
    for (to, k) in kept.iter().enumerate() {
        if let Some(m) = map.get_mut(*k) {
            *m = Some(to);
        }
    }
    map
}
