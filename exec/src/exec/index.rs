//! Secondary btree indexes: the entry layout, their upkeep by INSERT / UPDATE / DELETE in the
//! statement's transaction, uniqueness, and builds for CREATE INDEX. The same entry points
//! keep the table's bitmap and vector indexes (`bitmap_index`, `ann`).
//!
//! A row is stored at `index_prefix(table, 0) ‖ S` (S: the primary-key encoding, or the hidden
//! row id). Its entry in secondary index `i` is
//!
//! ```text
//! key   = index_prefix(table, i) ‖ memcmp(indexed values) [‖ S]
//! value = S
//! ```
//!
//! S is appended to the key unless the index is unique and no indexed value is NULL. Unique
//! entries are therefore keyed by the values alone: a duplicate is one point read, and two
//! transactions inserting the same value write the same key, so one of them fails with a
//! serialization error instead of both committing. NULLs never collide (NULLS DISTINCT).

use crate::catalog::{IndexDef, TableDef};
use crate::error::{code, Error, Result};
use crate::exec::Ctx;
use crate::row::{append_key, index_prefix};
use crate::types::Value;

/// The part of a row's storage key after the table's row prefix.
pub fn row_suffix(table: &TableDef, row_key: &[u8]) -> Vec<u8> {
    let n = index_prefix(table.id, 0).len();
    row_key.get(n..).unwrap_or_default().to_vec()
}

/// The values of `row` that `index` covers, in key order.
fn values<'r>(table: &TableDef, index: &IndexDef, row: &'r [Value]) -> Vec<&'r Value> {
    index
        .columns
        .iter()
        .filter_map(|id| table.column_by_id(*id))
        .filter_map(|i| row.get(i))
        .collect()
}

/// (key, value) of `row`'s entry in `index`, and whether it is a unique (values-only) key.
pub fn entry(table: &TableDef, index: &IndexDef, row: &[Value], suffix: &[u8]) -> (Vec<u8>, bool) {
    let vals = values(table, index, row);
    let mut key = index_prefix(table.id, index.id);
    append_key(&mut key, &vals);
    let unique = index.unique && !vals.iter().any(|v| v.is_null());
    if !unique {
        key.extend_from_slice(suffix);
    }
    (key, unique)
}

/// The secondary btree indexes.
fn secondary(table: &TableDef) -> impl Iterator<Item = &IndexDef> {
    table
        .indexes
        .iter()
        .filter(|i| !i.primary && i.ann.is_none() && !i.bitmap)
}

/// The vector indexes (see `ann`: their nodes are removed by `ann_reclaim`, not here).
fn vectors(table: &TableDef) -> impl Iterator<Item = &IndexDef> {
    table.indexes.iter().filter(|i| i.ann.is_some())
}

/// Adds `row`'s entries (stored at `row_key`) to every secondary index, refusing duplicates
/// of unique ones with 23505.
pub fn add(ctx: &mut Ctx<'_>, table: &TableDef, row: &[Value], row_key: &[u8]) -> Result<()> {
    let suffix = row_suffix(table, row_key);
    for index in secondary(table) {
        put_entry(ctx, table, index, row, &suffix)?;
    }
    for index in vectors(table) {
        super::ann::insert(ctx, table, index, row, &suffix)?;
    }
    super::bitmap_index::add(ctx, table, row, &suffix)
}

fn put_entry(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    index: &IndexDef,
    row: &[Value],
    suffix: &[u8],
) -> Result<()> {
    let (key, unique) = entry(table, index, row, suffix);
    if unique {
        if let Some(owner) = ctx.txn.get_for_update(ctx.engine.data, &key)? {
            if owner != suffix {
                return Err(duplicate(table, index, row));
            }
        }
    }
    ctx.txn.put(ctx.engine.data, &key, suffix)?;
    Ok(())
}

/// Removes `row`'s entries from every secondary index.
pub fn remove(ctx: &mut Ctx<'_>, table: &TableDef, row: &[Value], row_key: &[u8]) -> Result<()> {
    let suffix = row_suffix(table, row_key);
    for index in secondary(table) {
        let (key, _) = entry(table, index, row, &suffix);
        ctx.txn.delete(ctx.engine.data, &key)?;
    }
    for index in vectors(table) {
        super::ann::note_dead(ctx, index);
    }
    super::bitmap_index::remove(ctx, table, row, &suffix)
}

/// Moves a row's entries from `old` (at `old_key`) to `new` (at `new_key`), touching only the
/// indexes whose entry changes.
pub fn change(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    old: (&[Value], &[u8]),
    new: (&[Value], &[u8]),
) -> Result<()> {
    let (old_suffix, new_suffix) = (row_suffix(table, old.1), row_suffix(table, new.1));
    for index in secondary(table) {
        let (old_entry, _) = entry(table, index, old.0, &old_suffix);
        let (new_entry, _) = entry(table, index, new.0, &new_suffix);
        if old_entry == new_entry && old_suffix == new_suffix {
            continue;
        }
        ctx.txn.delete(ctx.engine.data, &old_entry)?;
        put_entry(ctx, table, index, new.0, &new_suffix)?;
    }
    for index in vectors(table) {
        if super::ann::changed(table, index, (old.0, &old_suffix), (new.0, &new_suffix)) {
            super::ann::note_dead(ctx, index);
            super::ann::insert(ctx, table, index, new.0, &new_suffix)?;
        }
    }
    super::bitmap_index::change(ctx, table, (old.0, &old_suffix), (new.0, &new_suffix))
}

/// Rows a build reads per chunk of its scan.
const BUILD_CHUNK: usize = 16_384;

/// Entries from which a build sorts them in parallel.
const PARALLEL_SORT: usize = 1 << 16;

/// The table's columns an entry of `index` is made of (the others are not decoded).
fn entry_columns(table: &TableDef, index: &IndexDef) -> Vec<bool> {
    let mut read = vec![false; table.columns.len()];
    for i in index
        .columns
        .iter()
        .filter_map(|id| table.column_by_id(*id))
    {
        if let Some(r) = read.get_mut(i) {
            *r = true;
        }
    }
    read
}

/// Fills `index` from the table's rows (CREATE INDEX, ADD UNIQUE, re-keyed tables). A vector
/// index gets nodes for the rows under their current keys (the old nodes go stale).
///
/// The rows are read a chunk at a time, decoding only the indexed columns: a build holds
/// one chunk, not the table. A transaction that has written SQL rows itself (a re-keyed
/// table, or a COPY earlier in the block) reads the table in one piece: each chunk of a
/// scan would gather the buffered rows in its range again.
pub fn build(ctx: &mut Ctx<'_>, table: &TableDef, index: &IndexDef) -> Result<()> {
    let read = entry_columns(table, index);
    let access = super::query::Access::Full;
    let chunk = if ctx.txn.has_writes_in(ctx.engine.data) {
        usize::MAX
    } else {
        BUILD_CHUNK
    };
    if index.bitmap {
        super::bitmap_index::prepare(ctx, table)?;
    }
    let mut scan = super::query::ChunkedScan::new(&access, Some(&read));
    // A plain btree index's entries are gathered, sorted and written as one run; a unique
    // one's are checked as they come.
    let gather = !index.unique && !index.bitmap && index.ann.is_none();
    let mut entries = Vec::new();
    while let Some(rows) = scan.next(ctx, table, false, &[], chunk)? {
        if gather {
            for (key, row) in rows {
                let suffix = row_suffix(table, &key);
                entries.push((entry(table, index, &row, &suffix).0, suffix));
            }
        } else {
            build_from(ctx, table, index, rows)?;
        }
    }
    if gather {
        use rayon::slice::ParallelSliceMut;
        // Keys are distinct: each ends with its row's suffix. A big build sorts on every
        // core (the query workers' pool); a small one is not worth waking them.
        if entries.len() >= PARALLEL_SORT {
            entries.par_sort_unstable_by(|a, b| a.0.cmp(&b.0));
        } else {
            entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        ctx.txn.put_sorted(ctx.engine.data, entries)?;
    }
    Ok(())
}

/// Adds the entries of `rows` (storage key, row) to `index`.
fn build_from(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    index: &IndexDef,
    rows: Vec<(Vec<u8>, Vec<Value>)>,
) -> Result<()> {
    if index.bitmap {
        return super::bitmap_index::build(ctx, table, index, rows);
    }
    if index.ann.is_some() {
        for (key, row) in rows {
            super::ann::insert(ctx, table, index, &row, &row_suffix(table, &key))?;
        }
        return Ok(());
    }
    for (key, row) in rows {
        let suffix = row_suffix(table, &key);
        put_entry(ctx, table, index, &row, &suffix).map_err(|e| {
            if e.sqlstate() == code::UNIQUE_VIOLATION {
                let vals = describe(&values(table, index, &row));
                Error::new(
                    code::UNIQUE_VIOLATION,
                    format!("could not create unique index \"{}\"", index.name),
                )
                .with_detail(format!(
                    "Key ({})=({vals}) is duplicated.",
                    column_names(table, index)
                ))
            } else {
                e
            }
        })?;
    }
    Ok(())
}

/// Deletes every entry of `index` (a vector index's storage goes when the drop commits).
pub fn clear(ctx: &mut Ctx<'_>, table: &TableDef, index: &IndexDef) -> Result<()> {
    if index.ann.is_some() {
        super::ann::drop_store(ctx, index);
        return Ok(());
    }
    if index.bitmap {
        return super::bitmap_index::clear(ctx, table, index);
    }
    let start = index_prefix(table.id, index.id);
    let end = super::query::successor(&start);
    ctx.txn.delete_range(ctx.engine.data, &start, &end)?;
    Ok(())
}

/// The column names of `index`, comma-separated.
pub fn column_names(table: &TableDef, index: &IndexDef) -> String {
    index
        .columns
        .iter()
        .filter_map(|id| table.column_by_id(*id))
        .filter_map(|i| table.columns.get(i).map(|c| c.name.clone()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe(vals: &[&Value]) -> String {
    vals.iter()
        .map(|v| v.to_text().unwrap_or_else(|| "null".into()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// PostgreSQL's unique-violation error for `row` in `index`.
pub fn duplicate(table: &TableDef, index: &IndexDef, row: &[Value]) -> Error {
    let constraint = table
        .constraints
        .iter()
        .find(|c| c.index == Some(index.id))
        .map_or_else(|| index.name.clone(), |c| c.name.clone());
    Error::new(
        code::UNIQUE_VIOLATION,
        format!("duplicate key value violates unique constraint \"{constraint}\""),
    )
    .with_detail(format!(
        "Key ({})=({}) already exists.",
        column_names(table, index),
        describe(&values(table, index, row))
    ))
}
