//! INSERT ... ON CONFLICT arbiters: which unique constraints decide that a proposed row
//! conflicts (PostgreSQL's "arbiter indexes"), and the stored row it conflicts with.
//!
//! - `ON CONFLICT (cols)`: the primary key or unique indexes over exactly those columns
//!   (42P10 when there is none);
//! - `ON CONFLICT ON CONSTRAINT name`: that primary-key or unique constraint (42704);
//! - no target (DO NOTHING only): every primary key and unique index.
//!
//! A conflict on a unique constraint that is not an arbiter stays a unique violation (23505).
//! NULLs never conflict.

use sqlparser::ast;

use super::Ctx;
use crate::catalog::{IndexDef, TableDef};
use crate::error::{code, Error, Result};
use crate::expr::ident_name;
use crate::row::{index_prefix, row_key};
use crate::types::Value;

fn no_match() -> Error {
    Error::new(
        code::INVALID_COLUMN_REFERENCE,
        "there is no unique or exclusion constraint matching the ON CONFLICT specification",
    )
}

/// The arbiter indexes of `oc` on `table`.
pub(crate) fn arbiters(table: &TableDef, oc: &ast::OnConflict) -> Result<Vec<IndexDef>> {
    let unique = table.indexes.iter().filter(|i| i.unique || i.primary);
    match &oc.conflict_target {
        None => {
            if matches!(oc.action, ast::OnConflictAction::DoUpdate(_)) {
                return Err(Error::syntax(
                    "ON CONFLICT DO UPDATE requires inference specification or constraint name",
                ));
            }
            Ok(unique.cloned().collect())
        }
        Some(ast::ConflictTarget::Columns { columns, .. }) => {
            let mut ids = Vec::new();
            for c in columns {
                let name = ident_name(c);
                let Some(i) = table.column_index(&name) else {
                    return Err(Error::new(
                        code::UNDEFINED_COLUMN,
                        format!("column \"{name}\" does not exist"),
                    ));
                };
                ids.push(table.columns[i].id);
            }
            ids.sort_unstable();
            ids.dedup();
            let found: Vec<IndexDef> = unique
                .filter(|i| {
                    let mut cols = i.columns.clone();
                    cols.sort_unstable();
                    cols == ids
                })
                .cloned()
                .collect();
            if found.is_empty() {
                return Err(no_match());
            }
            Ok(found)
        }
        Some(ast::ConflictTarget::OnConstraint(name)) => {
            let name = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(ident_name)
                .unwrap_or_default();
            let index = table
                .constraints
                .iter()
                .find(|c| c.name == name && matches!(c.kind, 'p' | 'u'))
                .and_then(|c| c.index)
                .and_then(|id| table.indexes.iter().find(|i| i.id == id));
            match index {
                Some(i) => Ok(vec![i.clone()]),
                None => Err(Error::new(
                    code::UNDEFINED_OBJECT,
                    format!(
                        "constraint \"{name}\" for table \"{}\" does not exist",
                        table.name
                    ),
                )),
            }
        }
    }
}

/// The stored row (storage key, encoded row, read for update) that `row` conflicts with
/// under `arbiters`, if any.
pub(crate) fn conflicting(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    arbiters: &[IndexDef],
    row: &[Value],
) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
    for index in arbiters {
        if index.primary {
            if table.primary_key.is_empty() {
                continue;
            }
            let key = row_key(table, row, None);
            if let Some(stored) = ctx.txn.get_for_update(ctx.engine.data, &key)? {
                return Ok(Some((key, stored)));
            }
            continue;
        }
        let (key, unique) = super::index::entry(table, index, row, &[]);
        if !unique {
            continue;
        }
        // The entry as last committed (a row another statement inserted since this one
        // began conflicts too), as the primary key's row is read above.
        if let Some(suffix) = ctx.txn.get_latest(ctx.engine.data, &key)? {
            let mut stored = index_prefix(table.id, 0);
            stored.extend_from_slice(&suffix);
            if let Some(bytes) = ctx.txn.get_for_update(ctx.engine.data, &stored)? {
                return Ok(Some((stored, bytes)));
            }
        }
    }
    Ok(None)
}
