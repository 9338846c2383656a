//! UPDATE (with FROM) and DELETE (with USING): the target rows come from a query plan (see
//! `query::target`), so WHERE may join other tables and hold subqueries. Each matched row is
//! re-read with a write intent and the whole WHERE re-checked on it before it changes (a
//! concurrent writer of the row then fails one of the commits, and the session retries an
//! autocommit statement, as PostgreSQL's READ COMMITTED re-checks an updated row).

use sqlparser::ast;

use super::dml::{
    bind_assignments, column_error, delete_row, described, returning, tag_outcome, update_row,
};
use super::query::{
    plan_target, target_rows, with_fresh, with_planner, with_subqueries, TargetPlan,
};
use super::{Ctx, Outcome};
use crate::error::{Error, Result};
use crate::row::decode_row;
use crate::types::Value;

/// The target row at `key` re-read with a write intent, with `row`'s other parts, if it
/// still exists and the WHERE still holds.
fn fresh(
    ctx: &mut Ctx<'_>,
    plan: &TargetPlan,
    key: &[u8],
    row: &[Value],
) -> Result<Option<(Vec<Value>, Vec<Value>)>> {
    let Some(bytes) = ctx.txn.get_for_update(ctx.engine.data, key)? else {
        return Ok(None);
    };
    let target = decode_row(&plan.table, &bytes)?;
    let combined = with_fresh(plan, row, &target);
    if let Some(w) = &plan.recheck {
        if !with_subqueries(ctx, |ectx| w.passes(&combined, ectx))? {
            return Ok(None);
        }
    }
    Ok(Some((target, combined)))
}

/// An UPDATE's change to one row: its key, its old values, the joined row with them, its new
/// values.
type Change = (Vec<u8>, Vec<Value>, Vec<Value>, Vec<Value>);

pub fn update(ctx: &mut Ctx<'_>, upd: &ast::Update, describe_only: bool) -> Result<Outcome> {
    let from: &[ast::TableWithJoins] = match &upd.from {
        None => &[],
        Some(ast::UpdateTableFromKind::AfterSet(f)) => f,
        Some(ast::UpdateTableFromKind::BeforeSet(_)) => {
            return Err(Error::syntax("syntax error at or near \"FROM\""))
        }
    };
    let (plan, assignments) = with_planner(ctx, |p, params| {
        let plan = plan_target(p, &upd.table, from, upd.selection.as_ref(), params)?;
        let assignments =
            bind_assignments(&plan.table, &upd.assignments, &plan.scope, params, Some(p))?;
        Ok((plan, assignments))
    })?;
    let (ret_cols, ret_exprs) = returning(ctx, &upd.returning, &plan.scope)?;
    if describe_only {
        return Ok(described(upd.returning.is_some(), ret_cols));
    }
    let table = &plan.table;
    let rows = target_rows(ctx, &plan)?;
    let refs = super::foreign::referencing(ctx, table)?;
    // Every row's new values are worked out before any row is written, so that the
    // statement's subqueries see the rows as it began (a statement does not see its own
    // changes in PostgreSQL); unless the table's own ON UPDATE actions may change rows the
    // statement has yet to update: then each row is worked out on what the rows before it
    // left, and written at once.
    let one_by_one = super::foreign::actions_reach(ctx, table, &refs, true)?;
    let (mut written, mut replaced) = (Vec::with_capacity(rows.len()), Vec::new());
    let mut write = |ctx: &mut Ctx<'_>, (key, old, combined, new): Change| -> Result<()> {
        update_row(ctx, table, &key, &old, &new, &refs)?;
        written.push(with_fresh(&plan, &combined, &new));
        if !refs.is_empty() {
            replaced.push((old, new));
        }
        Ok(())
    };
    let mut changes = Vec::with_capacity(rows.len());
    for (key, row) in rows {
        let Some((old, combined)) = fresh(ctx, &plan, &key, &row)? else {
            continue;
        };
        let new = with_subqueries(ctx, |ectx| {
            let mut new = old.clone();
            for (col, e) in &assignments {
                let c = &table.columns[*col];
                new[*col] = e
                    .eval(&combined, ectx)?
                    .assign(&c.ty)
                    .map_err(|er| column_error(er, &c.name, &c.ty))?;
            }
            Ok(new)
        })?;
        let change = (key, old, combined, new);
        if one_by_one {
            write(ctx, change)?;
        } else {
            changes.push(change);
        }
    }
    for change in changes {
        write(ctx, change)?;
    }
    for (old, new) in &replaced {
        super::foreign::on_parent_change(ctx, table, &refs, old, Some(new), true)?;
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
    let from = match &del.from {
        ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => t,
    };
    let [target] = from.as_slice() else {
        return Err(Error::unsupported("DELETE from several tables"));
    };
    let using: &[ast::TableWithJoins] = del.using.as_deref().unwrap_or_default();
    let plan = with_planner(ctx, |p, params| {
        plan_target(p, target, using, del.selection.as_ref(), params)
    })?;
    let (ret_cols, ret_exprs) = returning(ctx, &del.returning, &plan.scope)?;
    if describe_only {
        return Ok(described(del.returning.is_some(), ret_cols));
    }
    let table = &plan.table;
    let rows = target_rows(ctx, &plan)?;
    let refs = super::foreign::referencing(ctx, table)?;
    // Every row is re-checked before any is deleted, as UPDATE's are (see there).
    let one_by_one = super::foreign::actions_reach(ctx, table, &refs, false)?;
    let mut deleted = Vec::with_capacity(rows.len());
    let mut write = |ctx: &mut Ctx<'_>, (key, old, combined): (Vec<u8>, Vec<Value>, Vec<Value>)| {
        delete_row(ctx, table, &key, &old, &refs)?;
        deleted.push(combined);
        Ok::<_, Error>(())
    };
    let mut doomed = Vec::with_capacity(rows.len());
    for (key, row) in rows {
        if let Some((old, combined)) = fresh(ctx, &plan, &key, &row)? {
            if one_by_one {
                write(ctx, (key, old, combined))?;
            } else {
                doomed.push((key, old, combined));
            }
        }
    }
    for d in doomed {
        write(ctx, d)?;
    }
    for row in &deleted {
        let old = row.get(..table.columns.len()).unwrap_or_default();
        super::foreign::on_parent_change(ctx, table, &refs, old, None, true)?;
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
