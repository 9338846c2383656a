//! CREATE [OR REPLACE] VIEW and DROP VIEW. A view is stored as its query's SQL text and
//! its column names; queries that name it plan that text as a derived table. The query is
//! planned once at creation, so a view over missing tables or columns is refused then, and
//! its `*`s are expanded then (the stored text names the columns).

use std::collections::HashMap;
use std::ops::ControlFlow;

use sqlparser::ast::{self, VisitMut, VisitorMut};

use super::{Ctx, Outcome};
use crate::catalog::ViewDef;
use crate::error::{code, Error, Result};
use crate::expr::ident_name;

pub fn create_view(ctx: &mut Ctx<'_>, cv: &ast::CreateView) -> Result<Outcome> {
    if cv.materialized {
        return super::ddl_matview::create(ctx, cv);
    }
    let (schema, name) = ctx.qualify_new(&cv.name)?;
    let existing = ctx.catalog().view(&schema, &name)?;
    if existing.is_some() && cv.if_not_exists {
        return Ok(Outcome::Command("CREATE VIEW".into()));
    }
    if (existing.is_some() && !cv.or_replace)
        || (existing.is_none() && super::ddl_index::relation_exists(ctx, &schema, &name)?)
    {
        return Err(Error::new(
            code::DUPLICATE_TABLE,
            format!("relation \"{name}\" already exists"),
        ));
    }
    let (query, plan) = plan_expanded(ctx, &cv.query)?;
    let mut columns: Vec<String> = plan.columns.iter().map(|c| c.name.clone()).collect();
    let column_types = plan.columns.iter().map(|c| c.ty.clone()).collect();
    if cv.columns.len() > columns.len() {
        return Err(Error::new(
            code::SYNTAX_ERROR,
            "CREATE VIEW specifies more column names than columns",
        ));
    }
    for (c, given) in columns.iter_mut().zip(&cv.columns) {
        *c = ident_name(&given.name);
    }
    if let Some(old) = &existing {
        // OR REPLACE may add columns at the end, never drop or rename them (42P16).
        if old.columns.len() > columns.len()
            || old.columns.iter().zip(&columns).any(|(a, b)| a != b)
        {
            return Err(Error::new(
                code::INVALID_TABLE_DEFINITION,
                "cannot drop or rename columns of view with CREATE OR REPLACE VIEW",
            ));
        }
    }
    let oid = match &existing {
        Some(v) => v.oid,
        None => ctx.engine.next_oid(&mut ctx.waits)?,
    };
    ctx.catalog().put_view(&ViewDef {
        oid,
        schema,
        name,
        query: query.to_string(),
        columns,
        column_types,
    })?;
    Ok(Outcome::Command("CREATE VIEW".into()))
}

/// Plans a view's `query`, and returns it with its `*`s expanded: as in PostgreSQL, a column
/// added to a table later is not in the view. The planner records each select's expanded
/// list by the select's address (boxed, so stable while the copy lives); the lists then
/// replace the `*`s in the copy's text.
pub(crate) fn plan_expanded(
    ctx: &mut Ctx<'_>,
    query: &ast::Query,
) -> Result<(ast::Query, super::query::SelectPlan)> {
    let mut query = query.clone();
    ctx.star_lists = Some(std::collections::HashMap::new());
    let plan = super::query::plan_query(ctx, &query);
    let lists = ctx.star_lists.take().unwrap_or_default();
    let plan = plan?;
    expand_stars(&mut query, lists);
    Ok((query, plan))
}

/// Puts the recorded expanded select lists in place of the `*`s of every select in `query`
/// (subqueries too).
fn expand_stars(query: &mut ast::Query, mut lists: HashMap<usize, Vec<ast::SelectItem>>) {
    struct Expand<'a>(&'a mut HashMap<usize, Vec<ast::SelectItem>>);
    impl Expand<'_> {
        fn body(&mut self, body: &mut ast::SetExpr) {
            match body {
                ast::SetExpr::Select(s) => {
                    if let Some(list) = self.0.remove(&(&**s as *const ast::Select as usize)) {
                        s.projection = list;
                    }
                }
                ast::SetExpr::SetOperation { left, right, .. } => {
                    self.body(left);
                    self.body(right);
                }
                // Nested queries are visited as queries.
                _ => {}
            }
        }
    }
    impl VisitorMut for Expand<'_> {
        type Break = ();
        fn pre_visit_query(&mut self, q: &mut ast::Query) -> ControlFlow<()> {
            self.body(&mut q.body);
            ControlFlow::Continue(())
        }
    }
    if lists.is_empty() {
        return;
    }
    let _ = query.visit(&mut Expand(&mut lists));
}

pub fn drop_view(ctx: &mut Ctx<'_>, names: &[ast::ObjectName], if_exists: bool) -> Result<Outcome> {
    for n in names {
        let (schema, name) = ctx.qualify(n)?;
        if ctx.catalog().view(&schema, &name)?.is_none() {
            if ctx.catalog().table(&schema, &name)?.is_some() {
                return Err(Error::new(
                    code::WRONG_OBJECT_TYPE,
                    format!("\"{name}\" is not a view"),
                ));
            }
            if if_exists {
                continue;
            }
            return Err(Error::new(
                code::UNDEFINED_TABLE,
                format!("view \"{name}\" does not exist"),
            ));
        }
        ctx.catalog().delete_view(&schema, &name)?;
    }
    Ok(Outcome::Command("DROP VIEW".into()))
}

/// The views whose query names `table` (by `schema.name`, or by its name alone when its
/// schema is on the search path).
pub(crate) fn dependent_views(
    ctx: &mut Ctx<'_>,
    table: &crate::catalog::TableDef,
) -> Result<Vec<ViewDef>> {
    let on_path = ctx.search_path.contains(&table.schema);
    let views = ctx.catalog().views()?;
    Ok(views
        .into_iter()
        .filter(|v| names_table(&v.query, table, on_path))
        .collect())
}

/// Whether the SQL text `query` names `table` (by `schema.name`, or by its name alone when
/// `on_path`, its schema being on the search path).
pub(crate) fn names_table(query: &str, table: &crate::catalog::TableDef, on_path: bool) -> bool {
    let Ok(statements) = crate::parse(query) else {
        return false;
    };
    let names = |rel: &ast::ObjectName| {
        let parts: Vec<String> = rel
            .0
            .iter()
            .filter_map(|p| p.as_ident())
            .map(ident_name)
            .collect();
        match parts.as_slice() {
            [name] => on_path && *name == table.name,
            [.., schema, name] => *schema == table.schema && *name == table.name,
            [] => false,
        }
    };
    ast::visit_relations(&statements, |rel| {
        if names(rel) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}
