//! INSERT (ON CONFLICT on the primary key, RETURNING), and the row changes UPDATE and DELETE
//! share: constraint checks (NOT NULL, unique, CHECK, foreign keys both ways) and index
//! upkeep. New rows get their defaults and checks from `write`.
//!
//! Every row written is first read with `get_for_update`, so two transactions writing one
//! row conflict at commit (40001) instead of one silently overwriting the other; the session
//! retries an autocommit statement that fails so, as PostgreSQL's READ COMMITTED re-checks
//! a row updated under it.

use sqlparser::ast;

use super::query::table_scope;
use super::write::{check_row, duplicate, put_new, NewRows};
pub(crate) use super::write::{default_for, rowid_sequence};
use super::{Column, Ctx, Outcome};
use crate::catalog::TableDef;
use crate::error::{code, Error, Result};
use crate::expr::{Binder, Expr, ScopeColumn};
use crate::row::{encode_row, row_key};
use crate::types::{DataType, Value};

/// RETURNING: output columns and expressions over the written row.
pub(crate) fn returning(
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
                    // `alias.*` lists that table's columns only.
                    let only = match item {
                        ast::SelectItem::QualifiedWildcard(
                            ast::SelectItemQualifiedWildcardKind::ObjectName(n),
                            _,
                        ) => {
                            n.0.last()
                                .and_then(|p| p.as_ident())
                                .map(crate::expr::ident_name)
                        }
                        _ => None,
                    };
                    if let Some(t) = &only {
                        if !scope.iter().any(|c| c.table.as_deref() == Some(t.as_str())) {
                            return Err(Error::new(
                                code::UNDEFINED_TABLE,
                                format!("missing FROM-clause entry for table \"{t}\""),
                            ));
                        }
                    }
                    for (i, c) in scope.iter().enumerate() {
                        if c.name.starts_with('\0') {
                            continue; // the hidden storage key of UPDATE / DELETE targets
                        }
                        if only
                            .as_ref()
                            .is_some_and(|t| c.table.as_deref() != Some(t.as_str()))
                        {
                            continue;
                        }
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
                env: None,
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

pub(crate) fn tag_outcome(
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
pub(crate) fn described(returning: bool, columns: Vec<Column>) -> Outcome {
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
    super::ddl_matview::refuse_change(&table)?;
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
    let explicit = !ins.columns.is_empty();
    let mut source_rows: Vec<Vec<Option<Expr>>> = Vec::new();
    let mut query_plan = None;
    match ins.source.as_deref() {
        None => source_rows.push(Vec::new()),
        Some(q) => match q.body.as_ref() {
            ast::SetExpr::Values(v) if q.order_by.is_none() && q.limit_clause.is_none() => {
                super::query::with_planner(ctx, |p, params| {
                    for r in &v.rows {
                        check_arity(r.content.len(), targets.len(), explicit)?;
                        let mut out = Vec::new();
                        for (e, col) in r.content.iter().zip(&targets) {
                            if is_default(e) {
                                out.push(None);
                                continue;
                            }
                            let mut b = Binder {
                                scope: &[],
                                params: &mut *params,
                                grouping: None,
                                env: Some(&mut *p),
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
                })?;
            }
            _ => {
                let plan = super::query::plan_query(ctx, q)?;
                check_arity(plan.columns.len(), targets.len(), explicit)?;
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
            let mut wide = scope.clone();
            wide.extend(table_scope(&table, "excluded"));
            let assignments = ctx.bind(&wide, |b| {
                bind_assignments(&table, &du.assignments, &wide, b.params, None)
            })?;
            Some((assignments, ctx.bind_where(&wide, du.selection.as_ref())?))
        }
        _ => None,
    };
    let arbiters = on_conflict
        .as_ref()
        .map(|oc| super::conflict::arbiters(&table, oc))
        .transpose()?;
    if describe_only {
        return Ok(described(ins.returning.is_some(), ret_cols));
    }
    let input_rows: Vec<Vec<Option<Value>>> = match &query_plan {
        Some(plan) => super::query::run_select(ctx, plan)?
            .into_iter()
            .map(|r| r.into_iter().map(Some).collect())
            .collect(),
        None => super::query::with_subqueries(ctx, |ectx| {
            source_rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|e| e.as_ref().map(|e| e.eval(&[], ectx)).transpose())
                        .collect::<Result<Vec<_>>>()
                })
                .collect::<Result<Vec<_>>>()
        })?,
    };
    let new_rows = NewRows::new(&table)?;
    let mut written = Vec::new();
    // Keys this command inserted or updated: DO UPDATE may not change a row twice.
    let mut touched = std::collections::HashSet::new();
    // Which of `written` this command inserted (the others it updated).
    let mut inserted = Vec::new();
    for input in input_rows {
        let mut row = vec![None; table.columns.len()];
        for (v, col) in input.into_iter().zip(&targets) {
            if let (Some(slot), Some(v)) = (row.get_mut(*col), v) {
                let c = &table.columns[*col];
                // OVERRIDING USER VALUE: an identity column takes its next value anyway.
                if c.identity && ins.overriding == Some(ast::InsertOverriding::User) {
                    continue;
                }
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
        if let Some(arbiters) = &arbiters {
            if let Some((key, old)) = super::conflict::conflicting(ctx, &table, arbiters, &full)? {
                let Some((assignments, selection)) = &upsert else {
                    continue; // DO NOTHING
                };
                if !touched.insert(key.clone()) {
                    return Err(Error::new(
                        code::CARDINALITY_VIOLATION,
                        "ON CONFLICT DO UPDATE command cannot affect row a second time",
                    ));
                }
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
                let refs = super::foreign::referencing(ctx, &table)?;
                update_row(ctx, &table, &key, &old, &new, &refs)?;
                super::foreign::on_parent_change(ctx, &table, &refs, &old, Some(&new), true)?;
                written.push(new);
                continue;
            }
        }
        match put_new(ctx, &table, &full)? {
            Some(key) => {
                if upsert.is_some() {
                    touched.insert(key);
                }
                inserted.push(written.len());
                written.push(full);
            }
            None => return Err(duplicate(&table, &full)),
        }
    }
    // Foreign keys of new rows are checked once the statement wrote them all (PostgreSQL's
    // NO ACTION timing): a row may reference one inserted after it.
    for i in inserted {
        if let Some(row) = written.get(i) {
            super::foreign::check_child(ctx, &table, row, None)?;
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
pub(crate) fn column_error(e: Error, column: &str, ty: &DataType) -> Error {
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

pub(crate) fn bind_assignments(
    table: &TableDef,
    assignments: &[ast::Assignment],
    scope: &[ScopeColumn],
    params: &mut Vec<DataType>,
    mut env: Option<&mut dyn crate::expr::BindEnv>,
) -> Result<Vec<(usize, Expr)>> {
    // `SET (a, b) = (x, y)` is `SET a = x, b = y`.
    let mut pairs: Vec<(&ast::ObjectName, &ast::Expr)> = Vec::new();
    for a in assignments {
        match &a.target {
            ast::AssignmentTarget::ColumnName(name) => pairs.push((name, &a.value)),
            ast::AssignmentTarget::Tuple(names) => {
                let values: Vec<&ast::Expr> = match &a.value {
                    ast::Expr::Tuple(values) => values.iter().collect(),
                    ast::Expr::Nested(value) if names.len() == 1 => vec![&**value],
                    ast::Expr::Subquery(_) => {
                        return Err(Error::unsupported(
                            "multi-column assignment from a subquery",
                        ))
                    }
                    _ => {
                        return Err(Error::syntax(
                            "source for a multiple-column UPDATE item must be a sub-SELECT or ROW() expression",
                        ))
                    }
                };
                if values.len() != names.len() {
                    return Err(Error::syntax(
                        "number of columns does not match number of values",
                    ));
                }
                pairs.extend(names.iter().zip(values));
            }
        }
    }
    let mut out = Vec::new();
    for (name, value) in pairs {
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
            params: &mut *params,
            grouping: None,
            env: match env {
                Some(ref mut e) => Some(&mut **e),
                None => None,
            },
        };
        let (x, _) = if is_default(value) {
            let text = super::write::default_sql(&table.columns[col]);
            b.bind(&super::write::catalog_expr(&text, "default")?)?
        } else {
            b.bind(value)?
        };
        b.infer(&x, &table.columns[col].ty);
        out.push((col, x));
    }
    Ok(out)
}

/// Deletes the row `row` stored at `key`: its index entries, and the ON DELETE actions of
/// the foreign keys in `refs` other than NO ACTION (which the statement checks at its end).
pub(crate) fn delete_row(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    key: &[u8],
    row: &[Value],
    refs: &[(TableDef, crate::catalog::ConstraintDef)],
) -> Result<()> {
    ctx.txn.delete(ctx.engine.data, key)?;
    super::index::remove(ctx, table, row, key)?;
    super::foreign::on_parent_change(ctx, table, refs, row, None, false)
}

/// Replaces row `old` at `key` with `new`: NOT NULL and CHECK, the row's own foreign keys,
/// unique keys and indexes, then the ON UPDATE actions of the foreign keys in `refs` other
/// than NO ACTION.
pub(crate) fn update_row(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    key: &[u8],
    old: &[Value],
    new: &[Value],
    refs: &[(TableDef, crate::catalog::ConstraintDef)],
) -> Result<()> {
    check_row(ctx, table, new)?;
    super::foreign::check_child(ctx, table, new, Some(old))?;
    write_update(ctx, table, key, old, new)?;
    super::foreign::on_parent_change(ctx, table, refs, old, Some(new), false)
}

/// Replaces `old` (at `key`) with `new`, moving it when the primary key changed.
fn write_update(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    key: &[u8],
    old: &[Value],
    new: &[Value],
) -> Result<()> {
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
    super::index::change(ctx, table, (old, key), (new, &new_key))
}

/// PostgreSQL's arity rule for INSERT sources: never more expressions than target columns, and
/// with an explicit column list, not fewer either (without one, the rest take defaults).
fn check_arity(expressions: usize, targets: usize, explicit: bool) -> Result<()> {
    if expressions > targets {
        return Err(Error::new(
            code::SYNTAX_ERROR,
            "INSERT has more expressions than target columns",
        ));
    }
    if explicit && expressions < targets {
        return Err(Error::new(
            code::SYNTAX_ERROR,
            "INSERT has more target columns than expressions",
        ));
    }
    Ok(())
}
