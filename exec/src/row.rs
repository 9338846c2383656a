//! Row and key encodings in the `sql:data` keyspace.
//!
//! Keys: `table id u32 BE ‖ index id u32 BE ‖ memcomparable key values`. Index 0 holds the
//! rows, keyed by the primary key (or a hidden row id when the table has none); secondary
//! index entries map `index key ‖ primary key` (non-unique) or `index key` (unique) to the
//! row's primary key bytes.
//!
//! Row values: for each column, `column id (varint) ‖ 0` for NULL or `column id ‖ len+1
//! (varint) ‖ the value's binary wire form`. Values are found by column id, so dropped
//! columns are skipped and added columns read as NULL until written.

use crate::catalog::TableDef;
use crate::error::{code, Error, Result};
use crate::types::{encode_key, DataType, Value};

/// The key prefix of `index` of table `table_id`.
pub fn index_prefix(table_id: u32, index: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(16);
    k.extend_from_slice(&table_id.to_be_bytes());
    k.extend_from_slice(&index.to_be_bytes());
    k
}

/// The key prefix of every entry (rows and indexes) of a table.
pub fn table_prefix(table_id: u32) -> Vec<u8> {
    table_id.to_be_bytes().to_vec()
}

/// Appends the key encoding of `values` to `out`.
pub fn append_key(out: &mut Vec<u8>, values: &[&Value]) {
    for v in values {
        encode_key(v, out);
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a varint at `pos`, moving past it; None when the bytes end or run on too long.
pub(crate) fn varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    // One byte, the usual case (column ids, short lengths), without the loop.
    let first = *bytes.get(*pos)?;
    if first < 0x80 {
        *pos += 1;
        return Some(u64::from(first));
    }
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> Result<u64> {
    varint(bytes, pos).ok_or_else(damaged)
}

fn damaged() -> Error {
    Error::new(code::DATA_CORRUPTED, "row value is damaged")
}

/// Encodes a row of `table` (values in column order).
pub fn encode_row(table: &TableDef, values: &[Value]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * values.len());
    let mut scratch = Vec::new();
    for (col, v) in table.columns.iter().zip(values) {
        put_varint(&mut out, u64::from(col.id));
        if v.is_null() {
            out.push(0);
        } else {
            scratch.clear();
            v.to_binary(&mut scratch);
            put_varint(&mut out, scratch.len() as u64 + 1);
            out.extend_from_slice(&scratch);
        }
    }
    out
}

/// Decodes a row of `table` into values in column order.
pub fn decode_row(table: &TableDef, bytes: &[u8]) -> Result<Vec<Value>> {
    decode_columns(table, bytes, None)
}

/// [`decode_row`] of the columns flagged in `read` only (None: all); the others are NULL.
pub fn decode_columns(table: &TableDef, bytes: &[u8], read: Option<&[bool]>) -> Result<Vec<Value>> {
    // Not `vec![Value::Null; n]`: that clones through `Value::clone`, a measurable share of
    // a scan.
    let mut row = Vec::with_capacity(table.columns.len());
    row.resize_with(table.columns.len(), || Value::Null);
    decode_into(table, bytes, read, &mut row, false)?;
    Ok(row)
}

/// [`decode_columns`] into `row`, reused from row to row (a scan's filter looks at some
/// columns of each stored row before the row is decoded whole): the columns `read` flags are
/// set (NULL when the row has none), the others left as they are.
pub fn decode_columns_into(
    table: &TableDef,
    bytes: &[u8],
    read: Option<&[bool]>,
    row: &mut Vec<Value>,
) -> Result<()> {
    row.resize_with(table.columns.len(), || Value::Null);
    decode_into(table, bytes, read, row, true)
}

/// Decodes the columns `read` flags into `row` (as wide as the table); with `reset`, first
/// sets them NULL.
fn decode_into(
    table: &TableDef,
    bytes: &[u8],
    read: Option<&[bool]>,
    row: &mut [Value],
    reset: bool,
) -> Result<()> {
    let wanted = |i: usize| read.is_none_or(|r| r.get(i).copied().unwrap_or(true));
    let mut left = 0usize;
    for (i, slot) in row.iter_mut().enumerate() {
        if wanted(i) {
            left += 1;
            if reset {
                *slot = Value::Null;
            }
        }
    }
    let mut pos = 0;
    // Columns are usually stored in table order: try the next position first.
    let mut guess = 0usize;
    while pos < bytes.len() && left > 0 {
        let id = get_varint(bytes, &mut pos)?;
        let len = get_varint(bytes, &mut pos)?;
        let data = match len.checked_sub(1) {
            None => None,
            Some(len) => {
                let len = usize::try_from(len).map_err(|_| damaged())?;
                let end = pos.checked_add(len).ok_or_else(damaged)?;
                let data = bytes.get(pos..end).ok_or_else(damaged)?;
                pos = end;
                Some(data)
            }
        };
        let at = match table.columns.get(guess) {
            Some(c) if u64::from(c.id) == id => Some(guess),
            _ => table.columns.iter().position(|c| u64::from(c.id) == id),
        };
        let Some(i) = at else {
            continue;
        };
        guess = i + 1;
        if !wanted(i) {
            continue;
        }
        // Each column is stored once (`encode_row`), so `left` reaches 0 exactly when every
        // wanted column has been read; a NULL one is already in place.
        left = left.saturating_sub(1);
        if let (Some(data), Some(slot), Some(col)) = (data, row.get_mut(i), table.columns.get(i)) {
            *slot = Value::from_stored(&col.ty, data)?;
        }
    }
    Ok(())
}

/// The primary-key values of `row` (the hidden row id is not a column: callers pass it).
pub fn pk_values<'r>(table: &TableDef, row: &'r [Value]) -> Vec<&'r Value> {
    table
        .primary_key
        .iter()
        .filter_map(|id| table.column_by_id(*id).and_then(|i| row.get(i)))
        .collect()
}

/// The storage key of a row.
pub fn row_key(table: &TableDef, row: &[Value], rowid: Option<i64>) -> Vec<u8> {
    let mut k = index_prefix(table.id, 0);
    match rowid {
        Some(id) => append_key(&mut k, &[&Value::Int8(id)]),
        None => append_key(&mut k, &pk_values(table, row)),
    }
    k
}

/// Values for index key columns, by column id.
pub fn index_values<'r>(table: &TableDef, columns: &[u32], row: &'r [Value]) -> Vec<&'r Value> {
    columns
        .iter()
        .filter_map(|id| table.column_by_id(*id).and_then(|i| row.get(i)))
        .collect()
}

/// Whether `ty` can be a key column.
pub fn keyable(ty: &DataType) -> bool {
    !matches!(ty, DataType::Json | DataType::Unknown)
}
