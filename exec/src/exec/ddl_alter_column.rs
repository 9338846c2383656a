//! `ALTER TABLE ... ALTER COLUMN`: SET / DROP DEFAULT, SET / DROP NOT NULL and
//! `[SET DATA] TYPE ... [USING expr]`, in the statement's transaction like any DDL.
//!
//! - SET NOT NULL reads every row first (23502 if one holds NULL); DROP NOT NULL refuses a
//!   primary-key column (42P16).
//! - SET / DROP DEFAULT on a serial column leave it owning its sequence (dropped with the
//!   table), no longer its default (`ColumnDef::default_replaced`); an identity column's
//!   default and NOT NULL are its identity's (42601).
//! - TYPE rewrites every row: each value is converted by the USING expression (over the
//!   row), else by assignment (42804 when that is refused), then the row is written again
//!   with its constraints checked, re-keyed when the column is in the primary key, and the
//!   secondary indexes are rebuilt; statistics are dropped. Columns a view or a foreign key
//!   uses keep their type (0A000), as PostgreSQL refuses too, and so do columns with a vector
//!   index (its graph lives outside the rows).

use sqlparser::ast;

use super::Ctx;
use crate::catalog::TableDef;
use crate::error::{code, Error, Result};
use crate::expr::{ident_name, Binder};
use crate::row::{encode_row, row_key};
use crate::types::{DataType, Value};

/// Applies `op` to column `column` of `table` (the caller stores the definition).
pub(super) fn alter_column(
    ctx: &mut Ctx<'_>,
    table: &mut TableDef,
    column: &ast::Ident,
    op: &ast::AlterColumnOperation,
) -> Result<()> {
    let name = ident_name(column);
    let i = table.column_index(&name).ok_or_else(|| {
        Error::new(
            code::UNDEFINED_COLUMN,
            format!(
                "column \"{name}\" of relation \"{}\" does not exist",
                table.name
            ),
        )
    })?;
    let identity = || {
        Error::new(
            code::SYNTAX_ERROR,
            format!(
                "column \"{name}\" of relation \"{}\" is an identity column",
                table.name
            ),
        )
    };
    use ast::AlterColumnOperation as Op;
    match op {
        Op::SetDefault { value } => {
            if table.columns[i].identity {
                return Err(identity());
            }
            let c = &mut table.columns[i];
            c.default = Some(value.to_string());
            c.default_replaced = c.sequence.is_some();
        }
        Op::DropDefault => {
            if table.columns[i].identity {
                return Err(identity());
            }
            let c = &mut table.columns[i];
            c.default = None;
            c.default_replaced = c.sequence.is_some();
        }
        Op::SetNotNull => {
            if !table.columns[i].not_null {
                let rows = super::ddl::all_rows(ctx, table)?;
                if rows
                    .iter()
                    .any(|(_, r)| r.get(i).is_none_or(Value::is_null))
                {
                    return Err(Error::new(
                        code::NOT_NULL_VIOLATION,
                        format!(
                            "column \"{name}\" of relation \"{}\" contains null values",
                            table.name
                        ),
                    ));
                }
                table.columns[i].not_null = true;
            }
        }
        Op::DropNotNull => {
            if table.primary_key.contains(&table.columns[i].id) {
                return Err(Error::new(
                    code::INVALID_TABLE_DEFINITION,
                    format!("column \"{name}\" is in a primary key"),
                ));
            }
            if table.columns[i].identity {
                return Err(identity());
            }
            table.columns[i].not_null = false;
        }
        Op::SetDataType {
            data_type, using, ..
        } => {
            let ty = DataType::from_sql(data_type)?;
            change_type(ctx, table, i, ty, using.as_ref())?;
        }
        other => {
            return Err(Error::unsupported(format!(
                "ALTER COLUMN {other} is not supported"
            )))
        }
    }
    Ok(())
}

/// `ALTER COLUMN ... TYPE ty [USING using]` of column `i`: see the module docs.
fn change_type(
    ctx: &mut Ctx<'_>,
    table: &mut TableDef,
    i: usize,
    ty: DataType,
    using: Option<&ast::Expr>,
) -> Result<()> {
    let name = table.columns[i].name.clone();
    refuse_if_used(ctx, table, i)?;
    if using.is_none() && !assignable(&table.columns[i].ty, &ty) {
        return Err(Error::new(
            code::DATATYPE_MISMATCH,
            format!("column \"{name}\" cannot be cast automatically to type {ty}"),
        ));
    }
    let convert = match using {
        Some(e) => {
            let scope = super::query::table_scope(table, &table.name);
            let mut params = Vec::new();
            Some(
                Binder {
                    scope: &scope,
                    params: &mut params,
                    grouping: None,
                    env: None,
                }
                .bind(e)?
                .0,
            )
        }
        None => None,
    };
    let rows = super::ddl::all_rows(ctx, table)?;
    table.columns[i].ty = ty.clone();
    table.stats = None;
    let keyed = table.primary_key.contains(&table.columns[i].id);
    let ectx = ctx.eval_context();
    let mut rewritten = Vec::with_capacity(rows.len());
    for (key, mut row) in rows {
        let value = match &convert {
            Some(e) => e.eval(&row, &ectx)?,
            None => std::mem::replace(&mut row[i], Value::Null),
        };
        row[i] = value.assign(&ty)?;
        rewritten.push((key, row));
    }
    if keyed {
        // Every old key goes first: a new key may equal a row's old one.
        for (old_key, _) in &rewritten {
            ctx.txn.delete(ctx.engine.data, old_key)?;
        }
    }
    for (old_key, row) in &rewritten {
        super::write::check_row(ctx, table, row)?;
        let key = if keyed {
            let key = row_key(table, row, None);
            if ctx.txn.get(ctx.engine.data, &key)?.is_some() {
                let pkey = table.indexes.iter().find(|x| x.primary);
                return Err(Error::new(
                    code::UNIQUE_VIOLATION,
                    format!(
                        "could not create unique index \"{}\"",
                        pkey.map_or("", |x| x.name.as_str())
                    ),
                ));
            }
            key
        } else {
            old_key.clone()
        };
        ctx.txn
            .put(ctx.engine.data, &key, &encode_row(table, row))?;
    }
    // Index keys encode the old type's values: built again from the rows.
    super::ddl_index::rebuild_all(ctx, table)
}

/// Whether PostgreSQL converts a column of type `from` to `to` without USING (an assignment
/// cast exists): implicit casts, to any string type, and between numeric types.
fn assignable(from: &DataType, to: &DataType) -> bool {
    Value::implicit_cast_ok(from, to) || to.is_string() || (from.is_numeric() && to.is_numeric())
}

/// A column that a view reads or a foreign key joins keeps its type, as in PostgreSQL.
fn refuse_if_used(ctx: &mut Ctx<'_>, table: &TableDef, i: usize) -> Result<()> {
    let c = &table.columns[i];
    let mut readers: Vec<(String, String)> = super::ddl_view::dependent_views(ctx, table)?
        .into_iter()
        .map(|v| (format!("view {}", v.name), v.query))
        .collect();
    for m in super::ddl_drop::dependent_matviews(ctx, table)? {
        if let Some(mv) = m.matview {
            readers.push((format!("materialized view {}", m.name), mv.query));
        }
    }
    for (what, text) in readers {
        let Ok(statements) = crate::parse(&text) else {
            continue;
        };
        let reads = ast::visit_expressions(&statements, |e| {
            let last = match e {
                ast::Expr::Identifier(id) => Some(id),
                ast::Expr::CompoundIdentifier(parts) => parts.last(),
                _ => None,
            };
            match last {
                Some(id) if ident_name(id) == c.name => std::ops::ControlFlow::Break(()),
                _ => std::ops::ControlFlow::Continue(()),
            }
        });
        if reads.is_break() {
            return Err(Error::new(
                code::FEATURE_NOT_SUPPORTED,
                "cannot alter type of a column used by a view or rule",
            )
            .with_detail(format!(
                "rule _RETURN on {what} depends on column \"{}\"",
                c.name
            )));
        }
    }
    if table
        .indexes
        .iter()
        .any(|x| x.ann.is_some() && x.columns.contains(&c.id))
    {
        return Err(Error::unsupported(format!(
            "cannot alter type of column \"{}\": a vector index uses it (drop the index first)",
            c.name
        )));
    }
    let outgoing = table.constraints.iter().any(|k| {
        k.foreign
            .as_ref()
            .is_some_and(|f| f.columns.contains(&c.id))
    });
    let incoming = super::foreign::referencing(ctx, table)?
        .iter()
        .any(|(_, k)| {
            k.foreign
                .as_ref()
                .is_some_and(|f| f.ref_columns.contains(&c.id))
        });
    if outgoing || incoming {
        return Err(Error::new(
            code::FEATURE_NOT_SUPPORTED,
            format!(
                "cannot alter type of column \"{}\": a foreign key constraint uses it",
                c.name
            ),
        ));
    }
    Ok(())
}
