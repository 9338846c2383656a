//! The rows an UPDATE or DELETE changes, found by a query plan: the target table (with each
//! row's storage key as a hidden column after its own columns) joined with the FROM / USING
//! items, filtered by WHERE, which may join those items and hold subqueries. Also the
//! helpers DML uses to bind with a planner and to evaluate with subqueries.

use sqlparser::ast;

use super::access::Access;
use super::from::{self, Planned, Source, TableSource};
use super::run::Runner;
use super::Planner;
use crate::catalog::TableDef;
use crate::error::{code, Error, Result};
use crate::exec::Ctx;
use crate::expr::{Binder, EvalContext, Expr, ScopeColumn};
use crate::types::{DataType, Value};

/// The hidden key column's name (no SQL identifier can spell it).
const KEY_COLUMN: &str = "\u{0}key";

/// A planned UPDATE / DELETE target.
pub struct TargetPlan {
    pub table: TableDef,
    pub source: Source,
    /// WHERE conjuncts the FROM tree could not take.
    pub filter: Option<Expr>,
    /// The whole WHERE, re-checked on a row re-read with a write intent.
    pub recheck: Option<Expr>,
    /// Columns of the combined row: target columns, the hidden key, FROM columns.
    pub scope: Vec<ScopeColumn>,
}

impl TargetPlan {
    /// Position of the storage key in a combined row.
    pub fn key_column(&self) -> usize {
        self.table.columns.len()
    }
}

/// Runs `f` with a planner over the statement (no enclosing query) and its parameter types.
pub(crate) fn with_planner<T>(
    ctx: &mut Ctx<'_>,
    f: impl FnOnce(&mut Planner<'_, '_>, &mut Vec<DataType>) -> Result<T>,
) -> Result<T> {
    let mut params = std::mem::take(&mut ctx.param_types);
    let mut planner = Planner {
        ctx: &mut *ctx,
        outer: Vec::new(),
        captures: Vec::new(),
        untyped_kept: false,
        ctes: Vec::new(),
        windows: None,
    };
    let result = f(&mut planner, &mut params);
    ctx.param_types = params;
    result
}

/// Runs `f` with an evaluation context in which subqueries can run.
pub fn with_subqueries<T>(
    ctx: &mut Ctx<'_>,
    f: impl FnOnce(&EvalContext<'_>) -> Result<T>,
) -> Result<T> {
    let runner = Runner::new(ctx);
    let ectx = runner.ectx(&[]);
    f(&ectx)
}

/// Plans the target `target` (one plain table), the `from` items and `selection`.
pub(crate) fn plan_target(
    p: &mut Planner<'_, '_>,
    target: &ast::TableWithJoins,
    from: &[ast::TableWithJoins],
    selection: Option<&ast::Expr>,
    params: &mut Vec<DataType>,
) -> Result<TargetPlan> {
    if !target.joins.is_empty() {
        return Err(Error::syntax(
            "the target of UPDATE or DELETE must be one table",
        ));
    }
    let ast::TableFactor::Table { name, alias, .. } = &target.relation else {
        return Err(Error::syntax(
            "the target of UPDATE or DELETE must be a table",
        ));
    };
    let table = p.ctx.resolve_table(name)?;
    crate::exec::ddl_matview::refuse_change(&table)?;
    let alias = alias
        .as_ref()
        .map_or_else(|| table.name.clone(), |a| crate::expr::ident_name(&a.name));
    let mut scope = super::table_scope(&table, &alias);
    scope.push(ScopeColumn {
        table: Some(alias.clone()),
        name: KEY_COLUMN.into(),
        ty: DataType::Bytea,
        qualified_only: true,
    });
    let width = table.columns.len();
    let leaf = Planned {
        source: Source::Table(Box::new(TableSource {
            table: table.clone(),
            alias: alias.clone(),
            access: Access::Full,
            filter: None,
            for_update: false,
            lock: Default::default(),
            keyed: true,
            read: None,
        })),
        origins: vec![(0, 0); width + 1],
        star: (0..width).collect(),
        scope,
    };
    let planned = if from.is_empty() {
        leaf
    } else {
        let rest = from::plan_from(p, from, false, params)?;
        from::cross(leaf, rest)
    };
    let Planned {
        mut source, scope, ..
    } = planned;
    let recheck = match selection {
        Some(w) => Some(
            Binder {
                scope: &scope,
                params: &mut *params,
                grouping: None,
                env: Some(&mut *p),
            }
            .bind_condition(w, "WHERE")?,
        ),
        None => None,
    };
    let filter = match recheck.clone() {
        Some(f) => from::push_down(&mut source, f),
        None => None,
    };
    from::finish(&mut source);
    Ok(TargetPlan {
        table,
        source,
        filter,
        recheck,
        scope,
    })
}

/// The combined rows `plan` matches, each with the target row's storage key; a target row
/// joined to several FROM rows appears once (its first match), as in PostgreSQL.
pub fn target_rows(ctx: &mut Ctx<'_>, plan: &TargetPlan) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    let runner = Runner::new(ctx);
    let ectx = runner.ectx(&[]);
    let rows = runner.source_rows(&plan.source, &ectx)?;
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for row in rows {
        if let Some(f) = &plan.filter {
            if !f.passes(&row, &ectx)? {
                continue;
            }
        }
        let Some(Value::Bytea(key)) = row.get(plan.key_column()).cloned() else {
            return Err(Error::new(
                code::INTERNAL_ERROR,
                "target row without its key",
            ));
        };
        if seen.insert(key.clone()) {
            out.push((key, row));
        }
    }
    Ok(out)
}

/// `row` with its target part replaced by `fresh` (the row re-read with a write intent).
pub fn with_fresh(plan: &TargetPlan, row: &[Value], fresh: &[Value]) -> Vec<Value> {
    let mut out = fresh.to_vec();
    out.extend_from_slice(row.get(plan.key_column()..).unwrap_or_default());
    out
}
