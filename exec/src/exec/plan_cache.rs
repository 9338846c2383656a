//! Plans kept for prepared statements (PostgreSQL's plan cache): a query a session runs again
//! through the same prepared statement reuses the plan its earlier run made, skipping name
//! resolution, binding, join ordering and access-path choice.
//!
//! Plans are generic: the planner never looks at parameter values (they are `Expr::Param`,
//! read when the plan runs, and estimated as an average value), so one plan serves every
//! execution. What planning does depend on is part of each entry's key, and a plan is reused
//! only when all of it is unchanged:
//! - the catalog (tables, indexes, views, statistics), through the catalog cache's
//!   [`Token`]: no catalog-writing commit since the plan was made, none in flight, this
//!   transaction wrote no catalog entry, its snapshot sees the latest catalog, and it is not
//!   SERIALIZABLE (whose catalog reads must come from storage); on a cluster node, only
//!   under READ COMMITTED (see [`token`]). No token, no cache;
//! - the role, the search path and the schema names resolve in;
//! - the parameters' types (taken from the values at each execution).
//!
//! A prepared query whose result columns change (a column added to a table it reads with
//! `*`, or one of its columns' type changed) fails as PostgreSQL's does, with 0A000 "cached
//! plan must not change result type", before it runs: the client was told the columns when it
//! prepared it.
//!
//! Invariant: a plan that read anything else while planning is never kept. The only such
//! reads are of system relations (`pg_class`, `information_schema`, ...), which planning
//! materializes as rows: a statement that loaded the catalog snapshot for them
//! (`Ctx::sys`) is planned again every time.

use std::collections::HashMap;
use std::sync::Arc;

use orbit_txn::Isolation;
use sqlparser::ast;

use super::query::{self, SelectPlan};
use super::{ddl_create_as, Column, Ctx, Outcome};
use crate::catalog::Token;
use crate::error::{code, Error, Result};
use crate::types::DataType;

/// Prepared statements whose plans one session keeps, at most (then it starts over).
const LIMIT: usize = 256;

/// One session's plans, by prepared statement.
#[derive(Debug, Default)]
pub struct PlanCache {
    entries: HashMap<u64, Entry>,
    /// Executions that reused a plan (for tests and EXPLAIN-free checks).
    hits: u64,
}

#[derive(Debug)]
struct Entry {
    token: Token,
    user: String,
    path: Vec<String>,
    schema: String,
    params: Vec<DataType>,
    plan: Arc<SelectPlan>,
}

impl Entry {
    fn serves(&self, token: Token, ctx: &Ctx<'_>) -> bool {
        self.token == token
            && self.user == ctx.user
            && self.schema == ctx.schema
            && self.path == ctx.search_path
            && self.params == ctx.param_types
    }
}

impl PlanCache {
    /// Describes `stmt`, being prepared as `id` (Parse): plans it as [`super::run`] does
    /// when describing, and keeps a query's plan for its first execution, under the
    /// parameter types the planner inferred (what the client then sends, usually).
    pub fn describe(
        &mut self,
        id: u64,
        ctx: &mut Ctx<'_>,
        stmt: &ast::Statement,
    ) -> Result<Outcome> {
        let Some(query) = cacheable(stmt) else {
            return super::run(ctx, stmt, true);
        };
        let token = token(ctx);
        let plan = Arc::new(query::plan_query(ctx, query)?);
        if let (Some(token), None) = (token, &ctx.sys) {
            let params = ctx.param_types.clone();
            self.keep(id, token, ctx, params, Arc::clone(&plan));
        }
        Ok(Outcome::Rows {
            tag: "SELECT 0".into(),
            columns: plan.columns.clone(),
            rows: Vec::new(),
        })
    }

    /// Runs `stmt`, the statement prepared as `id` with result columns `described`, reusing
    /// its plan when the module's conditions hold (any statement but a query runs as
    /// [`super::run`] runs it).
    pub fn run(
        &mut self,
        id: u64,
        described: &[Column],
        ctx: &mut Ctx<'_>,
        stmt: &ast::Statement,
    ) -> Result<Outcome> {
        let Some(query) = cacheable(stmt) else {
            return super::run(ctx, stmt, false);
        };
        let token = token(ctx);
        let plan = match (token, self.entries.get(&id)) {
            (Some(token), Some(e)) if e.serves(token, ctx) => {
                self.hits += 1;
                Arc::clone(&e.plan)
            }
            _ => {
                self.entries.remove(&id);
                let params = ctx.param_types.clone();
                let plan = Arc::new(query::plan_query(ctx, query)?);
                if changed(described, &plan.columns) {
                    return Err(Error::new(
                        code::FEATURE_NOT_SUPPORTED,
                        "cached plan must not change result type",
                    ));
                }
                if let (Some(token), None) = (token, &ctx.sys) {
                    self.keep(id, token, ctx, params, Arc::clone(&plan));
                }
                plan
            }
        };
        let rows = query::run_select(ctx, &plan)?;
        Ok(Outcome::Rows {
            tag: format!("SELECT {}", rows.len()),
            columns: plan.columns.clone(),
            rows,
        })
    }

    fn keep(
        &mut self,
        id: u64,
        token: Token,
        ctx: &Ctx<'_>,
        params: Vec<DataType>,
        plan: Arc<SelectPlan>,
    ) {
        if self.entries.len() >= LIMIT && !self.entries.contains_key(&id) {
            self.entries.clear();
        }
        self.entries.insert(
            id,
            Entry {
                token,
                user: ctx.user.to_string(),
                path: ctx.search_path.to_vec(),
                schema: ctx.schema.to_string(),
                params,
                plan,
            },
        );
    }

    /// Executions that reused a kept plan.
    pub fn hits(&self) -> u64 {
        self.hits
    }
}

/// Leave to use and keep plans in this statement (see the module docs). On a cluster node
/// only under READ COMMITTED: there the catalog changes by applying another node's log,
/// which the token sees through the live epoch, not through the transaction's snapshot, so
/// an older snapshot could get a plan for a newer catalog, or make one for an older.
fn token(ctx: &mut Ctx<'_>) -> Option<Token> {
    if ctx.engine.txn_db().is_replicated() && ctx.txn.isolation() != Isolation::ReadCommitted {
        return None;
    }
    ctx.catalog().token()
}

/// The query of `stmt` if its plan may be kept: a SELECT (not SELECT INTO, nor a WITH
/// around an INSERT).
fn cacheable(stmt: &ast::Statement) -> Option<&ast::Query> {
    match stmt {
        ast::Statement::Query(q)
            if !matches!(q.body.as_ref(), ast::SetExpr::Insert(_))
                && !ddl_create_as::is_select_into(q) =>
        {
            Some(q)
        }
        _ => None,
    }
}

/// Whether a query's result columns differ from those described when it was prepared: in
/// number, or in the type of a column read from a table (a computed column's type may follow
/// its parameters' types, which the client may leave to each execution).
fn changed(described: &[Column], now: &[Column]) -> bool {
    described.len() != now.len()
        || described
            .iter()
            .zip(now)
            .any(|(d, n)| d.table_oid != 0 && n.table_oid != 0 && d.ty != n.ty)
}
