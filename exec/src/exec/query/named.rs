//! FROM items that name a query: a `WITH` query (planned where it is referenced; a
//! recursive one by `recursive`, its own name inside its step a work table; one referenced
//! more than once runs once per statement, see [`Shared`]) and a view (its stored query,
//! planned in its own scope).

use sqlparser::ast;

use super::from::{aliased, derived, derived_planned, rename, Planned, Source};
use super::{Cte, Planner};
use crate::error::{code, Error, Result};
use crate::expr::{Expr, ScopeColumn};
use crate::types::DataType;

/// The token the references of one `WITH` query share. Referenced more than once, the query
/// runs once per statement and every reference reads its rows (PostgreSQL materializes such
/// a query: `random()` in it is drawn once); referenced once, it is planned in place.
#[derive(Debug, Default)]
pub struct Shared {
    many: std::sync::atomic::AtomicBool,
}

impl Shared {
    /// Whether the query is referenced more than once.
    pub fn many(&self) -> bool {
        self.many.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub(super) fn referenced_again(&self) {
        self.many.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Gives a reference of a WITH query its query's token when it is uncorrelated (reads no
/// enclosing query), and marks the query shared at its second such reference.
fn share(planned: &mut Planned, shared: &std::sync::Arc<Shared>, uses: &std::cell::Cell<u32>) {
    if let Source::Derived {
        captures,
        shared: token @ None,
        ..
    } = &mut planned.source
    {
        if captures.is_empty() {
            *token = Some(std::sync::Arc::clone(shared));
            uses.set(uses.get() + 1);
            if uses.get() > 1 {
                shared.referenced_again();
            }
        }
    }
}

pub(super) fn plan_cte(
    p: &mut Planner<'_, '_>,
    cte: &Cte,
    alias: Option<&ast::TableAlias>,
    params: &mut Vec<DataType>,
) -> Result<Planned> {
    use super::recursive::{self, CteKind};
    let mut planned = match &cte.kind {
        CteKind::Forbidden(message) => return Err(recursive::forbidden(message)),
        CteKind::WorkTable { id, columns, uses } => {
            uses.set(uses.get() + 1);
            let scope = columns
                .iter()
                .map(|(name, ty)| ScopeColumn {
                    table: None,
                    name: name.clone(),
                    ty: ty.clone(),
                    qualified_only: false,
                })
                .collect();
            Planned {
                source: Source::WorkTable {
                    id: *id,
                    name: cte.name.clone(),
                },
                scope,
                origins: vec![(0, 0); columns.len()],
                star: Vec::new(),
            }
        }
        CteKind::Query {
            recursive: true,
            visible,
            ..
        } => {
            // Names resolve where the query was declared, not where it is referenced.
            let later = p.ctes.split_off((*visible).min(p.ctes.len()));
            let planned = match recursive::plan(p, cte, params) {
                Ok(Some((plan, caps))) => {
                    let captures = caps
                        .into_iter()
                        .map(|j| Expr::Outer(crate::expr::BindEnv::capture(p, j)))
                        .collect();
                    Ok(derived_planned(plan, captures))
                }
                Ok(None) => {
                    p.ctes.push(recursive::not_recursive(cte));
                    let planned = derived(p, &cte.query, &[], params);
                    p.ctes.pop();
                    planned.map(|mut planned| {
                        if let CteKind::Query { shared, uses, .. } = &cte.kind {
                            share(&mut planned, shared, uses);
                        }
                        planned
                    })
                }
                Err(e) => Err(e),
            };
            p.ctes.extend(later);
            planned?
        }
        CteKind::Query {
            recursive: false,
            visible,
            shared,
            uses,
        } => {
            let later = p.ctes.split_off((*visible).min(p.ctes.len()));
            let planned = derived(p, &cte.query, &[], params);
            p.ctes.extend(later);
            let mut planned = planned?;
            share(&mut planned, shared, uses);
            planned
        }
    };
    rename(&mut planned, &cte.columns, &cte.name)?;
    Ok(aliased(planned, alias))
}

pub(super) fn plan_view(
    p: &mut Planner<'_, '_>,
    view: &crate::catalog::ViewDef,
    alias: Option<&ast::TableAlias>,
    params: &mut Vec<DataType>,
) -> Result<Planned> {
    let stmts = crate::parse::parse(&view.query)?;
    let Some(ast::Statement::Query(q)) = stmts.first() else {
        return Err(Error::new(
            code::DATA_CORRUPTED,
            format!("view \"{}\" has no query", view.name),
        ));
    };
    // A view's query binds in its own schema and sees no enclosing query.
    let mut sub = Planner {
        ctx: &mut *p.ctx,
        outer: Vec::new(),
        captures: Vec::new(),
        untyped_kept: false,
        ctes: Vec::new(),
        windows: None,
    };
    let plan = sub.plan(q, params)?;
    let mut planned = derived_planned(plan, Vec::new());
    rename(&mut planned, &view.columns, &view.name)?;
    Ok(aliased(planned, alias))
}
