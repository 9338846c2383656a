//! SELECT: planning (binding against the catalog, choosing the access path) and execution.
//!
//! Pipeline: source rows (a primary-key point lookup, a primary-key range scan or a full
//! table scan) → WHERE → GROUP BY / aggregates → HAVING → projection and sort keys →
//! DISTINCT → ORDER BY → OFFSET / LIMIT. Rows are materialized; the vectorized, parallel
//! executor is issue 8's.

use std::cmp::Ordering;
use std::ops::Bound;

use orbit_lsm::Direction;
use sqlparser::ast;

use super::agg::{aggregate, AggPlan};
use super::{Column, Ctx};
use crate::catalog::TableDef;
use crate::error::{code, Error, Result};
use crate::expr::{Binder, Expr, ScopeColumn};
use crate::row::{append_key, decode_row, index_prefix};
use crate::types::{BinaryOp, DataType, Value};

/// How a table's rows are reached.
#[derive(Debug, Clone)]
pub enum Access {
    Full,
    /// Every primary-key column equals a row-independent expression.
    Point(Vec<Expr>),
    /// The first primary-key column within bounds.
    Range(Bound<Expr>, Bound<Expr>),
}

/// A planned SELECT over at most one table.
#[derive(Debug, Clone)]
pub struct SelectPlan {
    pub table: Option<TableDef>,
    pub access: Access,
    pub filter: Option<Expr>,
    pub agg: Option<AggPlan>,
    pub projections: Vec<Expr>,
    pub columns: Vec<Column>,
    /// (key, descending, nulls first), evaluated on the same row as the projections.
    pub order: Vec<(Expr, bool, bool)>,
    pub distinct: bool,
    pub limit: Option<Expr>,
    pub offset: Option<Expr>,
    pub for_update: bool,
    /// A bare VALUES list: its rows replace the table and projections.
    pub values: Vec<Vec<Expr>>,
}

impl SelectPlan {
    /// This plan producing `rows` (a VALUES list).
    pub fn with_values(mut self, rows: Vec<Vec<Expr>>) -> SelectPlan {
        self.values = rows;
        self
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
        })
        .collect()
}

/// The column name PostgreSQL gives an unaliased select item.
pub fn output_name(e: &ast::Expr) -> String {
    match e {
        ast::Expr::Identifier(id) => crate::expr::ident_name(id),
        ast::Expr::CompoundIdentifier(parts) => parts
            .last()
            .map(crate::expr::ident_name)
            .unwrap_or_else(|| "?column?".into()),
        ast::Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(crate::expr::ident_name)
            .unwrap_or_else(|| "?column?".into()),
        ast::Expr::Cast { expr, .. } => match expr.as_ref() {
            ast::Expr::Value(_) => "?column?".into(),
            inner => output_name(inner),
        },
        ast::Expr::Nested(inner) => output_name(inner),
        ast::Expr::Case { .. } => "case".into(),
        ast::Expr::Extract { .. } => "extract".into(),
        ast::Expr::Substring { .. } => "substring".into(),
        ast::Expr::Position { .. } => "position".into(),
        ast::Expr::Trim { .. } => "btrim".into(),
        ast::Expr::Ceil { .. } => "ceil".into(),
        ast::Expr::Floor { .. } => "floor".into(),
        ast::Expr::Array(_) => "array".into(),
        _ => "?column?".into(),
    }
}

/// Plans `query`.
pub fn plan_query(ctx: &mut Ctx<'_>, query: &ast::Query) -> Result<SelectPlan> {
    if query.with.is_some() {
        return Err(Error::unsupported("WITH queries are not supported yet"));
    }
    let select = match query.body.as_ref() {
        ast::SetExpr::Select(s) => s,
        ast::SetExpr::Query(q) if query.order_by.is_none() && query.limit_clause.is_none() => {
            return plan_query(ctx, q)
        }
        ast::SetExpr::Values(v) => return super::values::plan_values(ctx, v),
        _ => return Err(Error::unsupported("set operations are not supported yet")),
    };
    let (table, alias) = match select.from.as_slice() {
        [] => (None, String::new()),
        [one] if one.joins.is_empty() => match &one.relation {
            ast::TableFactor::Table {
                name, alias, args, ..
            } if args.is_none() => {
                let t = ctx.resolve_table(name)?;
                let a = match alias {
                    Some(a) => crate::expr::ident_name(&a.name),
                    None => t.name.clone(),
                };
                (Some(t), a)
            }
            _ => {
                return Err(Error::unsupported(
                    "only plain tables are supported in FROM yet",
                ))
            }
        },
        _ => return Err(Error::unsupported("joins are not supported yet")),
    };
    let scope = match &table {
        Some(t) => table_scope(t, &alias),
        None => Vec::new(),
    };
    let mut params = std::mem::take(&mut ctx.param_types);
    let result = plan_select(query, select, table, &scope, &mut params);
    ctx.param_types = params;
    result
}

fn plan_select(
    query: &ast::Query,
    select: &ast::Select,
    table: Option<TableDef>,
    scope: &[ScopeColumn],
    params: &mut Vec<DataType>,
) -> Result<SelectPlan> {
    let filter = match &select.selection {
        Some(w) => Some(
            Binder {
                scope,
                params,
                grouping: None,
            }
            .bind_condition(w, "WHERE")?,
        ),
        None => None,
    };
    let group_exprs: Vec<ast::Expr> = match &select.group_by {
        ast::GroupByExpr::Expressions(exprs, mods) if mods.is_empty() => exprs.clone(),
        ast::GroupByExpr::Expressions(..) | ast::GroupByExpr::All(_) => {
            return Err(Error::unsupported(
                "GROUP BY modifiers are not supported yet",
            ))
        }
    };
    // Expand the select list (`*`, `t.*`).
    let mut items: Vec<(ast::Expr, String)> = Vec::new();
    for item in &select.projection {
        match item {
            ast::SelectItem::UnnamedExpr(e) => items.push((e.clone(), output_name(e))),
            ast::SelectItem::ExprWithAlias { expr, alias } => {
                items.push((expr.clone(), crate::expr::ident_name(alias)))
            }
            ast::SelectItem::Wildcard(_) | ast::SelectItem::QualifiedWildcard(..) => {
                if scope.is_empty() {
                    return Err(Error::syntax(
                        "SELECT * with no tables specified is not valid",
                    ));
                }
                for c in scope {
                    let id = ast::Ident::with_quote('"', c.name.clone());
                    items.push((ast::Expr::Identifier(id), c.name.clone()));
                }
            }
            other => return Err(Error::unsupported(format!("select item {other}"))),
        }
    }
    // Positional GROUP BY (GROUP BY 1) names a select item.
    let group_exprs: Vec<ast::Expr> = group_exprs
        .into_iter()
        .map(|g| match position(&g, items.len()) {
            Some(i) => items.get(i).map(|(e, _)| e.clone()).unwrap_or(g),
            None => g,
        })
        .collect();
    let has_aggs = !group_exprs.is_empty()
        || select.having.is_some()
        || items.iter().any(|(e, _)| contains_aggregate(e));
    let mut grouping = crate::expr::Grouping::default();
    let mut keys = Vec::new();
    if has_aggs {
        for g in &group_exprs {
            let (x, t) = Binder {
                scope,
                params,
                grouping: None,
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
    for (e, name) in &items {
        let (x, t) = Binder {
            scope,
            params,
            grouping: has_aggs.then_some(&mut grouping),
        }
        .bind(e)?;
        let (table_oid, attnum) = source_column(&table, &x, has_aggs);
        columns.push(Column {
            name: name.clone(),
            ty: if t == DataType::Unknown {
                DataType::Text
            } else {
                t
            },
            table_oid,
            column: attnum,
        });
        projections.push(x);
    }
    let having = match &select.having {
        Some(h) => Some(
            Binder {
                scope,
                params,
                grouping: Some(&mut grouping),
            }
            .bind_condition(h, "HAVING")?,
        ),
        None => None,
    };
    let mut order = Vec::new();
    if let Some(ob) = &query.order_by {
        let ast::OrderByKind::Expressions(list) = &ob.kind else {
            return Err(Error::unsupported("ORDER BY ALL is not supported"));
        };
        for o in list {
            let desc = matches!(o.options.sort, Some(ast::OrderBySort::Desc));
            let nulls_first = o.options.nulls_first.unwrap_or(desc);
            let by_output = match &o.expr {
                ast::Expr::Identifier(id) => {
                    let n = crate::expr::ident_name(id);
                    columns.iter().position(|c| c.name == n)
                }
                e => position(e, items.len()),
            };
            let key = match by_output {
                Some(i) => Expr::Column(usize::MAX - i), // marker: output column i
                None => {
                    Binder {
                        scope,
                        params,
                        grouping: has_aggs.then_some(&mut grouping),
                    }
                    .bind(&o.expr)?
                    .0
                }
            };
            order.push((key, desc, nulls_first));
        }
    }
    let (limit, offset) = limit_offset(query, scope, params)?;
    let distinct = match &select.distinct {
        None | Some(ast::Distinct::All) => false,
        Some(ast::Distinct::Distinct) => true,
        Some(_) => return Err(Error::unsupported("DISTINCT ON is not supported yet")),
    };
    let for_update = query
        .locks
        .iter()
        .any(|l| matches!(l.lock_type, ast::LockType::Update | ast::LockType::Share));
    if for_update && has_aggs {
        return Err(Error::unsupported(
            "FOR UPDATE is not allowed with aggregate functions",
        ));
    }
    let access = match (&table, &filter) {
        (Some(t), Some(f)) => choose_access(t, f),
        _ => Access::Full,
    };
    let agg = has_aggs.then_some(AggPlan {
        keys,
        aggs: grouping.aggs,
        having,
    });
    Ok(SelectPlan {
        table,
        access,
        filter,
        agg,
        projections,
        columns,
        order,
        distinct,
        limit,
        offset,
        for_update,
        values: Vec::new(),
    })
}

fn limit_offset(
    query: &ast::Query,
    scope: &[ScopeColumn],
    params: &mut Vec<DataType>,
) -> Result<(Option<Expr>, Option<Expr>)> {
    let mut bind_count = |e: &ast::Expr| -> Result<Expr> {
        let mut b = Binder {
            scope: &[],
            params,
            grouping: None,
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
    let _ = scope;
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

fn contains_aggregate(e: &ast::Expr) -> bool {
    let text = e.to_string().to_lowercase();
    [
        "count(",
        "sum(",
        "avg(",
        "min(",
        "max(",
        "bool_and(",
        "bool_or(",
        "every(",
        "string_agg(",
        "array_agg(",
    ]
    .iter()
    .any(|f| text.contains(f))
}

/// The (table oid, attribute number) a plain column output comes from.
fn source_column(table: &Option<TableDef>, x: &Expr, grouped: bool) -> (u32, i16) {
    match (table, x) {
        (Some(t), Expr::Column(i)) if !grouped => (t.oid, (*i as i16).saturating_add(1)),
        _ => (0, 0),
    }
}

/// Picks a primary-key lookup or range from the WHERE conjuncts.
pub fn choose_access(table: &TableDef, filter: &Expr) -> Access {
    if table.primary_key.is_empty() {
        return Access::Full;
    }
    let mut conjuncts = Vec::new();
    flatten_and(filter, &mut conjuncts);
    let pk_pos: Vec<usize> = table
        .primary_key
        .iter()
        .filter_map(|id| table.column_by_id(*id))
        .collect();
    let mut eq: Vec<Option<Expr>> = vec![None; pk_pos.len()];
    let (mut lo, mut hi) = (Bound::Unbounded, Bound::Unbounded);
    let first = pk_pos.first().copied();
    for c in conjuncts {
        let Expr::Binary(op, l, r) = c else { continue };
        let (col, val, op) = match (l.as_ref(), r.as_ref()) {
            (Expr::Column(i), v) if v.is_row_independent() => (*i, v.clone(), *op),
            (v, Expr::Column(i)) if v.is_row_independent() => (*i, v.clone(), flip(*op)),
            _ => continue,
        };
        if let Some(k) = pk_pos.iter().position(|p| *p == col) {
            match op {
                BinaryOp::Eq => {
                    if let Some(slot) = eq.get_mut(k) {
                        *slot = Some(val.clone());
                    }
                }
                _ if Some(col) == first => match op {
                    BinaryOp::Gt => lo = Bound::Excluded(val),
                    BinaryOp::GtEq => lo = Bound::Included(val),
                    BinaryOp::Lt => hi = Bound::Excluded(val),
                    BinaryOp::LtEq => hi = Bound::Included(val),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    if eq.iter().all(Option::is_some) {
        return Access::Point(eq.into_iter().flatten().collect());
    }
    if let Some(Some(v)) = eq.first() {
        return Access::Range(Bound::Included(v.clone()), Bound::Included(v.clone()));
    }
    if !matches!((&lo, &hi), (Bound::Unbounded, Bound::Unbounded)) {
        return Access::Range(lo, hi);
    }
    Access::Full
}

fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::LtEq => BinaryOp::GtEq,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::GtEq => BinaryOp::LtEq,
        other => other,
    }
}

pub(crate) fn flatten_and<'e>(e: &'e Expr, out: &mut Vec<&'e Expr>) {
    match e {
        Expr::And(a, b) => {
            flatten_and(a, out);
            flatten_and(b, out);
        }
        other => out.push(other),
    }
}

/// The rows of `table` the access path reaches (before the filter), with their storage keys.
pub fn scan_rows(
    ctx: &mut Ctx<'_>,
    table: &TableDef,
    access: &Access,
    for_update: bool,
) -> Result<Vec<(Vec<u8>, Vec<Value>)>> {
    let prefix = index_prefix(table.id, 0);
    let ectx = ctx.eval_context();
    let key_of = |e: &Expr, pos: usize| -> Result<Option<Vec<u8>>> {
        let v = e.eval(&[], &ectx)?;
        if v.is_null() {
            return Ok(None);
        }
        let ty = table
            .primary_key
            .get(pos)
            .and_then(|id| table.column_by_id(*id))
            .and_then(|i| table.columns.get(i))
            .map(|c| c.ty.clone())
            .unwrap_or(DataType::Unknown);
        // A value that cannot be the column's type matches no row (e.g. 1.5 = int key).
        let Ok(v) = v.cast(&ty) else { return Ok(None) };
        let mut k = Vec::new();
        append_key(&mut k, &[&v]);
        Ok(Some(k))
    };
    let mut out = Vec::new();
    match access {
        Access::Point(exprs) => {
            let mut key = prefix.clone();
            for (i, e) in exprs.iter().enumerate() {
                match key_of(e, i)? {
                    Some(k) => key.extend_from_slice(&k),
                    None => return Ok(out),
                }
            }
            let found = if for_update {
                ctx.txn.get_for_update(ctx.engine.data, &key)?
            } else {
                ctx.txn.get(ctx.engine.data, &key)?
            };
            if let Some(v) = found {
                out.push((key, decode_row(table, &v)?));
            }
            return Ok(out);
        }
        Access::Full | Access::Range(..) => {}
    }
    let (start, end) = match access {
        Access::Range(lo, hi) => {
            let lo = match lo {
                Bound::Included(e) | Bound::Excluded(e) => match key_of(e, 0)? {
                    Some(k) => {
                        let mut b = prefix.clone();
                        b.extend_from_slice(&k);
                        if matches!(lo, Bound::Excluded(_)) {
                            // Past every key that starts with this value.
                            b = successor(&b);
                        }
                        Bound::Included(b)
                    }
                    None => return Ok(out),
                },
                Bound::Unbounded => Bound::Included(prefix.clone()),
            };
            let hi = match hi {
                Bound::Included(e) | Bound::Excluded(e) => match key_of(e, 0)? {
                    Some(k) => {
                        let mut b = prefix.clone();
                        b.extend_from_slice(&k);
                        if matches!(hi, Bound::Included(_)) {
                            b = successor(&b);
                        }
                        Bound::Excluded(b)
                    }
                    None => return Ok(out),
                },
                Bound::Unbounded => Bound::Excluded(successor(&prefix)),
            };
            (lo, hi)
        }
        _ => (
            Bound::Included(prefix.clone()),
            Bound::Excluded(successor(&prefix)),
        ),
    };
    for item in ctx
        .txn
        .scan(ctx.engine.data, (start, end), Direction::Forward)?
    {
        let (k, v) = item?;
        out.push((k, decode_row(table, &v)?));
    }
    if for_update {
        for (k, _) in &out {
            ctx.txn.get_for_update(ctx.engine.data, k)?;
        }
    }
    Ok(out)
}

/// The smallest key greater than every key starting with `prefix`.
pub(crate) fn successor(prefix: &[u8]) -> Vec<u8> {
    let mut s = prefix.to_vec();
    while let Some(last) = s.pop() {
        if last < 0xff {
            s.push(last + 1);
            return s;
        }
    }
    vec![0xff; prefix.len() + 1]
}

/// Runs a planned SELECT.
pub fn run_select(ctx: &mut Ctx<'_>, plan: &SelectPlan) -> Result<Vec<Vec<Value>>> {
    if !plan.values.is_empty() {
        let ectx = ctx.eval_context();
        let mut out = Vec::with_capacity(plan.values.len());
        for r in &plan.values {
            let mut row = Vec::with_capacity(r.len());
            for (e, c) in r.iter().zip(&plan.columns) {
                row.push(e.eval(&[], &ectx)?.cast(&c.ty)?);
            }
            out.push(row);
        }
        return Ok(out);
    }
    let input: Vec<Vec<Value>> = match &plan.table {
        Some(t) => scan_rows(ctx, t, &plan.access, plan.for_update)?
            .into_iter()
            .map(|(_, r)| r)
            .collect(),
        None => vec![Vec::new()],
    };
    let ectx = ctx.eval_context();
    let mut rows = Vec::with_capacity(input.len());
    for r in input {
        if let Some(f) = &plan.filter {
            if !f.passes(&r, &ectx)? {
                continue;
            }
        }
        rows.push(r);
    }
    let rows = match &plan.agg {
        Some(a) => aggregate(a, rows, &ectx)?,
        None => rows,
    };
    // Projection plus sort keys.
    let mut out: Vec<(Vec<Value>, Vec<Value>)> = Vec::with_capacity(rows.len());
    for r in &rows {
        let projected = plan
            .projections
            .iter()
            .map(|p| p.eval(r, &ectx))
            .collect::<Result<Vec<_>>>()?;
        let keys = plan
            .order
            .iter()
            .map(|(k, _, _)| match k {
                Expr::Column(m) if *m > usize::MAX / 2 => Ok(projected
                    .get(usize::MAX - m)
                    .cloned()
                    .unwrap_or(Value::Null)),
                k => k.eval(r, &ectx),
            })
            .collect::<Result<Vec<_>>>()?;
        out.push((projected, keys));
    }
    if plan.distinct {
        out.sort_by(|a, b| compare_rows(&a.0, &b.0));
        out.dedup_by(|a, b| compare_rows(&a.0, &b.0) == Ordering::Equal);
    }
    if !plan.order.is_empty() {
        out.sort_by(|a, b| {
            for ((x, y), (_, desc, nulls_first)) in a.1.iter().zip(&b.1).zip(&plan.order) {
                let ord = match (x.is_null(), y.is_null()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => {
                        if *nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (false, true) => {
                        if *nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    _ => {
                        let o = x.sort_cmp(y);
                        if *desc {
                            o.reverse()
                        } else {
                            o
                        }
                    }
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
    }
    let count = |e: &Option<Expr>, what: &str| -> Result<Option<usize>> {
        match e {
            None => Ok(None),
            Some(e) => match e.eval(&[], &ectx)?.cast(&DataType::Int8)?.as_i64()? {
                None => Ok(None),
                Some(n) if n < 0 => {
                    Err(Error::new("2201W", format!("{what} must not be negative")))
                }
                Some(n) => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
            },
        }
    };
    let offset = count(&plan.offset, "OFFSET")?.unwrap_or(0);
    let limit = count(&plan.limit, "LIMIT")?.unwrap_or(usize::MAX);
    Ok(out
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|(p, _)| p)
        .collect())
}

fn compare_rows(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = x.sort_cmp(y);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Errors for a statement that expected a table but found none.
pub fn no_table(name: &str) -> Error {
    Error::new(
        code::UNDEFINED_TABLE,
        format!("relation \"{name}\" does not exist"),
    )
}
