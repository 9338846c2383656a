//! DDL, inside the statement's transaction: CREATE TABLE, CREATE SCHEMA, TRUNCATE, ALTER TABLE
//! (ADD/DROP/RENAME COLUMN, RENAME TO, ADD PRIMARY KEY / CHECK), CREATE SEQUENCE (options in
//! `ddl_sequence`); DROP is `ddl_drop`, VACUUM and ANALYZE are `analyze`. Table data is
//! removed with one range delete over the table's key prefix.

use sqlparser::ast;

use super::query::successor;
use super::{Ctx, Outcome};
use crate::catalog::{ColumnDef, ConstraintDef, IndexDef, SchemaDef, TableDef};
use crate::error::{code, Error, Result};
use crate::expr::ident_name;
use crate::row::{decode_row, encode_row, row_key, table_prefix};
use crate::sequence::SequenceDef;
use crate::types::DataType;

pub fn run(ctx: &mut Ctx<'_>, stmt: &ast::Statement) -> Result<Outcome> {
    match stmt {
        ast::Statement::CreateTable(ct) => create_table(ctx, ct),
        ast::Statement::Drop {
            object_type,
            if_exists,
            names,
            cascade,
            ..
        } => super::ddl_drop::drop(ctx, object_type, *if_exists, names, *cascade),
        ast::Statement::CreateSchema {
            schema_name,
            if_not_exists,
            ..
        } => {
            let name = match schema_name {
                ast::SchemaName::Simple(n) | ast::SchemaName::NamedAuthorization(n, _) => {
                    n.to_string().trim_matches('"').to_string()
                }
                ast::SchemaName::UnnamedAuthorization(id) => ident_name(id),
            };
            if ctx.catalog().schema_exists(&name)? {
                if *if_not_exists {
                    return Ok(Outcome::Command("CREATE SCHEMA".into()));
                }
                return Err(Error::new(
                    code::DUPLICATE_SCHEMA,
                    format!("schema \"{name}\" already exists"),
                ));
            }
            let oid = ctx.engine.next_oid(&mut ctx.waits)?;
            ctx.catalog().create_schema(&SchemaDef { name, oid })?;
            Ok(Outcome::Command("CREATE SCHEMA".into()))
        }
        ast::Statement::Truncate(t) => {
            let mut tables = Vec::new();
            for target in &t.table_names {
                let table = ctx.resolve_table(&target.name)?;
                super::ddl_matview::refuse_as_table(&table, "")?;
                tables.push(table);
            }
            if matches!(t.cascade, Some(ast::CascadeOption::Cascade)) {
                // Every table referencing a truncated one is truncated too, transitively.
                let mut i = 0;
                while let Some(table) = tables.get(i).cloned() {
                    for (child, _) in super::foreign::referencing(ctx, &table)? {
                        if !tables.iter().any(|t| t.id == child.id) {
                            tables.push(child);
                        }
                    }
                    i += 1;
                }
            }
            for table in &tables {
                for (child, c) in super::foreign::referencing(ctx, table)? {
                    if !tables.iter().any(|t| t.id == child.id) {
                        return Err(Error::new(
                            code::FEATURE_NOT_SUPPORTED,
                            "cannot truncate a table referenced in a foreign key constraint",
                        )
                        .with_detail(format!(
                            "Table \"{}\" references \"{}\" (constraint {}).",
                            child.name, table.name, c.name
                        )));
                    }
                }
            }
            for table in &tables {
                clear_table(ctx, table)?;
                if table.stats.is_some() {
                    // As PostgreSQL, a truncated table's size is unknown until ANALYZE.
                    let mut def = table.clone();
                    def.stats = None;
                    ctx.catalog().put_table(&def)?;
                }
            }
            Ok(Outcome::Command("TRUNCATE TABLE".into()))
        }
        ast::Statement::AlterTable(at) => alter_table(ctx, at),
        ast::Statement::CreateIndex(ci) => super::ddl_index::create_index(ctx, ci),
        ast::Statement::CreateDatabase {
            db_name,
            if_not_exists,
            ..
        } => super::ddl_database::create_database(ctx, db_name, *if_not_exists),
        ast::Statement::CreateView(cv) => super::ddl_view::create_view(ctx, cv),
        ast::Statement::RefreshMaterializedView(r) => super::ddl_matview::refresh(ctx, r),
        ast::Statement::Vacuum(v) => super::analyze::vacuum(ctx, v.table_name.as_ref()),
        stmt if crate::parse::is_checkpoint(stmt) => super::analyze::checkpoint(ctx),
        ast::Statement::Analyze(a) => super::analyze::statement(ctx, a),
        ast::Statement::CreateSequence {
            name,
            if_not_exists,
            sequence_options,
            ..
        } => super::ddl_sequence::create_sequence(ctx, name, *if_not_exists, sequence_options),
        ast::Statement::CreateExtension(ce) => {
            let name = &ce.name.value;
            available(name)?;
            if ctx.catalog().extensions()?.contains(name) || name == "plpgsql" {
                if ce.if_not_exists {
                    return Ok(Outcome::Command("CREATE EXTENSION".into()));
                }
                return Err(Error::new(
                    code::DUPLICATE_OBJECT,
                    format!("extension \"{name}\" already exists"),
                ));
            }
            ctx.catalog().set_extension(name, true)?;
            Ok(Outcome::Command("CREATE EXTENSION".into()))
        }
        ast::Statement::DropExtension(de) => {
            for id in &de.names {
                let name = &id.value;
                if !ctx.catalog().extensions()?.contains(name) {
                    if de.if_exists {
                        continue;
                    }
                    return Err(Error::new(
                        code::UNDEFINED_OBJECT,
                        format!("extension \"{name}\" does not exist"),
                    ));
                }
                ctx.catalog().set_extension(name, false)?;
            }
            Ok(Outcome::Command("DROP EXTENSION".into()))
        }
        other => Err(super::not_supported(other)),
    }
}

/// The extensions Orbit has built in (pg_extension lists them).
const BUILT_IN_EXTENSIONS: &[&str] = &["plpgsql", "vector"];

/// CREATE / DROP EXTENSION of a built-in extension records it in the database (pg_extension
/// shows it) and its objects always exist; any other extension is not available.
fn available(name: &str) -> Result<()> {
    if BUILT_IN_EXTENSIONS.contains(&name) {
        return Ok(());
    }
    Err(Error::new(
        code::FEATURE_NOT_SUPPORTED,
        format!("extension \"{name}\" is not available"),
    )
    .with_detail(format!(
        "Orbit has these extensions built in: {}.",
        BUILT_IN_EXTENSIONS.join(", ")
    )))
}

fn column_def(
    ctx: &mut Ctx<'_>,
    id: u32,
    (schema, table): (&str, &str),
    c: &ast::ColumnDef,
) -> Result<ColumnDef2> {
    let name = ident_name(&c.name);
    let type_name = c.data_type.to_string().to_lowercase();
    let serial = match type_name.as_str() {
        "serial" | "serial4" => Some(DataType::Int4),
        "bigserial" | "serial8" => Some(DataType::Int8),
        "smallserial" | "serial2" => Some(DataType::Int2),
        _ => None,
    };
    let ty = match &serial {
        Some(t) => t.clone(),
        None => DataType::from_sql(&c.data_type)?,
    };
    let mut col = ColumnDef::plain(id, name.clone(), ty.clone());
    let mut primary = false;
    let mut constraints = Vec::new();
    let mut wants_sequence = serial.is_some();
    let mut identity_options: &[ast::SequenceOptions] = &[];
    let mut later = Vec::new();
    for opt in &c.options {
        match &opt.option {
            ast::ColumnOption::Null => col.not_null = false,
            ast::ColumnOption::NotNull => col.not_null = true,
            ast::ColumnOption::Default(e) => col.default = Some(e.to_string()),
            ast::ColumnOption::PrimaryKey(_) => {
                primary = true;
                col.not_null = true;
            }
            ast::ColumnOption::Check(ch) => {
                let cname = ch
                    .name
                    .as_ref()
                    .map(ident_name)
                    .or_else(|| opt.name.as_ref().map(ident_name))
                    .unwrap_or_else(|| check_name(table, &ch.expr));
                constraints.push(ConstraintDef {
                    name: cname,
                    oid: ctx.engine.next_oid(&mut ctx.waits)?,
                    kind: 'c',
                    check: Some(ch.expr.to_string()),
                    index: None,
                    foreign: None,
                });
            }
            ast::ColumnOption::Generated {
                generated_as,
                generation_expr: None,
                sequence_options,
                ..
            } => {
                identity_options = sequence_options.as_deref().unwrap_or_default();
                if !matches!(ty, DataType::Int2 | DataType::Int4 | DataType::Int8) {
                    return Err(Error::new(
                        code::INVALID_COLUMN_DEFINITION,
                        "identity column type must be smallint, integer, or bigint",
                    ));
                }
                wants_sequence = true;
                col.not_null = true;
                col.identity_always = matches!(generated_as, ast::GeneratedAs::Always);
                col.identity = true;
            }
            ast::ColumnOption::Unique(u) => {
                let mut u = u.clone();
                if u.columns.is_empty() {
                    u.columns.push(ast::IndexColumn::from(c.name.clone()));
                }
                u.name = u.name.or_else(|| opt.name.clone());
                later.push(ast::TableConstraint::Unique(u));
            }
            ast::ColumnOption::ForeignKey(fk) => {
                let mut fk = fk.clone();
                if fk.columns.is_empty() {
                    fk.columns.push(c.name.clone());
                }
                fk.name = fk.name.or_else(|| opt.name.clone());
                later.push(ast::TableConstraint::ForeignKey(fk));
            }
            ast::ColumnOption::Collation(_) | ast::ColumnOption::Comment(_) => {}
            other => {
                return Err(Error::unsupported(format!("column option {other}")));
            }
        }
    }
    if wants_sequence {
        let seq = ctx.sequence_name(schema, &format!("{table}_{name}_seq"));
        let oid = ctx.engine.next_oid(&mut ctx.waits)?;
        if !ctx.engine.sequences.exists(&seq)? {
            let def = super::ddl_sequence::sequence_def(identity_options, &ty, oid)?;
            ctx.engine.sequences.create(&seq, def, &mut ctx.waits)?;
        }
        col.default = Some(format!("nextval('{table}_{name}_seq'::regclass)"));
        col.sequence = Some(seq);
        col.not_null = true;
    }
    Ok((col, primary, constraints, later))
}

/// A column definition: the column, whether it is the primary key, its CHECK constraints,
/// and its UNIQUE / REFERENCES constraints (added once the table's key is known).
type ColumnDef2 = (
    ColumnDef,
    bool,
    Vec<ConstraintDef>,
    Vec<ast::TableConstraint>,
);

fn create_table(ctx: &mut Ctx<'_>, ct: &ast::CreateTable) -> Result<Outcome> {
    if let Some(q) = &ct.query {
        return super::ddl_create_as::from_create(ctx, ct, q);
    }
    let (schema, name) = ctx.qualify_new(&ct.name)?;
    if !ctx.catalog().schema_exists(&schema)? {
        return Err(Error::new(
            code::UNDEFINED_SCHEMA,
            format!("schema \"{schema}\" does not exist"),
        ));
    }
    if super::ddl_index::relation_exists(ctx, &schema, &name)? {
        if ct.if_not_exists {
            return Ok(Outcome::Command("CREATE TABLE".into()));
        }
        return Err(Error::new(
            code::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    let oid = ctx.engine.next_oid(&mut ctx.waits)?;
    let mut table = TableDef::empty(oid, oid, schema.clone(), name.clone());
    let mut pk_cols: Vec<String> = Vec::new();
    let mut later = Vec::new();
    for c in &ct.columns {
        let id = table.next_column_id;
        table.next_column_id += 1;
        let (col, primary, cons, more) = column_def(ctx, id, (&schema, &name), c)?;
        later.extend(more);
        if table.column_index(&col.name).is_some() {
            return Err(Error::new(
                code::DUPLICATE_COLUMN,
                format!("column \"{}\" specified more than once", col.name),
            ));
        }
        if primary {
            if !pk_cols.is_empty() {
                return Err(multiple_pk(&name));
            }
            pk_cols.push(col.name.clone());
        }
        table.columns.push(col);
        table.constraints.extend(cons);
    }
    for tc in &ct.constraints {
        match tc {
            ast::TableConstraint::Unique(_) | ast::TableConstraint::ForeignKey(_) => {
                later.push(tc.clone())
            }
            _ => add_constraint(ctx, &mut table, tc, &mut pk_cols)?,
        }
    }
    if !pk_cols.is_empty() {
        set_primary_key(ctx, &mut table, &pk_cols, None)?;
    }
    for tc in &later {
        add_constraint(ctx, &mut table, tc, &mut pk_cols)?;
    }
    ctx.catalog().put_table(&table)?;
    if table.primary_key.is_empty() {
        ctx.engine.sequences.create(
            &super::write::rowid_sequence(&table),
            SequenceDef::new(i64::MAX, 0),
            &mut ctx.waits,
        )?;
    }
    Ok(Outcome::Command("CREATE TABLE".into()))
}

/// PostgreSQL's name for an unnamed CHECK on `table`: `{table}_{column}_check` when the
/// expression reads one column, else `{table}_check`.
fn check_name(table: &str, expr: &ast::Expr) -> String {
    let mut columns = std::collections::BTreeSet::new();
    let _ = ast::visit_expressions(expr, |e| {
        match e {
            ast::Expr::Identifier(id) => {
                columns.insert(ident_name(id));
            }
            ast::Expr::CompoundIdentifier(parts) => {
                if let Some(last) = parts.last() {
                    columns.insert(ident_name(last));
                }
            }
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    match columns.iter().next() {
        Some(column) if columns.len() == 1 => format!("{table}_{column}_check"),
        _ => format!("{table}_check"),
    }
}

fn multiple_pk(table: &str) -> Error {
    Error::new(
        code::INVALID_TABLE_DEFINITION,
        format!("multiple primary keys for table \"{table}\" are not allowed"),
    )
}

fn add_constraint(
    ctx: &mut Ctx<'_>,
    table: &mut TableDef,
    tc: &ast::TableConstraint,
    pk_cols: &mut Vec<String>,
) -> Result<()> {
    match tc {
        ast::TableConstraint::PrimaryKey(pk) => {
            if !pk_cols.is_empty() || !table.primary_key.is_empty() {
                return Err(multiple_pk(&table.name));
            }
            for c in &pk.columns {
                pk_cols.push(match &c.column.expr {
                    ast::Expr::Identifier(id) => ident_name(id),
                    other => {
                        return Err(Error::unsupported(format!(
                            "primary key on expression {other}"
                        )))
                    }
                });
            }
            if let Some(n) = &pk.name {
                table.constraints.push(ConstraintDef {
                    name: ident_name(n),
                    oid: ctx.engine.next_oid(&mut ctx.waits)?,
                    kind: 'p',
                    check: None,
                    index: Some(0),
                    foreign: None,
                });
            }
            Ok(())
        }
        ast::TableConstraint::Check(ch) => {
            let cname = ch
                .name
                .as_ref()
                .map(ident_name)
                .unwrap_or_else(|| check_name(&table.name, &ch.expr));
            table.constraints.push(ConstraintDef {
                name: cname,
                oid: ctx.engine.next_oid(&mut ctx.waits)?,
                kind: 'c',
                check: Some(ch.expr.to_string()),
                index: None,
                foreign: None,
            });
            Ok(())
        }
        ast::TableConstraint::Unique(u) => {
            let exists = ctx.catalog().table(&table.schema, &table.name)?.is_some();
            super::ddl_index::add_unique(ctx, table, u, exists)
        }
        ast::TableConstraint::ForeignKey(fk) => {
            let exists = ctx.catalog().table(&table.schema, &table.name)?.is_some();
            super::foreign::add_foreign_key(ctx, table, fk, exists)
        }
        other => Err(Error::unsupported(format!(
            "constraint is not supported yet: {other}"
        ))),
    }
}

/// Makes `cols` the primary key (NOT NULL), re-keying existing rows.
fn set_primary_key(
    ctx: &mut Ctx<'_>,
    table: &mut TableDef,
    cols: &[String],
    existing_rows: Option<Vec<(Vec<u8>, Vec<crate::types::Value>)>>,
) -> Result<()> {
    let mut ids = Vec::new();
    for c in cols {
        let i = table.column_index(c).ok_or_else(|| {
            Error::new(
                code::UNDEFINED_COLUMN,
                format!("column \"{c}\" named in key does not exist"),
            )
        })?;
        let col = &mut table.columns[i];
        if !crate::row::keyable(&col.ty) {
            return Err(Error::new(
                code::UNDEFINED_FUNCTION,
                format!(
                    "data type {} has no default operator class for access method \"btree\"",
                    col.ty
                ),
            ));
        }
        col.not_null = true;
        ids.push(col.id);
    }
    table.primary_key = ids;
    if !table.constraints.iter().any(|c| c.kind == 'p') {
        table.constraints.push(ConstraintDef {
            name: format!("{}_pkey", table.name),
            oid: ctx.engine.next_oid(&mut ctx.waits)?,
            kind: 'p',
            check: None,
            index: Some(0),
            foreign: None,
        });
    }
    let pkey_name = table
        .constraints
        .iter()
        .find(|c| c.kind == 'p')
        .map(|c| c.name.clone())
        .unwrap_or_default();
    table.indexes.retain(|i| !i.primary);
    table.indexes.insert(
        0,
        IndexDef {
            id: 0,
            oid: ctx.engine.next_oid(&mut ctx.waits)?,
            name: pkey_name,
            columns: table.primary_key.clone(),
            unique: true,
            primary: true,
            ann: None,
            bitmap: false,
        },
    );
    if let Some(rows) = existing_rows {
        for (old_key, row) in rows {
            ctx.txn.delete(ctx.engine.data, &old_key)?;
            for (c, v) in table.columns.iter().zip(&row) {
                if c.not_null && v.is_null() {
                    return Err(Error::new(
                        code::NOT_NULL_VIOLATION,
                        format!(
                            "column \"{}\" of relation \"{}\" contains null values",
                            c.name, table.name
                        ),
                    ));
                }
            }
            let key = row_key(table, &row, None);
            if ctx.txn.get(ctx.engine.data, &key)?.is_some() {
                return Err(Error::new(
                    code::UNIQUE_VIOLATION,
                    format!("could not create unique index \"{}_pkey\"", table.name),
                ));
            }
            ctx.txn
                .put(ctx.engine.data, &key, &encode_row(table, &row))?;
        }
    }
    Ok(())
}

/// Drops the sequences a table owns (its serial and identity columns', its hidden row id's)
/// when the transaction commits: sequences are not transactional, the table's drop is.
pub(crate) fn drop_owned_sequences(ctx: &mut Ctx<'_>, table: &TableDef) -> Result<()> {
    let mut owned: Vec<String> = table
        .columns
        .iter()
        .filter_map(|c| c.sequence.clone())
        .collect();
    if table.primary_key.is_empty() {
        owned.push(super::dml::rowid_sequence(table));
    }
    // Dropped at commit only if it exists (a table that never had a bitmap index has none).
    owned.push(super::bitmap_index::ordinal_sequence(table));
    ctx.dropped
        .extend(owned.into_iter().map(crate::session::Dropped::Sequence));
    super::ann::drop_stores(ctx, table);
    Ok(())
}

pub(super) fn clear_table(ctx: &mut Ctx<'_>, table: &TableDef) -> Result<()> {
    let start = table_prefix(table.id);
    let end = successor(&start);
    ctx.txn.delete_range(ctx.engine.data, &start, &end)?;
    Ok(())
}

pub(super) fn all_rows(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
) -> Result<Vec<(Vec<u8>, Vec<crate::types::Value>)>> {
    super::query::scan_rows(ctx, table, &super::query::Access::Full, false)
}

fn alter_table(ctx: &mut Ctx<'_>, at: &ast::AlterTable) -> Result<Outcome> {
    let (schema, name) = ctx.qualify(&at.name)?;
    let Some(mut table) = ctx.catalog().table(&schema, &name)? else {
        if at.if_exists {
            return Ok(Outcome::Command("ALTER TABLE".into()));
        }
        return Err(super::query::no_table(&name));
    };
    super::ddl_matview::refuse_alter(&table, &at.operations)?;
    let mut renamed = None;
    for op in &at.operations {
        match op {
            ast::AlterTableOperation::AddColumn {
                if_not_exists,
                column_def,
                ..
            } => {
                let cname = ident_name(&column_def.name);
                if table.column_index(&cname).is_some() {
                    if *if_not_exists {
                        continue;
                    }
                    return Err(Error::new(
                        code::DUPLICATE_COLUMN,
                        format!("column \"{cname}\" of relation \"{name}\" already exists"),
                    ));
                }
                let id = table.next_column_id;
                table.next_column_id += 1;
                let (col, primary, cons, more) =
                    self::column_def(ctx, id, (&schema, &name), column_def)?;
                if primary {
                    return Err(Error::unsupported("ADD COLUMN ... PRIMARY KEY"));
                }
                let rows = all_rows(ctx, &table)?;
                table.columns.push(col);
                table.constraints.extend(cons);
                let pos = table.columns.len() - 1;
                // Existing rows take the new column's default (evaluated per row, as
                // PostgreSQL does for volatile defaults) and must satisfy NOT NULL.
                for (key, mut row) in rows {
                    let v = super::write::default_for(ctx, &table, pos)?;
                    if v.is_null() && table.columns[pos].not_null {
                        return Err(Error::new(
                            code::NOT_NULL_VIOLATION,
                            format!(
                                "column \"{cname}\" of relation \"{name}\" contains null values"
                            ),
                        ));
                    }
                    if v.is_null() {
                        continue;
                    }
                    row.push(v);
                    ctx.txn
                        .put(ctx.engine.data, &key, &encode_row(&table, &row))?;
                }
                for tc in &more {
                    let mut pk = Vec::new();
                    add_constraint(ctx, &mut table, tc, &mut pk)?;
                }
            }
            ast::AlterTableOperation::DropColumn {
                column_names,
                if_exists,
                drop_behavior,
                ..
            } => {
                let cascade = matches!(drop_behavior, Some(ast::DropBehavior::Cascade));
                for cn in column_names {
                    let cname = ident_name(cn);
                    let Some(i) = table.column_index(&cname) else {
                        if *if_exists {
                            continue;
                        }
                        return Err(Error::new(
                            code::UNDEFINED_COLUMN,
                            format!("column \"{cname}\" of relation \"{name}\" does not exist"),
                        ));
                    };
                    let id = table.columns[i].id;
                    // Foreign keys referencing the column; then the primary key it is in.
                    let dropping = super::ddl_key::Dropping::Column(&cname);
                    super::ddl_key::drop_referencing_keys(
                        ctx,
                        &table,
                        &dropping,
                        cascade,
                        |cols| cols.contains(&id),
                    )?;
                    if table.primary_key.contains(&id) {
                        super::ddl_key::drop_primary_key(ctx, &mut table, true)?;
                    }
                    super::ddl_index::drop_indexes_on(ctx, &mut table, id)?;
                    table
                        .constraints
                        .retain(|c| c.foreign.as_ref().is_none_or(|f| !f.columns.contains(&id)));
                    table.columns.remove(i);
                }
            }
            ast::AlterTableOperation::DropConstraint {
                name: cname,
                if_exists,
                drop_behavior,
            } => {
                let cname = ident_name(cname);
                let Some(c) = table.constraints.iter().find(|c| c.name == cname).cloned() else {
                    if *if_exists {
                        continue;
                    }
                    return Err(Error::new(
                        code::UNDEFINED_OBJECT,
                        format!("constraint \"{cname}\" of relation \"{name}\" does not exist"),
                    ));
                };
                let cascade = matches!(drop_behavior, Some(ast::DropBehavior::Cascade));
                if c.kind == 'p' {
                    super::ddl_key::drop_primary_key(ctx, &mut table, cascade)?;
                    continue;
                }
                if let Some(index) = c
                    .index
                    .and_then(|id| table.indexes.iter().find(|i| i.id == id))
                {
                    let (columns, dropping) =
                        (index.columns.clone(), super::ddl_key::Dropping::Key(&cname));
                    super::ddl_key::drop_referencing_keys(
                        ctx,
                        &table,
                        &dropping,
                        cascade,
                        |cols| super::ddl_key::same_columns(cols, &columns),
                    )?;
                }
                table.constraints.retain(|x| x.name != cname);
                if let Some(index) = c
                    .index
                    .and_then(|id| table.indexes.iter().find(|i| i.id == id).cloned())
                {
                    super::index::clear(ctx, &table, &index)?;
                    table.indexes.retain(|i| i.id != index.id);
                }
            }
            ast::AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                let old = ident_name(old_column_name);
                let new = ident_name(new_column_name);
                if table.column_index(&new).is_some() {
                    return Err(Error::new(
                        code::DUPLICATE_COLUMN,
                        format!("column \"{new}\" of relation \"{name}\" already exists"),
                    ));
                }
                let i = table.column_index(&old).ok_or_else(|| {
                    Error::new(
                        code::UNDEFINED_COLUMN,
                        format!("column \"{old}\" does not exist"),
                    )
                })?;
                table.columns[i].name = new;
            }
            ast::AlterTableOperation::RenameTable { table_name } => {
                let n = match table_name {
                    ast::RenameTableNameKind::As(n) | ast::RenameTableNameKind::To(n) => n,
                };
                let (_, new) = ctx.qualify(n)?;
                if ctx.catalog().table(&schema, &new)?.is_some() {
                    return Err(Error::new(
                        code::DUPLICATE_TABLE,
                        format!("relation \"{new}\" already exists"),
                    ));
                }
                renamed = Some(new);
            }
            ast::AlterTableOperation::AddConstraint { constraint, .. } => {
                let mut pk = Vec::new();
                add_constraint(ctx, &mut table, constraint, &mut pk)?;
                if !pk.is_empty() {
                    let rows = all_rows(ctx, &table)?;
                    set_primary_key(ctx, &mut table, &pk, Some(rows))?;
                    super::ddl_index::rebuild_all(ctx, &table)?;
                } else if let Some(c) = table.constraints.last().cloned() {
                    if c.kind == 'c' {
                        // Existing rows must satisfy a new CHECK.
                        for (_, row) in all_rows(ctx, &table)? {
                            super::write::check_row(ctx, &table, &row).map_err(|_| {
                                Error::new(
                                    code::CHECK_VIOLATION,
                                    format!("check constraint \"{}\" of relation \"{name}\" is violated by some row", c.name),
                                )
                            })?;
                        }
                    }
                }
            }
            ast::AlterTableOperation::AlterColumn { column_name, op } => {
                super::ddl_alter_column::alter_column(ctx, &mut table, column_name, op)?;
            }
            other => {
                return Err(Error::unsupported(format!(
                    "ALTER TABLE {other} is not supported yet"
                )))
            }
        }
    }
    if let Some(new) = renamed {
        ctx.catalog().delete_table(&schema, &name)?;
        table.name = new;
    }
    ctx.catalog().put_table(&table)?;
    let _ = decode_row;
    Ok(Outcome::Command("ALTER TABLE".into()))
}
