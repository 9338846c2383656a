//! Set-returning functions in the select list (`SELECT id, unnest(tags) FROM t`,
//! `SELECT generate_series(1, 3)`), planned by lifting the call into FROM as a lateral item:
//! `SELECT id, "?srf?" FROM t, unnest(tags) AS "?srf?"("?srf?")`. For one such function this is
//! PostgreSQL's meaning exactly: each input row repeats once per element (and a row whose
//! call yields nothing drops out), WHERE filters before, DISTINCT, ORDER BY and LIMIT apply
//! after. An unaliased item that is just the call keeps the function's name as its column.
//! A composite function (`information_schema._pg_expandarray`) is lifted under a name that
//! makes it yield one record column, its row, so `(call).field` reads a field as in
//! PostgreSQL.
//!
//! Several distinct calls are zipped, as PostgreSQL runs them (row i holds each call's row i,
//! NULL for calls that have fewer): they are lifted together as one lateral subquery joining
//! the calls, each WITH ORDINALITY, by full outer joins on their row numbers, in row-number
//! order. The k-th distinct call's value is the column `"?srf?k"` (the first's `"?srf?"`).
//!
//! A list that also groups or aggregates expands after the aggregation, as PostgreSQL's: the
//! grouping runs in a derived table (`"?agg?"`) computing the items without calls and the
//! calls' arguments, and the calls are lifted over its rows ([`after_aggregation`]). An item
//! with a call must then read nothing but the call's result (refused with 0A000 otherwise,
//! rather than answered differently).

use std::ops::ControlFlow;

use sqlparser::ast::{self, VisitMut, VisitorMut};

use crate::error::{Error, Result};

/// The alias (table and column) of the lifted call: no name a user writes unquoted, and
/// left out of `*`.
pub const LIFTED: &str = "?srf?";

/// The select rewritten with its set-returning call lifted into FROM, or `None` when its
/// list has none.
pub fn lift(select: &ast::Select) -> Result<Option<ast::Select>> {
    // The common case, no such call anywhere in the list, costs one walk and no copy.
    if !calls_set_returning(&select.projection) {
        return Ok(None);
    }
    let groups = !matches!(&select.group_by, ast::GroupByExpr::Expressions(e, _) if e.is_empty());
    let aggregates = select.projection.iter().any(|item| match item {
        ast::SelectItem::UnnamedExpr(e) | ast::SelectItem::ExprWithAlias { expr: e, .. } => {
            crate::expr::contains_aggregate(e)
        }
        _ => false,
    });
    if groups || aggregates || select.having.is_some() {
        return lift(&after_aggregation(select)?);
    }
    let mut out = select.clone();
    let mut finder = Finder {
        calls: Vec::new(),
        found: 0,
    };
    for item in &mut out.projection {
        let (expr, alias) = match item {
            ast::SelectItem::UnnamedExpr(e) => (e, None),
            ast::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias.clone())),
            _ => continue,
        };
        let whole = set_returning(expr).map(str::to_string);
        let before = finder.found;
        let _ = expr.visit(&mut TopLevel(0, |e: &mut ast::Expr| finder.take(e)));
        if let (Some(name), None, true) = (whole, &alias, finder.found > before) {
            // `unnest(x)` alone is named `unnest`, as PostgreSQL names it.
            *item = ast::SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: ast::Ident::with_quote('"', name),
            };
        }
    }
    let Some(call) = finder.calls.first() else {
        return Ok(None);
    };
    for c in &finder.calls {
        if let ast::Expr::Function(f) = c {
            let several = matches!(&f.args, ast::FunctionArguments::List(l) if l.args.len() > 1);
            if several && set_returning(c) == Some("unnest") {
                // As PostgreSQL: unnest of several arrays exists in FROM only.
                return Err(Error::new(
                    crate::error::code::UNDEFINED_FUNCTION,
                    format!("function {c} does not exist: unnest of several arrays is allowed in FROM only"),
                ));
            }
        }
    }
    let text = match finder.calls.as_slice() {
        [one] => format!(
            "SELECT 1 FROM {} AS \"{LIFTED}\"(\"{LIFTED}\")",
            from_call(one)
        ),
        several => format!("SELECT 1 FROM {}", zipped(several)),
    };
    let lifted = match crate::parse::parse(&text)?.pop() {
        Some(ast::Statement::Query(q)) => match *q.body {
            ast::SetExpr::Select(s) => s.from.into_iter().next(),
            _ => None,
        },
        _ => None,
    };
    let Some(lifted) = lifted else {
        return Err(Error::unsupported(format!("{call} in a select list")));
    };
    out.from.push(lifted);
    Ok(Some(out))
}

/// `select` (which groups or aggregates, and calls set-returning functions in its list) as a
/// select over a derived table doing the grouping: see the module docs.
fn after_aggregation(select: &ast::Select) -> Result<ast::Select> {
    let refused = || {
        Error::unsupported(
            "a set-returning function in a select list that groups or aggregates must be the \
             item's only reading of the rows",
        )
    };
    let quoted = |s: String| ast::Ident::with_quote('"', s);
    let mut inner_items = Vec::new();
    let mut outer_items = Vec::new();
    for (i, item) in select.projection.iter().enumerate() {
        let (expr, alias) = match item {
            ast::SelectItem::UnnamedExpr(e) => (e, None),
            ast::SelectItem::ExprWithAlias { expr, alias } => (expr, Some(alias)),
            _ => return Err(refused()),
        };
        if !calls_set_returning(expr) {
            let name = alias.map_or_else(|| super::output_name(expr), crate::expr::ident_name);
            inner_items.push(ast::SelectItem::ExprWithAlias {
                expr: expr.clone(),
                alias: quoted(format!("?c?{i}")),
            });
            outer_items.push(ast::SelectItem::ExprWithAlias {
                expr: ast::Expr::Identifier(quoted(format!("?c?{i}"))),
                alias: quoted(name),
            });
            continue;
        }
        let mut e = expr.clone();
        let mut mover = ArgMover {
            item: i,
            moved: Vec::new(),
        };
        let _ = e.visit(&mut TopLevel(0, |x: &mut ast::Expr| mover.take(x)));
        // What is left must read the inner rows only through the moved arguments.
        let reads = ast::visit_expressions(&e, |x| match x {
            ast::Expr::Identifier(id) if id.value.starts_with("?a?") => ControlFlow::Continue(()),
            ast::Expr::Identifier(_) | ast::Expr::CompoundIdentifier(_) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        });
        if reads.is_break() || crate::expr::contains_aggregate(&e) {
            return Err(refused());
        }
        inner_items.extend(mover.moved);
        outer_items.push(match alias {
            Some(a) => ast::SelectItem::ExprWithAlias {
                expr: e,
                alias: a.clone(),
            },
            None => ast::SelectItem::UnnamedExpr(e),
        });
    }
    let mut inner = select.clone();
    // GROUP BY positions name the original list's items, which the inner list reorders.
    if let ast::GroupByExpr::Expressions(keys, _) = &mut inner.group_by {
        for key in keys.iter_mut() {
            let ast::Expr::Value(v) = &*key else {
                continue;
            };
            let ast::Value::Number(n, _) = &v.value else {
                continue;
            };
            let item = n
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| select.projection.get(i));
            match item {
                Some(
                    ast::SelectItem::UnnamedExpr(e)
                    | ast::SelectItem::ExprWithAlias { expr: e, .. },
                ) if !calls_set_returning(e) => *key = e.clone(),
                _ => return Err(refused()),
            }
        }
    }
    inner.projection = inner_items;
    inner.distinct = None;
    let outer: Vec<String> = outer_items.iter().map(|i| i.to_string()).collect();
    let text = format!("SELECT {} FROM ({inner}) AS \"?agg?\"", outer.join(", "));
    let mut outer = match crate::parse::parse(&text)?.pop() {
        Some(ast::Statement::Query(q)) => match *q.body {
            ast::SetExpr::Select(s) => *s,
            _ => return Err(refused()),
        },
        _ => return Err(refused()),
    };
    // DISTINCT is of the rows the calls make.
    outer.distinct = select.distinct.clone();
    Ok(outer)
}

/// Whether `v` calls a set-returning function anywhere (subqueries included).
fn calls_set_returning<V: ast::Visit>(v: &V) -> bool {
    ast::visit_expressions(v, |x| match set_returning(x) {
        Some(_) => ControlFlow::Break(()),
        None => ControlFlow::Continue(()),
    })
    .is_break()
}

/// Moves the arguments of an item's set-returning calls (not of its subqueries' calls) into
/// the grouping derived table (`"?a?{item}_{n}"` columns), leaving references to them.
struct ArgMover {
    item: usize,
    moved: Vec<ast::SelectItem>,
}

impl ArgMover {
    fn take(&mut self, e: &mut ast::Expr) {
        if set_returning(e).is_none() {
            return;
        }
        let ast::Expr::Function(f) = e else {
            return;
        };
        if let ast::FunctionArguments::List(list) = &mut f.args {
            for arg in &mut list.args {
                if let ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(a)) = arg {
                    let name = format!("?a?{}_{}", self.item, self.moved.len());
                    let column = ast::Expr::Identifier(ast::Ident::with_quote('"', name.clone()));
                    self.moved.push(ast::SelectItem::ExprWithAlias {
                        expr: std::mem::replace(a, column),
                        alias: ast::Ident::with_quote('"', name),
                    });
                }
            }
        }
    }
}

/// `call` as a FROM item. A composite function's select-list value is its whole row: lifted,
/// it yields one record column (`AS_RECORD`), which `(call).field` reads.
fn from_call(call: &ast::Expr) -> ast::Expr {
    let mut from_call = call.clone();
    if let ast::Expr::Function(f) = &mut from_call {
        let name = set_returning(call).unwrap_or_default();
        if COMPOSITE.contains(&name) {
            let renamed = format!("{}{name}", crate::expr::AS_RECORD);
            f.name = ast::ObjectName(vec![ast::ObjectNamePart::Identifier(
                ast::Ident::with_quote('"', renamed),
            )]);
        }
    }
    from_call
}

/// The name of the k-th distinct lifted call's column.
fn lifted_name(k: usize) -> String {
    match k {
        0 => LIFTED.to_string(),
        k => format!("{LIFTED}{k}"),
    }
}

/// Several calls zipped (see the module docs), as the text of one LATERAL FROM item.
fn zipped(calls: &[ast::Expr]) -> String {
    let n = |k: usize| format!("\"?z{k}\".\"?n?\"");
    let mut from = String::new();
    for (k, call) in calls.iter().enumerate() {
        let item = format!(
            "{} WITH ORDINALITY AS \"?z{k}\"(\"?v?\", \"?n?\")",
            from_call(call)
        );
        if k == 0 {
            from = item;
        } else {
            let before: Vec<String> = (0..k).map(n).collect();
            from = format!(
                "{from} FULL JOIN {item} ON {} = coalesce({})",
                n(k),
                before.join(", ")
            );
        }
    }
    let values: Vec<String> = (0..calls.len())
        .map(|k| format!("\"?z{k}\".\"?v?\""))
        .collect();
    let all: Vec<String> = (0..calls.len()).map(n).collect();
    let names: Vec<String> = (0..calls.len())
        .map(|k| format!("\"{}\"", lifted_name(k)))
        .collect();
    format!(
        "LATERAL (SELECT {} FROM {from} ORDER BY coalesce({})) AS \"{LIFTED}\"({})",
        values.join(", "),
        all.join(", "),
        names.join(", ")
    )
}

/// The name of the set-returning function `e` calls, if it is such a call.
fn set_returning(e: &ast::Expr) -> Option<&'static str> {
    let ast::Expr::Function(f) = e else {
        return None;
    };
    let [.., last] = f.name.0.as_slice() else {
        return None;
    };
    let name = crate::expr::ident_name(last.as_ident()?);
    SET_RETURNING.into_iter().find(|n| *n == name)
}

/// The set-returning functions a select list may call.
const SET_RETURNING: [&str; 15] = [
    "generate_series",
    "unnest",
    "_pg_expandarray",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "json_array_elements",
    "json_array_elements_text",
    "jsonb_each",
    "jsonb_each_text",
    "json_each",
    "json_each_text",
    "jsonb_object_keys",
    "json_object_keys",
    "regexp_matches",
    "regexp_split_to_table",
];

/// The set-returning functions whose rows have several columns.
const COMPOSITE: [&str; 5] = [
    "_pg_expandarray",
    "jsonb_each",
    "jsonb_each_text",
    "json_each",
    "json_each_text",
];

/// Replaces the set-returning calls of the select list itself (not of its subqueries) by the
/// lifted column, collecting the distinct ones (the same call twice is one).
struct Finder {
    calls: Vec<ast::Expr>,
    /// Calls replaced so far, repeats included.
    found: usize,
}

impl Finder {
    fn take(&mut self, e: &mut ast::Expr) {
        if set_returning(e).is_none() {
            return;
        }
        let text = e.to_string();
        let k = match self.calls.iter().position(|c| c.to_string() == text) {
            Some(k) => k,
            None => {
                self.calls.push(e.clone());
                self.calls.len() - 1
            }
        };
        *e = ast::Expr::Identifier(ast::Ident::with_quote('"', lifted_name(k)));
        self.found += 1;
    }
}

/// Calls its function on each expression of a select list item outside its subqueries (a
/// subquery's set-returning calls are its own), children before parents.
struct TopLevel<F>(usize, F);

impl<F: FnMut(&mut ast::Expr)> VisitorMut for TopLevel<F> {
    type Break = ();

    fn pre_visit_query(&mut self, _: &mut ast::Query) -> ControlFlow<()> {
        self.0 += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut ast::Query) -> ControlFlow<()> {
        self.0 -= 1;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, e: &mut ast::Expr) -> ControlFlow<()> {
        if self.0 == 0 {
            (self.1)(e);
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn select(sql: &str) -> ast::Select {
        match crate::parse::parse(sql).ok().and_then(|mut s| s.pop()) {
            Some(ast::Statement::Query(q)) => match *q.body {
                ast::SetExpr::Select(s) => *s,
                other => panic!("{other}"),
            },
            other => panic!("{other:?}"),
        }
    }

    fn lifted(sql: &str) -> Result<Option<String>> {
        lift(&select(sql)).map(|s| s.map(|s| s.to_string()))
    }

    #[test]
    fn lifts_one_call_into_from_and_keeps_its_name() {
        assert_eq!(lifted("SELECT a FROM t").ok(), Some(None));
        assert_eq!(
            lifted("SELECT a, unnest(b) FROM t WHERE a > 1").ok().flatten().as_deref(),
            Some(
                "SELECT a, \"?srf?\" AS \"unnest\" FROM t, UNNEST(b) AS \"?srf?\" (\"?srf?\") WHERE a > 1"
            )
        );
        // The same call twice is one lifted item; a subquery's own calls stay its own.
        assert_eq!(
            lifted("SELECT generate_series(1, 2) * 2, generate_series(1, 2), (SELECT unnest(x))")
                .ok()
                .flatten()
                .as_deref(),
            Some(
                "SELECT \"?srf?\" * 2, \"?srf?\" AS \"generate_series\", (SELECT unnest(x)) \
                 FROM generate_series(1, 2) AS \"?srf?\" (\"?srf?\")"
            )
        );
    }

    #[test]
    fn a_composite_call_is_lifted_as_one_record_column() {
        assert_eq!(
            lifted("SELECT (information_schema._pg_expandarray(k)).n, information_schema._pg_expandarray(k) AS r FROM t")
                .ok()
                .flatten()
                .as_deref(),
            Some(
                "SELECT (\"?srf?\").n, \"?srf?\" AS r FROM t, \"?record?_pg_expandarray\"(k) AS \"?srf?\" (\"?srf?\")"
            )
        );
    }

    #[test]
    fn several_calls_are_zipped_by_their_row_numbers() {
        assert_eq!(
            lifted("SELECT generate_series(1, 3) AS a, unnest(b), generate_series(1, 3) + 1 FROM t")
                .ok()
                .flatten()
                .as_deref(),
            Some(
                "SELECT \"?srf?\" AS a, \"?srf?1\" AS \"unnest\", \"?srf?\" + 1 FROM t, \
                 LATERAL (SELECT \"?z0\".\"?v?\", \"?z1\".\"?v?\" FROM generate_series(1, 3) \
                 WITH ORDINALITY AS \"?z0\" (\"?v?\", \"?n?\") FULL JOIN UNNEST(b) WITH ORDINALITY \
                 AS \"?z1\" (\"?v?\", \"?n?\") ON \"?z1\".\"?n?\" = coalesce(\"?z0\".\"?n?\") \
                 ORDER BY coalesce(\"?z0\".\"?n?\", \"?z1\".\"?n?\")) AS \"?srf?\" (\"?srf?\", \"?srf?1\")"
            )
        );
    }

    #[test]
    fn refuses_what_it_would_answer_differently() {
        for sql in [
            "SELECT a || unnest(array_agg(x)) FROM t GROUP BY a",
            "SELECT count(*) + generate_series(1, 2) FROM t",
        ] {
            let e = lifted(sql).err().map(|e| e.sqlstate());
            assert_eq!(e, Some("0A000"), "{sql}");
        }
    }
}
