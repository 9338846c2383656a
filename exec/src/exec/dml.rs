//! INSERT, UPDATE and DELETE on one table: ON CONFLICT on the primary key, RETURNING; new
//! rows get their defaults and constraint checks from `write`.
//!
//! Every row written is first read with `get_for_update`, so two transactions writing one
//! row conflict at commit (40001) instead of one silently overwriting the other; the session
//! retries an autocommit statement that fails so, as PostgreSQL's READ COMMITTED re-checks
//! a row updated under it.

use sqlparser::ast;

use super::query::{choose_access, scan_rows, table_scope, Access};
use super::write::{check_row, duplicate, put_new, NewRows};
use super::{Column, Ctx, Outcome};
use crate::catalog::TableDef;
use crate::error::{code, Error, Result};
use crate::expr::{Binder, Expr, ScopeColumn};
use crate::row::{encode_row, row_key};
use crate::types::{DataType, Value};

/// RETURNING: output columns and expressions over the written row.
fn returning(
    ctx: &mut Ctx<'_>,
    items: &Option<Vec<ast::SelectItem>>,
    scope: &[ScopeColumn],
) -> Result<(Vec<Column>, Vec<Expr>)> {
    let Some(items) = items else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut cols = Vec::new();
    let mut exprs = Vec::new();
    let mut params = std::mem::take(&mut ctx.param_types);
    let result = (|| {
        for item in items {
            let (e, name) = match item {
                ast::SelectItem::UnnamedExpr(e) => (e.clone(), super::query::output_name(e)),
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    (expr.clone(), crate::expr::ident_name(alias))
                }
                ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                    for (i, c) in scope.iter().enumerate() {
                        cols.push(Column {
                            name: c.name.clone(),
                            ty: c.ty.clone(),
                            table_oid: 0,
                            column: (i + 1) as i16,
                        });
                        exprs.push(Expr::Column(i));
                    }
                    continue;
                }
                other => return Err(Error::unsupported(format!("RETURNING {other}"))),
            };
            let (x, t) = Binder {
                scope,
                params: &mut params,
                grouping: None,
            }
            .bind(&e)?;
            cols.push(Column {
                name,
                ty: if t == DataType::Unknown {
                    DataType::Text
                } else {
                    t
                },
                table_oid: 0,
                column: 0,
            });
            exprs.push(x);
        }
        Ok(())
    })();
    ctx.param_types = params;
    result?;
    Ok((cols, exprs))
}

fn tag_outcome(
    ctx: &Ctx<'_>,
    tag: String,
    columns: Vec<Column>,
    exprs: &[Expr],
    written: &[Vec<Value>],
    has_returning: bool,
) -> Result<Outcome> {
    if !has_returning {
        return Ok(Outcome::Command(tag));
    }
    let ectx = ctx.eval_context();
    let rows = written
        .iter()
        .map(|r| {
            exprs
                .iter()
                .map(|e| e.eval(r, &ectx))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Outcome::Rows { columns, rows, tag })
}

/// What Describe reports for a DML statement: its RETURNING columns, or no data.
fn described(returning: bool, columns: Vec<Column>) -> Outcome {
    if returning {
        Outcome::Rows {
            columns,
            rows: Vec::new(),
            tag: String::new(),
        }
    } else {
        Outcome::Command(String::new())
    }
}

pub fn insert(ctx: &mut Ctx<'_>, ins: &ast::Insert, describe_only: bool) -> Result<Outcome> {
    let ast::TableObject::TableName(name) = &ins.table else {
        return Err(Error::unsupported("INSERT INTO TABLE FUNCTION"));
    };
    let table = ctx.resolve_table(name)?;
    let alias = ins
        .table_alias
        .as_ref()
        .map_or_else(|| table.name.clone(), |a| crate::expr::ident_name(&a.alias));
    // Target columns.
    let targets: Vec<usize> = if ins.columns.is_empty() {
        (0..table.columns.len()).collect()
    } else {
        let mut t = Vec::new();
        for c in &ins.columns {
            let n =
                c.0.last()
                    .and_then(|p| p.as_ident())
                    .map(crate::expr::ident_name)
                    .unwrap_or_default();
            let i = table.column_index(&n).ok_or_else(|| {
                Error::new(
                    code::UNDEFINED_COLUMN,
                    format!(
                        "column \"{n}\" of relation \"{}\" does not exist",
                        table.name
                    ),
                )
            })?;
            if t.contains(&i) {
                return Err(Error::new(
                    code::DUPLICATE_COLUMN,
                    format!("column \"{n}\" specified more than once"),
                ));
            }
            t.push(i);
        }
        t
    };
    let scope = table_scope(&table, &alias);
    let (ret_cols, ret_exprs) = returning(ctx, &ins.returning, &scope)?;
    // Source rows: VALUES (bound with target column types), a query, or DEFAULT VALUES.
    let mut source_rows: Vec<Vec<Option<Expr>>> = Vec::new();
    let mut query_plan = None;
    match ins.source.as_deref() {
        None => source_rows.push(Vec::new()),
        Some(q) => match q.body.as_ref() {
            ast::SetExpr::Values(v) if q.order_by.is_none() && q.limit_clause.is_none() => {
                let mut params = std::mem::take(&mut ctx.param_types);
                let bound = (|| {
                    for r in &v.rows {
                        if r.content.len() > targets.len() {
                            return Err(Error::new(
                                code::SYNTAX_ERROR,
                                "INSERT has more expressions than target columns",
                            ));
                        }
                        let mut out = Vec::new();
                        for (e, col) in r.content.iter().zip(&targets) {
                            if is_default(e) {
                                out.push(None);
                                continue;
                            }
                            let mut b = Binder {
                                scope: &[],
                                params: &mut params,
                                grouping: None,
                            };
                            let (x, _) = b.bind(e)?;
                            if let Some(c) = table.columns.get(*col) {
                                b.infer(&x, &c.ty);
                            }
                            out.push(Some(x));
                        }
                        source_rows.push(out);
                    }
                    Ok(())
                })();
                ctx.param_types = params;
                bound?;
            }
            _ => {
                let plan = super::query::plan_query(ctx, q)?;
                if plan.columns.len() > targets.len() {
                    return Err(Error::new(
                        code::SYNTAX_ERROR,
                        "INSERT has more expressions than target columns",
                    ));
                }
                query_plan = Some(plan);
            }
        },
    }
    let on_conflict = match &ins.on {
        None => None,
        Some(ast::OnInsert::OnConflict(oc)) => Some(oc.clone()),
        Some(_) => return Err(Error::unsupported("ON DUPLICATE KEY UPDATE")),
    };
    // DO UPDATE assignments bind over `table columns ++ excluded columns`.
    let upsert = match &on_conflict {
        Some(ast::OnConflict {
            action: ast::OnConflictAction::DoUpdate(du),
            ..
        }) => {
            if table.primary_key.is_empty() {
                return Err(Error::new(
                    code::INVALID_COLUMN_REFERENCE,
                    "there is no unique or exclusion constraint matching the ON CONFLICT specification",
                ));
            }
            let mut wide = scope.clone();
            wide.extend(table_scope(&table, "excluded"));
            let assignments = ctx.bind(&wide, |b| {
                bind_assignments(&table, &du.assignments, &wide, b.params)
            })?;
            Some((assignments, ctx.bind_where(&wide, du.selection.as_ref())?))
        }
        _ => None,
    };
    if describe_only {
        return Ok(described(ins.returning.is_some(), ret_cols));
    }
    let input_rows: Vec<Vec<Option<Value>>> = match &query_plan {
        Some(plan) => super::query::run_select(ctx, plan)?
            .into_iter()
            .map(|r| r.into_iter().map(Some).collect())
            .collect(),
        None => {
            let ectx = ctx.eval_context();
            source_rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|e| e.as_ref().map(|e| e.eval(&[], &ectx)).transpose())
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<Vec<_>>>()?
        }
    };
    let new_rows = NewRows::new(&table)?;
    let mut written = Vec::new();
    for input in input_rows {
        let mut row = vec![None; table.columns.len()];
        for (v, col) in input.into_iter().zip(&targets) {
            if let (Some(slot), Some(v)) = (row.get_mut(*col), v) {
                let c = &table.columns[*col];
                if c.identity_always && ins.overriding.is_none() {
                    return Err(Error::new(
                        "428C9",
                        format!(
                            "cannot insert a non-DEFAULT value into column \"{}\"",
                            c.name
                        ),
                    )
                    .with_detail(format!(
                        "Column \"{}\" is an identity column defined as GENERATED ALWAYS.",
                        c.name
                    )));
                }
                *slot = Some(
                    v.assign(&c.ty)
                        .map_err(|e| column_error(e, &c.name, &c.ty))?,
                );
            }
        }
        let full = new_rows.complete(ctx, row)?;
        new_rows.check(ctx, &full)?;
        if put_new(ctx, &table, &full)? {
            written.push(full);
            continue;
        }
        match (&on_conflict, &upsert) {
            (Some(oc), _) if matches!(oc.action, ast::OnConflictAction::DoNothing) => {}
            (Some(_), Some((assignments, selection))) => {
                let key = row_key(&table, &full, None);
                let Some(old) = ctx.txn.get_for_update(ctx.engine.data, &key)? else {
                    continue;
                };
                let old = crate::row::decode_row(&table, &old)?;
                let mut wide = old.clone();
                wide.extend(full.iter().cloned());
                let ectx = ctx.eval_context();
                if let Some(w) = selection {
                    if !w.passes(&wide, &ectx)? {
                        continue;
                    }
                }
                let mut new = old.clone();
                for (col, e) in assignments {
                    let c = &table.columns[*col];
                    new[*col] = e
                        .eval(&wide, &ectx)?
                        .assign(&c.ty)
                        .map_err(|er| column_error(er, &c.name, &c.ty))?;
                }
                new_rows.check(ctx, &new)?;
                write_update(ctx, &table, &key, &old, &new)?;
                written.push(new);
            }
            _ => return Err(duplicate(&table, &full)),
        }
    }
    let tag = format!("INSERT 0 {}", written.len());
    tag_outcome(
        ctx,
        tag,
        ret_cols,
        &ret_exprs,
        &written,
        ins.returning.is_some(),
    )
}

fn is_default(e: &ast::Expr) -> bool {
    matches!(e, ast::Expr::Identifier(id) if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("default"))
}

/// Rewrites a type error with the column name, as PostgreSQL reports it.
fn column_error(e: Error, column: &str, ty: &DataType) -> Error {
    if e.sqlstate() == code::DATATYPE_MISMATCH {
        let from = e.to_string();
        let from = from
            .strip_prefix("cannot assign a value of type ")
            .and_then(|r| r.split(" to type ").next())
            .unwrap_or("unknown")
            .to_string();
        return Error::new(
            code::DATATYPE_MISMATCH,
            format!("column \"{column}\" is of type {ty} but expression is of type {from}"),
        );
    }
    e
}

fn bind_assignments(
    table: &TableDef,
    assignments: &[ast::Assignment],
    scope: &[ScopeColumn],
    params: &mut Vec<DataType>,
) -> Result<Vec<(usize, Expr)>> {
    let mut out = Vec::new();
    for a in assignments {
        let ast::AssignmentTarget::ColumnName(name) = &a.target else {
            return Err(Error::unsupported("multi-column assignment"));
        };
        let n = name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(crate::expr::ident_name)
            .unwrap_or_default();
        let col = table.column_index(&n).ok_or_else(|| {
            Error::new(
                code::UNDEFINED_COLUMN,
                format!(
                    "column \"{n}\" of relation \"{}\" does not exist",
                    table.name
                ),
            )
        })?;
        if out.iter().any(|(c, _)| *c == col) {
            return Err(Error::new(
                code::SYNTAX_ERROR,
                format!("multiple assignments to same column \"{n}\""),
            ));
        }
        let mut b = Binder {
            scope,
            params,
            grouping: None,
        };
        let (x, _) = if is_default(&a.value) {
            return Err(Error::unsupported("SET col = DEFAULT"));
        } else {
            b.bind(&a.value)?
        };
        b.infer(&x, &table.columns[col].ty);
        out.push((col, x));
    }
    Ok(out)
}

/// Replaces `old` (at `key`) with `new`, moving it when the primary key changed.
fn write_update(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    key: &[u8],
    old: &[Value],
    new: &[Value],
) -> Result<()> {
    let _ = old;
    let new_key = if table.primary_key.is_empty() {
        key.to_vec()
    } else {
        row_key(table, new, None)
    };
    if new_key != key {
        if ctx.txn.get_for_update(ctx.engine.data, &new_key)?.is_some() {
            return Err(duplicate(table, new));
        }
        ctx.txn.delete(ctx.engine.data, key)?;
    }
    ctx.txn
        .put(ctx.engine.data, &new_key, &encode_row(table, new))?;
    Ok(())
}

fn single_table(t: &ast::TableWithJoins) -> Result<(&ast::ObjectName, Option<String>)> {
    if !t.joins.is_empty() {
        return Err(Error::unsupported(
            "joins in UPDATE/DELETE are not supported yet",
        ));
    }
    match &t.relation {
        ast::TableFactor::Table { name, alias, .. } => Ok((
            name,
            alias.as_ref().map(|a| crate::expr::ident_name(&a.name)),
        )),
        _ => Err(Error::unsupported("UPDATE/DELETE target must be a table")),
    }
}

fn matching_rows(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    filter: &Option<Expr>,
) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    let access = match filter {
        Some(f) => choose_access(table, f),
        None => Access::Full,
    };
    let rows = scan_rows(ctx, table, &access, false)?;
    let ectx = ctx.eval_context();
    let mut out = Vec::new();
    for (k, r) in rows {
        if let Some(f) = filter {
            if !f.passes(&r, &ectx)? {
                continue;
            }
        }
        out.push((k, r));
    }
    Ok(out)
}

/// The row at `key` re-read with a write intent, if it still exists and still matches.
fn fresh_match(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    key: &[u8],
    filter: &Option<Expr>,
) -> Result<Option<Vec<Value>>> {
    let Some(bytes) = ctx.txn.get_for_update(ctx.engine.data, key)? else {
        return Ok(None);
    };
    let row = crate::row::decode_row(table, &bytes)?;
    if let Some(f) = filter {
        if !f.passes(&row, &ctx.eval_context())? {
            return Ok(None);
        }
    }
    Ok(Some(row))
}

pub fn update(ctx: &mut Ctx<'_>, upd: &ast::Update, describe_only: bool) -> Result<Outcome> {
    if upd.from.is_some() {
        return Err(Error::unsupported("UPDATE ... FROM is not supported yet"));
    }
    let (name, alias) = single_table(&upd.table)?;
    let table = ctx.resolve_table(name)?;
    let alias = alias.unwrap_or_else(|| table.name.clone());
    let scope = table_scope(&table, &alias);
    let assignments = ctx.bind(&scope, |b| {
        bind_assignments(&table, &upd.assignments, &scope, b.params)
    })?;
    let filter = ctx.bind_where(&scope, upd.selection.as_ref())?;
    let (ret_cols, ret_exprs) = returning(ctx, &upd.returning, &scope)?;
    if describe_only {
        return Ok(described(upd.returning.is_some(), ret_cols));
    }
    let rows = matching_rows(ctx, &table, &filter)?;
    let mut written = Vec::with_capacity(rows.len());
    for (key, _) in rows {
        // Re-read the row with a write intent: a concurrent writer of it fails one of the
        // commits, and the new values come from the latest committed row (as PostgreSQL's
        // READ COMMITTED re-evaluates a row updated under it).
        let Some(old) = fresh_match(ctx, &table, &key, &filter)? else {
            continue;
        };
        let ectx = ctx.eval_context();
        let mut new = old.clone();
        for (col, e) in &assignments {
            let c = &table.columns[*col];
            new[*col] = e
                .eval(&old, &ectx)?
                .assign(&c.ty)
                .map_err(|er| column_error(er, &c.name, &c.ty))?;
        }
        check_row(ctx, &table, &new)?;
        write_update(ctx, &table, &key, &old, &new)?;
        written.push(new);
    }
    let tag = format!("UPDATE {}", written.len());
    tag_outcome(
        ctx,
        tag,
        ret_cols,
        &ret_exprs,
        &written,
        upd.returning.is_some(),
    )
}

pub fn delete(ctx: &mut Ctx<'_>, del: &ast::Delete, describe_only: bool) -> Result<Outcome> {
    if del.using.is_some() {
        return Err(Error::unsupported("DELETE ... USING is not supported yet"));
    }
    let from = match &del.from {
        ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
    };
    let [target] = from.as_slice() else {
        return Err(Error::unsupported("DELETE from several tables"));
    };
    let (name, alias) = single_table(target)?;
    let table = ctx.resolve_table(name)?;
    let alias = alias.unwrap_or_else(|| table.name.clone());
    let scope = table_scope(&table, &alias);
    let filter = ctx.bind_where(&scope, del.selection.as_ref())?;
    let (ret_cols, ret_exprs) = returning(ctx, &del.returning, &scope)?;
    if describe_only {
        return Ok(described(del.returning.is_some(), ret_cols));
    }
    let rows = matching_rows(ctx, &table, &filter)?;
    let mut deleted = Vec::with_capacity(rows.len());
    for (key, _) in rows {
        let Some(old) = fresh_match(ctx, &table, &key, &filter)? else {
            continue;
        };
        ctx.txn.delete(ctx.engine.data, &key)?;
        deleted.push(old);
    }
    let tag = format!("DELETE {}", deleted.len());
    tag_outcome(
        ctx,
        tag,
        ret_cols,
        &ret_exprs,
        &deleted,
        del.returning.is_some(),
    )
}
