//! Writing new rows of one table, shared by INSERT and COPY FROM: column defaults (sequences
//! included), NOT NULL and CHECK constraints, the primary-key conflict check, and the new
//! row's index entries (unique ones checked).
//!
//! [`NewRows`] binds a table's defaults and CHECK expressions once, so a statement writing
//! many rows (COPY of a million lines) does not re-parse them per row.

use sqlparser::ast;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::query::{table_scope, with_subqueries};
use super::Ctx;
use crate::catalog::{ColumnDef, TableDef};
use crate::error::{code, Error, Result};
use crate::expr::{Binder, Expr};
use crate::row::{encode_row, pk_values, row_key};
use crate::types::{DataType, Value};

/// Parses one expression stored in the catalog (a DEFAULT or CHECK text).
pub(crate) fn catalog_expr(text: &str, what: &str) -> Result<ast::Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| Error::new(code::INTERNAL_ERROR, format!("bad {what} {text}: {e}")))
}

/// The SQL expression of column `c`'s default, for `SET c = DEFAULT` (bound like any other
/// expression, so it is evaluated for each row it sets).
pub(crate) fn default_sql(c: &ColumnDef) -> String {
    match (&c.sequence, &c.default) {
        (Some(seq), _) if !c.default_replaced => {
            // Stored as `[database/]schema.name`; named within the current database.
            let local = seq.split_once('/').map_or(seq.as_str(), |(_, n)| n);
            format!("nextval('{}')", local.replace('\'', "''"))
        }
        (_, Some(text)) => text.clone(),
        (_, None) => "NULL".into(),
    }
}

/// How a column gets its value when a new row does not give one.
enum Default {
    Null,
    /// `nextval` of this sequence (serial and identity columns).
    Sequence(String),
    Expr(Expr),
    /// A DEFAULT text that does not bind: an error only when a row needs it.
    Broken(String),
}

impl Default {
    fn of(c: &ColumnDef) -> Default {
        match (&c.sequence, &c.default) {
            (Some(seq), _) if !c.default_replaced => Default::Sequence(seq.clone()),
            (_, Some(text)) => match bind_default(text) {
                Ok(e) => Default::Expr(e),
                Err(_) => Default::Broken(text.clone()),
            },
            (_, None) => Default::Null,
        }
    }

    fn value(&self, ctx: &mut Ctx<'_>, ty: &DataType) -> Result<Value> {
        match self {
            Default::Null => Ok(Value::Null),
            Default::Sequence(seq) => {
                // As nextval(): currval and lastval see it.
                let v = ctx.engine.sequences.nextval(seq, &mut ctx.waits)?;
                ctx.sequence_state.values.insert(seq.clone(), v);
                ctx.sequence_state.last = Some(v);
                Value::Int8(v).assign(ty)
            }
            // Defaults may call sequence functions (nextval('s')) and hold subqueries.
            Default::Expr(e) => with_subqueries(ctx, |ectx| e.eval(&[], ectx))?.assign(ty),
            Default::Broken(text) => {
                let e = bind_default(text)?;
                with_subqueries(ctx, |ectx| e.eval(&[], ectx))?.assign(ty)
            }
        }
    }
}

fn bind_default(text: &str) -> Result<Expr> {
    let parsed = catalog_expr(text, "default")?;
    let mut params = Vec::new();
    Ok(Binder {
        scope: &[],
        params: &mut params,
        grouping: None,
        env: None,
    }
    .bind(&parsed)?
    .0)
}

/// The CHECK constraints of `table`, bound over its rows.
fn bind_checks(table: &TableDef) -> Result<Vec<(String, Expr)>> {
    let scope = table_scope(table, &table.name);
    let mut checks = Vec::new();
    for con in table.constraints.iter().filter(|c| c.kind == 'c') {
        let Some(text) = &con.check else { continue };
        let parsed = catalog_expr(text, "check")?;
        let mut params = Vec::new();
        let e = Binder {
            scope: &scope,
            params: &mut params,
            grouping: None,
            env: None,
        }
        .bind(&parsed)?
        .0;
        checks.push((con.name.clone(), e));
    }
    Ok(checks)
}

/// A table's defaults and constraints, bound once for writing new rows.
pub(crate) struct NewRows {
    table: TableDef,
    defaults: Vec<Default>,
    /// CHECK constraints: name and condition over the row.
    checks: Vec<(String, Expr)>,
}

impl NewRows {
    /// Binds the defaults and CHECK constraints of `table`.
    pub(crate) fn new(table: &TableDef) -> Result<NewRows> {
        let defaults = table.columns.iter().map(Default::of).collect();
        Ok(NewRows {
            table: table.clone(),
            defaults,
            checks: bind_checks(table)?,
        })
    }

    /// The table rows are written to.
    pub(crate) fn table(&self) -> &TableDef {
        &self.table
    }

    /// The default of column `col` for a new row.
    pub(crate) fn default_value(&self, ctx: &mut Ctx<'_>, col: usize) -> Result<Value> {
        let (Some(c), Some(d)) = (self.table.columns.get(col), self.defaults.get(col)) else {
            return Ok(Value::Null);
        };
        d.value(ctx, &c.ty)
    }

    /// A full row from `row` (one slot per column): missing values take their defaults.
    pub(crate) fn complete(
        &self,
        ctx: &mut Ctx<'_>,
        row: Vec<Option<Value>>,
    ) -> Result<Vec<Value>> {
        let mut full = Vec::with_capacity(row.len());
        for (i, v) in row.into_iter().enumerate() {
            full.push(match v {
                Some(v) => v,
                None => self.default_value(ctx, i)?,
            });
        }
        Ok(full)
    }

    /// Checks NOT NULL and CHECK constraints of a row about to be written.
    pub(crate) fn check(&self, ctx: &Ctx<'_>, row: &[Value]) -> Result<()> {
        check_with(ctx, &self.table, &self.checks, row)
    }

    /// Writes a checked new row; a primary key that exists already is 23505.
    pub(crate) fn insert(&self, ctx: &mut Ctx<'_>, row: &[Value]) -> Result<()> {
        super::foreign::check_child(ctx, &self.table, row, None)?;
        if put_new(ctx, &self.table, row)?.is_some() {
            Ok(())
        } else {
            Err(duplicate(&self.table, row))
        }
    }
}

/// NOT NULL of every column and `checks` (bound CHECK constraints) on `row`.
fn check_with(
    ctx: &Ctx<'_>,
    table: &TableDef,
    checks: &[(String, Expr)],
    row: &[Value],
) -> Result<()> {
    for (c, v) in table.columns.iter().zip(row) {
        if c.not_null && v.is_null() {
            return Err(Error::new(
                code::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                    c.name, table.name
                ),
            )
            .with_detail(failing_row(row)));
        }
    }
    let ectx = ctx.eval_context();
    for (name, e) in checks {
        if e.eval(row, &ectx)?.as_bool()? == Some(false) {
            return Err(Error::new(
                code::CHECK_VIOLATION,
                format!(
                    "new row for relation \"{}\" violates check constraint \"{name}\"",
                    table.name
                ),
            )
            .with_detail(failing_row(row)));
        }
    }
    Ok(())
}

/// PostgreSQL's DETAIL for a row that breaks a constraint.
fn failing_row(row: &[Value]) -> String {
    let values: Vec<String> = row
        .iter()
        .map(|v| v.to_text().unwrap_or_else(|| "null".into()))
        .collect();
    format!("Failing row contains ({}).", values.join(", "))
}

/// The default of column `col` for a new row (evaluates `nextval(...)` too).
pub(crate) fn default_for(ctx: &mut Ctx<'_>, table: &TableDef, col: usize) -> Result<Value> {
    match table.columns.get(col) {
        Some(c) => Default::of(c).value(ctx, &c.ty),
        None => Ok(Value::Null),
    }
}

/// Checks NOT NULL and CHECK constraints of a row about to be written.
pub(crate) fn check_row(ctx: &Ctx<'_>, table: &TableDef, row: &[Value]) -> Result<()> {
    check_with(ctx, table, &bind_checks(table)?, row)
}

/// The unique-violation error for a row whose primary key exists.
pub(crate) fn duplicate(table: &TableDef, row: &[Value]) -> Error {
    let cols: Vec<String> = table
        .primary_key
        .iter()
        .filter_map(|id| table.column_by_id(*id))
        .filter_map(|i| table.columns.get(i).map(|c| c.name.clone()))
        .collect();
    let vals: Vec<String> = pk_values(table, row)
        .iter()
        .map(|v| v.to_text().unwrap_or_else(|| "null".into()))
        .collect();
    let name = table
        .constraints
        .iter()
        .find(|c| c.kind == 'p')
        .map_or_else(|| format!("{}_pkey", table.name), |c| c.name.clone());
    Error::new(
        code::UNIQUE_VIOLATION,
        format!("duplicate key value violates unique constraint \"{name}\""),
    )
    .with_detail(format!(
        "Key ({})=({}) already exists.",
        cols.join(", "),
        vals.join(", ")
    ))
}

/// Writes a new row and returns its storage key; `Ok(None)` when its primary key exists
/// (the caller decides).
pub(crate) fn put_new(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    row: &[Value],
) -> Result<Option<Vec<u8>>> {
    let rowid = if table.primary_key.is_empty() {
        Some(
            ctx.engine
                .sequences
                .nextval(&rowid_sequence(table), &mut ctx.waits)?,
        )
    } else {
        None
    };
    let key = row_key(table, row, rowid);
    if rowid.is_none() && ctx.txn.get_for_update(ctx.engine.data, &key)?.is_some() {
        return Ok(None);
    }
    ctx.txn
        .put(ctx.engine.data, &key, &encode_row(table, row))?;
    super::index::add(ctx, table, row, &key)?;
    Ok(Some(key))
}

/// The hidden row-id sequence of a table without a primary key.
pub(crate) fn rowid_sequence(table: &TableDef) -> String {
    format!("\0rowid:{}", table.id)
}
