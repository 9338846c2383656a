//! What statements say about transactions: the isolation level and access mode a BEGIN or
//! SET TRANSACTION names, their names as SHOW gives them, and the command a read-only
//! transaction refuses (25006).

use orbit_txn::Isolation;
use sqlparser::ast;

/// The access mode `modes` name, if any (true for READ ONLY).
pub(super) fn read_only_of(modes: &[ast::TransactionMode]) -> Option<bool> {
    modes.iter().find_map(|m| match m {
        ast::TransactionMode::AccessMode(a) => {
            Some(matches!(a, ast::TransactionAccessMode::ReadOnly))
        }
        _ => None,
    })
}

/// The command name PostgreSQL's 25006 error gives for a statement that writes, or `None` for
/// one that does not.
pub(super) fn write_command(stmt: &ast::Statement) -> Option<String> {
    Some(match stmt {
        ast::Statement::Insert(_) => "INSERT".into(),
        ast::Statement::Update(_) => "UPDATE".into(),
        ast::Statement::Delete(_) => "DELETE".into(),
        ast::Statement::Truncate(_) => "TRUNCATE TABLE".into(),
        ast::Statement::CreateTable(ct) if ct.query.is_some() => "CREATE TABLE AS".into(),
        ast::Statement::CreateTable(_) => "CREATE TABLE".into(),
        ast::Statement::Query(q) if crate::exec::is_select_into(q) => "SELECT INTO".into(),
        ast::Statement::CreateIndex(_) => "CREATE INDEX".into(),
        ast::Statement::CreateView(cv) if cv.materialized => "CREATE MATERIALIZED VIEW".into(),
        ast::Statement::CreateView(_) => "CREATE VIEW".into(),
        ast::Statement::RefreshMaterializedView(_) => "REFRESH MATERIALIZED VIEW".into(),
        ast::Statement::CreateSequence { .. } => "CREATE SEQUENCE".into(),
        ast::Statement::CreateSchema { .. } => "CREATE SCHEMA".into(),
        ast::Statement::AlterTable(_) => "ALTER TABLE".into(),
        ast::Statement::Drop { object_type, .. } => format!("DROP {object_type}"),
        ast::Statement::Copy { to: false, .. } => "COPY FROM".into(),
        _ => return None,
    })
}

pub(super) fn isolation_of(modes: &[ast::TransactionMode]) -> Option<Isolation> {
    modes.iter().find_map(|m| match m {
        ast::TransactionMode::IsolationLevel(l) => Some(match l {
            ast::TransactionIsolationLevel::Serializable => Isolation::Serializable,
            ast::TransactionIsolationLevel::RepeatableRead => Isolation::RepeatableRead,
            _ => Isolation::ReadCommitted,
        }),
        _ => None,
    })
}

pub(super) fn isolation_name(i: Isolation) -> &'static str {
    match i {
        Isolation::ReadCommitted => "read committed",
        Isolation::RepeatableRead => "repeatable read",
        Isolation::Serializable => "serializable",
    }
}
