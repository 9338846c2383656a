//! Functions about the running session and its server: `pg_sleep` (and `pg_sleep_for`,
//! `pg_sleep_until`), `pg_backend_pid`, `pg_cancel_backend`, `pg_terminate_backend`,
//! `statement_timestamp` and `clock_timestamp`.
//!
//! Invariant: the sleeps, the signals and clock_timestamp are volatile (`Func::is_volatile`):
//! never folded, never evaluated once for many rows, never run on a parallel scan's workers;
//! those that act (sleep, signal) are run by the statement's runner through
//! [`super::SubqueryExec::backend`], as the sequence functions are. pg_backend_pid and
//! statement_timestamp are stable (PostgreSQL's STABLE): read from the evaluation context,
//! wherever an expression is evaluated (RETURNING, ON CONFLICT, CHECK, ...).

use super::EvalContext;
use crate::error::{Error, Result};
use crate::types::{DataType, Value};

/// A session or server function (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendFunc {
    /// `pg_sleep(seconds)`.
    Sleep,
    /// `pg_sleep_for(interval)`.
    SleepFor,
    /// `pg_sleep_until(timestamptz)`.
    SleepUntil,
    /// The pid the client was given in BackendKeyData.
    BackendPid,
    /// `pg_cancel_backend(pid)`.
    CancelBackend,
    /// `pg_terminate_backend(pid[, timeout_ms])`.
    TerminateBackend,
    /// When the running statement started.
    StatementTimestamp,
    /// The time now, changing within a statement.
    ClockTimestamp,
}

/// `name(args)` if it is one of these functions, with its result type.
pub(super) fn resolve(name: &str, args: &[DataType]) -> Option<(BackendFunc, DataType)> {
    use BackendFunc as B;
    Some(match (name, args.len()) {
        ("pg_sleep", 1) => (B::Sleep, DataType::Void),
        ("pg_sleep_for", 1) => (B::SleepFor, DataType::Void),
        ("pg_sleep_until", 1) => (B::SleepUntil, DataType::Void),
        ("pg_backend_pid", 0) => (B::BackendPid, DataType::Int4),
        ("pg_cancel_backend", 1) => (B::CancelBackend, DataType::Bool),
        ("pg_terminate_backend", 1 | 2) => (B::TerminateBackend, DataType::Bool),
        ("statement_timestamp", 0) => (B::StatementTimestamp, DataType::Timestamptz(None)),
        ("clock_timestamp", 0) => (B::ClockTimestamp, DataType::Timestamptz(None)),
        _ => return None,
    })
}

/// Evaluates `f` over its evaluated arguments. Strict: a NULL argument gives NULL.
pub(super) fn call(f: BackendFunc, args: &[Value], ctx: &EvalContext<'_>) -> Result<Value> {
    if args.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    match f {
        BackendFunc::ClockTimestamp => return Ok(Value::Timestamptz(crate::types::now_micros())),
        BackendFunc::StatementTimestamp => return Ok(Value::Timestamptz(ctx.statement_now)),
        BackendFunc::BackendPid => return Ok(Value::Int4(ctx.pid)),
        _ => {}
    }
    let Some(exec) = ctx.exec else {
        return Err(not_here(f));
    };
    exec.backend(f, args)
}

/// The error of `f` evaluated where no session runs it (a DEFAULT, a parallel worker).
pub fn not_here(f: BackendFunc) -> Error {
    Error::unsupported(format!("{} is not allowed in this context", name(f)))
}

/// Whether two calls may give different values in one statement, or act.
pub(super) fn is_volatile(f: BackendFunc) -> bool {
    !matches!(f, BackendFunc::BackendPid | BackendFunc::StatementTimestamp)
}

/// The function's SQL name, for errors.
pub fn name(f: BackendFunc) -> &'static str {
    match f {
        BackendFunc::Sleep => "pg_sleep",
        BackendFunc::SleepFor => "pg_sleep_for",
        BackendFunc::SleepUntil => "pg_sleep_until",
        BackendFunc::BackendPid => "pg_backend_pid",
        BackendFunc::CancelBackend => "pg_cancel_backend",
        BackendFunc::TerminateBackend => "pg_terminate_backend",
        BackendFunc::StatementTimestamp => "statement_timestamp",
        BackendFunc::ClockTimestamp => "clock_timestamp",
    }
}
