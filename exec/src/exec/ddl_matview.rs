//! Materialized views: CREATE MATERIALIZED VIEW, REFRESH MATERIALIZED VIEW and DROP
//! MATERIALIZED VIEW.
//!
//! A materialized view is a table (rows and indexes stored as any table's) marked with its
//! query ([`MatView`]). Its query is planned and its `*`s expanded once, at creation, as a
//! view's. REFRESH replaces every row with the query's, in the statement's transaction:
//! readers keep seeing the old rows until it commits, so `CONCURRENTLY` (which PostgreSQL
//! offers to let reads go on) is the same operation here, with PostgreSQL's preconditions.
//!
//! Invariants: only REFRESH (and creation) writes a materialized view's rows; INSERT, UPDATE,
//! DELETE, TRUNCATE, COPY and ALTER TABLE refuse one (42809, [`refuse_change`] and
//! friends); one created or refreshed `WITH NO DATA` cannot be read until a REFRESH fills it
//! (55000, [`check_populated`]).

use sqlparser::ast;

use super::ddl_create_as::{make_table, Target};
use super::query::{plan_query, run_select, SelectPlan};
use super::write::NewRows;
use super::{Ctx, Outcome};
use crate::catalog::{MatView, TableDef};
use crate::error::{code, Error, Result};
use crate::expr::ident_name;

/// `CREATE MATERIALIZED VIEW [IF NOT EXISTS] name [(columns)] AS query [WITH [NO] DATA]`;
/// tagged `SELECT n` when filled, as PostgreSQL's.
pub fn create(ctx: &mut Ctx<'_>, cv: &ast::CreateView) -> Result<Outcome> {
    if cv.or_replace {
        return Err(Error::syntax("syntax error at or near \"MATERIALIZED\""));
    }
    let (schema, name) = ctx.qualify_new(&cv.name)?;
    if super::ddl_index::relation_exists(ctx, &schema, &name)? {
        if cv.if_not_exists {
            return Ok(Outcome::Command("CREATE MATERIALIZED VIEW".into()));
        }
        return Err(Error::new(
            code::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    let (query, plan) = super::ddl_view::plan_expanded(ctx, &cv.query)?;
    let target = Target {
        name: cv.name.clone(),
        columns: cv.columns.iter().map(|c| ident_name(&c.name)).collect(),
        if_not_exists: false,
    };
    make_table(ctx, &target, &plan.columns)?;
    let Some(mut table) = ctx.catalog().table(&schema, &name)? else {
        return Err(internal("the materialized view's table was not created"));
    };
    table.matview = Some(MatView {
        query: query.to_string(),
        populated: false,
    });
    if crate::parse::with_no_data(cv) {
        ctx.catalog().put_table(&table)?;
        return Ok(Outcome::Command("CREATE MATERIALIZED VIEW".into()));
    }
    let n = fill(ctx, &mut table, &plan)?;
    Ok(Outcome::Command(format!("SELECT {n}")))
}

/// `REFRESH MATERIALIZED VIEW [CONCURRENTLY] name [WITH [NO] DATA]`.
pub fn refresh(ctx: &mut Ctx<'_>, r: &ast::RefreshMaterializedView) -> Result<Outcome> {
    let mut table = ctx.resolve_table(&r.name)?;
    let Some(mv) = table.matview.clone() else {
        return Err(Error::new(
            code::FEATURE_NOT_SUPPORTED,
            format!("\"{}\" is not a materialized view", table.name),
        ));
    };
    let with_data = r.with_data != Some(false);
    if r.concurrently {
        if !with_data {
            return Err(Error::new(
                code::SYNTAX_ERROR,
                "CONCURRENTLY and WITH NO DATA options cannot be used together",
            ));
        }
        if !mv.populated {
            return Err(Error::new(
                code::FEATURE_NOT_SUPPORTED,
                "CONCURRENTLY cannot be used when the materialized view is not populated",
            ));
        }
        if !table.indexes.iter().any(|ix| ix.unique) {
            return Err(Error::new(
                code::OBJECT_NOT_IN_PREREQUISITE_STATE,
                format!(
                    "cannot refresh materialized view \"{}.{}\" concurrently",
                    table.schema, table.name
                ),
            ));
        }
    }
    let plan = match crate::parse::parse(&mv.query)?.as_slice() {
        [ast::Statement::Query(q)] => plan_query(ctx, q)?,
        _ => return Err(internal("a materialized view's query is not a query")),
    };
    if plan.columns.len() != table.columns.len() {
        return Err(Error::new(
            code::INVALID_TABLE_DEFINITION,
            format!(
                "the query of materialized view \"{}\" no longer returns its {} columns",
                table.name,
                table.columns.len()
            ),
        ));
    }
    super::ddl::clear_table(ctx, &table)?;
    table.matview = Some(MatView {
        populated: false,
        ..mv
    });
    if with_data {
        fill(ctx, &mut table, &plan)?;
    } else {
        table.stats = None;
        ctx.catalog().put_table(&table)?;
    }
    Ok(Outcome::Command("REFRESH MATERIALIZED VIEW".into()))
}

/// Writes `plan`'s rows into the empty materialized view `table`, marks it populated (its
/// statistics gone, as after TRUNCATE) and stores its definition; returns how many rows.
fn fill(ctx: &mut Ctx<'_>, table: &mut TableDef, plan: &SelectPlan) -> Result<u64> {
    let rows = run_select(ctx, plan)?;
    let writer = NewRows::new(table)?;
    for row in &rows {
        let row = row
            .iter()
            .zip(&table.columns)
            .map(|(v, c)| v.clone().cast(&c.ty))
            .collect::<Result<Vec<_>>>()?;
        writer.insert(ctx, &row)?;
    }
    if let Some(mv) = table.matview.as_mut() {
        mv.populated = true;
    }
    table.stats = None;
    ctx.catalog().put_table(table)?;
    Ok(rows.len() as u64)
}

/// `DROP MATERIALIZED VIEW [IF EXISTS] name, ... [CASCADE]`.
pub fn drop(
    ctx: &mut Ctx<'_>,
    names: &[ast::ObjectName],
    if_exists: bool,
    cascade: bool,
) -> Result<Outcome> {
    for n in names {
        let (schema, name) = ctx.qualify(n)?;
        match ctx.catalog().table(&schema, &name)? {
            Some(t) if t.matview.is_some() => super::ddl_drop::drop_table(ctx, &t, cascade)?,
            Some(_) => return Err(not_a_matview(&name)),
            None if ctx.catalog().view(&schema, &name)?.is_some() => {
                return Err(not_a_matview(&name))
            }
            None if if_exists => {}
            None => {
                return Err(Error::new(
                    code::UNDEFINED_TABLE,
                    format!("materialized view \"{name}\" does not exist"),
                ))
            }
        }
    }
    Ok(Outcome::Command("DROP MATERIALIZED VIEW".into()))
}

fn not_a_matview(name: &str) -> Error {
    Error::new(
        code::WRONG_OBJECT_TYPE,
        format!("\"{name}\" is not a materialized view"),
    )
}

/// INSERT, UPDATE and DELETE refuse a materialized view.
pub(crate) fn refuse_change(table: &TableDef) -> Result<()> {
    refuse(table, |name| {
        format!("cannot change materialized view \"{name}\"")
    })
}

/// 42809 with `message(name)` when `table` is a materialized view.
fn refuse(table: &TableDef, message: impl FnOnce(&str) -> String) -> Result<()> {
    match table.matview {
        Some(_) => Err(Error::new(code::WRONG_OBJECT_TYPE, message(&table.name))),
        None => Ok(()),
    }
}

/// ALTER TABLE refuses a materialized view but to rename it or its columns.
pub(crate) fn refuse_alter(table: &TableDef, ops: &[ast::AlterTableOperation]) -> Result<()> {
    if table.matview.is_none() {
        return Ok(());
    }
    for op in ops {
        let action = match op {
            ast::AlterTableOperation::RenameTable { .. }
            | ast::AlterTableOperation::RenameColumn { .. } => continue,
            ast::AlterTableOperation::AddColumn { .. } => "ADD COLUMN",
            ast::AlterTableOperation::DropColumn { .. } => "DROP COLUMN",
            ast::AlterTableOperation::AlterColumn { .. } => "ALTER COLUMN",
            ast::AlterTableOperation::AddConstraint { .. } => "ADD CONSTRAINT",
            ast::AlterTableOperation::DropConstraint { .. } => "DROP CONSTRAINT",
            _ => "ALTER TABLE",
        };
        return Err(Error::new(
            code::WRONG_OBJECT_TYPE,
            format!(
                "ALTER action {action} cannot be performed on relation \"{}\"",
                table.name
            ),
        )
        .with_detail("This operation is not supported for materialized views."));
    }
    Ok(())
}

/// COPY refuses a materialized view either way (`direction`: "to" it or "from" it).
pub(crate) fn refuse_copy(table: &TableDef, direction: &str) -> Result<()> {
    refuse(table, |name| {
        format!("cannot copy {direction} materialized view \"{name}\"")
    })
}

/// What refuses a materialized view with `"name" is not a table` (TRUNCATE, DROP TABLE, a
/// foreign key's reference: `what` prefixes the name).
pub(crate) fn refuse_as_table(table: &TableDef, what: &str) -> Result<()> {
    refuse(table, |name| format!("{what}\"{name}\" is not a table"))
}

/// A read of a materialized view created or refreshed `WITH NO DATA` fails until a REFRESH
/// fills it.
pub(crate) fn check_populated(table: &TableDef) -> Result<()> {
    match &table.matview {
        Some(mv) if !mv.populated => Err(Error::new(
            code::OBJECT_NOT_IN_PREREQUISITE_STATE,
            format!(
                "materialized view \"{}\" has not been populated",
                table.name
            ),
        )),
        _ => Ok(()),
    }
}

fn internal(what: &str) -> Error {
    Error::new(code::INTERNAL_ERROR, what.to_string())
}
