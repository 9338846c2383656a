//! Per-connection state: the selected database, protocol version, authentication, name,
//! transaction queue and subscriptions.

/// One client connection's state.
#[derive(Debug, Clone)]
pub struct Session {
    /// Client id (`CLIENT ID`).
    pub id: u64,
    /// Selected database.
    pub db: u8,
    /// 2 or 3 (`HELLO`).
    pub protocol: u8,
    /// Whether `AUTH` succeeded (or no password is required).
    pub authenticated: bool,
    /// `CLIENT SETNAME`.
    pub name: Option<String>,
    /// Peer address, for `CLIENT LIST`.
    pub addr: String,
    /// Set by `QUIT`: close after the reply.
    pub closing: bool,
    /// Commands queued since `MULTI` (`None`: not in a transaction).
    pub multi: Option<Vec<Vec<Vec<u8>>>>,
    /// A command failed to queue: `EXEC` aborts.
    pub multi_failed: bool,
    /// Where published messages for this connection go (`None`: it cannot subscribe).
    pub messages: Option<crate::commands::pubsub::Mailbox>,
    /// Subscribed channels and patterns.
    pub channels: std::collections::BTreeSet<Vec<u8>>,
    pub patterns: std::collections::BTreeSet<Vec<u8>>,
    /// This connection's latest replicated write (a command without keys waits for it, so
    /// the client reads its own writes).
    pub last_write: Option<std::sync::Arc<orbit_txn::Completion>>,
    /// `READONLY`: reads on a follower are served here (possibly stale).
    pub follower_reads: bool,
    /// The commit log's read stamp when the latest input arrived (`TxnDb::read_stamp`).
    pub arrival: u64,
    /// Set while the connection tries its blocked command again (`conn::wait_unblocked`):
    /// it keeps waiting unless one of its keys holds the kind of value it waits for.
    pub blocked: bool,
    /// A transaction (`MULTI`, `WATCH`) this connection runs on the leader through its
    /// forwarding connection: every command goes there until it ends (`crate::forward`).
    pub pinned: Option<crate::forward::Pinned>,
}

impl Session {
    /// Whether the connection is in subscriber mode (RESP2 limits its commands then).
    pub fn subscribed(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty()
    }
}

impl Session {
    /// A new connection; `needs_auth` when the server has a password.
    pub fn new(id: u64, addr: String, needs_auth: bool) -> Session {
        Session {
            id,
            db: 0,
            protocol: 2,
            authenticated: !needs_auth,
            name: None,
            addr,
            closing: false,
            multi: None,
            multi_failed: false,
            messages: None,
            channels: Default::default(),
            patterns: Default::default(),
            last_write: None,
            follower_reads: false,
            arrival: 0,
            blocked: false,
            pinned: None,
        }
    }
}
