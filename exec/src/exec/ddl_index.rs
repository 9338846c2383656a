//! CREATE INDEX, DROP INDEX and UNIQUE constraints: catalog entries for secondary indexes
//! (btree, bitmap and vector; built from the table's rows in the statement's transaction)
//! and their names, which share the schema's relation namespace with tables, as in
//! PostgreSQL.

use sqlparser::ast;

use super::{Ctx, Outcome};
use crate::catalog::{AnnDef, ConstraintDef, IndexDef, TableDef};
use crate::error::{code, Error, Result};
use crate::expr::ident_name;

/// The column name an index column names (plain columns only).
fn index_column(c: &ast::IndexColumn) -> Result<String> {
    match &c.column.expr {
        ast::Expr::Identifier(id) => Ok(ident_name(id)),
        other => Err(Error::unsupported(format!(
            "indexes on expressions are not supported yet: {other}"
        ))),
    }
}

/// Whether `name` is taken by a table, view or index of `schema`.
pub fn relation_exists(ctx: &mut Ctx<'_>, schema: &str, name: &str) -> Result<bool> {
    if ctx.catalog().table(schema, name)?.is_some() || ctx.catalog().view(schema, name)?.is_some() {
        return Ok(true);
    }
    Ok(find_index(ctx, schema, name)?.is_some())
}

/// The table owning index `name` of `schema`.
pub fn find_index(ctx: &mut Ctx<'_>, schema: &str, name: &str) -> Result<Option<TableDef>> {
    Ok(ctx
        .catalog()
        .tables()?
        .into_iter()
        .find(|t| t.schema == schema && t.indexes.iter().any(|i| i.name == name)))
}

/// A name `base`, `base1`, `base2`, ... not taken in `schema` (PostgreSQL's choice for
/// generated index and constraint names).
fn free_name(ctx: &mut Ctx<'_>, table: &TableDef, base: String) -> Result<String> {
    let mut name = base.clone();
    let mut n = 0;
    while relation_exists(ctx, &table.schema, &name)?
        || table.indexes.iter().any(|i| i.name == name)
        || table.constraints.iter().any(|c| c.name == name)
    {
        n += 1;
        name = format!("{base}{n}");
    }
    Ok(name)
}

/// What kind of secondary index to add.
pub enum IndexKind {
    Btree,
    /// `USING bitmap`: one column, not unique (see `bitmap_index`).
    Bitmap,
    /// A vector index (`USING hnsw` / `USING ivfflat`).
    Ann(AnnDef),
}

/// Adds a secondary index over `columns` to `table` (the caller stores the table), of `kind`;
/// fills it from existing rows when `build`.
pub fn add_index(
    ctx: &mut Ctx<'_>,
    table: &mut TableDef,
    name: Option<String>,
    columns: &[String],
    unique: bool,
    build: bool,
    kind: IndexKind,
) -> Result<IndexDef> {
    let method = match &kind {
        IndexKind::Btree => "btree",
        IndexKind::Bitmap => "bitmap",
        IndexKind::Ann(def) => def.method.as_str(),
    };
    let mut ids = Vec::with_capacity(columns.len());
    for c in columns {
        let Some(i) = table.column_index(c) else {
            return Err(Error::new(
                code::UNDEFINED_COLUMN,
                format!("column \"{c}\" does not exist"),
            ));
        };
        let col = &table.columns[i];
        if !crate::row::keyable(&col.ty) {
            return Err(Error::new(
                code::UNDEFINED_OBJECT,
                format!(
                    "data type {} has no default operator class for access method \"{method}\"",
                    col.ty
                ),
            ));
        }
        ids.push(col.id);
    }
    let suffix = if unique { "key" } else { "idx" };
    let name = match name {
        Some(n) => {
            if relation_exists(ctx, &table.schema, &n)? || table.indexes.iter().any(|i| i.name == n)
            {
                return Err(Error::new(
                    code::DUPLICATE_TABLE,
                    format!("relation \"{n}\" already exists"),
                ));
            }
            n
        }
        None => free_name(
            ctx,
            table,
            format!("{}_{}_{suffix}", table.name, columns.join("_")),
        )?,
    };
    let bitmap = matches!(kind, IndexKind::Bitmap);
    let ann = match kind {
        IndexKind::Ann(def) => Some(def),
        IndexKind::Btree | IndexKind::Bitmap => None,
    };
    let mut index = IndexDef {
        id: table.next_index_id,
        oid: ctx.engine.next_oid(&mut ctx.waits)?,
        name,
        columns: ids,
        unique,
        primary: false,
        ann,
        bitmap,
    };
    table.next_index_id += 1;
    if build && index.ann.is_some() {
        // A vector index is built into a storage generation of its own before it is listed.
        super::ann::build(ctx, table, &mut index)?;
        table.indexes.push(index.clone());
        return Ok(index);
    }
    table.indexes.push(index.clone());
    if build {
        super::index::build(ctx, table, &index)?;
    }
    Ok(index)
}

/// A UNIQUE constraint: a unique index and the constraint naming it.
pub fn add_unique(
    ctx: &mut Ctx<'_>,
    table: &mut TableDef,
    u: &ast::UniqueConstraint,
    build: bool,
) -> Result<()> {
    let columns = u
        .columns
        .iter()
        .map(index_column)
        .collect::<Result<Vec<_>>>()?;
    let name = u.name.as_ref().map(ident_name);
    let index = add_index(ctx, table, name, &columns, true, build, IndexKind::Btree)?;
    table.constraints.push(ConstraintDef {
        name: index.name.clone(),
        oid: ctx.engine.next_oid(&mut ctx.waits)?,
        kind: 'u',
        check: None,
        index: Some(index.id),
        foreign: None,
    });
    Ok(())
}

/// CREATE [UNIQUE] INDEX [IF NOT EXISTS] [name] ON table [USING btree | bitmap | hnsw |
/// ivfflat] (columns) [WITH (...)].
pub fn create_index(ctx: &mut Ctx<'_>, ci: &ast::CreateIndex) -> Result<Outcome> {
    let method = ci.using.as_ref().map(|u| u.to_string().to_lowercase());
    if let Some(m) = method.as_deref() {
        if m != "btree" && m != "bitmap" && !super::ann::is_method(m) {
            return Err(Error::unsupported(format!(
                "access method \"{m}\" is not supported yet"
            )));
        }
    }
    if ci.predicate.is_some() {
        return Err(Error::unsupported("partial indexes are not supported yet"));
    }
    let mut table = ctx.resolve_table(&ci.table_name)?;
    let name = match &ci.name {
        Some(n) => Some(ctx.qualify(n)?.1),
        None => None,
    };
    if let Some(n) = &name {
        if ci.if_not_exists && relation_exists(ctx, &table.schema, n)? {
            return Ok(Outcome::Command("CREATE INDEX".into()));
        }
    }
    let columns = || {
        ci.columns
            .iter()
            .map(index_column)
            .collect::<Result<Vec<_>>>()
    };
    let (columns, kind) = match method.as_deref() {
        Some(m) if super::ann::is_method(m) => {
            let (column, def) = super::ann::define(&table, ci, m)?;
            (vec![column], IndexKind::Ann(def))
        }
        Some("bitmap") => {
            super::bitmap_index::check_definition(ci)?;
            (columns()?, IndexKind::Bitmap)
        }
        _ => (columns()?, IndexKind::Btree),
    };
    add_index(ctx, &mut table, name, &columns, ci.unique, true, kind)?;
    ctx.catalog().put_table(&table)?;
    Ok(Outcome::Command("CREATE INDEX".into()))
}

/// DROP INDEX [IF EXISTS] names.
pub fn drop_index(
    ctx: &mut Ctx<'_>,
    names: &[ast::ObjectName],
    if_exists: bool,
) -> Result<Outcome> {
    for n in names {
        let (schema, name) = ctx.qualify(n)?;
        let Some(mut table) = find_index(ctx, &schema, &name)? else {
            if if_exists {
                continue;
            }
            return Err(Error::new(
                code::UNDEFINED_OBJECT,
                format!("index \"{name}\" does not exist"),
            ));
        };
        let Some(index) = table.indexes.iter().find(|i| i.name == name).cloned() else {
            continue;
        };
        if let Some(c) = table.constraints.iter().find(|c| c.index == Some(index.id)) {
            return Err(Error::new(
                code::DEPENDENT_OBJECTS_STILL_EXIST,
                format!(
                    "cannot drop index {name} because constraint {} on table {} requires it",
                    c.name, table.name
                ),
            ));
        }
        super::index::clear(ctx, &table, &index)?;
        table.indexes.retain(|i| i.id != index.id);
        ctx.catalog().put_table(&table)?;
    }
    Ok(Outcome::Command("DROP INDEX".into()))
}

/// Drops the secondary indexes (and their constraints) that cover column `id`, as DROP
/// COLUMN does.
pub fn drop_indexes_on(ctx: &mut Ctx<'_>, table: &mut TableDef, id: u32) -> Result<()> {
    let doomed: Vec<IndexDef> = table
        .indexes
        .iter()
        .filter(|i| !i.primary && i.columns.contains(&id))
        .cloned()
        .collect();
    for index in doomed {
        super::index::clear(ctx, table, &index)?;
        table.indexes.retain(|i| i.id != index.id);
        table.constraints.retain(|c| c.index != Some(index.id));
    }
    Ok(())
}

/// Rebuilds every secondary index (after the table's rows were re-keyed). Vector indexes
/// keep their graph and get nodes under the new keys.
pub fn rebuild_all(ctx: &mut Ctx<'_>, table: &TableDef) -> Result<()> {
    // Ordinals are keyed by the rows' old storage keys.
    super::bitmap_index::clear_ordinals(ctx, table)?;
    for index in table.indexes.iter().filter(|i| !i.primary) {
        if index.ann.is_none() {
            super::index::clear(ctx, table, index)?;
        }
        super::index::build(ctx, table, index)?;
    }
    Ok(())
}
