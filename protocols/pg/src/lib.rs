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
//! PostgreSQL error responses), `auth` (trust or SCRAM-SHA-256 before the session exists),
//! `tls` (SSLRequest and the TLS handshake), `cancel` (CancelRequests matched to sessions).
//!
//! Invariant: a command's response is sent only after its commit is durable (the handler
//! awaits the commit's pending write), and a statement failing inside a block leaves the
//! session in the failed state ReadyForQuery reports.

pub mod auth;
mod cancel;
mod conn;
mod copy;
mod encode;
mod error;
pub mod forward;
mod handler;
pub mod tls;

use std::sync::Arc;

use orbit_exec::SqlEngine;
use tokio::net::TcpStream;

/// What every PostgreSQL connection shares: the SQL engine, the registry of backend keys
/// CancelRequests are matched against (a cancel arrives on a new connection, possibly on
/// another worker), how clients authenticate, and TLS if configured.
pub struct PgServer {
    engine: Arc<SqlEngine>,
    cancels: Arc<cancel::Cancels>,
    auth: Arc<auth::Authenticator>,
    tls: Option<tls::Tls>,
    /// `--forward-writes` (`forward`).
    forward_writes: std::sync::atomic::AtomicBool,
}

impl PgServer {
    /// Trust authentication, no TLS.
    pub fn new(engine: Arc<SqlEngine>) -> Arc<PgServer> {
        PgServer::with_security(engine, auth::Auth::Trust, None)
    }

    /// Clients authenticate by `auth`; with `tls`, SSLRequest is accepted (and SCRAM offers
    /// channel binding on TLS connections when the certificate allows it).
    pub fn with_security(
        engine: Arc<SqlEngine>,
        auth: auth::Auth,
        tls: Option<tls::Tls>,
    ) -> Arc<PgServer> {
        let cert = tls.as_ref().map(tls::Tls::cert_pem);
        let auth = Arc::new(auth::Authenticator::new(auth, cert));
        Arc::new(PgServer {
            engine,
            cancels: Arc::default(),
            auth,
            tls,
            forward_writes: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// On a cluster follower, relay sessions to the leader (`forward`).
    pub fn set_forward_writes(&self, on: bool) {
        self.forward_writes
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Where a session starting now is relayed: the leader's PostgreSQL address, when this
    /// node forwards and follows a leader that said where its clients reach it.
    fn forward_target(&self) -> Option<String> {
        if !self
            .forward_writes
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return None;
        }
        match self.engine.txn_db().leadership() {
            orbit_exec::Leadership::Elsewhere(Some(leader)) => {
                orbit_exec::client_address(&leader, "pg").map(str::to_string)
            }
            _ => None,
        }
    }

    /// Whether TLS clients are offered SCRAM-SHA-256-PLUS (channel binding).
    pub fn channel_binding(&self) -> bool {
        self.auth.channel_binding()
    }
}

/// Serves one client connection until it ends.
pub async fn serve_connection(server: Arc<PgServer>, stream: TcpStream) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let tls = server.tls.as_ref().map(tls::Tls::acceptor);
    let forward = server.forward_target();
    let ended = Arc::new(cancel::Ended::default());
    let handlers = handler::Handlers::new(server, Arc::clone(&ended));
    conn::process_socket(stream, tls, handlers, forward, &ended).await
}
