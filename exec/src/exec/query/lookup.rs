//! Index nested-loop joins: an equi-join whose right side is a table with an index on the
//! join's right key columns (its primary key, or the leading columns of a btree index) looks
//! up each left row's matches instead of reading and hashing the whole table, when the left
//! side is estimated small enough that the lookups read less (PostgreSQL's Nested Loop over
//! an inner Index Scan).
//!
//! Only INNER, LEFT, semi and anti joins use it (a RIGHT or FULL join must see every right
//! row). Every key of the join is still compared on each row found, and the table's own
//! conditions still filter it, so the lookup only narrows what is read. A semi join of a
//! table with a subquery's few values is turned around into an inner join of the distinct
//! values with the table looked up (`flip_semi`).

use std::ops::Bound;

use super::access::Access;
use super::estimate;
use super::factor::into_conjuncts;
use super::from::{and, Join, JoinKind, Source};
use super::Body;
use crate::catalog::TableDef;
use crate::expr::Expr;
use crate::types::{BinaryOp, Value};

/// One lookup costs about this many rows of a scan (as in `semi`).
const LOOKUP_ROWS: f64 = 20.0;
/// Each row a secondary index finds is then read by its key: about this many rows of a scan
/// (a primary-key lookup reads its rows in one range). Measured at SF 1 of TPC-H: 8-12 µs
/// per row fetched through `orders_custkey` or `lineitem_suppkey`, against 0.1-0.2 µs per row
/// of a scan; a hash join also drops unmatched scanned rows undecoded (`run::key_filter`).
const FETCH_ROWS: f64 = 60.0;

/// How the right table is looked up.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The index: 0 for the primary key.
    pub index: u32,
    /// For each leading index column bound, the position in `Join::keys` of its key.
    pub keys: Vec<usize>,
    /// Every primary-key column is bound (a point lookup).
    pub point: bool,
}

/// Sets `j.lookup` when a lookup qualifies and the estimates favour it over a hash join. An
/// inner join whose small side is on the right (where a hash join builds) is turned around
/// first when that lets the other table be looked up.
pub fn plan(j: &mut Join) {
    j.lookup = choose(j);
    if j.lookup.is_none() && j.kind == JoinKind::Semi {
        flip_semi(j);
        return;
    }
    let swappable = j.kind == JoinKind::Inner
        && j.merged.is_empty()
        && !j.lateral
        && matches!(j.left, Source::Table(_));
    if j.lookup.is_some() || !swappable {
        return;
    }
    swap(j);
    j.lookup = choose(j);
    if j.lookup.is_none() {
        swap(j);
    }
}

/// Turns a semi join of a table with a subquery's values (`column IN (subquery)`, which
/// `semi::pull_in` made a join) around, when the table has an index on its key and the
/// subquery's rows look few enough that looking the table up by each of them reads less
/// than scanning it: an inner join of the subquery's distinct values with the table looked
/// up per value, giving the table's columns alone, as the semi join did (TPC-H Q20: the
/// partsupp rows of 2,127 parts by their primary key's first column, not 800,000 rows
/// scanned). Each table row then meets at most one value, so it comes out at most once.
/// The estimate is the subquery's upper bound (`estimate::plan_rows`), so a subquery that
/// may give many rows keeps the hashed semi join.
fn flip_semi(j: &mut Join) {
    let values = match (&j.left, &j.right) {
        (
            Source::Table(_),
            Source::Derived {
                plan,
                captures,
                shared: None,
            },
        ) if captures.is_empty()
            && plan.limit.is_none()
            && plan.offset.is_none()
            && plan.columns.len() == 1
            && matches!(&plan.body, Body::Select(b) if b.distinct_on.is_none())
            && j.keys.len() == 1
            && j.merged.is_empty()
            && j.permute.is_empty()
            && !j.lateral =>
        {
            estimate::plan_rows(plan)
        }
        _ => return,
    };
    let width = j.left_width;
    swap(j);
    j.kind = JoinKind::Inner;
    j.lookup = choose_for(j, values);
    if j.lookup.is_none() {
        j.kind = JoinKind::Semi;
        swap(j);
        return;
    }
    // The table's columns, which follow the value's now.
    j.permute.truncate(width);
    if let Source::Derived { plan, .. } = &mut j.left {
        if let Body::Select(b) = &mut plan.body {
            b.distinct = true;
        }
    }
}

/// Exchanges an inner join's sides, keeping its output layout (through `permute`).
fn swap(j: &mut Join) {
    let (lw, rw) = (j.left_width, j.right_width);
    let moved = |p: usize| if p < lw { p + rw } else { p - lw };
    std::mem::swap(&mut j.left, &mut j.right);
    std::mem::swap(&mut j.left_width, &mut j.right_width);
    let n = lw.min(j.types.len());
    j.types.rotate_left(n);
    for (l, r) in &mut j.keys {
        std::mem::swap(l, r);
    }
    if let Some(on) = &mut j.on {
        on.remap_columns(&moved);
    }
    let layout: Vec<usize> = if j.permute.is_empty() {
        (0..lw + rw).collect()
    } else {
        std::mem::take(&mut j.permute)
    };
    j.permute = layout.into_iter().map(moved).collect();
    if j.permute.iter().enumerate().all(|(i, p)| i == *p) {
        j.permute.clear();
    }
}

/// The lookup for join `j`, when it qualifies and the estimates favour it over a hash join.
fn choose(j: &Join) -> Option<Lookup> {
    choose_for(j, estimate::rows(&j.left))
}

/// [`choose`] for a left side of `left` rows.
fn choose_for(j: &Join, left: f64) -> Option<Lookup> {
    if !matches!(
        j.kind,
        JoinKind::Inner | JoinKind::Left | JoinKind::Semi | JoinKind::Anti
    ) || j.keys.is_empty()
        || j.lateral
    {
        return None;
    }
    let Source::Table(t) = &j.right else {
        return None;
    };
    if matches!(t.access, Access::Ann(_)) {
        return None;
    }
    let table = &t.table;
    // The join key binding column `id` of the right table.
    let key_of = |id: &u32| {
        let pos = table.column_by_id(*id)?;
        j.keys
            .iter()
            .position(|(_, r)| matches!(r, Expr::Column(c) if *c == pos))
    };
    let leading = |ids: &[u32]| ids.iter().map_while(key_of).collect::<Vec<usize>>();
    let pk = leading(&table.primary_key);
    let (lookup, unique) = if !pk.is_empty() && pk.len() == table.primary_key.len() {
        let l = Lookup {
            index: 0,
            keys: pk,
            point: true,
        };
        (l, true)
    } else {
        let mut best: Option<(Lookup, bool)> = None;
        let btrees = table
            .indexes
            .iter()
            .filter(|i| !i.primary && !i.bitmap && i.ann.is_none());
        for index in btrees {
            let keys = leading(&index.columns);
            let unique = index.unique && keys.len() == index.columns.len();
            let better = match &best {
                None => !keys.is_empty(),
                Some((b, u)) => (unique && !u) || (unique == *u && keys.len() > b.keys.len()),
            };
            if better {
                let l = Lookup {
                    index: index.id,
                    keys,
                    point: false,
                };
                best = Some((l, unique));
            }
        }
        match best {
            Some(b) => b,
            // The primary key's first column alone: a range of it.
            None if !pk.is_empty() => (
                Lookup {
                    index: 0,
                    keys: pk[..1].to_vec(),
                    point: false,
                },
                false,
            ),
            None => return None,
        }
    };
    let table_rows = estimate::table_rows(table);
    let scanned = match t.access {
        Access::Full => table_rows,
        _ => estimate::rows(&j.right),
    };
    let found = if unique || first_decides(j, &lookup, t) {
        1.0
    } else {
        let first = lookup.keys.first().and_then(|k| match j.keys.get(*k) {
            Some((_, Expr::Column(c))) => Some(*c),
            _ => None,
        });
        let distinct = first.map_or(1.0, |c| estimate::distinct(&j.right, c, table_rows));
        table_rows / distinct.max(1.0)
    };
    let per_row = if lookup.index == 0 { 1.0 } else { FETCH_ROWS };
    (left * (LOOKUP_ROWS + found * per_row) < left + 2.0 * scanned).then_some(lookup)
}

/// Whether the first row a lookup of semi or anti join `j` finds decides it: every key of
/// the join is the index's, and nothing else is checked (neither a join condition nor the
/// table's own). Its lookups then stop at one row.
pub fn first_decides(j: &Join, lookup: &Lookup, t: &super::from::TableSource) -> bool {
    j.kind.left_only() && j.on.is_none() && t.filter.is_none() && lookup.keys.len() == j.keys.len()
}

impl Lookup {
    /// The access path to the rows whose key columns hold `values` (the left row's key
    /// values, in index column order).
    pub fn access(&self, values: Vec<Value>) -> Access {
        let mut eq: Vec<Expr> = values.into_iter().map(Expr::Literal).collect();
        match (self.index, self.point) {
            (0, true) => Access::Point(eq),
            (0, false) => match eq.pop() {
                Some(v) => Access::Range(Bound::Included(v.clone()), Bound::Included(v)),
                None => Access::Full,
            },
            (id, _) => Access::Index { id, eq },
        }
    }

    /// The index's name, for EXPLAIN.
    pub fn index_name(&self, table: &TableDef) -> String {
        match self.index {
            0 => table
                .indexes
                .iter()
                .find(|i| i.primary)
                .map_or_else(|| format!("{}_pkey", table.name), |i| i.name.clone()),
            id => table
                .indexes
                .iter()
                .find(|i| i.id == id)
                .map_or_else(|| format!("index {id}"), |i| i.name.clone()),
        }
    }
}

/// Moves join `j`'s `left column = right column` conditions into its hash keys, and chooses
/// whether it looks its right table up by them (`lookup::plan`).
pub(super) fn equi_join(j: &mut Join) {
    let Some(on) = j.on.take() else { return };
    let mut conjuncts = Vec::new();
    into_conjuncts(on, &mut conjuncts);
    let lw = j.left_width;
    let mut rest = None;
    for mut c in conjuncts.into_iter().flat_map(super::factor::factor_or) {
        c.fold_constants();
        match column_equality(&c) {
            Some((l, r))
                if l < lw
                    && r >= lw
                    && j.types.get(l).is_some()
                    && j.types.get(l) == j.types.get(r) =>
            {
                j.keys.push((Expr::Column(l), Expr::Column(r - lw)));
            }
            _ => rest = Some(and(rest, c)),
        }
    }
    j.on = rest;
    plan(j);
}

/// `column = column`, as (lower column, higher column): a hash key candidate.
pub(super) fn column_equality(e: &Expr) -> Option<(usize, usize)> {
    match e {
        Expr::Binary(BinaryOp::Eq, a, b) => match (a.as_ref(), b.as_ref()) {
            (Expr::Column(x), Expr::Column(y)) => Some((*x.min(y), *x.max(y))),
            _ => None,
        },
        _ => None,
    }
}
