//! Access paths: how a table's rows are reached (a primary-key point lookup, a primary-key
//! range scan, a secondary-index lookup, a bitmap index scan, a vector index scan or a full
//! scan), chosen from the conditions pushed down to the table, and the scan that reads them
//! in the transaction (a chunk at a time: `chunked`).

use std::ops::Bound;

use orbit_lsm::Direction;

use super::super::Ctx;
use super::chunked::ChunkedScan;
use crate::catalog::TableDef;
use crate::error::{code, Error, Result};
use crate::expr::Expr;
use crate::row::{append_key, decode_columns, index_prefix};
use crate::types::{BinaryOp, DataType, Value};

/// How a table's rows are reached.
#[derive(Debug, Clone)]
pub enum Access {
    Full,
    /// Every primary-key column equals a row-independent expression.
    Point(Vec<Expr>),
    /// The first primary-key column within bounds.
    Range(Bound<Expr>, Bound<Expr>),
    /// The leading columns of secondary index `id` equal row-independent expressions.
    Index {
        id: u32,
        eq: Vec<Expr>,
    },
    /// Nearest first through a vector index (ORDER BY a distance, LIMIT); see `ann_scan`.
    Ann(Box<super::ann_scan::AnnScan>),
    /// Bitmap indexes combined by AND / OR; see `bitmap_scan`.
    Bitmap(Box<super::bitmap_scan::BitmapScan>),
}

/// Picks the access path from the conditions on a table: a primary-key point lookup, a
/// unique index fully bound by equalities, bitmap indexes combining two or more conditions,
/// then whichever of the primary key and the secondary indexes has the most leading columns
/// bound by equalities, a bitmap index, a primary-key range, else a full scan. Bitmap scans
/// are taken only when the statistics say they select at most
/// [`bitmap_scan::MAX_SELECTIVITY`](super::bitmap_scan::MAX_SELECTIVITY) of the table.
pub fn choose_access(table: &TableDef, filter: &Expr) -> Access {
    let mut conjuncts = Vec::new();
    flatten_and(filter, &mut conjuncts);
    let bitmap = super::bitmap_scan::plan(table, &conjuncts)
        .filter(|b| b.selectivity <= super::bitmap_scan::MAX_SELECTIVITY);
    // Row-independent bounds on columns: (column position, operator, value).
    let mut bounds: Vec<(usize, BinaryOp, Expr)> = Vec::new();
    for c in conjuncts {
        let Expr::Binary(op, l, r) = c else { continue };
        match (l.as_ref(), r.as_ref()) {
            (Expr::Column(i), v) if v.is_row_independent() => bounds.push((*i, *op, v.clone())),
            (v, Expr::Column(i)) if v.is_row_independent() => {
                bounds.push((*i, flip(*op), v.clone()))
            }
            _ => {}
        }
    }
    let eq_of = |pos: usize| {
        bounds
            .iter()
            .find(|(c, op, _)| *c == pos && *op == BinaryOp::Eq)
            .map(|(_, _, v)| v.clone())
    };
    // The equalities binding the leading columns of a key.
    let leading = |ids: &[u32]| -> Vec<Expr> {
        ids.iter()
            .map_while(|id| table.column_by_id(*id).and_then(eq_of))
            .collect()
    };
    let pk = leading(&table.primary_key);
    if !table.primary_key.is_empty() && pk.len() == table.primary_key.len() {
        return Access::Point(pk);
    }
    let mut best: Option<(u32, Vec<Expr>)> = None;
    // Btree indexes only: a bitmap index is read by a bitmap scan, a vector index by
    // nearest-neighbour order.
    let btrees = table
        .indexes
        .iter()
        .filter(|i| !i.primary && !i.bitmap && i.ann.is_none());
    for index in btrees {
        let eq = leading(&index.columns);
        if eq.is_empty() {
            continue;
        }
        if index.unique && eq.len() == index.columns.len() {
            return Access::Index { id: index.id, eq };
        }
        if best.as_ref().is_none_or(|(_, b)| eq.len() > b.len()) {
            best = Some((index.id, eq));
        }
    }
    if let Some(b) = bitmap.as_ref().filter(|b| b.cond.leaves().len() > 1) {
        return Access::Bitmap(Box::new(b.clone()));
    }
    match best {
        Some((id, eq)) if eq.len() > pk.len() => return Access::Index { id, eq },
        _ => {}
    }
    if let Some(v) = pk.first() {
        return Access::Range(Bound::Included(v.clone()), Bound::Included(v.clone()));
    }
    if let Some((id, eq)) = best {
        return Access::Index { id, eq };
    }
    if let Some(b) = bitmap {
        return Access::Bitmap(Box::new(b));
    }
    let first = table
        .primary_key
        .first()
        .and_then(|id| table.column_by_id(*id));
    let (mut lo, mut hi) = (Bound::Unbounded, Bound::Unbounded);
    for (col, op, val) in bounds {
        if Some(col) != first {
            continue;
        }
        match op {
            BinaryOp::Gt => lo = Bound::Excluded(val),
            BinaryOp::GtEq => lo = Bound::Included(val),
            BinaryOp::Lt => hi = Bound::Excluded(val),
            BinaryOp::LtEq => hi = Bound::Included(val),
            _ => {}
        }
    }
    if !matches!((&lo, &hi), (Bound::Unbounded, Bound::Unbounded)) {
        return Access::Range(lo, hi);
    }
    Access::Full
}

fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        other => other,
    }
}

pub(crate) fn flatten_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::And(a, b) => {
            flatten_and(a, out);
            flatten_and(b, out);
        }
        other => out.push(other),
    }
}

/// The rows of `table` the access path reaches (before the filter), with their storage keys.
pub fn scan_rows(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    access: &Access,
    for_update: bool,
) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    scan_rows_with(ctx, table, access, for_update, &[])
}

/// [`scan_rows`] inside a subquery: `outer` holds the values the access path's expressions
/// may read from enclosing queries.
pub fn scan_rows_with(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    access: &Access,
    for_update: bool,
    outer: &[Value],
) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    scan_rows_wanting(ctx, table, access, for_update, outer, usize::MAX, None)
}

/// [`scan_rows_with`] for a consumer that needs no more than `want` of the rows: a
/// secondary index scan stops fetching rows once it has that many (a semi join's lookup
/// wants one). Only the columns `read` flags are decoded (None: all; the others NULL).
pub fn scan_rows_wanting(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    access: &Access,
    for_update: bool,
    outer: &[Value],
    want: usize,
    read: Option<&[bool]>,
) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    let prefix = index_prefix(table.id, 0);
    let base = ctx.eval_context();
    let ectx = base.with_outer(outer);
    let key_in = |ids: &[u32], e: &Expr, pos: usize| key_at(table, ids, e, pos, &ectx);
    let key_of = |e: &Expr, pos: usize| key_in(&table.primary_key, e, pos);
    let mut out = Vec::new();
    match access {
        Access::Point(exprs) => {
            let mut key = prefix.clone();
            for (i, e) in exprs.iter().enumerate() {
                match key_of(e, i)? {
                    Some(k) => key.extend_from_slice(&k),
                    None => return Ok(out),
                }
            }
            let found = if for_update {
                locked_get(ctx, table, &key)?
            } else {
                ctx.txn.get(ctx.engine.data, &key)?
            };
            if let Some(v) = found {
                out.push((key, decode_columns(table, &v, read)?));
            }
            return Ok(out);
        }
        Access::Index { id, eq } => {
            let Some(start) = index_start(table, *id, eq, &ectx)? else {
                return Ok(out);
            };
            for suffix in index_suffixes(ctx, start)? {
                if out.len() >= want {
                    break;
                }
                if let Some(row) = fetch_row(ctx, table, &suffix, for_update, read)? {
                    out.push(row);
                }
            }
            return Ok(out);
        }
        Access::Ann(scan) => {
            if let Some(rows) = super::ann_scan::scan(ctx, table, scan, for_update, &ectx)? {
                return Ok(rows);
            }
        }
        Access::Bitmap(scan) => {
            return super::bitmap_scan::scan(ctx, table, scan, for_update, &ectx);
        }
        Access::Full | Access::Range(..) => {}
    }
    // A full or range scan (a vector index scan that fell back reads the whole table): the
    // chunked scan, in one chunk.
    let access = match access {
        Access::Range(..) => access,
        _ => &Access::Full,
    };
    let rows = ChunkedScan::new(access, read).next(ctx, table, for_update, outer, usize::MAX)?;
    Ok(rows.unwrap_or_default())
}

/// The rows of `table` a lookup path reaches (a primary-key point or prefix range, or a
/// secondary index's equality), read through `shared` (a parallel join's worker: the
/// statement's snapshot, without its transaction), with their storage keys; no more than
/// `want` rows from a secondary index. A key range, or a secondary index's entries, is read
/// through `cursor`, the iterator the caller's last lookup of `table` left there (moved to
/// the range), or a new one kept there.
pub(crate) fn shared_lookup(
    shared: &orbit_txn::SharedScan,
    table: &TableDef,
    access: &Access,
    ectx: &crate::expr::EvalContext<'_>,
    (want, read): (usize, Option<&[bool]>),
    cursor: &mut Option<orbit_txn::PieceIter>,
) -> Result<KeyedRows> {
    let prefix = index_prefix(table.id, 0);
    let key_in = |ids: &[u32], e: &Expr, pos: usize| key_at(table, ids, e, pos, ectx);
    let mut out = Vec::new();
    match access {
        Access::Point(exprs) => {
            let mut key = prefix;
            for (i, e) in exprs.iter().enumerate() {
                match key_in(&table.primary_key, e, i)? {
                    Some(k) => key.extend_from_slice(&k),
                    None => return Ok(out),
                }
            }
            if let Some(v) = shared.get(&key)? {
                out.push((key, decode_columns(table, &v, read)?));
            }
        }
        Access::Range(..) => {
            let key_of = |e: &Expr, pos: usize| key_in(&table.primary_key, e, pos);
            let Some(range) = key_range(access, &key_of, &prefix)? else {
                return Ok(out);
            };
            if !cursor.as_mut().is_some_and(|it| it.reseek(&range)) {
                *cursor = Some(shared.scan_scoped(table_range(table), range)?);
            }
            for item in cursor.iter_mut().flatten() {
                let (k, v) = item?;
                out.push((k, decode_columns(table, &v, read)?));
            }
        }
        Access::Index { id, eq } => {
            let Some(start) = index_start(table, *id, eq, ectx)? else {
                return Ok(out);
            };
            // The index entries are read through the cursor too (lookups in index order
            // move it a few entries), and only until `want` rows are found: a semi or anti
            // join wants one.
            let end = successor(&start);
            let range = (Bound::Included(start), Bound::Excluded(end));
            if !cursor.as_mut().is_some_and(|it| it.reseek(&range)) {
                *cursor = Some(shared.scan_scoped(index_range(table.id, *id), range)?);
            }
            for item in cursor.iter_mut().flatten() {
                if out.len() >= want {
                    break;
                }
                let (_, suffix) = item?;
                let mut key = prefix.clone();
                key.extend_from_slice(&suffix);
                if let Some(v) = shared.get(&key)? {
                    out.push((key, decode_columns(table, &v, read)?));
                }
            }
        }
        _ => {
            return Err(Error::new(
                code::INTERNAL_ERROR,
                "a parallel lookup by a full, bitmap or vector scan",
            ))
        }
    }
    Ok(out)
}

/// The first key of secondary index `id`'s entries whose leading columns equal `eq`; None
/// when no row can match (no such index, or a NULL or uncastable value).
pub(super) fn index_start(
    table: &TableDef,
    id: u32,
    eq: &[Expr],
    ectx: &crate::expr::EvalContext<'_>,
) -> Result<Option<Vec<u8>>> {
    let Some(index) = table.indexes.iter().find(|i| i.id == id) else {
        return Ok(None);
    };
    let mut start = index_prefix(table.id, id);
    for (i, e) in eq.iter().enumerate() {
        match key_at(table, &index.columns, e, i, ectx)? {
            Some(k) => start.extend_from_slice(&k),
            None => return Ok(None),
        }
    }
    Ok(Some(start))
}

/// The primary-key suffixes of the secondary index entries that start with `start` (an
/// index's id and its leading columns' values), in index order.
pub(super) fn index_suffixes(ctx: &mut Ctx<'_>, start: Vec<u8>) -> Result<Vec<Vec<u8>>> {
    let end = successor(&start);
    Ok(ctx
        .txn
        .scan(
            ctx.engine.data,
            (Bound::Included(start), Bound::Excluded(end)),
            Direction::Forward,
        )?
        .map(|item| item.map(|(_, v)| v))
        .collect::<std::result::Result<Vec<_>, _>>()?)
}

/// The row stored at suffix `suffix` (after the table's row prefix), with its storage key
/// and the columns `read` flags decoded (None: all); locked when `for_update`. None when it
/// is gone: a secondary index entry read at another snapshot than the row (READ COMMITTED)
/// or left by a write racing the index build names a row that is not there.
pub(crate) fn fetch_row(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    suffix: &[u8],
    for_update: bool,
    read: Option<&[bool]>,
) -> Result<Option<(Vec<u8>, Vec<Value>)>> {
    let mut key = index_prefix(table.id, 0);
    key.extend_from_slice(suffix);
    let found = if for_update {
        locked_get(ctx, table, &key)?
    } else {
        ctx.txn.get(ctx.engine.data, &key)?
    };
    match found {
        Some(v) => {
            let row = decode_columns(table, &v, read)?;
            Ok(Some((key, row)))
        }
        None => Ok(None),
    }
}

/// The row at storage key `key` of `table`, locked for the statement (`FOR UPDATE` / `FOR
/// SHARE`): the latest version, or None when it is gone, or when another transaction holds
/// its lock and the statement says `SKIP LOCKED`. Under `NOWAIT` such a row fails the
/// statement with PostgreSQL's 55P03 naming the table; otherwise the statement waits for it
/// (`orbit_txn::Error::LockBusy`).
pub(crate) fn locked_get(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    key: &[u8],
) -> Result<Option<Vec<u8>>> {
    match ctx.txn.get_for_update(ctx.engine.data, key) {
        Err(orbit_txn::Error::LockSkipped) => Ok(None),
        Err(orbit_txn::Error::LockNotAvailable) => Err(Error::new(
            code::LOCK_NOT_AVAILABLE,
            format!(
                "could not obtain lock on row in relation \"{}\"",
                table.name
            ),
        )),
        other => Ok(other?),
    }
}

/// A primary-key range of storage keys.
pub(crate) type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);
/// Rows with their storage keys.
pub(super) type KeyedRows = Vec<(Vec<u8>, Vec<Value>)>;
/// The key of an expression's value as primary-key column `pos`.
type KeyOf<'f> = dyn Fn(&Expr, usize) -> Result<Option<Vec<u8>>> + 'f;

/// The primary-key range a full or range scan reads; None when a bound is NULL (no row).
fn key_range(access: &Access, key_of: &KeyOf<'_>, prefix: &[u8]) -> Result<Option<KeyRange>> {
    let range = match access {
        Access::Range(lo, hi) => {
            let lo = match lo {
                Bound::Included(e) | Bound::Excluded(e) => match key_of(e, 0)? {
                    Some(k) => {
                        let mut b = prefix.to_vec();
                        b.extend_from_slice(&k);
                        if matches!(lo, Bound::Excluded(_)) {
                            // Past every key that starts with this value.
                            b = successor(&b);
                        }
                        Bound::Included(b)
                    }
                    None => return Ok(None),
                },
                Bound::Unbounded => Bound::Included(prefix.to_vec()),
            };
            let hi = match hi {
                Bound::Included(e) | Bound::Excluded(e) => match key_of(e, 0)? {
                    Some(k) => {
                        let mut b = prefix.to_vec();
                        b.extend_from_slice(&k);
                        if matches!(hi, Bound::Included(_)) {
                            b = successor(&b);
                        }
                        Bound::Excluded(b)
                    }
                    None => return Ok(None),
                },
                Bound::Unbounded => Bound::Excluded(successor(prefix)),
            };
            (lo, hi)
        }
        _ => (
            Bound::Included(prefix.to_vec()),
            Bound::Excluded(successor(prefix)),
        ),
    };
    Ok(Some(range))
}

/// Every storage key of `table`'s rows.
pub(crate) fn table_range(table: &TableDef) -> KeyRange {
    index_range(table.id, 0)
}

/// Every storage key of index `index` of table `table_id` (0: the rows).
fn index_range(table_id: u32, index: u32) -> KeyRange {
    let prefix = index_prefix(table_id, index);
    let end = successor(&prefix);
    (Bound::Included(prefix), Bound::Excluded(end))
}

/// The storage keys a full or range scan of `table` reads (any other access path: the whole
/// table's); None when a bound is NULL (no row).
pub(crate) fn scan_range(
    ctx: &Ctx<'_>,
    table: &TableDef,
    access: &Access,
    outer: &[Value],
) -> Result<Option<KeyRange>> {
    let prefix = index_prefix(table.id, 0);
    let ectx = ctx.eval_context();
    let ectx = ectx.with_outer(outer);
    let key_of = |e: &Expr, pos: usize| key_at(table, &table.primary_key, e, pos, &ectx);
    key_range(access, &key_of, &prefix)
}

/// The key of `e` as a value of column `ids[pos]` of `table` (None: no row can match).
pub(super) fn key_at(
    table: &TableDef,
    ids: &[u32],
    e: &Expr,
    pos: usize,
    ectx: &crate::expr::EvalContext<'_>,
) -> Result<Option<Vec<u8>>> {
    let v = e.eval(&[], ectx)?;
    if v.is_null() {
        return Ok(None);
    }
    let ty = ids
        .get(pos)
        .and_then(|id| table.column_by_id(*id))
        .and_then(|i| table.columns.get(i))
        .map(|c| c.ty.clone())
        .unwrap_or(DataType::Unknown);
    // A value that cannot be the column's type matches no row (e.g. 1.5 = int key).
    let Ok(v) = v.cast(&ty) else { return Ok(None) };
    let mut k = Vec::new();
    append_key(&mut k, &[&v]);
    Ok(Some(k))
}

/// Fails a running statement whose deadline has passed or that was cancelled (57014), or
/// once the server shuts down (57P01).
pub(crate) fn interrupted(
    engine: &crate::engine::SqlEngine,
    interrupts: &crate::cancel::Interrupts,
) -> Result<()> {
    interrupts.check()?;
    if engine.stopping() {
        return Err(crate::cancel::terminating());
    }
    Ok(())
}

/// The smallest key greater than every key starting with `prefix`.
pub(crate) fn successor(prefix: &[u8]) -> Vec<u8> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return s;
        }
    }
    vec![0xff; prefix.len() + 1]
}
