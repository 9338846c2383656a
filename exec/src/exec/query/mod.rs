//! SELECT planning: binding a query against the catalog into a [`SelectPlan`].
//!
//! A plan is a body (a SELECT over a FROM tree, a VALUES list, or a set operation of two
//! plans) followed by ORDER BY and OFFSET / LIMIT. A SELECT body runs: source rows (the
//! FROM tree: table access paths, joins, derived tables) → WHERE → GROUP BY / aggregates →
//! HAVING → projection → DISTINCT. Subqueries in expressions are planned here too, through
//! the [`Planner`]'s [`BindEnv`]; names they take from enclosing queries become captures.
//! Execution is in `run`; access paths in `access`; the FROM tree in `from`.
//!
//! Rows are materialized; the vectorized, parallel executor is issue 8's.

mod access;
mod ann_scan;
mod bitmap_scan;
#[cfg(test)]
mod bitmap_tests;
mod chunked;
mod cursors;
mod distinct_on;
mod eager;
#[cfg(test)]
mod eager_tests;
mod estimate;
mod factor;
mod from;
mod grouping_sets;
mod locking;
mod lookup;
#[cfg(test)]
mod lookup_tests;
mod memo;
#[cfg(test)]
mod memo_tests;
mod named;
mod output_name;
pub use output_name::output_name;
#[cfg(test)]
mod parallel_tests;
mod profile;
#[cfg(test)]
mod profile_tests;
mod prune;
#[cfg(test)]
mod prune_tests;
mod recursive;
mod reorder;
#[cfg(test)]
mod reorder_tests;
mod run;
#[cfg(test)]
mod scan_tests;
mod semi;
mod setop;
mod srf;
mod target;

use std::rc::Rc;

use sqlparser::ast;

use super::agg::AggPlan;
use super::{Column, Ctx};
use crate::catalog::TableDef;
use crate::error::{code, Error, Result};
use crate::expr::{BindEnv, Binder, Expr, ScopeColumn};
use crate::types::DataType;

pub use access::{choose_access, scan_rows, Access};
pub(crate) use access::{fetch_row, interrupted, successor};
pub(crate) use bitmap_scan::explain as bitmap_explain;
pub(crate) use chunked::ChunkedScan;
pub use cursors::Cursors;
pub use from::{Join, JoinKind, Source, TableSource};
pub use lookup::Lookup;
pub use memo::LookupMemo;
pub use profile::{Node as ProfileNode, Profile, Stage};
pub use recursive::Recursive;
pub use run::{run_select, Runner};
pub use setop::SetOp;
pub(crate) use target::{
    plan_target, target_rows, with_fresh, with_planner, with_subqueries, TargetPlan,
};

/// A planned query.
#[derive(Debug, Clone)]
pub struct SelectPlan {
    pub body: Body,
    pub columns: Vec<Column>,
    /// (key, descending, nulls first). A key `Expr::Column(usize::MAX - i)` is output
    /// column i; other keys are evaluated on the row the projections see (SELECT only).
    pub order: Vec<(Expr, bool, bool)>,
    pub limit: Option<Expr>,
    pub offset: Option<Expr>,
}

/// What produces a plan's rows before ORDER BY and LIMIT.
#[derive(Debug, Clone)]
pub enum Body {
    Select(Box<SelectBody>),
    /// A VALUES list: each row's expressions.
    Values(Vec<Vec<Expr>>),
    /// A parenthesized query with its own ORDER BY / LIMIT, ordered again outside.
    Nested(Box<SelectPlan>),
    /// UNION / INTERSECT / EXCEPT of two plans with the same number of columns.
    SetOp {
        op: setop::SetOp,
        all: bool,
        left: Box<SelectPlan>,
        right: Box<SelectPlan>,
    },
    /// A `WITH RECURSIVE` query naming itself.
    Recursive(recursive::Recursive),
}

/// A SELECT over a FROM tree.
#[derive(Debug, Clone)]
pub struct SelectBody {
    pub source: Source,
    /// WHERE conditions the FROM tree could not take.
    pub filter: Option<Expr>,
    pub agg: Option<AggPlan>,
    /// Window functions, computed over the rows the projections see (after aggregation);
    /// their values are appended to each row at `window_base`.
    pub windows: Vec<crate::expr::WindowCall>,
    pub window_base: usize,
    pub projections: Vec<Expr>,
    pub distinct: bool,
    /// DISTINCT ON: the rows, sorted by the plan's ORDER BY, keep only the first of each run
    /// equal in the first this many sort keys (the DISTINCT ON expressions, which planning
    /// put there: [`distinct_on`]).
    pub distinct_on: Option<usize>,
}

impl SelectPlan {
    /// A plan that returns the rows of `body` as they come.
    pub fn new(body: Body, columns: Vec<Column>) -> SelectPlan {
        SelectPlan {
            body,
            columns,
            order: Vec::new(),
            limit: None,
            offset: None,
        }
    }
}

/// The scope of a table's columns under `alias`.
pub fn table_scope(table: &TableDef, alias: &str) -> Vec<ScopeColumn> {
    table
        .columns
        .iter()
        .map(|c| ScopeColumn {
            table: Some(alias.to_string()),
            name: c.name.clone(),
            ty: c.ty.clone(),
            qualified_only: false,
        })
        .collect()
}

/// A `WITH` query visible to the statement, planned where it is referenced.
#[derive(Debug)]
pub(crate) struct Cte {
    pub name: String,
    pub query: ast::Query,
    pub columns: Vec<String>,
    pub kind: recursive::CteKind,
}

/// Plans one query level: holds the statement's context, the columns of enclosing queries
/// this level may name, and the captures it takes from them.
pub(crate) struct Planner<'p, 'a> {
    pub ctx: &'p mut Ctx<'a>,
    pub outer: Vec<ScopeColumn>,
    pub captures: Vec<usize>,
    pub ctes: Vec<Rc<Cte>>,
    /// The next select planned leaves its untyped columns (`NULL`, `'x'`) untyped, for a set
    /// operation to type them from its other branch (taken by that select, so it never
    /// reaches a nested one).
    pub untyped_kept: bool,
    /// The window function calls of the select list being bound (`None`: not allowed here).
    pub windows: Option<Vec<crate::expr::WindowCall>>,
}

impl BindEnv for Planner<'_, '_> {
    fn outer_scope(&self) -> &[ScopeColumn] {
        &self.outer
    }

    fn capture(&mut self, j: usize) -> usize {
        match self.captures.iter().position(|c| *c == j) {
            Some(slot) => slot,
            None => {
                self.captures.push(j);
                self.captures.len() - 1
            }
        }
    }

    fn subquery(
        &mut self,
        query: &ast::Query,
        scope: &[ScopeColumn],
        params: &mut Vec<DataType>,
    ) -> Result<(SelectPlan, Vec<usize>)> {
        let mut outer = scope.to_vec();
        outer.extend(self.outer.iter().cloned());
        let mut sub = Planner {
            ctx: &mut *self.ctx,
            outer,
            captures: Vec::new(),
            untyped_kept: false,
            ctes: recursive::in_subquery(&self.ctes),
            windows: None,
        };
        let plan = sub.plan(query, params)?;
        Ok((plan, sub.captures))
    }

    fn add_window(&mut self, call: crate::expr::WindowCall) -> Option<usize> {
        let windows = self.windows.as_mut()?;
        windows.push(call);
        Some(windows.len() - 1)
    }
}

/// Plans `query` (a statement-level query: it names no enclosing query).
pub fn plan_query(ctx: &mut Ctx<'_>, query: &ast::Query) -> Result<SelectPlan> {
    let mut params = std::mem::take(&mut ctx.param_types);
    let mut planner = Planner {
        ctx: &mut *ctx,
        outer: Vec::new(),
        captures: Vec::new(),
        untyped_kept: false,
        ctes: Vec::new(),
        windows: None,
    };
    let result = planner.plan(query, &mut params);
    ctx.param_types = params;
    result
}

impl Planner<'_, '_> {
    /// Plans `query` at this level.
    pub fn plan(&mut self, query: &ast::Query, params: &mut Vec<DataType>) -> Result<SelectPlan> {
        let saved = self.ctes.len();
        if let Some(with) = &query.with {
            // A WITH RECURSIVE query sees the whole list; a plain one, the names before it.
            let list_end = saved + with.cte_tables.len();
            for cte in &with.cte_tables {
                self.ctes.push(Rc::new(Cte {
                    name: crate::expr::ident_name(&cte.alias.name),
                    query: (*cte.query).clone(),
                    columns: cte
                        .alias
                        .columns
                        .iter()
                        .map(|c| crate::expr::ident_name(&c.name))
                        .collect(),
                    kind: recursive::CteKind::Query {
                        shared: Default::default(),
                        uses: std::cell::Cell::new(0),
                        recursive: with.recursive,
                        visible: if with.recursive {
                            list_end
                        } else {
                            self.ctes.len()
                        },
                    },
                }));
            }
        }
        let result = self.plan_body(query, params);
        self.ctes.truncate(saved);
        result
    }

    fn plan_body(&mut self, query: &ast::Query, params: &mut Vec<DataType>) -> Result<SelectPlan> {
        let mut plan = match query.body.as_ref() {
            ast::SetExpr::Select(select) => return self.plan_select(query, select, params),
            ast::SetExpr::Query(q) => self.plan(q, params)?,
            ast::SetExpr::Values(v) => super::values::plan_values(self, v, params)?,
            ast::SetExpr::SetOperation {
                op,
                set_quantifier,
                left,
                right,
            } => setop::plan_setop(self, op, set_quantifier, left, right, params)?,
            other => {
                return Err(Error::unsupported(format!(
                    "query form is not supported: {other}"
                )))
            }
        };
        // ORDER BY / LIMIT over a VALUES list, set operation or parenthesized query: output
        // columns only.
        if query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some() {
            if plan.limit.is_some() || plan.offset.is_some() || !plan.order.is_empty() {
                let columns = plan.columns.clone();
                plan = SelectPlan::new(Body::Nested(Box::new(plan)), columns);
            }
            plan.order = output_order(query, &plan.columns)?;
            let (limit, offset) = limit_offset(query, params)?;
            plan.limit = limit;
            plan.offset = offset;
        }
        Ok(plan)
    }

    fn plan_select(
        &mut self,
        query: &ast::Query,
        select: &ast::Select,
        params: &mut Vec<DataType>,
    ) -> Result<SelectPlan> {
        if select.into.is_some() {
            return Err(Error::unsupported(
                "SELECT ... INTO here is not supported (it creates a table)",
            ));
        }
        if let Some(lifted) = srf::lift(select)? {
            return self.plan_select(query, &lifted, params);
        }
        if let Some(eager) = eager::rewrite(self, query, select)? {
            return self.plan_select(query, &eager, params);
        }
        let untyped_kept = std::mem::take(&mut self.untyped_kept);
        let (for_update, lock) = locking::of(query);
        let from::Planned {
            mut source,
            scope,
            origins,
            mut star,
        } = from::plan_from(self, &select.from, for_update, params)?;
        locking::apply(&mut source, lock);
        star.retain(|i| scope.get(*i).and_then(|c| c.table.as_deref()) != Some(srf::LIFTED));
        let filter = match &select.selection {
            Some(w) => Some(
                Binder {
                    scope: &scope,
                    params: &mut *params,
                    grouping: None,
                    env: Some(&mut *self),
                }
                .bind_condition(w, "WHERE")?,
            ),
            None => None,
        };
        // EXISTS conjuncts become semi / anti joins once the others are pushed down (their
        // estimates decide); those kept as per-row subqueries are pushed down last.
        let (exists, filter) = match filter {
            Some(f) => semi::split(f),
            None => (Vec::new(), None),
        };
        let filter = match filter {
            Some(f) => from::push_down(&mut source, f),
            None => None,
        };
        let types: Vec<DataType> = scope.iter().map(|c| c.ty.clone()).collect();
        let kept = semi::attach(&mut source, &types, exists);
        let filter = match kept.and_then(|k| from::push_down(&mut source, k)) {
            Some(left) => Some(from::and(filter, left)),
            None => filter,
        };
        let filter = match semi::pull_in_unless_limited(&mut source, query, select) {
            Some(lifted) => Some(from::and(filter, lifted)),
            None => filter,
        };
        reorder::reorder(&mut source);
        from::finish(&mut source);
        let grouping_sets::Expanded {
            keys: group_exprs,
            sets: grouping_sets,
        } = match &select.group_by {
            ast::GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => {
                grouping_sets::expand(exprs)?
            }
            ast::GroupByExpr::Expressions(..) | ast::GroupByExpr::All(_) => {
                return Err(Error::unsupported(
                    "GROUP BY modifiers are not supported yet",
                ))
            }
        };
        // Expand the select list (`*`, `t.*`).
        let mut items: Vec<(ast::Expr, String)> = Vec::new();
        // How many items each select-list entry became.
        let mut spans = Vec::with_capacity(select.projection.len());
        for item in &select.projection {
            let before = items.len();
            match item {
                ast::SelectItem::UnnamedExpr(e) => items.push((e.clone(), output_name(e))),
                ast::SelectItem::ExprWithAlias { expr, alias } => {
                    items.push((expr.clone(), crate::expr::ident_name(alias)))
                }
                ast::SelectItem::Wildcard(_) => {
                    if scope.is_empty() {
                        return Err(Error::syntax(
                            "SELECT * with no tables specified is not valid",
                        ));
                    }
                    let recording = self.ctx.star_lists.is_some();
                    for i in &star {
                        items.push(star_item(&scope, *i, recording)?);
                    }
                }
                ast::SelectItem::QualifiedWildcard(kind, _) => {
                    let name = match kind {
                        ast::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                            n.0.last()
                                .and_then(|p| p.as_ident())
                                .map(crate::expr::ident_name)
                                .unwrap_or_default()
                        }
                        ast::SelectItemQualifiedWildcardKind::Expr(e) => e.to_string(),
                    };
                    let mut any = false;
                    for (i, c) in scope.iter().enumerate() {
                        if c.table.as_deref() == Some(name.as_str()) {
                            items.push(star_item(&scope, i, self.ctx.star_lists.is_some())?);
                            any = true;
                        }
                    }
                    if !any {
                        return Err(Error::new(
                            code::UNDEFINED_TABLE,
                            format!("missing FROM-clause entry for table \"{name}\""),
                        ));
                    }
                }
                other => return Err(Error::unsupported(format!("select item {other}"))),
            }
            spans.push(items.len() - before);
        }
        record_star_list(self.ctx, select, &items, &spans);
        // Positional GROUP BY (GROUP BY 1) names a select item; so does a bare name that is
        // no input column but an output column's (input columns win, as in PostgreSQL).
        let group_exprs: Vec<ast::Expr> = group_exprs
            .into_iter()
            .map(|g| match position(&g, items.len()) {
                Some(i) => items.get(i).map(|(e, _)| e.clone()).unwrap_or(g),
                None => match &g {
                    ast::Expr::Identifier(id) => {
                        let name = crate::expr::ident_name(id);
                        let input = scope.iter().any(|c| c.name == name);
                        match items.iter().find(|(_, alias)| *alias == name) {
                            Some((e, _)) if !input => e.clone(),
                            _ => g,
                        }
                    }
                    _ => g,
                },
            })
            .collect();
        let has_aggs = !group_exprs.is_empty()
            || grouping_sets.is_some()
            || select.having.is_some()
            || items
                .iter()
                .any(|(e, _)| crate::expr::contains_aggregate(e));
        let mut grouping = crate::expr::Grouping::default();
        let mut keys = Vec::new();
        if has_aggs {
            for g in &group_exprs {
                let (x, t) = Binder {
                    scope: &scope,
                    params: &mut *params,
                    grouping: None,
                    env: Some(&mut *self),
                }
                .bind(g)?;
                let col = match x {
                    Expr::Column(i) => Some(i),
                    _ => None,
                };
                grouping.keys.push((g.to_string(), col, t));
                keys.push(x);
            }
        }
        let mut projections = Vec::with_capacity(items.len());
        let mut columns = Vec::with_capacity(items.len());
        // Window functions may appear in the select list and ORDER BY only.
        let enclosing_windows = self.windows.replace(Vec::new());
        for (e, name) in &items {
            let (x, t) = Binder {
                scope: &scope,
                params: &mut *params,
                grouping: has_aggs.then_some(&mut grouping),
                env: Some(&mut *self),
            }
            .bind(e)?;
            let (table_oid, attnum) = match &x {
                Expr::Column(i) if !has_aggs => origins.get(*i).copied().unwrap_or((0, 0)),
                _ => (0, 0),
            };
            columns.push(Column {
                name: name.clone(),
                ty: if t == DataType::Unknown && !untyped_kept {
                    DataType::Text
                } else {
                    t
                },
                table_oid,
                column: attnum,
            });
            projections.push(x);
        }
        let mut windows = std::mem::replace(&mut self.windows, enclosing_windows);
        let having = match &select.having {
            Some(h) => Some(
                Binder {
                    scope: &scope,
                    params: &mut *params,
                    grouping: Some(&mut grouping),
                    env: Some(&mut *self),
                }
                .bind_condition(h, "HAVING")?,
            ),
            None => None,
        };
        let mut order = Vec::new();
        // ORDER BY's window calls join the select list's.
        let enclosing_windows = std::mem::replace(&mut self.windows, windows.take());
        // A sort key (ORDER BY, DISTINCT ON): an output column named or numbered, else an
        // expression over the FROM scope.
        let mut sort_key = |e: &ast::Expr| -> Result<Expr> {
            Ok(match output_position(e, &columns) {
                Some(i) => Expr::Column(usize::MAX - i),
                None => {
                    Binder {
                        scope: &scope,
                        params: &mut *params,
                        grouping: has_aggs.then_some(&mut grouping),
                        env: Some(&mut *self),
                    }
                    .bind(e)?
                    .0
                }
            })
        };
        if let Some(ob) = &query.order_by {
            let ast::OrderByKind::Expressions(list) = &ob.kind else {
                return Err(Error::unsupported("ORDER BY ALL is not supported"));
            };
            for o in list {
                let (desc, nulls_first) = crate::expr::sort_options(o);
                order.push((sort_key(&o.expr)?, desc, nulls_first));
            }
        }
        let distinct_on = match &select.distinct {
            Some(ast::Distinct::On(exprs)) => {
                let on = exprs
                    .iter()
                    .map(&mut sort_key)
                    .collect::<Result<Vec<_>>>()?;
                Some(distinct_on::merge(on, &mut order, &projections)?)
            }
            _ => None,
        };
        let windows = std::mem::replace(&mut self.windows, enclosing_windows).unwrap_or_default();
        let window_base = if has_aggs {
            keys.len() + grouping.aggs.len()
        } else {
            scope.len()
        };
        if !windows.is_empty() {
            if for_update {
                return Err(Error::unsupported(
                    "FOR UPDATE is not allowed with window functions",
                ));
            }
            let place = |e: &mut Expr| crate::expr::place_windows(e, windows.len(), window_base);
            projections.iter_mut().for_each(place);
            order.iter_mut().for_each(|(k, _, _)| place(k));
        }
        let (limit, offset) = limit_offset(query, params)?;
        let distinct = matches!(select.distinct, Some(ast::Distinct::Distinct));
        if for_update && has_aggs {
            return Err(Error::unsupported(
                "FOR UPDATE is not allowed with aggregate functions",
            ));
        }
        let agg = has_aggs.then_some(AggPlan {
            keys,
            aggs: grouping.aggs,
            having,
            sets: grouping_sets,
        });
        let mut plan = SelectPlan {
            body: Body::Select(Box::new(SelectBody {
                source,
                filter,
                agg,
                windows,
                window_base,
                projections,
                distinct,
                distinct_on,
            })),
            columns,
            order,
            limit,
            offset,
        };
        ann_scan::choose(&mut plan);
        prune::prune(&mut plan);
        Ok(plan)
    }
}

/// A `*` item: scope column `i`, named so the binder finds exactly it.
/// For CREATE VIEW (`Ctx::star_lists` set): a select list with `*` in it, with each `*`
/// replaced by the columns it expanded to (`items`; `spans[k]` of them came from entry k).
fn record_star_list(
    ctx: &mut Ctx<'_>,
    select: &ast::Select,
    items: &[(ast::Expr, String)],
    spans: &[usize],
) {
    let Some(lists) = ctx.star_lists.as_mut() else {
        return;
    };
    let is_star = |i: &ast::SelectItem| {
        matches!(
            i,
            ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..)
        )
    };
    if !select.projection.iter().any(is_star) {
        return;
    }
    let mut list = Vec::with_capacity(items.len());
    let mut at = 0;
    for (entry, n) in select.projection.iter().zip(spans) {
        let expanded = items.get(at..at + n).unwrap_or_default();
        if is_star(entry) {
            list.extend(
                expanded
                    .iter()
                    .map(|(e, _)| ast::SelectItem::UnnamedExpr(e.clone())),
            );
        } else {
            list.push(entry.clone());
        }
        at += n;
    }
    lists.insert(select as *const ast::Select as usize, list);
}

/// A column named like another of its table (`unnest(a, b)`'s two `unnest`s) is named by its
/// position instead (`crate::expr::BY_POSITION`), as PostgreSQL expands `*` by position. A
/// position is valid for this planning only: when the expansion is `recording` (a view's
/// stored text, planned again later over tables that may have changed), it is refused as
/// PostgreSQL refuses a view with two columns of one name (42701).
fn star_item(scope: &[ScopeColumn], i: usize, recording: bool) -> Result<(ast::Expr, String)> {
    let i = i.min(scope.len().saturating_sub(1));
    let c = &scope[i];
    let twin = |(j, o): (usize, &ScopeColumn)| j != i && o.name == c.name && o.table == c.table;
    if scope.iter().enumerate().any(twin) {
        if recording {
            return Err(Error::new(
                code::DUPLICATE_COLUMN,
                format!("column \"{}\" specified more than once", c.name),
            ));
        }
        let e = ast::Expr::CompoundIdentifier(vec![
            ast::Ident::with_quote('"', crate::expr::BY_POSITION),
            ast::Ident::with_quote('"', i.to_string()),
        ]);
        return Ok((e, c.name.clone()));
    }
    let col = ast::Ident::with_quote('"', c.name.clone());
    let e = match (&c.table, c.qualified_only) {
        (Some(t), _) => {
            ast::Expr::CompoundIdentifier(vec![ast::Ident::with_quote('"', t.clone()), col])
        }
        (None, _) => ast::Expr::Identifier(col),
    };
    Ok((e, c.name.clone()))
}

/// ORDER BY over output columns only (a set operation or VALUES list).
fn output_order(query: &ast::Query, columns: &[Column]) -> Result<Vec<(Expr, bool, bool)>> {
    let mut order = Vec::new();
    if let Some(ob) = &query.order_by {
        let ast::OrderByKind::Expressions(list) = &ob.kind else {
            return Err(Error::unsupported("ORDER BY ALL is not supported"));
        };
        for o in list {
            let (desc, nulls_first) = crate::expr::sort_options(o);
            let Some(i) = output_position(&o.expr, columns) else {
                return Err(Error::unsupported(format!(
                    "ORDER BY on a UNION/INTERSECT/EXCEPT or VALUES result must be on one of the result columns: {}",
                    o.expr
                )));
            };
            order.push((Expr::Column(usize::MAX - i), desc, nulls_first));
        }
    }
    Ok(order)
}

/// An ORDER BY item naming an output column (by name or position).
fn output_position(e: &ast::Expr, columns: &[Column]) -> Option<usize> {
    match e {
        ast::Expr::Identifier(id) => {
            let n = crate::expr::ident_name(id);
            columns.iter().position(|c| c.name == n)
        }
        e => position(e, columns.len()),
    }
}

fn limit_offset(
    query: &ast::Query,
    params: &mut Vec<DataType>,
) -> Result<(Option<Expr>, Option<Expr>)> {
    let mut bind_count = |e: &ast::Expr| -> Result<Expr> {
        let mut b = Binder {
            scope: &[],
            params,
            grouping: None,
            env: None,
        };
        let (x, _) = b.bind(e)?;
        b.infer(&x, &DataType::Int8);
        if !x.is_row_independent() {
            return Err(Error::new(
                "42P10",
                "argument of LIMIT must not contain variables",
            ));
        }
        Ok(x)
    };
    let mut limit = None;
    let mut offset = None;
    match &query.limit_clause {
        Some(ast::LimitClause::LimitOffset {
            limit: l,
            offset: o,
            ..
        }) => {
            if let Some(l) = l {
                limit = Some(bind_count(l)?);
            }
            if let Some(o) = o {
                offset = Some(bind_count(&o.value)?);
            }
        }
        Some(ast::LimitClause::OffsetCommaLimit {
            offset: o,
            limit: l,
        }) => {
            limit = Some(bind_count(l)?);
            offset = Some(bind_count(o)?);
        }
        None => {}
    }
    if let Some(f) = &query.fetch {
        if let Some(q) = &f.quantity {
            limit = Some(bind_count(q)?);
        }
    }
    Ok((limit, offset))
}

/// `ORDER BY 2` / `GROUP BY 1`: a 0-based select-list position.
fn position(e: &ast::Expr, n: usize) -> Option<usize> {
    if let ast::Expr::Value(v) = e {
        if let ast::Value::Number(s, _) = &v.value {
            return s
                .parse::<usize>()
                .ok()
                .filter(|p| *p >= 1 && *p <= n)
                .map(|p| p - 1);
        }
    }
    None
}

/// Errors for a statement that expected a table but found none.
pub fn no_table(name: &str) -> Error {
    Error::new(
        code::UNDEFINED_TABLE,
        format!("relation \"{name}\" does not exist"),
    )
}
