//! Bitmap index scans: conditions on bitmap-indexed columns (`col = v`, `col IN (...)`,
//! `col IS NULL`, combined by AND and OR) answered by roaring-bitmap algebra over the
//! indexes' postings, then the surviving rows fetched by ordinal (PostgreSQL's Bitmap Heap
//! Scan over BitmapAnd / BitmapOr).
//!
//! A plan may cover only part of the table's filter (the conjuncts it can answer, or an AND
//! inside an OR reduced to its indexable parts), so its rows are a superset of the answer:
//! the table's whole filter still runs on every row fetched.

use orbit_index::bitmap::column::{Cond, Leaves};
use roaring::RoaringTreemap;

use super::super::Ctx;
use super::estimate;
use crate::catalog::TableDef;
use crate::error::Result;
use crate::expr::{EvalContext, Expr};
use crate::types::{BinaryOp, Value};

/// Rows a bitmap scan is chosen for at most, as a fraction of the table: past this a
/// sequential scan reads less than the postings plus one lookup per row.
pub const MAX_SELECTIVITY: f64 = 0.2;

/// One leaf: rows whose value in bitmap index `index` (on column position `column`) is one
/// of `values` (row-independent expressions), or NULL when `null`; `postings`: how many the
/// statistics expect.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub index: u32,
    pub column: usize,
    pub values: Vec<Expr>,
    pub null: bool,
    pub postings: f64,
}

/// A bitmap scan: the condition, and the estimated fraction of the table it selects.
#[derive(Debug, Clone)]
pub struct BitmapScan {
    pub cond: Cond<Leaf>,
    pub selectivity: f64,
}

/// The bitmap index on column position `col`, if any.
fn index_on(table: &TableDef, col: usize) -> Option<u32> {
    let id = table.columns.get(col)?.id;
    table
        .indexes
        .iter()
        .find(|i| i.bitmap && i.columns.as_slice() == [id])
        .map(|i| i.id)
}

/// The condition for `e`, covering at least the rows `e` accepts; None if no bitmap index
/// answers it.
fn convert(table: &TableDef, e: &Expr) -> Option<Cond<Leaf>> {
    let leaf = |col: usize, values: Vec<Expr>, null: bool| {
        index_on(table, col).map(|index| {
            Cond::Leaf(Leaf {
                index,
                column: col,
                values,
                null,
                postings: estimate::condition_sel(table, e) * estimate::table_rows(table),
            })
        })
    };
    match e {
        Expr::Binary(BinaryOp::Eq, a, b) => match (a.as_ref(), b.as_ref()) {
            (Expr::Column(c), v) | (v, Expr::Column(c)) if v.is_row_independent() => {
                leaf(*c, vec![v.clone()], false)
            }
            _ => None,
        },
        Expr::InList {
            expr,
            list,
            negated: false,
        } => match expr.as_ref() {
            Expr::Column(c) if list.iter().all(Expr::is_row_independent) => {
                leaf(*c, list.clone(), false)
            }
            _ => None,
        },
        Expr::IsNull(a, false) => match a.as_ref() {
            Expr::Column(c) => leaf(*c, Vec::new(), true),
            _ => None,
        },
        Expr::Or(a, b) => {
            let mut parts = Vec::new();
            for side in [a, b] {
                match convert(table, side)? {
                    Cond::Or(inner) => parts.extend(inner),
                    other => parts.push(other),
                }
            }
            Some(Cond::Or(parts))
        }
        Expr::And(..) => {
            let mut conjuncts = Vec::new();
            super::access::flatten_and(e, &mut conjuncts);
            and(table, &conjuncts).map(|(c, _)| c)
        }
        _ => None,
    }
}

/// The condition over the conjuncts a bitmap index answers, with those conjuncts.
fn and<'e>(table: &TableDef, conjuncts: &[&'e Expr]) -> Option<(Cond<Leaf>, Vec<&'e Expr>)> {
    let mut parts = Vec::new();
    let mut covered = Vec::new();
    for c in conjuncts {
        if let Some(cond) = convert(table, c) {
            parts.push(cond);
            covered.push(*c);
        }
    }
    match parts.len() {
        0 => None,
        1 => parts.pop().map(|p| (p, covered)),
        _ => Some((Cond::And(parts), covered)),
    }
}

/// A bitmap scan for the table's filter `conjuncts`, if bitmap indexes answer any of them.
pub fn plan(table: &TableDef, conjuncts: &[&Expr]) -> Option<BitmapScan> {
    let (cond, covered) = and(table, conjuncts)?;
    let selectivity = covered
        .iter()
        .map(|c| estimate::condition_sel(table, c))
        .product();
    Some(BitmapScan { cond, selectivity })
}

/// The rows the scan selects (a superset of the filter's answer), with their storage keys.
pub fn scan(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    scan: &BitmapScan,
    for_update: bool,
    ectx: &EvalContext<'_>,
) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    let ordinals = ordinals(ctx, table, scan, ectx)?;
    super::super::bitmap_index::fetch(ctx, table, ordinals, for_update, None)
}

/// The ordinals of the rows the scan selects.
pub fn ordinals(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    scan: &BitmapScan,
    ectx: &EvalContext<'_>,
) -> Result<RoaringTreemap> {
    scan.cond.eval(&mut Reader { ctx, table, ectx }, None)
}

/// Reads leaves through the statement's transaction.
struct Reader<'r, 'c, 'e> {
    ctx: &'r mut Ctx<'c>,
    table: &'r TableDef,
    ectx: &'r EvalContext<'e>,
}

impl Reader<'_, '_, '_> {
    /// The keys of the leaf's values (sorted, without duplicates); a NULL value, or one the
    /// column's type cannot hold, matches no row and has none.
    fn keys(&self, l: &Leaf) -> Result<Vec<Vec<u8>>> {
        let mut keys = Vec::with_capacity(l.values.len() + 1);
        if l.null {
            let mut k = Vec::new();
            crate::row::append_key(&mut k, &[&Value::Null]);
            keys.push(k);
        }
        let id = self.table.columns.get(l.column).map(|c| c.id);
        let ids: &[u32] = id.as_slice();
        for e in &l.values {
            if let Some(k) = super::access::key_at(self.table, ids, e, 0, self.ectx)? {
                keys.push(k);
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}

impl Leaves<Leaf> for Reader<'_, '_, '_> {
    type Error = crate::error::Error;

    fn scan(&mut self, l: &Leaf) -> Result<RoaringTreemap> {
        let keys = self.keys(l)?;
        super::super::bitmap_index::lookup(self.ctx, self.table, l.index, &keys)
    }

    fn probe(&mut self, l: &Leaf, candidates: &RoaringTreemap) -> Result<RoaringTreemap> {
        let keys = self.keys(l)?;
        super::super::bitmap_index::probe(self.ctx, self.table, l.index, &keys, candidates)
    }

    fn postings(&self, l: &Leaf) -> f64 {
        l.postings
    }

    fn lookups(&self, l: &Leaf) -> f64 {
        (l.values.len() + usize::from(l.null)) as f64
    }
}

/// EXPLAIN's lines for the scan's condition: `BitmapAnd` / `BitmapOr` nodes over one
/// `Bitmap Index Scan` per leaf, as (depth offset, node text, detail lines).
pub fn explain(
    table: &TableDef,
    cond: &Cond<Leaf>,
    show: &dyn Fn(&Expr) -> String,
) -> Vec<(usize, String, Vec<String>)> {
    let mut out = Vec::new();
    explain_into(table, cond, show, 0, &mut out);
    out
}

fn explain_into(
    table: &TableDef,
    cond: &Cond<Leaf>,
    show: &dyn Fn(&Expr) -> String,
    depth: usize,
    out: &mut Vec<(usize, String, Vec<String>)>,
) {
    match cond {
        Cond::Leaf(l) => {
            let index = table
                .indexes
                .iter()
                .find(|i| i.id == l.index)
                .map_or_else(|| format!("index {}", l.index), |i| i.name.clone());
            let col = table
                .columns
                .get(l.column)
                .map_or_else(|| "?".into(), |c| c.name.clone());
            let mut conds = Vec::new();
            match l.values.as_slice() {
                [] => {}
                [v] => conds.push(format!("({col} = {})", show(v))),
                vs => conds.push(format!(
                    "({col} = ANY (ARRAY[{}]))",
                    vs.iter().map(show).collect::<Vec<_>>().join(", ")
                )),
            }
            if l.null {
                conds.push(format!("({col} IS NULL)"));
            }
            out.push((
                depth,
                format!("Bitmap Index Scan on {index}"),
                vec![format!("Index Cond: {}", conds.join(" OR "))],
            ));
        }
        Cond::And(parts) | Cond::Or(parts) => {
            let name = if matches!(cond, Cond::And(_)) {
                "BitmapAnd"
            } else {
                "BitmapOr"
            };
            out.push((depth, name.into(), Vec::new()));
            for p in parts {
                explain_into(table, p, show, depth + 1, out);
            }
        }
    }
}
