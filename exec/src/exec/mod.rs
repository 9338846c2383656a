//! Statement execution: the context a statement runs in, what it returns, and the dispatch
//! from sqlparser's statements to the planners and runners (`query`, `dml`, `ddl`).

mod agg;
mod ddl;
mod dml;
pub mod query;
mod values;
pub(crate) mod write;

use orbit_txn::Transaction;
use sqlparser::ast;

use crate::catalog::{Catalog, TableDef};
use crate::engine::SqlEngine;
use crate::error::{code, Error, Result};
use crate::expr::EvalContext;
use crate::types::{DataType, Value};

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
    pub schema: &'a str,
    pub now: i64,
    /// Non-transactional writes (sequence reservations) the reply must wait for.
    pub waits: Vec<orbit_lsm::PendingWrite>,
}

impl<'a> Ctx<'a> {
    pub fn catalog(&mut self) -> Catalog<'_> {
        Catalog::new(self.txn, self.engine.catalog)
    }

    pub fn eval_context(&self) -> EvalContext<'a> {
        EvalContext {
            params: self.params,
            user: self.user,
            database: self.database,
            schema: self.schema,
            now: self.now,
        }
    }

    /// (schema, name) of an object name, defaulting the schema to the search path's first.
    pub fn qualify(&self, name: &ast::ObjectName) -> Result<(String, String)> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|p| match p.as_ident() {
                Some(id) => Ok(crate::expr::ident_name(id)),
                None => Err(Error::syntax(format!("invalid name {name}"))),
            })
            .collect::<Result<_>>()?;
        match parts.as_slice() {
            [n] => Ok((self.schema.to_string(), n.clone())),
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
        ast::Statement::Query(q) => {
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
        ast::Statement::Update(upd) => dml::update(ctx, upd, describe_only),
        ast::Statement::Delete(del) => dml::delete(ctx, del, describe_only),
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
