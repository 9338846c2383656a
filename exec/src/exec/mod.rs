//! Statement execution: the context a statement runs in, what it returns, and the dispatch
//! from sqlparser's statements to the planners and runners (`query`, `dml`, `ddl`).

mod agg;
mod agg_items;
mod agg_stats;
mod analyze;
pub(crate) mod ann;
pub(crate) mod ann_graph;
pub mod ann_reclaim;
pub(crate) mod backend_fn;
mod bitmap_index;
pub(crate) mod bytes_map;
mod conflict;
mod ddl;
mod ddl_alter_column;
mod ddl_create_as;
mod ddl_database;
mod ddl_drop;
mod ddl_index;
mod ddl_key;
pub(crate) mod ddl_matview;
mod ddl_sequence;
mod ddl_view;
mod dml;
mod explain;
mod foreign;
mod index;
mod modify;
mod plan_cache;
#[cfg(test)]
mod plan_cache_tests;
pub mod query;
mod sequence_fn;
mod system;
mod values;
mod window;
pub(crate) mod write;

use orbit_txn::Transaction;
use sqlparser::ast;

use crate::catalog::{Catalog, TableDef};
use crate::engine::SqlEngine;
use crate::error::{code, Error, Result};
use crate::expr::EvalContext;
use crate::types::{DataType, Value};

pub use ddl_create_as::is_select_into;
pub use plan_cache::PlanCache;
pub use sequence_fn::SeqState;

/// A result column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub ty: DataType,
    /// The table oid and attribute number it comes from (0 when computed).
    pub table_oid: u32,
    pub column: i16,
}

/// What a statement produced.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Rows, and the command tag (`SELECT 3`, `INSERT 0 1` with RETURNING).
    Rows {
        columns: Vec<Column>,
        rows: Vec<Vec<Value>>,
        tag: String,
    },
    /// A command without rows.
    Command(String),
    /// BEGIN / START TRANSACTION.
    Begin(String),
    /// COMMIT / ROLLBACK (ends the block).
    End(String),
    /// COPY FROM STDIN started: the client sends rows of `columns` fields next, and the
    /// session stays in copy-in mode until `copy_done` or `copy_fail`.
    CopyIn { columns: usize },
    /// COPY TO STDOUT: `rows` to send as lines made by `encoder` (after a header of `names`
    /// if the options ask for one); the tag is `COPY n`.
    CopyOut {
        names: Vec<String>,
        rows: Vec<Vec<Value>>,
        encoder: crate::copy::Encoder,
    },
}

/// Everything a statement needs while it runs.
pub struct Ctx<'a> {
    pub engine: &'a SqlEngine,
    pub txn: &'a mut Transaction,
    pub params: &'a [Value],
    /// Parameter types (declared by the client, else inferred while binding).
    pub param_types: Vec<DataType>,
    pub user: &'a str,
    pub database: &'a str,
    /// The first schema of the search path that exists (where CREATE puts objects).
    pub schema: &'a str,
    /// The session's settings (SHOW, pg_settings, search_path).
    pub settings: &'a std::collections::BTreeMap<String, String>,
    /// The schemas unqualified names are looked up in, in order (`$user` resolved).
    pub search_path: &'a [String],
    pub now: i64,
    /// When the statement started (statement_timestamp()); `now` in autocommit.
    pub statement_now: i64,
    /// The session's pid, as its client knows it (pg_backend_pid()).
    pub pid: i32,
    /// The statement's catalog snapshot once loaded (see [`Ctx::system_snapshot`]).
    pub sys: Option<std::rc::Rc<crate::catalog::system::SystemSnapshot>>,
    /// Non-transactional writes (sequence reservations) the reply must wait for.
    pub waits: Vec<orbit_txn::Pending>,
    /// When the statement must stop (statement_timeout, a CancelRequest), checked as rows
    /// are produced.
    pub interrupts: crate::cancel::Interrupts,
    /// The session's sequence values (currval, lastval).
    pub sequence_state: &'a mut SeqState,
    /// Sequences to drop once the transaction commits (owned by tables this statement
    /// dropped; see `session::at_commit`).
    pub dropped: Vec<crate::session::Dropped>,
    /// Vector-index records the statement's rows made (see `ann::insert`), written as one
    /// batch by [`Ctx::finish_writes`] before the statement's transaction commits.
    pub ann_writes: orbit_lsm::WriteBatch,
    /// Set while CREATE VIEW plans its query: each planned select with a `*` leaves its
    /// select list with the `*` expanded, keyed by the select's address (see `ddl_view`).
    pub star_lists: Option<std::collections::HashMap<usize, Vec<sqlparser::ast::SelectItem>>>,
    /// Index lookups correlated subqueries made, kept for the next enclosing row that makes
    /// the same one (see `query::memo`).
    pub lookups: query::LookupMemo,
    /// Iterators kept between the primary-key lookups a plan node makes in turn (see
    /// `query::cursors`).
    pub cursors: query::Cursors,
}

impl<'a> Ctx<'a> {
    pub fn catalog(&mut self) -> Catalog<'_> {
        Catalog::in_database(self.txn, self.engine.catalog, self.database)
            .cached(&self.engine.tables)
            .versioned(&self.engine.catalog_cache)
    }

    /// Fails with 57014 once the statement's deadline has passed, with 57P01 once the
    /// server shuts down.
    pub fn check_deadline(&self) -> Result<()> {
        query::interrupted(self.engine, &self.interrupts)
    }

    /// The storage name of sequence `schema.name` in this database.
    pub fn sequence_name(&self, schema: &str, name: &str) -> String {
        if self.database == crate::catalog::DEFAULT_DATABASE {
            format!("{schema}.{name}")
        } else {
            format!("{}/{schema}.{name}", self.database)
        }
    }

    /// Queues the statement's vector-index records as one write (ahead of its commit) and
    /// hands back every write the statement must wait for.
    pub fn finish_writes(&mut self) -> Result<Vec<orbit_txn::Pending>> {
        if !self.ann_writes.is_empty() {
            let batch = std::mem::take(&mut self.ann_writes);
            let db = self.engine.txn_db().db();
            self.waits.push(db.write_pending(&batch)?.into());
        }
        Ok(std::mem::take(&mut self.waits))
    }

    pub fn eval_context(&self) -> EvalContext<'a> {
        EvalContext {
            params: self.params,
            user: self.user,
            database: self.database,
            schema: self.schema,
            now: self.now,
            statement_now: self.statement_now,
            pid: self.pid,
            sys: None,
            outer: &[],
            exec: None,
        }
    }

    /// The catalog as `pg_catalog` and `information_schema` show it, read in the statement's
    /// transaction: loaded on first use and kept for the rest of the statement.
    pub fn system_snapshot(
        &mut self,
    ) -> Result<std::rc::Rc<crate::catalog::system::SystemSnapshot>> {
        if let Some(s) = &self.sys {
            return Ok(s.clone());
        }
        let s = std::rc::Rc::new(self.load_system_snapshot()?);
        self.sys = Some(s.clone());
        Ok(s)
    }

    fn load_system_snapshot(&mut self) -> Result<crate::catalog::system::SystemSnapshot> {
        let sequences = self.engine.sequences.names()?;
        let sequences = sequences
            .into_iter()
            .map(|(name, def)| {
                let last = self.engine.sequences.last(&name);
                (name, def, last)
            })
            .collect();
        let settings: Vec<(String, String)> = self
            .settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let path = self.search_path.to_vec();
        let (user, database) = (self.user, self.database);
        let mut snapshot = crate::catalog::system::SystemSnapshot::load(
            &mut self.catalog(),
            sequences,
            user,
            database,
            &path,
            &settings,
        )?;
        snapshot.activity = self.engine.backends.activity();
        Ok(snapshot)
    }

    /// The system relation `name` names (`pg_class`, `pg_catalog.pg_class`,
    /// `information_schema.tables`), if it is one: unqualified names are looked up in
    /// pg_catalog, which PostgreSQL searches first.
    pub fn system_relation_name(&self, name: &ast::ObjectName) -> Option<(String, String)> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| p.as_ident().map(crate::expr::ident_name))
            .collect::<Option<_>>()?;
        let (schema, rel) = match parts.as_slice() {
            [n] => ("pg_catalog".to_string(), n.clone()),
            [s, n] => (s.clone(), n.clone()),
            [d, s, n] if d == self.database => (s.clone(), n.clone()),
            _ => return None,
        };
        crate::catalog::system::is_system_relation(&schema, &rel).then_some((schema, rel))
    }

    /// (schema, name) of an object about to be created: an unqualified name goes to the
    /// creation schema (the first existing schema of the search path).
    pub fn qualify_new(&mut self, name: &ast::ObjectName) -> Result<(String, String)> {
        if let [one] = name.0.as_slice() {
            let Some(id) = one.as_ident() else {
                return Err(Error::syntax(format!("invalid name {name}")));
            };
            if self.schema.is_empty() {
                return Err(Error::new(
                    code::UNDEFINED_SCHEMA,
                    "no schema has been selected to create in",
                ));
            }
            return Ok((self.schema.to_string(), crate::expr::ident_name(id)));
        }
        self.qualify(name)
    }

    /// (schema, name) of an object name. An unqualified name is looked up along the search
    /// path (the first schema holding a table, view or index of that name); when none does,
    /// it names an object of the creation schema (the first existing schema of the path).
    pub fn qualify(&mut self, name: &ast::ObjectName) -> Result<(String, String)> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| match p.as_ident() {
                Some(id) => Ok(crate::expr::ident_name(id)),
                None => Err(Error::syntax(format!("invalid name {name}"))),
            })
            .collect::<Result<_>>()?;
        match parts.as_slice() {
            [n] => {
                if self.search_path.len() > 1 {
                    for schema in self.search_path {
                        if self.catalog().table(schema, n)?.is_some()
                            || self.catalog().view(schema, n)?.is_some()
                        {
                            return Ok((schema.clone(), n.clone()));
                        }
                    }
                    for schema in self.search_path {
                        if ddl_index::find_index(self, schema, n)?.is_some() {
                            return Ok((schema.clone(), n.clone()));
                        }
                    }
                }
                // Not found: it names nothing (lookups then fail with 42P01).
                Ok((self.schema.to_string(), n.clone()))
            }
            [s, n] => Ok((s.clone(), n.clone())),
            [db, s, n] => {
                if db != self.database {
                    return Err(Error::unsupported(format!(
                        "cross-database references are not implemented: {name}"
                    )));
                }
                Ok((s.clone(), n.clone()))
            }
            _ => Err(Error::syntax(format!(
                "improper relation name (too many dotted names): {name}"
            ))),
        }
    }

    /// Runs `f` with a binder over `scope` that shares (and grows) the statement's parameter
    /// types.
    pub fn bind<T>(
        &mut self,
        scope: &[crate::expr::ScopeColumn],
        f: impl FnOnce(&mut crate::expr::Binder<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut params = std::mem::take(&mut self.param_types);
        let result = f(&mut crate::expr::Binder {
            scope,
            params: &mut params,
            grouping: None,
            env: None,
        });
        self.param_types = params;
        result
    }

    /// Binds an optional WHERE condition over `scope`.
    pub fn bind_where(
        &mut self,
        scope: &[crate::expr::ScopeColumn],
        cond: Option<&ast::Expr>,
    ) -> Result<Option<crate::expr::Expr>> {
        match cond {
            Some(w) => self.bind(scope, |b| b.bind_condition(w, "WHERE")).map(Some),
            None => Ok(None),
        }
    }

    /// The table `name` names.
    pub fn resolve_table(&mut self, name: &ast::ObjectName) -> Result<TableDef> {
        let (schema, table) = self.qualify(name)?;
        match self.catalog().table(&schema, &table)? {
            Some(t) => Ok(t),
            None => Err(query::no_table(&table)),
        }
    }
}

/// Plans and runs `stmt`. With `describe_only`, plans and returns the result columns without
/// running (Outcome::Rows with no rows, or Command).
pub fn run(ctx: &mut Ctx<'_>, stmt: &ast::Statement, describe_only: bool) -> Result<Outcome> {
    match stmt {
        // `WITH ... INSERT ... SELECT`: the WITH belongs to the INSERT's source query.
        ast::Statement::Query(q) if matches!(q.body.as_ref(), ast::SetExpr::Insert(_)) => {
            let ast::SetExpr::Insert(ast::Statement::Insert(ins)) = q.body.as_ref() else {
                return Err(not_supported(stmt));
            };
            let mut ins = ins.clone();
            if let (Some(with), Some(source)) = (&q.with, ins.source.as_mut()) {
                match source.with.as_mut() {
                    Some(own) => {
                        let mut tables = with.cte_tables.clone();
                        tables.append(&mut own.cte_tables);
                        own.cte_tables = tables;
                        own.recursive |= with.recursive;
                    }
                    None => source.with = Some(with.clone()),
                }
            }
            run(ctx, &ast::Statement::Insert(ins), describe_only)
        }
        ast::Statement::Query(q) => {
            if ddl_create_as::is_select_into(q) {
                if describe_only {
                    return Ok(Outcome::Command(String::new()));
                }
                return ddl_create_as::from_select_into(ctx, q);
            }
            let plan = query::plan_query(ctx, q)?;
            let rows = if describe_only {
                Vec::new()
            } else {
                query::run_select(ctx, &plan)?
            };
            Ok(Outcome::Rows {
                tag: format!("SELECT {}", rows.len()),
                columns: plan.columns,
                rows,
            })
        }
        ast::Statement::Insert(ins) => dml::insert(ctx, ins, describe_only),
        ast::Statement::Update(upd) => modify::update(ctx, upd, describe_only),
        ast::Statement::Delete(del) => modify::delete(ctx, del, describe_only),
        ast::Statement::Explain {
            analyze, statement, ..
        } => explain::explain(ctx, statement, *analyze, describe_only),
        _ if describe_only => Ok(Outcome::Command(String::new())),
        ast::Statement::Copy {
            source,
            to: true,
            target: ast::CopyTarget::Stdout,
            options,
            ..
        } => crate::copy::to::run(ctx, source, crate::copy::CopyOptions::new(options)?),
        ast::Statement::Copy {
            target: ast::CopyTarget::Stdin | ast::CopyTarget::Stdout,
            ..
        } => Err(Error::new(
            code::INTERNAL_ERROR,
            "COPY FROM STDIN runs in the session",
        )),
        ast::Statement::Copy { .. } => Err(crate::copy::no_files()),
        other => ddl::run(ctx, other),
    }
}

/// `42809`-style error for names that are not tables.
pub(crate) fn not_supported(stmt: &ast::Statement) -> Error {
    let text = stmt.to_string();
    let head: String = text
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    Error::new(
        code::FEATURE_NOT_SUPPORTED,
        format!("statement is not supported yet: {head}"),
    )
}
