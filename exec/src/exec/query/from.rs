//! The FROM tree: tables (with their access paths), system relations, derived tables
//! (subqueries, views, WITH queries) and joins, with the conditions pushed down into them.
//!
//! Invariant: a source's rows have exactly as many values as its scope has columns. A
//! join's row is `left ++ right ++ merged`, where `merged` holds one value per USING /
//! NATURAL column (the non-null side's). Conditions are bound over the statement's full
//! FROM scope; [`push_down`] moves each WHERE conjunct to the lowest node that can
//! evaluate it without changing the result (never into the nullable side of an outer
//! join), and [`finish`] then picks access paths and equi-join keys.

use sqlparser::ast;

use super::access::{choose_access, Access};
use super::factor::into_conjuncts;
use super::{Planner, SelectPlan};
use crate::catalog::TableDef;
use crate::error::{code, Error, Result};
use crate::expr::{Binder, Expr, ScopeColumn};
use crate::types::{BinaryOp, DataType, Value};

/// A node of the FROM tree.
#[derive(Debug, Clone)]
pub enum Source {
    /// No FROM: one empty row.
    Unit,
    Table(Box<TableSource>),
    /// Rows computed while planning (system relations), with the relation's name.
    Rows(String, Vec<Vec<Value>>),
    /// A subquery; its captures are expressions over the left row of a LATERAL join (or
    /// outer values only, when not lateral).
    Derived {
        plan: Box<SelectPlan>,
        captures: Vec<Expr>,
        /// Set for a `WITH` query (uncorrelated): every reference holds the same token.
        shared: Option<std::sync::Arc<super::named::Shared>>,
    },
    /// A set-returning function (`generate_series(1, 3)`, `unnest(a)`); its arguments are
    /// expressions over the left row (functions in FROM see the items before them) or outer
    /// values. With ordinality, each row ends with its 1-based number.
    Function {
        name: String,
        args: Vec<Expr>,
        ordinality: bool,
    },
    Join(Box<Join>),
    /// A recursive query's rows of the previous iteration, in its recursive term (see
    /// `recursive`), with the query's name.
    WorkTable {
        id: usize,
        name: String,
    },
}

/// A table, how its rows are reached, and the conditions pushed down to it.
#[derive(Debug, Clone)]
pub struct TableSource {
    pub table: TableDef,
    /// The name the query gives the table (its alias, else its name).
    pub alias: String,
    pub access: Access,
    pub filter: Option<Expr>,
    pub for_update: bool,
    /// What a locking read does with a row another transaction holds (see `locking`).
    pub lock: orbit_txn::LockPolicy,
    /// Each row carries its storage key (bytea) after its columns (UPDATE / DELETE targets).
    pub keyed: bool,
    /// The columns the query reads (see `prune`); the others may come back NULL. None: all.
    pub read: Option<Vec<bool>>,
}

/// The kinds of join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
    /// Each left row that has a matching right row, once (`EXISTS`); rows are left-only.
    Semi,
    /// Each left row without a matching right row (`NOT EXISTS`); rows are left-only.
    Anti,
}

impl JoinKind {
    /// Semi and anti joins return the left row alone.
    pub fn left_only(self) -> bool {
        matches!(self, JoinKind::Semi | JoinKind::Anti)
    }
}

/// Two sources joined.
#[derive(Debug, Clone)]
pub struct Join {
    pub kind: JoinKind,
    pub left: Source,
    pub right: Source,
    pub left_width: usize,
    pub right_width: usize,
    /// Column types of `left ++ right`.
    pub types: Vec<DataType>,
    /// The join condition left after key extraction, over `left ++ right`.
    pub on: Option<Expr>,
    /// Equi-join keys: (over the left row, over the right row), compared by value.
    pub keys: Vec<(Expr, Expr)>,
    /// USING / NATURAL columns: (left position, right position) of each merged column.
    pub merged: Vec<(usize, usize)>,
    /// The right side is a LATERAL subquery, run once per left row.
    pub lateral: bool,
    /// When not empty, output column i is column `permute[i]` of `left ++ right`: a join
    /// tree reordered by the optimizer restores the layout the query was bound to.
    pub permute: Vec<usize>,
    /// The right table is looked up per left row through an index (see `lookup`).
    pub lookup: Option<super::lookup::Lookup>,
    /// Which output columns (after `permute`, USING columns included) anything above reads
    /// (`prune`); the others are emitted as NULL without being copied. None: all of them.
    pub needed: Option<Vec<bool>>,
}

/// A planned FROM clause (or part of one).
pub struct Planned {
    pub source: Source,
    pub scope: Vec<ScopeColumn>,
    /// (table oid, attribute number) each column comes from, (0, 0) when computed.
    pub origins: Vec<(u32, i16)>,
    /// The columns `*` expands to, in order.
    pub star: Vec<usize>,
}

impl Planned {
    fn unit() -> Planned {
        Planned {
            source: Source::Unit,
            scope: Vec::new(),
            origins: Vec::new(),
            star: Vec::new(),
        }
    }
}

/// Plans a FROM list (its items are cross-joined).
pub fn plan_from(
    p: &mut Planner<'_, '_>,
    from: &[ast::TableWithJoins],
    for_update: bool,
    params: &mut Vec<DataType>,
) -> Result<Planned> {
    let mut acc: Option<Planned> = None;
    for item in from {
        let mut planned = plan_factor(p, &item.relation, acc.as_ref(), for_update, params)?;
        for j in &item.joins {
            planned = plan_join(p, planned, j, for_update, params)?;
        }
        // A later item may refer to earlier ones (a LATERAL subquery, a function's
        // arguments): it is then run once per row on its left, as CROSS JOIN LATERAL.
        acc = Some(match acc {
            None => planned,
            Some(left) => {
                let lateral = refers_left(&planned);
                combine(left, planned, JoinKind::Inner, None, Vec::new(), lateral)
            }
        });
    }
    Ok(acc.unwrap_or_else(Planned::unit))
}

/// Whether `right` reads columns of the items on its left (a lateral reference).
fn refers_left(right: &Planned) -> bool {
    match &right.source {
        Source::Derived { captures, .. } => captures.iter().any(|c| c.column_span().is_some()),
        Source::Function { args, .. } => args.iter().any(|a| a.column_span().is_some()),
        _ => false,
    }
}

fn plan_join(
    p: &mut Planner<'_, '_>,
    left: Planned,
    j: &ast::Join,
    for_update: bool,
    params: &mut Vec<DataType>,
) -> Result<Planned> {
    use ast::JoinOperator as Op;
    let (kind, constraint) = match &j.join_operator {
        Op::Join(c) | Op::Inner(c) => (JoinKind::Inner, Some(c)),
        Op::Left(c) | Op::LeftOuter(c) => (JoinKind::Left, Some(c)),
        Op::Right(c) | Op::RightOuter(c) => (JoinKind::Right, Some(c)),
        Op::FullOuter(c) => (JoinKind::Full, Some(c)),
        Op::CrossJoin(_) => (JoinKind::Inner, None),
        other => {
            return Err(Error::unsupported(format!(
                "join type is not supported: {other:?}"
            )))
        }
    };
    let lateral_left = Some(&left);
    let right = plan_factor(p, &j.relation, lateral_left, for_update, params)?;
    let lateral = refers_left(&right);
    if lateral && matches!(kind, JoinKind::Right | JoinKind::Full) {
        return Err(Error::new(
            code::INVALID_COLUMN_REFERENCE,
            "the combining JOIN type must be INNER or LEFT for a LATERAL reference",
        ));
    }
    let mut using: Vec<String> = Vec::new();
    let mut on_ast = None;
    match constraint {
        None | Some(ast::JoinConstraint::None) => {
            if constraint.is_some() && kind != JoinKind::Inner {
                return Err(Error::syntax("syntax error: JOIN requires ON or USING"));
            }
        }
        Some(ast::JoinConstraint::On(e)) => on_ast = Some(e),
        Some(ast::JoinConstraint::Using(names)) => {
            for n in names {
                match n.0.last().and_then(|p| p.as_ident()) {
                    Some(id) => using.push(crate::expr::ident_name(id)),
                    None => return Err(Error::syntax(format!("invalid USING column {n}"))),
                }
            }
        }
        Some(ast::JoinConstraint::UsingAlias(..)) => {
            return Err(Error::unsupported("USING ... AS alias is not supported"))
        }
        Some(ast::JoinConstraint::Natural) => {
            for c in left.scope.iter().filter(|c| !c.qualified_only) {
                if right
                    .scope
                    .iter()
                    .any(|r| !r.qualified_only && r.name == c.name)
                    && !using.contains(&c.name)
                {
                    using.push(c.name.clone());
                }
            }
        }
    }
    let lw = left.scope.len();
    let mut merged = Vec::new();
    for name in &using {
        let find = |scope: &[ScopeColumn], side: &str| -> Result<usize> {
            let hits: Vec<usize> = scope
                .iter()
                .enumerate()
                .filter(|(_, c)| !c.qualified_only && &c.name == name)
                .map(|(i, _)| i)
                .collect();
            match hits.as_slice() {
                [one] => Ok(*one),
                [] => Err(Error::new(
                    code::UNDEFINED_COLUMN,
                    format!("column \"{name}\" specified in USING clause does not exist in {side} table"),
                )),
                _ => Err(Error::new(
                    code::AMBIGUOUS_COLUMN,
                    format!("common column name \"{name}\" appears more than once in {side} table"),
                )),
            }
        };
        merged.push((find(&left.scope, "left")?, find(&right.scope, "right")?));
    }
    // The join condition: ON, or equality of the USING columns.
    let mut scope = left.scope.clone();
    scope.extend(right.scope.iter().cloned());
    let mut on = match on_ast {
        Some(e) => Some(
            Binder {
                scope: &scope,
                params: &mut *params,
                grouping: None,
                env: Some(&mut *p),
            }
            .bind_condition(e, "JOIN/ON")?,
        ),
        None => None,
    };
    for (l, r) in &merged {
        let (lt, rt) = (&left.scope[*l].ty, &right.scope[*r].ty);
        crate::types::result_type(BinaryOp::Eq, lt, rt)?;
        let eq = Expr::Binary(
            BinaryOp::Eq,
            Box::new(Expr::Column(*l)),
            Box::new(Expr::Column(lw + r)),
        );
        on = Some(and(on, eq));
    }
    Ok(combine(left, right, kind, on, merged, lateral))
}

/// `left` cross-joined with `right`.
pub fn cross(left: Planned, right: Planned) -> Planned {
    combine(left, right, JoinKind::Inner, None, Vec::new(), false)
}

/// `left` joined with `right`: the combined scope, origins and `*` order.
fn combine(
    left: Planned,
    right: Planned,
    kind: JoinKind,
    on: Option<Expr>,
    merged: Vec<(usize, usize)>,
    lateral: bool,
) -> Planned {
    let (lw, rw) = (left.scope.len(), right.scope.len());
    let mut scope = left.scope;
    scope.extend(right.scope);
    let mut origins = left.origins;
    origins.extend(right.origins);
    let mut star: Vec<usize> = (0..merged.len()).map(|k| lw + rw + k).collect();
    for (l, r) in &merged {
        let c = scope[*l].clone();
        scope[*l].qualified_only = true;
        scope[lw + r].qualified_only = true;
        origins.push(origins[*l]);
        scope.push(ScopeColumn {
            table: None,
            qualified_only: false,
            ..c
        });
    }
    star.extend(left.star.iter().copied());
    star.extend(right.star.iter().map(|i| i + lw));
    star.retain(|i| !scope[*i].qualified_only);
    let types = scope[..lw + rw].iter().map(|c| c.ty.clone()).collect();
    Planned {
        source: Source::Join(Box::new(Join {
            kind,
            left: left.source,
            right: right.source,
            left_width: lw,
            right_width: rw,
            types,
            on,
            keys: Vec::new(),
            merged,
            lateral,
            permute: Vec::new(),
            lookup: None,
            needed: None,
        })),
        scope,
        origins,
        star,
    }
}

fn plan_factor(
    p: &mut Planner<'_, '_>,
    factor: &ast::TableFactor,
    lateral_left: Option<&Planned>,
    for_update: bool,
    params: &mut Vec<DataType>,
) -> Result<Planned> {
    match factor {
        ast::TableFactor::Table {
            name,
            alias,
            args: Some(fargs),
            with_ordinality,
            ..
        } => {
            let visible: &[ScopeColumn] = lateral_left.map_or(&[], |l| &l.scope);
            let planned = function(p, name, &fargs.args, *with_ordinality, visible, params)?;
            Ok(aliased(planned, alias.as_ref()))
        }
        ast::TableFactor::Function {
            name,
            args,
            with_ordinality,
            alias,
            ..
        } => {
            let visible: &[ScopeColumn] = lateral_left.map_or(&[], |l| &l.scope);
            let planned = function(p, name, args, *with_ordinality, visible, params)?;
            Ok(aliased(planned, alias.as_ref()))
        }
        // `unnest(arr)`, which the parser gives a form of its own.
        ast::TableFactor::UNNEST {
            alias,
            array_exprs,
            with_ordinality,
            with_offset: false,
            ..
        } => {
            let visible: &[ScopeColumn] = lateral_left.map_or(&[], |l| &l.scope);
            let name = ast::ObjectName::from(vec![ast::Ident::new("unnest")]);
            // Several arrays are zipped, one column each (`table_function_rows`).
            let args: Vec<ast::FunctionArg> = array_exprs
                .iter()
                .map(|a| ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a.clone())))
                .collect();
            let planned = function(p, &name, &args, *with_ordinality, visible, params)?;
            Ok(aliased(planned, alias.as_ref()))
        }
        ast::TableFactor::Table { name, alias, .. } => {
            let cte = match name.0.as_slice() {
                [one] => one.as_ident().and_then(|id| {
                    let n = crate::expr::ident_name(id);
                    p.ctes.iter().rev().find(|c| c.name == n).cloned()
                }),
                _ => None,
            };
            if let Some(cte) = cte {
                return super::named::plan_cte(p, &cte, alias.as_ref(), params);
            }
            let (schema, table) = p.ctx.qualify(name)?;
            if let Some((columns, rows)) = super::super::system::relation(p.ctx, name)? {
                let scope = columns
                    .into_iter()
                    .map(|(n, ty)| ScopeColumn {
                        table: Some(table.clone()),
                        name: n,
                        ty,
                        qualified_only: false,
                    })
                    .collect();
                return Ok(aliased(
                    Planned {
                        origins: vec![(0, 0); rows.first().map_or(0, Vec::len)],
                        source: Source::Rows(table.clone(), rows),
                        star: Vec::new(),
                        scope,
                    },
                    alias.as_ref(),
                ));
            }
            let def = match p.ctx.catalog().table(&schema, &table)? {
                Some(t) => t,
                None => {
                    if let Some(view) = p.ctx.catalog().view(&schema, &table)? {
                        return super::named::plan_view(p, &view, alias.as_ref(), params);
                    }
                    return Err(super::no_table(&table));
                }
            };
            crate::exec::ddl_matview::check_populated(&def)?;
            let scope = super::table_scope(&def, &def.name);
            let alias_name = alias
                .as_ref()
                .map_or_else(|| def.name.clone(), |a| crate::expr::ident_name(&a.name));
            let origins = (0..def.columns.len())
                .map(|i| (def.oid, (i as i16).saturating_add(1)))
                .collect();
            Ok(aliased(
                Planned {
                    source: Source::Table(Box::new(TableSource {
                        table: def,
                        alias: alias_name,
                        access: Access::Full,
                        filter: None,
                        for_update,
                        lock: Default::default(),
                        keyed: false,
                        read: None,
                    })),
                    scope,
                    origins,
                    star: Vec::new(),
                },
                alias.as_ref(),
            ))
        }
        ast::TableFactor::Derived {
            lateral,
            subquery,
            alias,
            ..
        } => {
            let visible: &[ScopeColumn] = match (lateral, lateral_left) {
                (true, Some(l)) => &l.scope,
                _ => &[],
            };
            let planned = derived(p, subquery, visible, params)?;
            Ok(aliased(planned, alias.as_ref()))
        }
        ast::TableFactor::NestedJoin {
            table_with_joins,
            alias,
        } => {
            let planned = plan_from(
                p,
                std::slice::from_ref(table_with_joins),
                for_update,
                params,
            )?;
            Ok(aliased(planned, alias.as_ref()))
        }
        other => Err(Error::unsupported(format!(
            "FROM item is not supported yet: {other}"
        ))),
    }
}

/// A set-returning function in FROM; its arguments see `visible` (the items to its left),
/// then the enclosing queries.
fn function(
    p: &mut Planner<'_, '_>,
    name: &ast::ObjectName,
    args: &[ast::FunctionArg],
    ordinality: bool,
    visible: &[ScopeColumn],
    params: &mut Vec<DataType>,
) -> Result<Planned> {
    let fname = name
        .0
        .last()
        .and_then(|p| p.as_ident())
        .map(crate::expr::ident_name)
        .unwrap_or_default();
    let mut bound = Vec::with_capacity(args.len());
    let mut types = Vec::with_capacity(args.len());
    for a in args {
        let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) = a else {
            return Err(Error::unsupported(format!(
                "function argument form is not supported: {a}"
            )));
        };
        let (x, t) = Binder {
            scope: visible,
            params: &mut *params,
            grouping: None,
            env: Some(&mut *p),
        }
        .bind(e)?;
        bound.push(x);
        types.push(t);
    }
    let Some(mut columns) = crate::expr::table_function_columns(&fname, &types) else {
        let shown: Vec<String> = types.iter().map(|t| t.to_string()).collect();
        return Err(Error::new(
            code::UNDEFINED_FUNCTION,
            format!("function {fname}({}) does not exist", shown.join(", ")),
        ));
    };
    if ordinality {
        columns.push(("ordinality".into(), DataType::Int8));
    }
    let scope: Vec<ScopeColumn> = columns
        .into_iter()
        .map(|(n, ty)| ScopeColumn {
            table: Some(fname.clone()),
            name: n,
            ty,
            qualified_only: false,
        })
        .collect();
    Ok(Planned {
        origins: vec![(0, 0); scope.len()],
        star: Vec::new(),
        scope,
        source: Source::Function {
            name: fname,
            args: bound,
            ordinality,
        },
    })
}

/// A subquery in FROM that sees `visible` (the left side of a LATERAL join), then the
/// enclosing queries.
pub(super) fn derived(
    p: &mut Planner<'_, '_>,
    query: &ast::Query,
    visible: &[ScopeColumn],
    params: &mut Vec<DataType>,
) -> Result<Planned> {
    let (plan, caps) = crate::expr::BindEnv::subquery(p, query, visible, params)?;
    let captures = caps
        .into_iter()
        .map(|j| match j.checked_sub(visible.len()) {
            None => Expr::Column(j),
            Some(k) => Expr::Outer(crate::expr::BindEnv::capture(p, k)),
        })
        .collect();
    Ok(derived_planned(plan, captures))
}

/// A derived source over `plan`: its columns, unqualified until aliased.
pub(super) fn derived_planned(plan: SelectPlan, captures: Vec<Expr>) -> Planned {
    let scope = plan
        .columns
        .iter()
        .map(|c| ScopeColumn {
            table: None,
            name: c.name.clone(),
            ty: c.ty.clone(),
            qualified_only: false,
        })
        .collect::<Vec<_>>();
    let origins = plan
        .columns
        .iter()
        .map(|c| (c.table_oid, c.column))
        .collect();
    Planned {
        source: Source::Derived {
            plan: Box::new(plan),
            captures,
            shared: None,
        },
        scope,
        origins,
        star: Vec::new(),
    }
}

/// Names the columns (the first `names.len()` of them) and qualifies them with `table`.
pub(super) fn rename(planned: &mut Planned, names: &[String], table: &str) -> Result<()> {
    if names.len() > planned.scope.len() {
        return Err(Error::new(
            code::INVALID_COLUMN_REFERENCE,
            format!(
                "table \"{table}\" has {} columns available but {} columns specified",
                planned.scope.len(),
                names.len()
            ),
        ));
    }
    for (c, n) in planned.scope.iter_mut().zip(names) {
        c.name = n.clone();
    }
    for c in &mut planned.scope {
        c.table = Some(table.to_string());
    }
    Ok(())
}

/// Applies `AS alias (columns)` and fills in the `*` order of a leaf.
pub(super) fn aliased(mut planned: Planned, alias: Option<&ast::TableAlias>) -> Planned {
    if planned.star.is_empty() && !matches!(planned.source, Source::Join(_)) {
        planned.star = (0..planned.scope.len()).collect();
    }
    if let (Some(a), Source::Function { ordinality, .. }) = (alias, &planned.source) {
        let data_columns = planned.scope.len() - usize::from(*ordinality);
        if a.columns.is_empty() && data_columns == 1 {
            if let Some(c) = planned.scope.first_mut() {
                c.name = crate::expr::ident_name(&a.name);
            }
        }
    }
    if let Some(a) = alias {
        let names: Vec<String> = a
            .columns
            .iter()
            .map(|c| crate::expr::ident_name(&c.name))
            .collect();
        let table = crate::expr::ident_name(&a.name);
        for (c, n) in planned.scope.iter_mut().zip(&names) {
            c.name = n.clone();
        }
        // The alias replaces every name inside (an aliased join hides its tables' names).
        for c in &mut planned.scope {
            c.table = Some(table.clone());
        }
    }
    planned
}

/// `a AND b`, or `b` alone.
pub(super) fn and(a: Option<Expr>, b: Expr) -> Expr {
    match a {
        Some(a) => Expr::And(Box::new(a), Box::new(b)),
        None => b,
    }
}

/// Pushes the conjuncts of `filter` (over the full FROM row) into `source`; returns what
/// must still be evaluated over the full row.
pub fn push_down(source: &mut Source, filter: Expr) -> Option<Expr> {
    let mut conjuncts = Vec::new();
    into_conjuncts(filter, &mut conjuncts);
    let mut rest = None;
    for mut c in conjuncts.into_iter().flat_map(super::factor::factor_or) {
        c.fold_constants();
        if let Some(left) = push(source, c, 0) {
            rest = Some(and(rest, left));
        }
    }
    rest
}

/// Pushes `c` (over a row in which `source`'s columns start at `offset`) as deep as it can
/// go; returns it when `source` cannot take it.
fn push(source: &mut Source, mut c: Expr, offset: usize) -> Option<Expr> {
    let Some((lo, hi)) = c.column_span() else {
        return Some(c);
    };
    match source {
        Source::Table(t) => {
            c.shift_columns(offset);
            t.filter = Some(and(t.filter.take(), c));
            None
        }
        // A join whose output order was chosen (`reorder`) is no longer left ++ right.
        Source::Join(j) if !j.permute.is_empty() => Some(c),
        Source::Join(j) => {
            let (l1, r1) = (offset + j.left_width, offset + j.left_width + j.right_width);
            let c = if lo >= offset
                && hi < l1
                && matches!(
                    j.kind,
                    JoinKind::Inner | JoinKind::Left | JoinKind::Semi | JoinKind::Anti
                ) {
                push(&mut j.left, c, offset)?
            } else if lo >= l1
                && hi < r1
                && !j.lateral
                && matches!(j.kind, JoinKind::Inner | JoinKind::Right)
            {
                push(&mut j.right, c, l1)?
            } else {
                // An OR over both sides still implies a condition on each side alone.
                let left_ok = matches!(
                    j.kind,
                    JoinKind::Inner | JoinKind::Left | JoinKind::Semi | JoinKind::Anti
                );
                if left_ok {
                    if let Some(r) = super::factor::restriction(&c, offset, l1) {
                        let _ = push(&mut j.left, r, offset);
                    }
                }
                if !j.lateral && matches!(j.kind, JoinKind::Inner | JoinKind::Right) {
                    if let Some(r) = super::factor::restriction(&c, l1, r1) {
                        let _ = push(&mut j.right, r, l1);
                    }
                }
                c
            };
            let Some((lo, hi)) = c.column_span() else {
                return Some(c);
            };
            if j.kind == JoinKind::Inner && lo >= offset && hi < r1 {
                let mut c = c;
                c.shift_columns(offset);
                j.on = Some(and(j.on.take(), c));
                return None;
            }
            Some(c)
        }
        Source::Unit
        | Source::Rows(..)
        | Source::Derived { .. }
        | Source::Function { .. }
        | Source::WorkTable { .. } => Some(c),
    }
}

/// Moves the conjuncts of an INNER or LEFT join's ON that read only its right side into that
/// side, as PostgreSQL does: they only narrow which right rows can match (one running a
/// subquery or drawing random numbers stays: it would run a different number of times).
fn push_on_right(j: &mut Join) {
    let Some(on) = j.on.take() else { return };
    let (lw, rw) = (j.left_width, j.right_width);
    let mut conjuncts = Vec::new();
    into_conjuncts(on, &mut conjuncts);
    let mut rest = None;
    for c in conjuncts {
        let right_only = c
            .column_span()
            .is_some_and(|(lo, hi)| lo >= lw && hi < lw + rw);
        let kept = match right_only && c.parallel_safe() {
            true => push(&mut j.right, c, lw),
            false => Some(c),
        };
        if let Some(c) = kept {
            rest = Some(and(rest, c));
        }
    }
    j.on = rest;
}

/// Chooses access paths for tables and equi-join keys for joins, after [`push_down`].
pub fn finish(source: &mut Source) {
    match source {
        Source::Table(t) => {
            if let Some(f) = &t.filter {
                t.access = choose_access(&t.table, f);
            }
        }
        Source::Join(j) => {
            if !j.lateral && matches!(j.kind, JoinKind::Inner | JoinKind::Left) {
                push_on_right(j);
            }
            finish(&mut j.left);
            finish(&mut j.right);
            if !j.lateral {
                super::lookup::equi_join(j);
            }
        }
        Source::Unit
        | Source::Rows(..)
        | Source::Derived { .. }
        | Source::Function { .. }
        | Source::WorkTable { .. } => {}
    }
}
