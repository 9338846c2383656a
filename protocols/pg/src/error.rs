//! Orbit's SQL errors as PostgreSQL ErrorResponses (severity, SQLSTATE, message, detail,
//! context).

use pgwire::error::{ErrorInfo, PgWireError};

/// The wire error for an SQL error.
pub fn to_wire(e: &orbit_exec::Error) -> PgWireError {
    PgWireError::UserError(Box::new(info(e)))
}

/// The ErrorResponse fields of an SQL error. A session ended (57P01: pg_terminate_backend,
/// the server's shutdown) is FATAL, as in PostgreSQL: the connection closes after it.
pub fn info(e: &orbit_exec::Error) -> ErrorInfo {
    let severity = match e.sqlstate() {
        "57P01" => "FATAL",
        _ => "ERROR",
    };
    let mut i = ErrorInfo::new(
        severity.to_string(),
        e.sqlstate().to_string(),
        e.to_string(),
    );
    i.detail = e.detail().map(str::to_string);
    i.where_context = e.context().map(str::to_string);
    i
}
