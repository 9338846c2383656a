//! EXPLAIN [ANALYZE]: the chosen plan as PostgreSQL-style text (one `QUERY PLAN` row per
//! line: node names such as `Seq Scan`, `Index Scan using ... on ...`, `Hash Join`, and their
//! conditions), without cost estimates, which Orbit's planner does not make. ANALYZE runs
//! the statement (in the current transaction, as PostgreSQL does) and adds the actual row
//! count and execution time.

use std::time::Instant;

use sqlparser::ast;

use super::query::{Access, Body, Profile, SelectPlan, Source, Stage};
use super::{Column, Ctx, Outcome};
use crate::error::Result;
use crate::expr::{Expr, SubKind};
use crate::types::DataType;

/// Runs EXPLAIN of `stmt`.
pub fn explain(
    ctx: &mut Ctx<'_>,
    stmt: &ast::Statement,
    analyze: bool,
    describe_only: bool,
) -> Result<Outcome> {
    let columns = vec![Column {
        name: "QUERY PLAN".into(),
        ty: DataType::Text,
        table_oid: 0,
        column: 0,
    }];
    if matches!(stmt, ast::Statement::Copy { .. }) {
        return Err(crate::error::Error::syntax(
            "syntax error at or near \"COPY\"",
        ));
    }
    if describe_only {
        return Ok(Outcome::Rows {
            columns,
            rows: Vec::new(),
            tag: "EXPLAIN".into(),
        });
    }
    let mut lines = Vec::new();
    if let (true, ast::Statement::Query(q)) = (analyze, stmt) {
        if !super::ddl_create_as::is_select_into(q) {
            return Ok(Outcome::Rows {
                columns,
                rows: analyzed_query(ctx, q)?,
                tag: "EXPLAIN".into(),
            });
        }
    }
    match stmt {
        ast::Statement::Query(q) => {
            let plan = super::query::plan_query(ctx, q)?;
            plan_lines(&plan, 0, &mut lines, None);
        }
        ast::Statement::Update(u) => {
            lines.push(format!("Update on {}", u.table.relation));
            dml_scan(ctx, &u.table.relation, u.selection.as_ref(), &mut lines)?;
        }
        ast::Statement::Delete(d) => {
            let target = match &d.from {
                ast::FromTable::WithFromKeyword(t) | ast::FromTable::WithoutKeyword(t) => {
                    t.first().map(|t| t.relation.clone())
                }
            };
            if let Some(t) = target {
                lines.push(format!("Delete on {t}"));
                dml_scan(ctx, &t, d.selection.as_ref(), &mut lines)?;
            }
        }
        ast::Statement::Insert(i) => {
            lines.push(format!("Insert on {}", i.table));
            let source = match i.source.as_deref().map(|q| q.body.as_ref()) {
                Some(ast::SetExpr::Values(_)) => "Values Scan",
                Some(_) => "Subquery Scan",
                None => "Result",
            };
            lines.push(format!("  ->  {source}"));
        }
        other => lines.push(format!("Utility Statement: {}", first_words(other))),
    }
    if analyze {
        let started = Instant::now();
        let outcome = super::run(ctx, stmt, false)?;
        let elapsed = started.elapsed();
        let rows = match &outcome {
            Outcome::Rows { rows, .. } => rows.len().to_string(),
            Outcome::Command(tag) | Outcome::Begin(tag) | Outcome::End(tag) => tag
                .rsplit(' ')
                .next()
                .filter(|n| n.parse::<u64>().is_ok())
                .unwrap_or("0")
                .to_string(),
            // COPY is refused above, as PostgreSQL's grammar does.
            Outcome::CopyIn { .. } | Outcome::CopyOut { .. } => "0".to_string(),
        };
        if let Some(first) = lines.first_mut() {
            first.push_str(&format!(" (actual rows={rows})"));
        }
        lines.push(format!(
            "Execution Time: {:.3} ms",
            elapsed.as_secs_f64() * 1000.0
        ));
    }
    let rows = lines
        .into_iter()
        .map(|l| vec![crate::types::Value::Text(l)])
        .collect();
    Ok(Outcome::Rows {
        columns,
        rows,
        tag: "EXPLAIN".into(),
    })
}

/// EXPLAIN ANALYZE of a query: the plan run once with every node measured, then printed
/// with each node's actual time, rows and loops, and the planning and execution times.
fn analyzed_query(ctx: &mut Ctx<'_>, q: &ast::Query) -> Result<Vec<Vec<crate::types::Value>>> {
    let planning = Instant::now();
    let plan = super::query::plan_query(ctx, q)?;
    let planned = planning.elapsed();
    let profile = std::rc::Rc::new(Profile::default());
    let executing = Instant::now();
    let rows = super::query::Runner::profiled(ctx, profile.clone()).run(&plan, &[])?;
    let executed = executing.elapsed();
    drop(rows);
    let mut lines = Vec::new();
    plan_lines(&plan, 0, &mut lines, Some(&profile));
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    lines.push(format!("Planning Time: {:.3} ms", ms(planned)));
    lines.push(format!("Execution Time: {:.3} ms", ms(executed)));
    Ok(lines
        .into_iter()
        .map(|l| vec![crate::types::Value::Text(l)])
        .collect())
}

fn first_words(stmt: &ast::Statement) -> String {
    stmt.to_string()
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The scan an UPDATE or DELETE uses, planned as a SELECT of its target would be.
fn dml_scan(
    ctx: &mut Ctx<'_>,
    target: &ast::TableFactor,
    selection: Option<&ast::Expr>,
    lines: &mut Vec<String>,
) -> Result<()> {
    let q = match selection {
        Some(w) => format!("SELECT * FROM {target} WHERE {w}"),
        None => format!("SELECT * FROM {target}"),
    };
    let stmts = crate::parse::parse(&q)?;
    if let Some(ast::Statement::Query(q)) = stmts.first() {
        let plan = super::query::plan_query(ctx, q)?;
        if let Body::Select(b) = &plan.body {
            source_lines(&b.source, 1, lines, None);
        }
    }
    Ok(())
}

/// Appends a node line at `depth` (PostgreSQL's `->` layout).
fn node(depth: usize, text: String, lines: &mut Vec<String>) {
    if depth == 0 {
        lines.push(text);
    } else {
        lines.push(format!("{}->  {text}", " ".repeat(depth * 6 - 4)));
    }
}

/// Appends a detail line (`Filter: ...`) of the node at `depth`.
fn detail(depth: usize, text: String, lines: &mut Vec<String>) {
    let pad = if depth == 0 { 2 } else { depth * 6 + 2 };
    lines.push(format!("{}{text}", " ".repeat(pad)));
}

fn plan_lines(plan: &SelectPlan, depth: usize, lines: &mut Vec<String>, prof: Option<&Profile>) {
    let mut d = depth;
    let limited = plan.limit.is_some() || plan.offset.is_some();
    let ordered = if limited {
        Stage::Ordered
    } else {
        Stage::Output
    };
    if plan.limit.is_some() || plan.offset.is_some() {
        node(d, format!("Limit{}", act(prof, plan, Stage::Output)), lines);
        d += 1;
    }
    if !plan.order.is_empty() {
        node(d, format!("Sort{}", act(prof, plan, ordered)), lines);
        d += 1;
    }
    match &plan.body {
        Body::Select(b) => {
            if b.distinct || b.distinct_on.is_some() {
                node(d, format!("Unique{}", act(prof, plan, ordered)), lines);
                d += 1;
            }
            if let Some(a) = &b.agg {
                let name = if a.keys.is_empty() {
                    "Aggregate"
                } else {
                    "HashAggregate"
                };
                node(
                    d,
                    format!("{name}{}", act(prof, b.as_ref(), Stage::Aggregated)),
                    lines,
                );
                if a.having.is_some() {
                    detail(d, "Filter: (HAVING)".into(), lines);
                }
                d += 1;
            }
            let mut subplans = Vec::new();
            for p in &b.projections {
                collect_subplans(p, &mut subplans);
            }
            if let Some(f) = &b.filter {
                node(
                    d,
                    format!("Result{}", act(prof, b.as_ref(), Stage::Filtered)),
                    lines,
                );
                detail(
                    d,
                    format!("Filter: {}", show_named(f, &names(&b.source))),
                    lines,
                );
                collect_subplans(f, &mut subplans);
                d += 1;
            }
            source_lines(&b.source, d, lines, prof);
            for (i, sp) in subplans.into_iter().enumerate() {
                detail(depth, format!("SubPlan {}", i + 1), lines);
                plan_lines(sp, depth + 1, lines, prof);
            }
        }
        Body::Values(rows) => node(
            d,
            format!(
                "Values Scan ({} rows){}",
                rows.len(),
                act(prof, plan, Stage::Body)
            ),
            lines,
        ),
        Body::Nested(p) => plan_lines(p, d, lines, prof),
        Body::SetOp {
            op,
            all,
            left,
            right,
        } => {
            let name = match (op, all) {
                (super::query::SetOp::Union, true) => "Append".to_string(),
                (super::query::SetOp::Union, false) => "HashAggregate (Union)".to_string(),
                (other, _) => format!("HashSetOp {other:?}"),
            };
            node(d, format!("{name}{}", act(prof, plan, Stage::Body)), lines);
            plan_lines(left, d + 1, lines, prof);
            plan_lines(right, d + 1, lines, prof);
        }
        Body::Recursive(r) => {
            let text = format!("Recursive Union{}", act(prof, plan, Stage::Body));
            node(d, text, lines);
            plan_lines(&r.anchor, d + 1, lines, prof);
            plan_lines(&r.step, d + 1, lines, prof);
        }
    }
}

fn source_lines(src: &Source, depth: usize, lines: &mut Vec<String>, prof: Option<&Profile>) {
    let actual = source_act(prof, src);
    match src {
        Source::Unit => node(depth, format!("Result{actual}"), lines),
        Source::Function { name, .. } => {
            node(depth, format!("Function Scan on {name}{actual}"), lines)
        }
        Source::WorkTable { name, .. } => {
            node(depth, format!("WorkTable Scan on {name}{actual}"), lines)
        }
        Source::Rows(name, rows) => node(
            depth,
            format!("Function Scan on {name} ({} rows){actual}", rows.len()),
            lines,
        ),
        Source::Table(t) => {
            let on = table_label(t);
            let index_name = |id: u32| {
                t.table
                    .indexes
                    .iter()
                    .find(|i| i.id == id)
                    .map_or_else(|| format!("index {id}"), |i| i.name.clone())
            };
            let pkey = t
                .table
                .indexes
                .iter()
                .find(|i| i.primary)
                .map_or_else(|| format!("{}_pkey", t.table.name), |i| i.name.clone());
            let col = |id: &u32| {
                t.table
                    .column_by_id(*id)
                    .and_then(|i| t.table.columns.get(i))
                    .map_or_else(|| "?".to_string(), |c| c.name.clone())
            };
            let equal = |ids: &[u32], eq: &[Expr]| {
                ids.iter()
                    .zip(eq)
                    .map(|(id, e)| format!("({} = {})", col(id), show(e)))
                    .collect::<Vec<_>>()
                    .join(" AND ")
            };
            let mut children = Vec::new();
            match &t.access {
                Access::Full => node(depth, format!("Seq Scan on {on}{actual}"), lines),
                Access::Point(eq) => {
                    node(
                        depth,
                        format!("Index Scan using {pkey} on {on}{actual}"),
                        lines,
                    );
                    let cond = equal(&t.table.primary_key, eq);
                    detail(depth, format!("Index Cond: {cond}"), lines);
                }
                Access::Range(lo, hi) => {
                    node(
                        depth,
                        format!("Index Scan using {pkey} on {on}{actual}"),
                        lines,
                    );
                    let first = t.table.primary_key.first().map(col).unwrap_or_default();
                    let mut conds = Vec::new();
                    for (b, incl, excl) in [(lo, ">=", ">"), (hi, "<=", "<")] {
                        match b {
                            std::ops::Bound::Included(e) => {
                                conds.push(format!("({first} {incl} {})", show(e)))
                            }
                            std::ops::Bound::Excluded(e) => {
                                conds.push(format!("({first} {excl} {})", show(e)))
                            }
                            std::ops::Bound::Unbounded => {}
                        }
                    }
                    detail(depth, format!("Index Cond: {}", conds.join(" AND ")), lines);
                }
                Access::Ann(scan) => {
                    let index = t.table.indexes.iter().find(|i| i.id == scan.index);
                    node(
                        depth,
                        format!(
                            "Index Scan using {} on {on}{actual}",
                            index_name(scan.index)
                        ),
                        lines,
                    );
                    let column = index
                        .and_then(|i| i.columns.first())
                        .map(col)
                        .unwrap_or_default();
                    let order = format!("({column} {} {})", scan.op.symbol(), show(&scan.query));
                    detail(depth, format!("Order By: {order}"), lines);
                }
                Access::Bitmap(scan) => {
                    node(depth, format!("Bitmap Heap Scan on {on}{actual}"), lines);
                    // The bitmap nodes go below the heap scan's own details.
                    let show_leaf = |e: &Expr| show(e);
                    for (d, text, details) in
                        super::query::bitmap_explain(&t.table, &scan.cond, &show_leaf)
                    {
                        node(depth + 1 + d, text, &mut children);
                        for line in details {
                            detail(depth + 1 + d, line, &mut children);
                        }
                    }
                }
                Access::Index { id, eq } => {
                    let index = t.table.indexes.iter().find(|i| i.id == *id);
                    node(
                        depth,
                        format!("Index Scan using {} on {on}{actual}", index_name(*id)),
                        lines,
                    );
                    let ids = index.map(|i| i.columns.as_slice()).unwrap_or_default();
                    detail(depth, format!("Index Cond: {}", equal(ids, eq)), lines);
                }
            }
            if let Some(f) = &t.filter {
                let names: Vec<String> = t.table.columns.iter().map(|c| c.name.clone()).collect();
                detail(depth, format!("Filter: {}", show_named(f, &names)), lines);
            }
            if t.for_update {
                detail(depth, "Lock: FOR UPDATE".into(), lines);
            }
            let workers = prof
                .and_then(|p| p.get(t.as_ref(), Stage::Source))
                .map_or(0, |s| s.workers);
            if workers > 0 {
                detail(depth, format!("Workers Launched: {workers}"), lines);
            }
            lines.extend(children);
        }
        Source::Derived { plan, captures, .. } => {
            let name = if captures.is_empty() {
                "Subquery Scan"
            } else {
                "Subquery Scan (correlated)"
            };
            node(depth, format!("{name}{actual}"), lines);
            plan_lines(plan, depth + 1, lines, prof);
        }
        Source::Join(j) => {
            let kind = match j.kind {
                super::query::JoinKind::Inner => "",
                super::query::JoinKind::Left => " Left",
                super::query::JoinKind::Right => " Right",
                super::query::JoinKind::Full => " Full",
                super::query::JoinKind::Semi => " Semi",
                super::query::JoinKind::Anti => " Anti",
            };
            let method = if j.lateral {
                "Nested Loop (lateral)"
            } else if j.keys.is_empty() || j.lookup.is_some() {
                "Nested Loop"
            } else {
                "Hash"
            };
            let name = if method == "Hash" {
                format!("Hash{kind} Join")
            } else {
                format!("{method}{kind}")
            };
            node(depth, format!("{name}{actual}"), lines);
            let left = names(&j.left);
            let both: Vec<String> = left.iter().cloned().chain(names(&j.right)).collect();
            let right = &both[left.len().min(both.len())..];
            if !j.keys.is_empty() && j.lookup.is_none() {
                let conds: Vec<String> = j
                    .keys
                    .iter()
                    .map(|(l, r)| format!("({} = {})", show_named(l, &left), show_named(r, right)))
                    .collect();
                detail(depth, format!("Hash Cond: {}", conds.join(" AND ")), lines);
            }
            if let Some(on) = &j.on {
                detail(
                    depth,
                    format!("Join Filter: {}", show_named(on, &both)),
                    lines,
                );
            }
            source_lines(&j.left, depth + 1, lines, prof);
            if let (Some(lookup), Source::Table(t)) = (&j.lookup, &j.right) {
                lookup_lines(j, lookup, t, (&left, right), depth + 1, lines, prof);
            } else if method == "Hash" {
                let built = source_act(prof, &j.right);
                node(depth + 1, format!("Hash{built}"), lines);
                source_lines(&j.right, depth + 2, lines, prof);
            } else {
                source_lines(&j.right, depth + 1, lines, prof);
            }
        }
    }
}

/// The inner side of an index nested loop: the index scan run per left row, with the keys
/// it looks up by and the table's own conditions.
fn lookup_lines(
    j: &super::query::Join,
    lookup: &super::query::Lookup,
    t: &super::query::TableSource,
    (left, right): (&[String], &[String]),
    depth: usize,
    lines: &mut Vec<String>,
    prof: Option<&Profile>,
) {
    let on = table_label(t);
    let actual = act(prof, t, Stage::Source);
    let index = lookup.index_name(&t.table);
    node(
        depth,
        format!("Index Scan using {index} on {on}{actual}"),
        lines,
    );
    let own: Vec<String> = t.table.columns.iter().map(|c| c.name.clone()).collect();
    let cond = |k: &usize| {
        j.keys
            .get(*k)
            .map(|(l, r)| format!("({} = {})", show_named(r, &own), show_named(l, left)))
    };
    let conds: Vec<String> = lookup.keys.iter().filter_map(cond).collect();
    detail(depth, format!("Index Cond: {}", conds.join(" AND ")), lines);
    let rest: Vec<String> = (0..j.keys.len())
        .filter(|k| !lookup.keys.contains(k))
        .filter_map(|k| {
            j.keys
                .get(k)
                .map(|(l, r)| format!("({} = {})", show_named(l, left), show_named(r, right)))
        })
        .collect();
    if !rest.is_empty() {
        detail(depth, format!("Join Filter: {}", rest.join(" AND ")), lines);
    }
    if let Some(f) = &t.filter {
        detail(depth, format!("Filter: {}", show_named(f, &own)), lines);
    }
}

/// A table as a plan names it: `name`, or `name alias`.
fn table_label(t: &super::query::TableSource) -> String {
    if t.alias == t.table.name {
        t.table.name.clone()
    } else {
        format!("{} {}", t.table.name, t.alias)
    }
}

/// EXPLAIN ANALYZE's annotation of a node (nothing for a plain EXPLAIN).
fn act<T: super::query::ProfileNode>(prof: Option<&Profile>, node: &T, stage: Stage) -> String {
    prof.map(|p| p.actual(node, stage)).unwrap_or_default()
}

/// The annotation of a FROM node: a table's scan and a subquery's plan measure themselves
/// (a lateral subquery runs its plan per row without the node).
fn source_act(prof: Option<&Profile>, src: &Source) -> String {
    match src {
        Source::Table(t) => act(prof, t.as_ref(), Stage::Source),
        Source::Derived { plan, .. } => act(prof, plan.as_ref(), Stage::Output),
        other => act(prof, other, Stage::Source),
    }
}

/// Column names of a source's rows, qualified by their table where known.
fn names(src: &Source) -> Vec<String> {
    match src {
        Source::Unit => Vec::new(),
        Source::Function {
            name, ordinality, ..
        } => {
            let mut n = vec![name.clone()];
            if *ordinality {
                n.push("ordinality".into());
            }
            n
        }
        Source::Rows(name, rows) => (0..rows.first().map_or(0, Vec::len))
            .map(|i| format!("{name}.${}", i + 1))
            .collect(),
        Source::Table(t) => t
            .table
            .columns
            .iter()
            .map(|c| format!("{}.{}", t.alias, c.name))
            .collect(),
        Source::Derived { plan, .. } => plan.columns.iter().map(|c| c.name.clone()).collect(),
        Source::WorkTable { .. } => Vec::new(),
        Source::Join(j) if j.kind.left_only() => names(&j.left),
        Source::Join(j) => {
            let mut n = names(&j.left);
            n.extend(names(&j.right));
            let merged: Vec<String> = j
                .merged
                .iter()
                .map(|(l, _)| n.get(*l).cloned().unwrap_or_default())
                .collect();
            n.extend(merged);
            if j.permute.is_empty() {
                n
            } else {
                j.permute
                    .iter()
                    .map(|i| n.get(*i).cloned().unwrap_or_default())
                    .collect()
            }
        }
    }
}

fn collect_subplans<'p>(e: &'p Expr, out: &mut Vec<&'p SelectPlan>) {
    if let Expr::Subquery(s) = e {
        out.push(&s.plan);
    }
    for c in e.children() {
        collect_subplans(c, out);
    }
}

fn show(e: &Expr) -> String {
    show_named(e, &[])
}

/// A readable form of a bound expression (columns by name when `names` has them, else
/// `$colN`).
fn show_named(e: &Expr, names: &[String]) -> String {
    let s = |x: &Expr| show_named(x, names);
    match e {
        Expr::Literal(v) => match v.to_text() {
            Some(t) if matches!(v, crate::types::Value::Text(_)) => format!("'{t}'"),
            Some(t) => t,
            None => "NULL".into(),
        },
        Expr::Column(i) => names
            .get(*i)
            .cloned()
            .unwrap_or_else(|| format!("$col{}", i + 1)),
        Expr::Param(i) => format!("${}", i + 1),
        Expr::Outer(i) => format!("$outer{}", i + 1),
        Expr::Binary(op, a, b) => format!("({} {} {})", s(a), op.symbol(), s(b)),
        Expr::And(a, b) => format!("({} AND {})", s(a), s(b)),
        Expr::Or(a, b) => format!("({} OR {})", s(a), s(b)),
        Expr::Not(a) => format!("(NOT {})", s(a)),
        Expr::Neg(a) => format!("(-{})", s(a)),
        Expr::IsNull(a, neg) => format!("({} IS {}NULL)", s(a), if *neg { "NOT " } else { "" }),
        Expr::Cast(a, ty) => format!("({})::{ty}", s(a)),
        Expr::Func(f, args) => format!(
            "{}({})",
            format!("{f:?}").to_lowercase(),
            args.iter().map(s).collect::<Vec<_>>().join(", ")
        ),
        Expr::Subquery(sq) => match &sq.kind {
            SubKind::Exists => "(EXISTS (SubPlan))".into(),
            SubKind::Quantified { expr, op, all, .. } => format!(
                "({} {} {}(SubPlan))",
                s(expr),
                op.symbol(),
                if *all { "ALL" } else { "ANY" }
            ),
            _ => "(SubPlan)".into(),
        },
        _ => "(...)".into(),
    }
}
