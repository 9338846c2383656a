//! `orbit-resp`: the Redis protocol on Orbit. RESP2 and RESP3, pipelining, binary-safe keys
//! and values, Redis's data types stored through `orbit-txn`, with Redis's exact replies and
//! errors.
//!
//! Modules: `decode` (the bounded request decoder), `reply` (replies and their encodings),
//! `store` (how Redis data maps onto the engine, locking and expiry), `commands` (the command
//! table and the commands), `session` (per-connection state), `conn` (one connection: read,
//! execute, wait for durability, reply). The server binary owns the listeners and threads.
//!
//! Invariant: a reply never reports or shows data that is not durable: writes are awaited,
//! and every reply batch waits until all writes assigned before it are visible.

mod commands;
mod conn;
pub mod decode;
mod error;
pub mod reply;
mod session;
pub mod store;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

pub use conn::serve_connection;
pub use error::{Error, Result};
pub use reply::Reply;
pub use session::Session;
pub use store::{ExpiryFilter, Store};

use orbit_lsm::PendingWrite;

/// Server settings the protocol needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// `requirepass`: clients must AUTH first.
    pub requirepass: Option<String>,
    /// Most connections at once.
    pub max_clients: usize,
    /// Close a connection idle this long (0: never).
    pub idle_timeout_secs: u64,
    /// Decoder limits.
    pub limits: decode::Limits,
    /// What `CONFIG GET appendfsync` reports (`always`, `everysec`, `no`).
    pub appendfsync: &'static str,
    /// The address clients connect to (`CONFIG GET bind/port`, `INFO`).
    pub addr: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            requirepass: None,
            max_clients: 10_000,
            idle_timeout_secs: 0,
            limits: decode::Limits::default(),
            appendfsync: "always",
            addr: "127.0.0.1:6379".into(),
        }
    }
}

/// A connected client, as `CLIENT LIST` shows it.
struct ClientInfo {
    addr: String,
    name: Option<String>,
    db: u8,
    since: Instant,
}

/// The Redis engine: the store, the configuration and the server-wide state connections share.
pub struct Engine {
    store: Store,
    config: Config,
    next_client: AtomicU64,
    clients: Mutex<BTreeMap<u64, ClientInfo>>,
    cursors: Mutex<(u64, BTreeMap<u64, Vec<u8>>)>,
    started: Instant,
    commands: AtomicU64,
    connections: AtomicU64,
}

/// SCAN cursors remembered (the oldest are forgotten first).
const MAX_CURSORS: usize = 16_384;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Engine {
    /// An engine over `store`.
    pub fn new(store: Store, config: Config) -> Engine {
        Engine {
            store,
            config,
            next_client: AtomicU64::new(1),
            clients: Mutex::new(BTreeMap::new()),
            cursors: Mutex::new((1, BTreeMap::new())),
            started: Instant::now(),
            commands: AtomicU64::new(0),
            connections: AtomicU64::new(0),
        }
    }

    /// The store underneath.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Registers a new connection; `None` if `max_clients` are connected.
    pub fn connect(&self, addr: String) -> Option<Session> {
        let mut clients = lock(&self.clients);
        if clients.len() >= self.config.max_clients {
            return None;
        }
        let id = self.next_client.fetch_add(1, Ordering::Relaxed);
        self.connections.fetch_add(1, Ordering::Relaxed);
        clients.insert(
            id,
            ClientInfo {
                addr: addr.clone(),
                name: None,
                db: 0,
                since: Instant::now(),
            },
        );
        Some(Session::new(id, addr, self.config.requirepass.is_some()))
    }

    /// Forgets a closed connection.
    pub fn disconnect(&self, session: &Session) {
        lock(&self.clients).remove(&session.id);
    }

    /// Connected clients.
    pub fn client_count(&self) -> usize {
        lock(&self.clients).len()
    }

    fn client_line(&self, s: &Session) -> String {
        format!(
            "id={} addr={} name={} db={} resp={}",
            s.id,
            s.addr,
            s.name.as_deref().unwrap_or(""),
            s.db,
            s.protocol
        )
    }

    fn client_list(&self) -> String {
        lock(&self.clients)
            .iter()
            .map(|(id, c)| {
                format!(
                    "id={id} addr={} name={} age={} db={}\n",
                    c.addr,
                    c.name.as_deref().unwrap_or(""),
                    c.since.elapsed().as_secs(),
                    c.db
                )
            })
            .collect()
    }

    fn cursor(&self, id: u64) -> Option<Vec<u8>> {
        lock(&self.cursors).1.get(&id).cloned()
    }

    fn save_cursor(&self, key: Vec<u8>) -> u64 {
        let mut c = lock(&self.cursors);
        let id = c.0;
        c.0 += 1;
        c.1.insert(id, key);
        while c.1.len() > MAX_CURSORS {
            c.1.pop_first();
        }
        id
    }

    fn config_params(&self) -> Vec<(String, String)> {
        let (bind, port) = self
            .config
            .addr
            .rsplit_once(':')
            .map_or(("127.0.0.1", "6379"), |(b, p)| (b, p));
        vec![
            ("appendonly".into(), "yes".into()),
            ("appendfsync".into(), self.config.appendfsync.into()),
            ("bind".into(), bind.into()),
            ("databases".into(), store::DATABASES.to_string()),
            ("maxclients".into(), self.config.max_clients.to_string()),
            ("maxmemory".into(), "0".into()),
            ("maxmemory-policy".into(), "noeviction".into()),
            ("port".into(), port.into()),
            (
                "proto-max-bulk-len".into(),
                self.config.limits.max_bulk.to_string(),
            ),
            (
                "requirepass".into(),
                self.config.requirepass.clone().unwrap_or_default(),
            ),
            ("save".into(), String::new()),
            ("timeout".into(), self.config.idle_timeout_secs.to_string()),
        ]
    }

    fn info(&self, sections: &[String], now: u64) -> String {
        let all = sections.is_empty()
            || sections
                .iter()
                .any(|s| s == "all" || s == "everything" || s == "default");
        let want = |s: &str| all || sections.iter().any(|x| x == s);
        let mut out = String::new();
        if want("server") {
            out.push_str(&format!(
                "# Server\r\nredis_version:{}\r\nredis_mode:standalone\r\norbit_version:{}\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\r\n",
                commands::server::REDIS_VERSION,
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::process::id(),
                self.config.addr.rsplit_once(':').map_or("6379", |(_, p)| p),
                self.started.elapsed().as_secs()
            ));
        }
        if want("clients") {
            out.push_str(&format!(
                "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n\r\n",
                self.client_count(),
                self.config.max_clients
            ));
        }
        if want("memory") {
            out.push_str(
                "# Memory\r\nused_memory:0\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\n\r\n",
            );
        }
        if want("persistence") {
            out.push_str("# Persistence\r\nloading:0\r\naof_enabled:1\r\nrdb_bgsave_in_progress:0\r\naof_rewrite_in_progress:0\r\n\r\n");
        }
        if want("stats") {
            out.push_str(&format!(
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\r\n",
                self.connections.load(Ordering::Relaxed),
                self.commands.load(Ordering::Relaxed)
            ));
        }
        if want("replication") {
            out.push_str("# Replication\r\nrole:master\r\nconnected_slaves:0\r\n\r\n");
        }
        if want("keyspace") {
            out.push_str("# Keyspace\r\n");
            for db in 0..store::DATABASES {
                let db = u8::try_from(db).unwrap_or(0);
                let (mut keys, mut expires) = (0u64, 0u64);
                if let Ok(it) = self.store.keys(db, b"", now) {
                    for (_, m) in it.flatten() {
                        keys += 1;
                        expires += u64::from(m.expire_at != 0);
                    }
                }
                if keys > 0 {
                    out.push_str(&format!(
                        "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n"
                    ));
                }
            }
            out.push_str("\r\n");
        }
        out
    }

    /// Runs one command for `session`: its reply, and the write to await before sending it.
    pub fn execute(
        &self,
        session: &mut Session,
        args: &[Vec<u8>],
    ) -> (Reply, Option<PendingWrite>) {
        let Some(name) = args.first() else {
            return (Reply::Nil, None);
        };
        self.commands.fetch_add(1, Ordering::Relaxed);
        let Some(cmd) = commands::lookup(name) else {
            let mut msg = format!(
                "ERR unknown command '{}', with args beginning with: ",
                String::from_utf8_lossy(name)
            );
            for a in args.iter().skip(1) {
                msg.push_str(&format!("'{}' ", String::from_utf8_lossy(a)));
            }
            return (Reply::Error(msg), None);
        };
        if !session.authenticated && !matches!(cmd.name, "auth" | "hello" | "quit") {
            return (Reply::err("NOAUTH Authentication required."), None);
        }
        let n = i32::try_from(args.len()).unwrap_or(i32::MAX);
        if (cmd.arity > 0 && n != cmd.arity) || (cmd.arity < 0 && n < -cmd.arity) {
            return (
                Reply::err(format!(
                    "ERR wrong number of arguments for '{}' command",
                    cmd.name
                )),
                None,
            );
        }
        let mut ctx = commands::Ctx {
            engine: self,
            store: &self.store,
            session,
            now: store::now_ms(),
            pending: None,
        };
        let reply = (cmd.handler)(&mut ctx, args).unwrap_or_else(|e| e);
        let pending = ctx.pending.take();
        if let Some(c) = lock(&self.clients).get_mut(&session.id) {
            c.name.clone_from(&session.name);
            c.db = session.db;
        }
        (reply, pending)
    }
}
