//! `orbit-pg`: the PostgreSQL wire protocol on Orbit, built on `pgwire`.
//!
//! `pgwire` frames messages and runs the protocol state machine (startup, simple query,
//! Parse/Bind/Describe/Execute/Sync, portals, cancel); this crate plugs Orbit's SQL session
//! into it: per connection one [`orbit_exec::Session`], statements parsed and described by the
//! session (parameter types inferred from context), values sent in text or binary as the
//! client asks, errors carried with their SQLSTATE.
//!
//! Modules: `handler` (the pgwire handlers of one connection), `copy` (the COPY sub-protocol),
//! `encode` (rows and parameters between the wire and `Value`s), `error` (Orbit errors as
//! PostgreSQL error responses).
//!
//! Invariant: a command's response is sent only after its commit is durable (the handler
//! awaits the commit's pending write), and a statement failing inside a block leaves the
//! session in the failed state ReadyForQuery reports.

mod copy;
mod encode;
mod error;
mod handler;

use std::sync::Arc;

use orbit_exec::SqlEngine;
use tokio::net::TcpStream;

/// What every PostgreSQL connection shares: the SQL engine and the registry of backend keys
/// CancelRequests are matched against (a cancel arrives on a new connection, possibly on
/// another worker).
pub struct PgServer {
    engine: Arc<SqlEngine>,
    connections: Arc<pgwire::api::ConnectionManager>,
}

impl PgServer {
    pub fn new(engine: Arc<SqlEngine>) -> Arc<PgServer> {
        Arc::new(PgServer {
            engine,
            connections: Arc::new(pgwire::api::ConnectionManager::new()),
        })
    }
}

/// Serves one client connection until it ends.
pub async fn serve_connection(server: Arc<PgServer>, stream: TcpStream) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let handlers = handler::Handlers::new(server);
    pgwire::tokio::process_socket(stream, None, handlers).await
}
