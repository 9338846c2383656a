//! Drops that other tables' foreign keys depend on (DROP TABLE; ALTER TABLE DROP COLUMN and
//! DROP CONSTRAINT), and dropping a primary key (DROP CONSTRAINT t_pkey, or DROP COLUMN of one
//! of its columns, which drops the key with it, as in PostgreSQL).
//!
//! Invariants: a table's rows are keyed by its primary key, or by a hidden row id when it has
//! none, so dropping the key re-keys every row under a new row id (and rebuilds the secondary
//! indexes, whose entries point at row keys) in the statement's transaction. A referencing
//! foreign key stops the drop (2BP01) unless CASCADE, which drops that foreign key.

use super::Ctx;
use crate::catalog::TableDef;
use crate::error::{code, Error, Result};
use crate::row::{encode_row, row_key};

/// What is being dropped, for the dependency error's wording.
pub(super) enum Dropping<'a> {
    /// The table itself.
    Table,
    /// A column (its name).
    Column(&'a str),
    /// A primary key or unique constraint (its name, which its index shares).
    Key(&'a str),
}

/// Refuses (without `cascade`) or drops the foreign keys of other tables that reference
/// `table` through `depends` (given the referenced column ids, whether the key depends on
/// what is dropped).
pub(super) fn drop_referencing_keys(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    dropping: &Dropping<'_>,
    cascade: bool,
    depends: impl Fn(&[u32]) -> bool,
) -> Result<()> {
    for (mut child, c) in super::foreign::referencing(ctx, table)? {
        let Some(fk) = &c.foreign else { continue };
        if child.id == table.id || !depends(&fk.ref_columns) {
            continue;
        }
        if !cascade {
            let (what, on) = match dropping {
                Dropping::Table => (
                    format!("table {}", table.name),
                    format!("table {}", table.name),
                ),
                Dropping::Column(col) => (
                    format!("column {col} of table {}", table.name),
                    format!("column {col} of table {}", table.name),
                ),
                Dropping::Key(name) => (
                    format!("constraint {name} on table {}", table.name),
                    format!("index {name}"),
                ),
            };
            return Err(Error::new(
                code::DEPENDENT_OBJECTS_STILL_EXIST,
                format!("cannot drop {what} because other objects depend on it"),
            )
            .with_detail(format!(
                "constraint {} on table {} depends on {on}",
                c.name, child.name
            )));
        }
        child.constraints.retain(|x| x.name != c.name);
        ctx.catalog().put_table(&child)?;
    }
    Ok(())
}

/// Drops `table`'s primary key: its constraint and index go, its columns stay NOT NULL, and
/// every row moves to a hidden row id. The caller writes `table` to the catalog.
pub(super) fn drop_primary_key(
    ctx: &mut Ctx<'_>,
    table: &mut TableDef,
    cascade: bool,
) -> Result<()> {
    let Some(pkey) = table.constraints.iter().find(|c| c.kind == 'p').cloned() else {
        return Ok(());
    };
    let key_columns = table.primary_key.clone();
    drop_referencing_keys(ctx, table, &Dropping::Key(&pkey.name), cascade, |cols| {
        same_columns(cols, &key_columns)
    })?;
    let rows = super::query::scan_rows(ctx, table, &super::query::Access::Full, false)?;
    table.primary_key.clear();
    table.constraints.retain(|c| c.kind != 'p');
    table.indexes.retain(|i| !i.primary);
    let rowids = super::write::rowid_sequence(table);
    if !ctx.engine.sequences.exists(&rowids)? {
        ctx.engine.sequences.create(
            &rowids,
            crate::sequence::SequenceDef::new(i64::MAX, 0),
            &mut ctx.waits,
        )?;
    }
    for (old_key, row) in rows {
        ctx.txn.delete(ctx.engine.data, &old_key)?;
        let rowid = ctx.engine.sequences.nextval(&rowids, &mut ctx.waits)?;
        ctx.txn.put(
            ctx.engine.data,
            &row_key(table, &row, Some(rowid)),
            &encode_row(table, &row),
        )?;
    }
    super::ddl_index::rebuild_all(ctx, table)
}

/// Whether two column lists name the same columns (in any order).
pub(super) fn same_columns(a: &[u32], b: &[u32]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}
