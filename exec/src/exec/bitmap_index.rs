//! Bitmap indexes (`CREATE INDEX ... USING bitmap (column)`): their upkeep by INSERT /
//! UPDATE / DELETE in the statement's transaction, builds and drops, and the two reads a
//! bitmap scan makes (a value's bitmap, and the rows of a bitmap's ordinals).
//!
//! The key layout is `orbit_index::bitmap::column`'s, under these prefixes of `sql:data`:
//! the table's ordinal maps at `index_prefix(table, ORDINALS)`, index `i`'s postings at
//! `index_prefix(table, i)`, each posting keyed by the memcomparable encoding of the row's
//! value (NULL included) and the row's ordinal. Ordinals come from the table's sequence
//! `\0bitmap:{table id}` (outside transactions, so concurrent inserts never wait on it).
//!
//! Invariants, while a table has at least one bitmap index: every row has exactly one
//! ordinal (both maps) and exactly one posting in each bitmap index, under that ordinal and
//! its current value. An UPDATE that keeps the row's key keeps its ordinal. When the last
//! bitmap index goes, the ordinal maps go with it.
//!
//! Readers and writers tolerate what a write racing an index build can leave (as btree
//! lookups do): a row without an ordinal gets one when next updated and has nothing to
//! remove when deleted, and a posting whose row is gone is skipped (every fetched row is
//! checked against the whole condition anyway). The same skip covers READ COMMITTED, whose
//! postings and rows may be read at different snapshots.

use std::ops::Bound;

use orbit_index::bitmap::column;
use orbit_lsm::Direction;
use roaring::RoaringTreemap;
use sqlparser::ast;

use super::Ctx;
use crate::catalog::{IndexDef, TableDef};
use crate::error::{code, Error, Result};
use crate::row::{append_key, index_prefix};
use crate::sequence::SequenceDef;
use crate::types::Value;

/// The reserved index id under which a table keeps its ordinal maps.
pub const ORDINALS: u32 = u32::MAX;

/// The sequence handing out a table's ordinals.
pub(crate) fn ordinal_sequence(table: &TableDef) -> String {
    format!("\0bitmap:{}", table.id)
}

/// The table's bitmap indexes.
fn bitmaps(table: &TableDef) -> impl Iterator<Item = &IndexDef> {
    table.indexes.iter().filter(|i| i.bitmap)
}

/// Refuses what a bitmap index cannot be, with PostgreSQL's messages for access methods
/// that lack a capability: unique, several columns, INCLUDE, options.
pub fn check_definition(ci: &ast::CreateIndex) -> Result<()> {
    let unsupported = |what: &str| {
        Error::new(
            code::FEATURE_NOT_SUPPORTED,
            format!("access method \"bitmap\" does not support {what}"),
        )
    };
    if ci.unique {
        return Err(unsupported("unique indexes"));
    }
    if ci.columns.len() != 1 {
        return Err(unsupported("multicolumn indexes"));
    }
    if !ci.include.is_empty() {
        return Err(unsupported("included columns"));
    }
    if let Some(opt) = ci.with.first() {
        let name = match opt {
            ast::Expr::BinaryOp { left, .. } => left.to_string(),
            other => other.to_string(),
        };
        return Err(Error::new(
            code::INVALID_PARAMETER_VALUE,
            format!("unrecognized parameter \"{name}\""),
        ));
    }
    Ok(())
}

fn corrupt(table: &TableDef, what: &str) -> Error {
    Error::new(
        code::DATA_CORRUPTED,
        format!("bitmap index of \"{}\" is damaged: {what}", table.name),
    )
}

/// The memcomparable key of `row`'s value in `index`.
fn value_key(table: &TableDef, index: &IndexDef, row: &[Value]) -> Vec<u8> {
    let v = index
        .columns
        .first()
        .and_then(|id| table.column_by_id(*id))
        .and_then(|i| row.get(i))
        .unwrap_or(&Value::Null);
    let mut k = Vec::new();
    append_key(&mut k, &[v]);
    k
}

fn posting(table: &TableDef, index: &IndexDef, row: &[Value], ordinal: u64) -> Vec<u8> {
    column::posting_key(
        &index_prefix(table.id, index.id),
        &value_key(table, index, row),
        ordinal,
    )
}

/// The ordinal of the row at storage suffix `suffix`, if it has one: as last committed, as
/// the rows a statement writes are read (`get_for_update`, or a scan reading the latest).
fn ordinal(ctx: &mut Ctx<'_>, table: &TableDef, suffix: &[u8]) -> Result<Option<u64>> {
    let key = column::ordinal_key(&index_prefix(table.id, ORDINALS), suffix);
    match ctx.txn.get_latest(ctx.engine.data, &key)? {
        Some(v) => Ok(Some(
            column::decode_ordinal(&v).map_err(|e| corrupt(table, &e.to_string()))?,
        )),
        None => Ok(None),
    }
}

/// Gives the row at `suffix` a new ordinal.
fn assign(ctx: &mut Ctx<'_>, table: &TableDef, suffix: &[u8]) -> Result<u64> {
    let n = ctx
        .engine
        .sequences
        .nextval(&ordinal_sequence(table), &mut ctx.waits)?;
    let ordinal = u64::try_from(n).map_err(|_| corrupt(table, "negative ordinal"))?;
    let prefix = index_prefix(table.id, ORDINALS);
    ctx.txn.put(
        ctx.engine.data,
        &column::ordinal_key(&prefix, suffix),
        &column::encode_ordinal(ordinal),
    )?;
    ctx.txn
        .put(ctx.engine.data, &column::row_key(&prefix, ordinal), suffix)?;
    Ok(ordinal)
}

/// Adds the row at `suffix` to every bitmap index.
pub fn add(ctx: &mut Ctx<'_>, table: &TableDef, row: &[Value], suffix: &[u8]) -> Result<()> {
    if bitmaps(table).next().is_none() {
        return Ok(());
    }
    let ordinal = assign(ctx, table, suffix)?;
    for index in bitmaps(table) {
        ctx.txn
            .put(ctx.engine.data, &posting(table, index, row, ordinal), &[])?;
    }
    Ok(())
}

/// Removes the row at `suffix` (its ordinal and postings) from the bitmap indexes.
pub fn remove(ctx: &mut Ctx<'_>, table: &TableDef, row: &[Value], suffix: &[u8]) -> Result<()> {
    if bitmaps(table).next().is_none() {
        return Ok(());
    }
    let Some(ordinal) = ordinal(ctx, table, suffix)? else {
        // Written by a transaction that raced the index build: nothing was posted.
        return Ok(());
    };
    let prefix = index_prefix(table.id, ORDINALS);
    ctx.txn
        .delete(ctx.engine.data, &column::ordinal_key(&prefix, suffix))?;
    ctx.txn
        .delete(ctx.engine.data, &column::row_key(&prefix, ordinal))?;
    for index in bitmaps(table) {
        ctx.txn
            .delete(ctx.engine.data, &posting(table, index, row, ordinal))?;
    }
    Ok(())
}

/// Moves a row's postings from `old` to `new` (row, storage suffix). A row that keeps its
/// key keeps its ordinal, and only the indexes whose value changed are touched.
pub fn change(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    old: (&[Value], &[u8]),
    new: (&[Value], &[u8]),
) -> Result<()> {
    if bitmaps(table).next().is_none() {
        return Ok(());
    }
    if old.1 != new.1 {
        remove(ctx, table, old.0, old.1)?;
        return add(ctx, table, new.0, new.1);
    }
    let changed: Vec<&IndexDef> = bitmaps(table)
        .filter(|i| value_key(table, i, old.0) != value_key(table, i, new.0))
        .collect();
    if changed.is_empty() {
        return Ok(());
    }
    let Some(ordinal) = ordinal(ctx, table, old.1)? else {
        // Written by a transaction that raced the index build: index it now.
        return add(ctx, table, new.0, new.1);
    };
    for index in changed {
        ctx.txn
            .delete(ctx.engine.data, &posting(table, index, old.0, ordinal))?;
        ctx.txn
            .put(ctx.engine.data, &posting(table, index, new.0, ordinal), &[])?;
    }
    Ok(())
}

/// Creates the table's ordinal sequence if it has none (before a bitmap index's build: rows
/// inserted later take their ordinals from it).
pub fn prepare(ctx: &mut Ctx<'_>, table: &TableDef) -> Result<()> {
    let seq = ordinal_sequence(table);
    if !ctx.engine.sequences.exists(&seq)? {
        ctx.engine
            .sequences
            .create(&seq, SequenceDef::new(i64::MAX, 0), &mut ctx.waits)?;
    }
    Ok(())
}

/// Fills `index` from `rows` of the table, giving ordinals to rows without one (`prepare`
/// made the sequence they come from).
pub fn build(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    index: &IndexDef,
    rows: Vec<(Vec<u8>, Vec<Value>)>,
) -> Result<()> {
    for (key, row) in rows {
        let suffix = super::index::row_suffix(table, &key);
        let ordinal = match ordinal(ctx, table, &suffix)? {
            Some(o) => o,
            None => assign(ctx, table, &suffix)?,
        };
        ctx.txn
            .put(ctx.engine.data, &posting(table, index, &row, ordinal), &[])?;
    }
    Ok(())
}

/// Deletes `index`'s postings, and the table's ordinal maps when no other bitmap index
/// remains.
pub fn clear(ctx: &mut Ctx<'_>, table: &TableDef, index: &IndexDef) -> Result<()> {
    let start = index_prefix(table.id, index.id);
    let end = super::query::successor(&start);
    ctx.txn.delete_range(ctx.engine.data, &start, &end)?;
    if !bitmaps(table).any(|i| i.id != index.id) {
        clear_ordinals(ctx, table)?;
    }
    Ok(())
}

/// Deletes the table's ordinal maps (before its rows are re-keyed and its bitmap indexes
/// rebuilt).
pub fn clear_ordinals(ctx: &mut Ctx<'_>, table: &TableDef) -> Result<()> {
    let start = index_prefix(table.id, ORDINALS);
    let end = super::query::successor(&start);
    ctx.txn.delete_range(ctx.engine.data, &start, &end)?;
    Ok(())
}

/// The ordinals of the rows whose value in bitmap index `index` has one of the keys
/// `values`.
pub fn lookup(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    index: u32,
    values: &[Vec<u8>],
) -> Result<RoaringTreemap> {
    let mut out = RoaringTreemap::new();
    for value in values {
        ctx.check_deadline()?;
        let mut start = index_prefix(table.id, index);
        start.extend_from_slice(value);
        let end = super::query::successor(&start);
        let len = start.len();
        let scan = ctx.txn.scan(
            ctx.engine.data,
            (Bound::Included(start), Bound::Excluded(end)),
            Direction::Forward,
        )?;
        let set = column::collect(len, scan.map(|item| item.map(|(k, _)| k)))?;
        out |= set;
    }
    Ok(out)
}

/// The ordinals of `candidates` whose value in bitmap index `index` has one of the keys
/// `values` (a point lookup per candidate and value).
pub fn probe(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    index: u32,
    values: &[Vec<u8>],
    candidates: &RoaringTreemap,
) -> Result<RoaringTreemap> {
    let prefix = index_prefix(table.id, index);
    let mut out = RoaringTreemap::new();
    for ordinal in candidates {
        for value in values {
            let key = column::posting_key(&prefix, value, ordinal);
            if ctx.txn.get(ctx.engine.data, &key)?.is_some() {
                out.push(ordinal);
                break;
            }
        }
    }
    Ok(out)
}

/// The rows (with their storage keys) of `ordinals`, in ordinal order, with the columns
/// `read` flags decoded (None: all). An ordinal whose row is gone is skipped (see the module
/// doc).
pub fn fetch(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    ordinals: impl IntoIterator<Item = u64>,
    for_update: bool,
    read: Option<&[bool]>,
) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    let maps = index_prefix(table.id, ORDINALS);
    let mut out = Vec::new();
    for (n, ordinal) in ordinals.into_iter().enumerate() {
        if n % 1024 == 1023 {
            ctx.check_deadline()?;
        }
        let Some(suffix) = ctx
            .txn
            .get(ctx.engine.data, &column::row_key(&maps, ordinal))?
        else {
            continue;
        };
        if let Some(row) = super::query::fetch_row(ctx, table, &suffix, for_update, read)? {
            out.push(row);
        }
    }
    Ok(out)
}
