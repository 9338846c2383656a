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

mod blocked;
mod combine;
mod commands;
mod conn;
pub mod decode;
mod error;
mod forward;
mod inflight;
mod members;
mod multi;
pub mod reply;
mod session;
pub mod store;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use combine::{Handed, Outcome, Ran};
pub use conn::serve_connection;
pub use error::{Error, Result};
pub use reply::Reply;
pub use session::Session;
pub use store::{ExpiryFilter, Store};

use orbit_txn::Pending;

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
    /// On a cluster follower, send what it would refuse to the leader and relay the reply
    /// (`crate::forward`).
    pub forward_writes: bool,
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
            forward_writes: false,
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
    command_nanos: AtomicU64,
    /// Runs on one key another worker ran with its own (`crate::combine`).
    runs_handed: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_sum_us: AtomicU64,
    connections: AtomicU64,
    /// Shared by every command, exclusive for EXEC.
    exec_lock: std::sync::RwLock<()>,
    watches: Mutex<multi::Watches>,
    /// Clients watching keys (0: writes skip the bookkeeping).
    watched: std::sync::atomic::AtomicUsize,
    /// Pub/sub subscriptions of every connection.
    hub: Mutex<commands::pubsub::Hub>,
    /// Fired by SHUTDOWN; the server binary waits on it beside the signals.
    shutdown: Arc<tokio::sync::Notify>,
    /// Where the expiry sweep continues: database and key.
    sweep: Mutex<(u8, Vec<u8>)>,
    /// Clients blocked on keys (BLPOP and friends), woken by writes to them.
    blocked: Mutex<blocked::Blocked>,
    blocked_count: std::sync::atomic::AtomicUsize,
}

/// Upper bounds (µs) of the command latency histogram's buckets; the last is +Inf.
pub const LATENCY_BUCKETS_US: [u64; 11] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000,
];

/// Server-wide counters (for INFO and /metrics).
#[derive(Debug, Clone)]
pub struct EngineStats {
    /// Commands per latency bucket (`LATENCY_BUCKETS_US`, then +Inf), cumulative as
    /// Prometheus wants; latency runs from a command's execution to its reply being written,
    /// durability waits included.
    pub latency_buckets: Vec<u64>,
    /// Sum of those latencies, microseconds.
    pub latency_sum_us: u64,
    pub commands: u64,
    /// Time spent running commands, excluding waits for durability.
    pub command_nanos: u64,
    /// Runs on one key whose stripe another worker held, run by that worker with its own
    /// (`crate::combine`).
    pub runs_handed: u64,
    pub connections: u64,
    pub clients: usize,
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
            command_nanos: AtomicU64::new(0),
            runs_handed: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
            latency_sum_us: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            exec_lock: std::sync::RwLock::new(()),
            watches: Mutex::new(multi::Watches::default()),
            watched: std::sync::atomic::AtomicUsize::new(0),
            hub: Mutex::new(commands::pubsub::Hub::default()),
            sweep: Mutex::new((0, Vec::new())),
            shutdown: Arc::new(tokio::sync::Notify::new()),
            blocked: Mutex::new(blocked::Blocked::default()),
            blocked_count: std::sync::atomic::AtomicUsize::new(0),
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
        self.unwatch(session.id);
        lock(&self.hub).drop_client(session.id);
        self.unblock(session.id);
    }

    /// Records that `n` commands took `elapsed` from execution to their reply being written.
    pub fn record_latency(&self, elapsed: std::time::Duration, n: usize) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        if let Some(b) = self.latency.get(i) {
            b.fetch_add(n as u64, Ordering::Relaxed);
        }
        self.latency_sum_us
            .fetch_add(us.saturating_mul(n as u64), Ordering::Relaxed);
    }

    /// Asks the server to shut down (the SHUTDOWN command).
    pub fn request_shutdown(&self) {
        self.shutdown.notify_one();
    }

    /// Resolves once a client asked for shutdown.
    pub fn shutdown_requested(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.shutdown)
    }

    /// Counters.
    pub fn stats(&self) -> EngineStats {
        let mut running = 0;
        let latency_buckets = self
            .latency
            .iter()
            .map(|b| {
                running += b.load(Ordering::Relaxed);
                running
            })
            .collect();
        EngineStats {
            latency_buckets,
            latency_sum_us: self.latency_sum_us.load(Ordering::Relaxed),
            commands: self.commands.load(Ordering::Relaxed),
            command_nanos: self.command_nanos.load(Ordering::Relaxed),
            runs_handed: self.runs_handed.load(Ordering::Relaxed),
            connections: self.connections.load(Ordering::Relaxed),
            clients: self.client_count(),
        }
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
                "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\n\r\n",
                self.client_count(),
                self.config.max_clients,
                lock(&self.blocked).clients()
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

    /// Runs one command for `session`: its reply, and the writes to await before sending it.
    pub fn execute(&self, session: &mut Session, args: &[Vec<u8>]) -> (Reply, Vec<Pending>) {
        let Some(name) = args.first() else {
            return (Reply::Nil, Vec::new());
        };
        self.commands.fetch_add(1, Ordering::Relaxed);
        let failed = |session: &mut Session, reply: Reply| {
            if session.multi.is_some() {
                session.multi_failed = true;
            }
            (reply, Vec::new())
        };
        let Some(cmd) = commands::lookup(name) else {
            let mut msg = format!(
                "ERR unknown command '{}', with args beginning with: ",
                String::from_utf8_lossy(name)
            );
            for a in args.iter().skip(1) {
                msg.push_str(&format!("'{}' ", String::from_utf8_lossy(a)));
            }
            return failed(session, Reply::Error(msg));
        };
        if !session.authenticated && !matches!(cmd.name, "auth" | "hello" | "quit") {
            return failed(session, Reply::err("NOAUTH Authentication required."));
        }
        let n = i32::try_from(args.len()).unwrap_or(i32::MAX);
        if (cmd.arity > 0 && n != cmd.arity) || (cmd.arity < 0 && n < -cmd.arity) {
            let msg = format!("wrong number of arguments for '{}' command", cmd.name);
            if cmd.name == "exec" {
                // As Redis: a refused EXEC discards the transaction, if there is one.
                session.multi = None;
                session.multi_failed = false;
                self.unwatch(session.id);
                return (
                    Reply::err(format!("EXECABORT Transaction discarded because of: {msg}")),
                    Vec::new(),
                );
            }
            return failed(session, Reply::err(format!("ERR {msg}")));
        }
        if session.subscribed()
            && session.protocol < 3
            && !matches!(
                cmd.name,
                "subscribe" | "psubscribe" | "unsubscribe" | "punsubscribe" | "ping" | "quit"
            )
        {
            return (
                Reply::err(format!(
                    "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
                    cmd.name
                )),
                Vec::new(),
            );
        }
        // Reads are gated when they run: at once, or (queued in MULTI) with their EXEC.
        let queued = session.multi.is_some();
        let gated = (commands::reads_data(cmd) && !queued) || (cmd.name == "exec" && queued);
        if gated {
            match self
                .store
                .read_gate(session.arrival, session.follower_reads)
            {
                orbit_txn::ReadGate::Ready => {}
                orbit_txn::ReadGate::Wait(w) => {
                    return (Reply::Wait(reply::Waiting(w)), Vec::new());
                }
                orbit_txn::ReadGate::Refuse(e) => {
                    if cmd.name == "exec" {
                        // The transaction is discarded, as when EXEC aborts.
                        session.multi = None;
                        self.unwatch(session.id);
                    }
                    return (commands::read_refused(&e), Vec::new());
                }
            }
        }
        // A read's answer is dropped if a snapshot install (a follower's) overlapped it: it
        // may have seen part old contents, part new (`TxnDb::read_intact`).
        let mark = gated.then(|| self.store.read_mark());
        // UNWATCH inside MULTI is queued, as in Redis (at EXEC it changes nothing: the
        // watches were checked, and EXEC drops them).
        if matches!(cmd.name, "multi" | "exec" | "discard" | "watch")
            || (cmd.name == "unwatch" && session.multi.is_none())
        {
            let (reply, pending) = self.transaction(session, cmd.name, args);
            return (self.intact(mark, reply), pending);
        }
        if let Some(queue) = session.multi.as_mut() {
            queue.push(args.to_vec());
            return (Reply::Simple("QUEUED"), Vec::new());
        }
        if let Some(w) = self.in_flight(session, cmd, args) {
            return (Reply::Wait(reply::Waiting(w)), Vec::new());
        }
        let _shared = self.exec_lock.read().unwrap_or_else(|p| p.into_inner());
        let (reply, pending) = self.run(session, cmd, args, false);
        if let Some(orbit_txn::Pending::Replicated(done)) = pending.last() {
            session.last_write = Some(Arc::clone(done));
        }
        (self.intact(mark, reply), pending)
    }

    /// Runs a run of commands (`commands::runs`: at least two, consecutive in a pipeline,
    /// each joining the first) as one write: their replies in order, the last holding the
    /// write to await, whose fate the others share. The run stops short before the first
    /// command with a replicated write in flight on one of its keys (that one waits for it
    /// without blocking the worker: `in_flight`, `crate::inflight`), so fewer replies than
    /// commands may come back. On a single node a run on one key (even of one command) whose
    /// stripe another worker holds is handed to it instead (`crate::combine`). `None` where
    /// running them one by one could differ (inside MULTI, before AUTH, while subscribed,
    /// fewer than two commands left): the caller then runs the first alone.
    pub fn execute_run(&self, session: &mut Session, cmds: &[Vec<Vec<u8>>]) -> Option<Ran> {
        let first = cmds.first()?;
        let cmd = commands::lookup(first.first()?)?;
        let kind = commands::runs::kind_of(first)?;
        if session.multi.is_some()
            || !session.authenticated
            || session.subscribed()
            || !cmds.iter().all(|a| commands::runs::joins(kind, first, a))
        {
            return None;
        }
        if kind.one_key() && !self.store.is_replicated() {
            return Some(self.run_on_key(session, cmd, kind, cmds));
        }
        let clear = cmds
            .iter()
            .take_while(|a| self.in_flight(session, cmd, a).is_none())
            .count();
        let cmds = cmds.get(..clear)?;
        if cmds.len() < 2 {
            return None;
        }
        // A read run passes the gate as one read (anything but Ready: the first command
        // alone meets it) and is checked once against a snapshot install.
        let reads = commands::reads_data(cmd);
        if reads
            && !matches!(
                self.store
                    .read_gate(session.arrival, session.follower_reads),
                orbit_txn::ReadGate::Ready
            )
        {
            return None;
        }
        let mark = reads.then(|| self.store.read_mark());
        self.commands
            .fetch_add(cmds.len() as u64, Ordering::Relaxed);
        let _shared = self.exec_lock.read().unwrap_or_else(|p| p.into_inner());
        let mut replies = Vec::new();
        let (failed, pending) = self.run_with(session, cmd, &[], false, |ctx| {
            replies = commands::runs::run(ctx, kind, cmds)?;
            Ok(Reply::OK)
        });
        if replies.len() != cmds.len() {
            // The run failed as a whole: every command gets its error.
            replies = vec![failed; cmds.len()];
        }
        if let Some(Err(e)) = mark.map(|m| self.store.read_intact(m)) {
            replies = vec![commands::read_refused(&e); cmds.len()];
        }
        if !pending.is_empty() {
            // A command of the run that answered an error wrote nothing (an INCR of a key of
            // another type): its keys are not announced.
            for (args, reply) in cmds.iter().zip(&replies) {
                if !matches!(reply, Reply::Error(_)) {
                    self.announce(session.db, cmd.name, args);
                }
            }
        }
        // A replicated write is shared by every reply (a failed commit fails them all); a
        // local one rides on the last, and a failure of it fails the whole pipeline's replies
        // (`conn::respond`: nothing past it becomes visible).
        let shared = match pending.last() {
            Some(orbit_txn::Pending::Replicated(done)) => {
                session.last_write = Some(Arc::clone(done));
                Some(Arc::clone(done))
            }
            _ => None,
        };
        let last = replies.pop();
        let mut answers: Vec<(Reply, Vec<Pending>)> = replies
            .into_iter()
            .map(|reply| {
                // A command that answered an error wrote nothing: its reply stands.
                let wrote = !matches!(reply, Reply::Error(_));
                let joined = shared
                    .iter()
                    .filter(|_| wrote)
                    .map(|d| orbit_txn::Pending::Replicated(Arc::clone(d)));
                (reply, joined.collect())
            })
            .collect();
        answers.extend(last.map(|reply| (reply, pending)));
        Some(Ran::Answers(answers))
    }

    /// `reply`, or the error saying a snapshot install overlapped the read that made it
    /// (`mark` from `Store::read_mark` before it ran; `None`: not a gated read).
    fn intact(&self, mark: Option<u64>, reply: Reply) -> Reply {
        match mark.map(|m| self.store.read_intact(m)) {
            Some(Err(e)) if !matches!(reply, Reply::Wait(_)) => commands::read_refused(&e),
            _ => reply,
        }
    }

    /// A replicated write in flight that `cmd` must wait for before it runs: the latest on
    /// its keys' stripes, or for a command without keys this connection's latest write.
    fn in_flight(
        &self,
        session: &mut Session,
        cmd: &commands::Command,
        args: &[Vec<u8>],
    ) -> Option<Arc<orbit_txn::Completion>> {
        let keys = commands::keys_in(cmd.name, args, session.db);
        if keys.is_empty() {
            let last = session.last_write.take()?;
            if last.is_complete() {
                return None;
            }
            session.last_write = Some(Arc::clone(&last));
            return Some(last);
        }
        self.store.in_flight(&keys)
    }

    /// One maintenance pass over the time series' heads (checkpoints, log trimming, idle
    /// heads leaving memory): `commands::timeseries::checkpoint::maintain`. Run from a
    /// background thread every 100 ms, and with `force` at shutdown: it blocks.
    pub fn ts_maintenance(&self, force: bool) -> Result<()> {
        commands::timeseries::checkpoint::maintain(&self.store, force).map(|_| ())
    }

    /// One pass of the active expiry sweep (Redis's active expire): looks at up to `budget`
    /// keys from where the previous pass stopped, deleting the expired ones (and so their
    /// members), and waits until those deletes are durable. Returns how many it deleted. Run
    /// from a background thread: it blocks.
    pub fn expire_sweep(&self, budget: usize) -> Result<usize> {
        let now = store::now_ms();
        let (db, start) = lock(&self.sweep).clone();
        let mut expired = Vec::new();
        let mut next = None;
        // `now` = 0: list expired keys too.
        for (seen, kv) in self.store.keys(db, &start, 0)?.enumerate() {
            let (key, meta) = kv?;
            if seen == budget {
                next = Some(key);
                break;
            }
            if meta.expired(now) {
                expired.push(key);
            }
        }
        let mut pending = Vec::new();
        for key in &expired {
            let _g = self.store.lock(db, &[key.as_slice()]);
            let Some(meta) = self.store.meta_raw(db, key)? else {
                continue;
            };
            if meta.expired(now) {
                let mut b = orbit_lsm::WriteBatch::new();
                self.store.delete_into(&mut b, db, key, &meta);
                pending.push(self.store.submit(&b)?);
            }
        }
        let deleted = pending.len();
        for p in pending {
            p.wait()?;
        }
        *lock(&self.sweep) = match next {
            Some(key) => (db, key),
            None => ((db + 1) % store::DATABASES as u8, Vec::new()),
        };
        Ok(deleted)
    }

    /// Queues a blocked client on the source keys of its command (`blocked`): its wake-up
    /// fires (with a stored permit, so none is lost) when it is its turn to try again.
    pub(crate) fn block(&self, session: &Session, args: &[Vec<u8>]) -> blocked::Queued {
        let name = args
            .first()
            .and_then(|n| commands::lookup(n))
            .map_or("", |c| c.name);
        let (kind, keys) = commands::blocking::waits_on(name, args);
        let mut b = lock(&self.blocked);
        let queued = b.block(session.id, kind, keys.iter().map(|k| (session.db, &k[..])));
        self.blocked_count.store(b.keys(), Ordering::Relaxed);
        queued
    }

    /// Takes client `id` out of the blocked queues (the next client in line is woken).
    pub(crate) fn unblock(&self, id: u64) {
        let mut b = lock(&self.blocked);
        b.unblock(id);
        self.blocked_count.store(b.keys(), Ordering::Relaxed);
    }

    /// Wakes the first clients blocked on keys a write command touched.
    fn wake(&self, db: u8, name: &str, args: &[Vec<u8>]) {
        let b = lock(&self.blocked);
        for (db, key) in commands::keys_in(name, args, db) {
            b.wake(db, key);
        }
    }

    /// Runs a command (already checked) and records what it wrote for WATCH.
    fn run(
        &self,
        session: &mut Session,
        cmd: &'static commands::Command,
        args: &[Vec<u8>],
        in_exec: bool,
    ) -> (Reply, Vec<Pending>) {
        let (reply, pending) = self.run_with(session, cmd, &[args], in_exec, |ctx| {
            (cmd.handler)(ctx, args)
        });
        // CLIENT LIST shows names and databases: only these commands change them.
        if matches!(cmd.name, "select" | "client" | "hello") {
            if let Some(c) = lock(&self.clients).get_mut(&session.id) {
                c.name.clone_from(&session.name);
                c.db = session.db;
            }
        }
        (reply, pending)
    }

    /// Runs `handler` as `cmd` (already checked), timed, and records what it wrote for WATCH
    /// and for clients blocked on its keys: `each` holds the arguments of every command it
    /// carries out (one, or a run of SETs).
    fn run_with(
        &self,
        session: &mut Session,
        cmd: &'static commands::Command,
        each: &[&[Vec<u8>]],
        in_exec: bool,
        handler: impl FnOnce(&mut commands::Ctx<'_>) -> std::result::Result<Reply, Reply>,
    ) -> (Reply, Vec<Pending>) {
        let mut ctx = commands::Ctx {
            engine: self,
            store: &self.store,
            session,
            now: store::now_ms(),
            pending: Vec::new(),
            in_exec,
        };
        let started = Instant::now();
        let reply = match refresh_ts(&self.store, cmd) {
            Ok(()) => handler(&mut ctx).unwrap_or_else(|e| e),
            Err(e) => commands::internal(e),
        };
        self.command_nanos.fetch_add(
            u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        let pending = std::mem::take(&mut ctx.pending);
        if cmd.write && !pending.is_empty() {
            for args in each {
                self.announce(session.db, cmd.name, args);
            }
        }
        (reply, pending)
    }

    /// After a write by `name` with `args`: WATCHes of its keys fail, and clients blocked on
    /// them try again.
    fn announce(&self, db: u8, name: &str, args: &[Vec<u8>]) {
        if self.watched.load(Ordering::Relaxed) > 0 {
            self.touch(db, name, args);
        }
        if self.blocked_count.load(Ordering::Relaxed) > 0 {
            self.wake(db, name, args);
        }
    }
}

/// Before a time-series command: the in-memory series state is current (see
/// `TsState::refresh`).
fn refresh_ts(store: &Store, cmd: &commands::Command) -> Result<()> {
    if cmd.name.starts_with("ts.") {
        commands::timeseries::TsState::refresh(store)?;
    }
    Ok(())
}

#[cfg(test)]
mod replies_tests;
#[cfg(test)]
mod tests;
