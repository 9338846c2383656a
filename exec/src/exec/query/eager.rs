//! Eager aggregation: a GROUP BY over `l LEFT JOIN r ON l.a = r.b [AND conditions on r]`,
//! grouped by `l`'s primary key, whose aggregates read `r` alone, is planned as `r`
//! aggregated by its join key first and then joined: `l LEFT JOIN (SELECT r.b, agg(...)
//! FROM r WHERE <r's conditions> GROUP BY r.b) ON l.a = ...`, with no grouping above the
//! join. TPC-H Q13's 1.5 M orders become 100 k groups before the join, instead of a join of
//! 1.5 M rows grouped after it.
//!
//! Why the answer is the same: grouped by `l`'s primary key, each group is one `l` row with
//! the `r` rows that match it, and an aggregate over the group is the aggregate over exactly
//! those `r` rows, which the inner GROUP BY computes per join key; the join finds at most
//! one inner group per `l` row. An `l` row without a match is a group of one NULL-extended
//! row: `count(x)` is then 0 (`COALESCE(.., 0)`), `count(*)` 1 (`COALESCE(.., 1)`), and
//! `sum`, `avg`, `min` and `max` NULL, as the join leaves them. A NULL join key matches
//! nothing on either side, as before. The join's conditions on `r` alone filter `r` before
//! the join: for a left join that is what they do.
//!
//! Only this shape is rewritten, conservatively (anything else is planned as written): two
//! base tables (no CTE, view, system or materialized relation of the name); one LEFT JOIN
//! with an ON condition of at least one equality of an `l` column and an `r` column of one
//! type (or two integers: see [`same_equality`]), and otherwise
//! conditions on `r` alone; no WHERE, HAVING, DISTINCT, window, ORDER BY or locking clause;
//! GROUP BY plain `l` columns covering its primary key; select items that are expressions
//! over `l`'s columns (no window) or one `count`/`sum`/`avg`/`min`/`max` call over an `r`
//! column or arithmetic over one (NULL on a NULL-extended row: see [`strict`]; DISTINCT
//! allowed: it applies within one `l` row's matches either way; no FILTER or ORDER BY). Every
//! column name must resolve to exactly one of the two tables. It is taken when `r` is not
//! much larger than `l` (up to [`LOOKUP_ROWS`] rows per `l` row), where reading `r` whole
//! is the plan anyway, not looking it up per `l` row.
//!
//! The rewritten statement is built as text from the original's parts and parsed again.

use sqlparser::ast;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use super::estimate::table_rows;
use super::Planner;
use crate::catalog::TableDef;
use crate::error::Result;
use crate::expr::{contains_aggregate, ident_name};
use crate::types::DataType;

/// An index lookup per `l` row costs about this many rows of `r` read whole.
const LOOKUP_ROWS: f64 = 20.0;

/// The aggregated side's name in the rewritten statement, and its columns' prefix.
const SIDE: &str = "__orbit_eager";

/// A table of the join: its definition and the name the query gives it.
struct Named {
    def: TableDef,
    name: String,
}

impl Named {
    fn column(&self, name: &str) -> Option<usize> {
        self.def.columns.iter().position(|c| c.name == name)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// `select` rewritten for eager aggregation (see the module doc), or None when it does not
/// have the shape.
pub(super) fn rewrite(
    p: &mut Planner<'_, '_>,
    query: &ast::Query,
    select: &ast::Select,
) -> Result<Option<ast::Select>> {
    let ([from], ast::GroupByExpr::Expressions(keys, mods)) =
        (select.from.as_slice(), &select.group_by)
    else {
        return Ok(None);
    };
    let [join] = from.joins.as_slice() else {
        return Ok(None);
    };
    let (ast::JoinOperator::Left(ast::JoinConstraint::On(on))
    | ast::JoinOperator::LeftOuter(ast::JoinConstraint::On(on))) = &join.join_operator
    else {
        return Ok(None);
    };
    let plain = !keys.is_empty()
        && mods.is_empty()
        && select.selection.is_none()
        && select.having.is_none()
        && select.distinct.is_none()
        && select.named_window.is_empty()
        && select.qualify.is_none()
        && select.into.is_none()
        && query.order_by.is_none()
        && query.locks.is_empty();
    if !plain {
        return Ok(None);
    }
    let (Some(l), Some(r)) = (
        base_table(p, &from.relation)?,
        base_table(p, &join.relation)?,
    ) else {
        return Ok(None);
    };
    if l.name == r.name
        || l.name == SIDE
        || r.name == SIDE
        || l.def.primary_key.is_empty()
        || table_rows(&r.def) > LOOKUP_ROWS * table_rows(&l.def).max(1.0)
        || l.def.columns.iter().any(|c| c.name.starts_with(SIDE))
    {
        return Ok(None);
    }
    // GROUP BY: `l`'s columns, its primary key among them.
    let mut grouped = Vec::new();
    for k in keys {
        match column(k, &l, &r) {
            Some((Side::Left, i)) => grouped.push(i),
            _ => return Ok(None),
        }
    }
    let covers = l.def.primary_key.iter().all(|id| {
        l.def
            .columns
            .iter()
            .position(|c| c.id == *id)
            .is_some_and(|i| grouped.contains(&i))
    });
    if !covers {
        return Ok(None);
    }
    // ON: key equalities and conditions on `r`.
    let mut conds = Vec::new();
    conjuncts(on, &mut conds);
    let (mut pairs, mut filters) = (Vec::new(), Vec::new());
    for c in conds {
        if let ast::Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Eq,
            right,
        } = c
        {
            let same = |a: usize, b: usize| match (l.def.columns.get(a), r.def.columns.get(b)) {
                (Some(x), Some(y)) => same_equality(&x.ty, &y.ty),
                _ => false,
            };
            match (column(left, &l, &r), column(right, &l, &r)) {
                (Some((Side::Left, a)), Some((Side::Right, b))) if same(a, b) => {
                    pairs.push((left.as_ref(), right.as_ref()));
                    continue;
                }
                (Some((Side::Right, b)), Some((Side::Left, a))) if same(a, b) => {
                    pairs.push((right.as_ref(), left.as_ref()));
                    continue;
                }
                (Some((Side::Left, _)), Some((Side::Right, _)))
                | (Some((Side::Right, _)), Some((Side::Left, _))) => return Ok(None),
                _ => {}
            }
        }
        if !over(c, Side::Right, &l, &r) {
            return Ok(None);
        }
        filters.push(c);
    }
    if pairs.is_empty() {
        return Ok(None);
    }
    // The select list: `l`'s expressions kept, `r`'s aggregates computed inside.
    let mut items = Vec::new();
    let mut aggs = Vec::new();
    for item in &select.projection {
        let (e, alias) = match item {
            ast::SelectItem::UnnamedExpr(e) => (e, None),
            ast::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
            _ => return Ok(None),
        };
        if !contains_aggregate(e) {
            if !over(e, Side::Left, &l, &r) {
                return Ok(None);
            }
            items.push(match alias {
                Some(a) => format!("{e} AS {a}"),
                None => e.to_string(),
            });
            continue;
        }
        let Some((count, star)) = aggregate(e, &l, &r) else {
            return Ok(None);
        };
        let name = alias.map_or_else(|| super::output_name(e), ident_name);
        let value = format!("{SIDE}.{SIDE}_a{}", aggs.len());
        let value = match (count, star) {
            (true, true) => format!("COALESCE({value}, CAST(1 AS bigint))"),
            (true, false) => format!("COALESCE({value}, CAST(0 AS bigint))"),
            _ => value,
        };
        items.push(format!("{value} AS {}", ast::Ident::with_quote('"', name)));
        aggs.push(e);
    }
    let inner_keys: Vec<String> = pairs.iter().map(|(_, rk)| rk.to_string()).collect();
    let inner_items: Vec<String> = inner_keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} AS {SIDE}_k{i}"))
        .chain(
            aggs.iter()
                .enumerate()
                .map(|(i, a)| format!("{a} AS {SIDE}_a{i}")),
        )
        .collect();
    let filter = match filters.as_slice() {
        [] => String::new(),
        fs => format!(
            " WHERE {}",
            fs.iter()
                .map(|f| format!("({f})"))
                .collect::<Vec<_>>()
                .join(" AND ")
        ),
    };
    let on: Vec<String> = pairs
        .iter()
        .enumerate()
        .map(|(i, (lk, _))| format!("{lk} = {SIDE}.{SIDE}_k{i}"))
        .collect();
    let text = format!(
        "SELECT {} FROM {} LEFT JOIN (SELECT {} FROM {}{filter} GROUP BY {}) AS {SIDE} ON {}",
        items.join(", "),
        from.relation,
        inner_items.join(", "),
        join.relation,
        inner_keys.join(", "),
        on.join(" AND "),
    );
    let Ok(mut statements) = Parser::parse_sql(&PostgreSqlDialect {}, &text) else {
        return Ok(None);
    };
    Ok(match statements.pop() {
        Some(ast::Statement::Query(q)) if statements.is_empty() => match *q.body {
            ast::SetExpr::Select(s) => Some(*s),
            _ => None,
        },
        _ => None,
    })
}

/// The user table `f` names (with no column aliases), if it is one.
fn base_table(p: &mut Planner<'_, '_>, f: &ast::TableFactor) -> Result<Option<Named>> {
    let ast::TableFactor::Table {
        name,
        alias,
        args: None,
        ..
    } = f
    else {
        return Ok(None);
    };
    if alias.as_ref().is_some_and(|a| !a.columns.is_empty()) {
        return Ok(None);
    }
    if let [one] = name.0.as_slice() {
        let n = one.as_ident().map(ident_name);
        if p.ctes.iter().any(|c| Some(&c.name) == n.as_ref()) {
            return Ok(None);
        }
    }
    let Ok((schema, table)) = p.ctx.qualify(name) else {
        return Ok(None);
    };
    if schema == "pg_catalog" || schema == "information_schema" || table.starts_with("pg_") {
        return Ok(None);
    }
    let Some(def) = p.ctx.catalog().table(&schema, &table)? else {
        return Ok(None);
    };
    if def.matview.is_some() {
        return Ok(None);
    }
    let name = alias
        .as_ref()
        .map_or_else(|| def.name.clone(), |a| ident_name(&a.name));
    Ok(Some(Named { def, name }))
}

/// The table and position of the column `e` names, if it names one of either table's
/// (unqualified: only one of them has it).
fn column(e: &ast::Expr, l: &Named, r: &Named) -> Option<(Side, usize)> {
    match e {
        ast::Expr::Identifier(id) => {
            let n = ident_name(id);
            match (l.column(&n), r.column(&n)) {
                (Some(i), None) => Some((Side::Left, i)),
                (None, Some(i)) => Some((Side::Right, i)),
                _ => None,
            }
        }
        ast::Expr::CompoundIdentifier(parts) => {
            let [q, c] = parts.as_slice() else {
                return None;
            };
            let (q, c) = (ident_name(q), ident_name(c));
            if q == l.name {
                l.column(&c).map(|i| (Side::Left, i))
            } else if q == r.name {
                r.column(&c).map(|i| (Side::Right, i))
            } else {
                None
            }
        }
        ast::Expr::Nested(inner) => column(inner, l, r),
        _ => None,
    }
}

/// Whether every column `e` reads is one of `side`'s, and it holds no subquery or aggregate.
fn over(e: &ast::Expr, side: Side, l: &Named, r: &Named) -> bool {
    let mut ok = !contains_aggregate(e);
    let _ = ast::visit_expressions(e, |x| {
        let fine = match x {
            ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_) => {
                column(x, l, r).is_some_and(|(s, _)| s == side)
            }
            ast::Expr::Subquery(_) | ast::Expr::Exists { .. } => false,
            // A window over the grouped rows (its aggregates would lose their GROUP BY).
            ast::Expr::Function(f) => f.over.is_none(),
            ast::Expr::In { target, .. } => matches!(target, ast::InTarget::List(_)),
            _ => true,
        };
        ok &= fine;
        if fine {
            std::ops::ControlFlow::Continue(())
        } else {
            std::ops::ControlFlow::Break(())
        }
    });
    ok
}

/// Whether `e` is one plain aggregate call over `r`'s columns: (it is a count, of `*`).
fn aggregate(e: &ast::Expr, l: &Named, r: &Named) -> Option<(bool, bool)> {
    let ast::Expr::Function(f) = e else {
        return None;
    };
    let [name] = f.name.0.as_slice() else {
        return None;
    };
    let name = ident_name(name.as_ident()?);
    let ast::FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let plain = f.over.is_none()
        && f.filter.is_none()
        && f.within_group.is_empty()
        && f.null_treatment.is_none()
        && matches!(f.parameters, ast::FunctionArguments::None)
        && list.clauses.is_empty();
    let count = name == "count";
    if !plain || !matches!(name.as_str(), "count" | "sum" | "avg" | "min" | "max") {
        return None;
    }
    match list.args.as_slice() {
        [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard)] if count => Some((true, true)),
        [ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(x))] => {
            (over(x, Side::Right, l, r) && strict(x, l, r)).then_some((count, false))
        }
        _ => None,
    }
}

/// Whether `e` (over `r`'s columns and constants) is NULL whenever `r`'s columns are: a
/// column, or arithmetic, a sign or a cast over such an expression. The aggregate of an
/// unmatched `l` row sees one all-NULL row; over `count(1)` or `coalesce(x, 0)` that row
/// counts, which the rewrite's NULL (or 0) for no match would not.
fn strict(e: &ast::Expr, l: &Named, r: &Named) -> bool {
    match e {
        ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_) => {
            column(e, l, r).is_some_and(|(s, _)| s == Side::Right)
        }
        ast::Expr::Nested(x) | ast::Expr::Cast { expr: x, .. } => strict(x, l, r),
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus | ast::UnaryOperator::Plus,
            expr,
        } => strict(expr, l, r),
        ast::Expr::BinaryOp {
            left,
            op:
                ast::BinaryOperator::Plus
                | ast::BinaryOperator::Minus
                | ast::BinaryOperator::Multiply
                | ast::BinaryOperator::Divide
                | ast::BinaryOperator::Modulo,
            right,
        } => strict(left, l, r) || strict(right, l, r),
        _ => false,
    }
}

/// Whether a join of `l`'s column of type `a` and `r`'s of type `b` by `=` finds at most one
/// of `r`'s groups (grouped by `b`'s equality) per value: the same type, or two integers.
/// (A float and a numeric compare through floats, coarser than the numeric's groups.)
fn same_equality(a: &DataType, b: &DataType) -> bool {
    let int = |t: &DataType| matches!(t, DataType::Int2 | DataType::Int4 | DataType::Int8);
    std::mem::discriminant(a) == std::mem::discriminant(b) || (int(a) && int(b))
}

/// The AND-ed conjuncts of `e`.
fn conjuncts<'e>(e: &'e ast::Expr, out: &mut Vec<&'e ast::Expr>) {
    match e {
        ast::Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        ast::Expr::Nested(inner) => conjuncts(inner, out),
        other => out.push(other),
    }
}
