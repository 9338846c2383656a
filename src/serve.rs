//! `orbit serve`: opens (recovering) the database in the data directory and serves the Redis
//! and PostgreSQL protocols until SIGINT or SIGTERM.
//!
//! Threads: one worker per core (`--threads`), each a single-threaded tokio runtime with its
//! own `SO_REUSEPORT` listeners on `--resp-addr` and `--pg-addr`, owning the connections it
//! serves (the kernel spreads connections across the listeners, and a worker hands a new
//! connection to a less loaded one: `balance`); a rescuer thread that accepts for a worker
//! stuck in a long statement; the engine's background threads (WAL writer, flush,
//! compaction) beside them. Shutdown: stop accepting, let every connection finish and
//! answer the commands it already read, then close the database (the WAL is synced).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use orbit_env::{FileSystem, RealFs, SystemClock};
use orbit_lsm::{Db, DbOptions};
use orbit_resp::{Config, Engine, ExpiryFilter, Store};
use orbit_txn::TxnDb;
use orbit_wal::WalOptions;
use tokio::sync::watch;

use crate::balance::{Balance, Handoff, Protocol};
use crate::cli::{ServeArgs, SyncKind};

/// How long shutdown waits for connections to finish their in-flight commands.
const DRAIN: Duration = Duration::from_secs(10);

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let pg_addr: Option<SocketAddr> = if args.pg_addr.is_empty() {
        None
    } else {
        Some(
            args.pg_addr
                .parse()
                .with_context(|| format!("--pg-addr {} is not an address", args.pg_addr))?,
        )
    };
    // Users and certificates are checked before the database is touched.
    let pg_security = crate::pg_setup::from_args(&args, pg_addr)?;
    let fs: Arc<dyn FileSystem> = RealFs::shared();
    let data_dir = &args.data_dir;
    fs.create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let filter = ExpiryFilter::new();
    let opts = DbOptions {
        wal: WalOptions {
            // On a cluster node the Raft log (always fsynced) is the durable record: Raft's
            // applies write no engine WAL record and are flushed before Raft may drop
            // entries; a snapshot install is synced when it is done (`StateMachine`).
            sync_mode: if args.cluster.node_id.is_some() {
                orbit_wal::SyncMode::None
            } else {
                args.storage.sync_mode()
            },
            backend: args.storage.wal_backend,
            segment_size: args.storage.wal_segment_size,
            archive_dir: args.wal_archive.clone(),
            archive_timeout: args.wal_archive.as_ref().map(|_| args.archive_timeout),
            clock: Arc::new(SystemClock::new()),
            ..WalOptions::default()
        },
        compaction_filter: Some(filter.clone()),
        cache_bytes: usize::try_from(args.cache_size.bytes(physical_memory()))
            .unwrap_or(usize::MAX),
        ..DbOptions::default()
    };
    let db = Arc::new(
        Db::open(Arc::clone(&fs), data_dir, opts)
            .with_context(|| format!("cannot open the database in {}", data_dir.display()))?,
    );
    let advertise = match args.pg_addr.as_str() {
        "" => format!("resp {}", args.resp_addr),
        pg => format!("resp {}, pg {pg}", args.resp_addr),
    };
    let cluster = crate::cluster::Cluster::start(
        &args.cluster,
        Arc::clone(&fs),
        data_dir,
        &db,
        &advertise,
        args.wal_archive.is_some(),
    )?
    .map(Arc::new);
    let txn = match &cluster {
        Some(c) => TxnDb::with_log(Arc::clone(&db), c.commit_log()),
        None => TxnDb::new(Arc::clone(&db)),
    };
    let store =
        Store::open(txn.clone(), Some(&filter)).context("cannot open the Redis keyspaces")?;
    let sql = orbit_exec::SqlEngine::open(txn).context("cannot open the SQL catalog")?;
    let query_memory = args.query_memory.bytes(physical_memory());
    sql.query_memory
        .set_limit(usize::try_from(query_memory).unwrap_or(usize::MAX));
    let pg = orbit_pg::PgServer::with_security(Arc::clone(&sql), pg_security.auth, pg_security.tls);
    pg.set_forward_writes(args.cluster.forward_writes);
    let addr: SocketAddr = args
        .resp_addr
        .parse()
        .with_context(|| format!("--resp-addr {} is not an address", args.resp_addr))?;
    // Both listeners set SO_REUSEPORT, so one address would bind twice and split each
    // protocol's connections between the two servers.
    if pg_addr == Some(addr) {
        anyhow::bail!(
            "--resp-addr and --pg-addr are both {addr}: each protocol needs its own port"
        );
    }
    let config = Config {
        requirepass: args.requirepass.clone().filter(|p| !p.is_empty()),
        max_clients: args.maxclients,
        idle_timeout_secs: args.timeout,
        appendfsync: match args.storage.sync {
            SyncKind::Sync => "always",
            SyncKind::Periodic => "everysec",
            SyncKind::None => "no",
        },
        addr: addr.to_string(),
        forward_writes: args.cluster.forward_writes,
        ..Config::default()
    };
    let engine = Arc::new(Engine::new(store, config));
    let threads = if args.threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        args.threads
    };
    // Bind every listener before starting: a taken port fails the start, not a worker.
    let listeners = (0..threads)
        .map(|_| listen(addr))
        .collect::<anyhow::Result<Vec<_>>>()
        .with_context(|| format!("cannot listen on {addr}"))?;
    let mut pg_listeners = match pg_addr {
        Some(a) => (0..threads)
            .map(|_| listen(a).map(Some))
            .collect::<anyhow::Result<Vec<_>>>()
            .with_context(|| format!("cannot listen on --pg-addr {a}"))?,
        None => (0..threads).map(|_| None).collect(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let balance = Balance::new(threads);
    // The rescuer's copies of every worker's listeners (one socket: either may accept).
    let mut rescued = Vec::new();
    for (w, l) in listeners.iter().enumerate() {
        rescued.push((w, Protocol::Resp, l.try_clone()?));
        if let Some(Some(p)) = pg_listeners.get(w) {
            rescued.push((w, Protocol::Pg, p.try_clone()?));
        }
    }
    let make = |id| Worker {
        id,
        balance: Arc::clone(&balance),
        engine: Arc::clone(&engine),
        pg: Arc::clone(&pg),
        stop: stop_rx.clone(),
    };
    let rescuer = {
        // Numbered past the workers: nothing is handed to it, and it counts in no load.
        let w = make(threads);
        std::thread::Builder::new()
            .name("orbit-rescue".into())
            .spawn(move || rescuer(w, rescued))
            .context("cannot start the rescuer thread")?
    };
    let workers = listeners
        .into_iter()
        .enumerate()
        .map(|(i, listener)| {
            let pg_listener = pg_listeners.get_mut(i).and_then(Option::take);
            let w = make(i);
            std::thread::Builder::new()
                .name(format!("orbit-worker-{i}"))
                .spawn(move || worker(w, listener, pg_listener))
                .context("cannot start a worker thread")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let sweeping = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sweeper = {
        let (engine, sweeping) = (Arc::clone(&engine), Arc::clone(&sweeping));
        std::thread::Builder::new()
            .name("orbit-expire".into())
            .spawn(move || expire_loop(&engine, &sweeping))
            .context("cannot start the expiry thread")?
    };
    let reclaiming = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let reclaimer = {
        let (sql, reclaiming) = (Arc::clone(&sql), Arc::clone(&reclaiming));
        std::thread::Builder::new()
            .name("orbit-vacuum".into())
            .spawn(move || vacuum_loop(&sql, &reclaiming))
            .context("cannot start the vector reclaim thread")?
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let http = if args.http_addr.is_empty() {
        None
    } else {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(&args.http_addr))
            .with_context(|| format!("cannot listen on --http-addr {}", args.http_addr))?;
        tracing::info!(addr = %args.http_addr, "metrics at /metrics, health at /health");
        let backups = Arc::new(crate::backup::server::Backups::new(
            Arc::clone(&db),
            data_dir,
            Some(args.backup_busy_rate).filter(|r| *r > 0),
        )?);
        Some(runtime.spawn(crate::http::serve(
            listener,
            Arc::clone(&engine),
            Arc::clone(&sql),
            backups,
            cluster.clone(),
        )))
    };
    // Signal handlers go in before "ready" is announced: a SIGTERM sent the moment a
    // supervisor sees it must stop the server cleanly, not kill it.
    let signals = {
        let _guard = runtime.enter();
        Signals::new()?
    };
    tracing::info!(resp = %addr, pg = %args.pg_addr, threads, data_dir = %data_dir.display(), "ready to accept connections");
    let requested = engine.shutdown_requested();
    runtime.block_on(async {
        tokio::select! {
            r = signals.wait() => r,
            _ = requested.notified() => {
                tracing::info!("SHUTDOWN command received");
                Ok(())
            }
        }
    })?;
    if let Some(h) = http {
        h.abort();
        // Let the aborted task drop (its references to the engine and the database).
        let _ = runtime.block_on(h);
    }
    tracing::info!("shutting down: no new connections, finishing in-flight commands");
    // SQL statements stop at their next deadline check (57P01): a query that would run for
    // hours must not hold the shutdown.
    sql.stop_statements();
    let _ = stop_tx.send(true);
    sweeping.store(false, std::sync::atomic::Ordering::Relaxed);
    if sweeper.join().is_err() {
        tracing::error!("the expiry thread panicked");
    }
    reclaiming.store(false, std::sync::atomic::Ordering::Relaxed);
    sql.wake_vector_reclaimer();
    if reclaimer.join().is_err() {
        tracing::error!("the vector reclaim thread panicked");
    }
    drop(sql);
    for w in std::iter::once(rescuer).chain(workers) {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "worker failed"),
            Err(_) => tracing::error!("a worker thread panicked"),
        }
    }
    // The time series' open chunks are checkpointed: the next start replays no log.
    if let Err(e) = engine.ts_maintenance(true) {
        if !not_leader(&e) {
            tracing::warn!(error = %e, "time series checkpoint at shutdown failed");
        }
    }
    drop(engine);
    drop(pg);
    if let Some(c) = cluster {
        match Arc::try_unwrap(c) {
            Ok(c) => c.shutdown(),
            Err(_) => tracing::warn!("raft still referenced at shutdown"),
        }
        // Raft's applies have no engine WAL record (the Raft log is the WAL): flushed, the
        // next start has none to apply again.
        if let Err(e) = db.flush() {
            tracing::warn!(error = %e, "could not flush the applied entries at shutdown");
        }
    }
    if args.wal_archive.is_some() {
        // The active segment's records go to the archive now, not at the next start.
        if let Err(e) = db.switch_wal() {
            tracing::warn!(error = %e, "could not close the last wal segment for the archive");
        }
    }
    match Arc::try_unwrap(db) {
        Ok(db) => db.close().context("closing the database")?,
        Err(_) => tracing::warn!("database still referenced at shutdown; closed on drop"),
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// The active expiry sweep: a pass over up to 1,000 keys every 100 ms, continuing at once
/// while passes keep finding expired keys (as Redis's active expire cycle adapts).
fn expire_loop(engine: &Engine, running: &std::sync::atomic::AtomicBool) {
    while running.load(std::sync::atomic::Ordering::Relaxed) {
        if let Err(e) = engine.ts_maintenance(false) {
            if !not_leader(&e) {
                tracing::warn!(error = %e, "time series maintenance failed");
            }
        }
        match engine.expire_sweep(1_000) {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            // A follower: the leader's sweep deletes expired keys everywhere, as a Redis
            // primary's DELs do on its replicas.
            Err(e) if not_leader(&e) => {}
            Err(e) => tracing::warn!(error = %e, "expiry sweep failed"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The vector indexes' reclaimer (`orbit_exec::ann_reclaim`): a round whenever indexes are
/// due, checked every second and at once when a VACUUM asks.
fn vacuum_loop(sql: &orbit_exec::SqlEngine, running: &std::sync::atomic::AtomicBool) {
    while running.load(std::sync::atomic::Ordering::Relaxed) {
        match sql.reclaim_vectors(running) {
            Ok(r) if r.reclaimed > 0 => tracing::info!(
                indexes = r.indexes,
                checked = r.checked,
                reclaimed = r.reclaimed,
                "vector index nodes reclaimed"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "vector index reclaim failed"),
        }
        sql.wait_for_vector_work(Duration::from_secs(1));
    }
}

/// Whether `e` says this node does not lead its cluster (background writers skip the pass).
fn not_leader(e: &orbit_resp::Error) -> bool {
    matches!(
        e,
        orbit_resp::Error::Txn(orbit_txn::Error::NotLeader { .. })
    )
}

/// A non-blocking listener with `SO_REUSEPORT`, so every worker can have its own.
fn listen(addr: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// What a worker thread runs with.
struct Worker {
    /// Its number: its inbox and load in `balance` (the rescuer's is past them all).
    id: usize,
    balance: Arc<Balance>,
    engine: Arc<Engine>,
    pg: Arc<orbit_pg::PgServer>,
    stop: watch::Receiver<bool>,
}

impl Worker {
    /// Serves a connection on this worker (counted in the balance while it lasts).
    fn serve(
        &self,
        connections: &mut tokio::task::JoinSet<()>,
        stream: tokio::net::TcpStream,
        protocol: Protocol,
    ) {
        let served = self.balance.served(self.id);
        if protocol == Protocol::Pg {
            let pg = Arc::clone(&self.pg);
            connections.spawn(async move {
                let _served = served;
                if let Err(e) = orbit_pg::serve_connection(pg, stream).await {
                    tracing::debug!(error = %e, "postgres connection ended with an error");
                }
            });
        } else {
            let (engine, stop) = (Arc::clone(&self.engine), self.stop.clone());
            connections.spawn(async move {
                let _served = served;
                if let Err(e) = orbit_resp::serve_connection(engine, stream, stop).await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
    }

    /// A connection this worker accepted: served here, or handed to a less loaded worker.
    fn accepted(
        &self,
        connections: &mut tokio::task::JoinSet<()>,
        stream: tokio::net::TcpStream,
        protocol: Protocol,
    ) {
        let to = self.balance.pick(self.id);
        if to == self.id {
            return self.serve(connections, stream, protocol);
        }
        let back = match stream.into_std() {
            Ok(s) => self.balance.hand_over(to, (protocol, s)),
            Err(e) => {
                tracing::debug!(error = %e, "cannot hand a connection over; it is dropped");
                return;
            }
        };
        if let Err((protocol, s)) = back {
            self.arrived(connections, (protocol, s));
        }
    }

    /// The rescuer's round: what was handed to a stuck worker, and what waits on its
    /// listeners (accepted without blocking, until WouldBlock or another error, tried again
    /// next round), goes to [`Worker::rescued`].
    fn rescue(
        &self,
        connections: &mut tokio::task::JoinSet<()>,
        listeners: &[(usize, Protocol, std::net::TcpListener)],
    ) {
        // The rescuer's number is the workers' count.
        let stuck: Vec<usize> = (0..self.id).filter(|&w| self.balance.stuck(w)).collect();
        for &worker in &stuck {
            while let Some(h) = self.balance.take(worker) {
                tracing::debug!(worker, "taken from a stuck worker's inbox");
                self.rescued(connections, h);
            }
        }
        for (worker, protocol, listener) in listeners.iter().filter(|l| stuck.contains(&l.0)) {
            while let Ok((stream, _)) = listener.accept() {
                tracing::debug!(worker, "accepted for a stuck worker");
                self.rescued(connections, (*protocol, stream));
            }
        }
    }

    /// A connection the rescuer accepted for a stuck worker: handed to a worker that is not
    /// stuck, or served here if every one is.
    fn rescued(&self, connections: &mut tokio::task::JoinSet<()>, (protocol, stream): Handoff) {
        // Accepted sockets do not inherit the listener's O_NONBLOCK; tokio needs it.
        if let Err(e) = stream.set_nonblocking(true) {
            tracing::debug!(error = %e, "cannot take a connection over; it is dropped");
            return;
        }
        let to = self.balance.pick(self.id);
        let back = if to == self.id {
            Err((protocol, stream))
        } else {
            self.balance.hand_over(to, (protocol, stream))
        };
        if let Err(h) = back {
            self.arrived(connections, h);
        }
    }

    /// A connection handed over by another worker (or given back): served here.
    fn arrived(&self, connections: &mut tokio::task::JoinSet<()>, (protocol, stream): Handoff) {
        match tokio::net::TcpStream::from_std(stream) {
            Ok(s) => self.serve(connections, s, protocol),
            Err(e) => tracing::debug!(error = %e, "cannot take a connection over; it is dropped"),
        }
    }
}

/// One worker: accepts on its listeners (and takes connections handed over) and serves its
/// connections until told to stop.
fn worker(
    w: Worker,
    listener: std::net::TcpListener,
    pg_listener: Option<std::net::TcpListener>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let pg_listener = pg_listener
            .map(tokio::net::TcpListener::from_std)
            .transpose()?;
        let mut connections = tokio::task::JoinSet::new();
        let mut stop = w.stop.clone();
        let mut beat = every(crate::balance::BEAT);
        loop {
            tokio::select! {
                _ = beat.tick() => w.balance.beat(w.id),
                accepted = accept(pg_listener.as_ref()) => match accepted {
                    Ok((stream, _)) => w.accepted(&mut connections, stream, Protocol::Pg),
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => w.accepted(&mut connections, stream, Protocol::Resp),
                    // Out of file descriptors and the like: back off, keep serving.
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = w.balance.handed(w.id) => {
                    while let Some(h) = w.balance.take(w.id) {
                        w.arrived(&mut connections, h);
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = stop.changed() => break,
            }
        }
        // Handed over but not taken yet: closed with the server.
        drop(w.balance.close(w.id));
        drop(listener);
        drop(pg_listener);
        drain(connections).await;
        Ok(())
    })
}

/// Lets a stopping worker's connections finish their in-flight commands, for at most
/// [`DRAIN`].
async fn drain(mut connections: tokio::task::JoinSet<()>) {
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("connections still busy after {DRAIN:?}; closing them");
        connections.abort_all();
    }
}

/// The rescuer: every [`RESCUE_EVERY`](crate::balance::RESCUE_EVERY), accepts what waits on the listeners of
/// stuck workers (see `balance`) and hands it to a worker that is not stuck, serving it
/// itself if every worker is. Stops with the workers.
fn rescuer(
    w: Worker,
    listeners: Vec<(usize, Protocol, std::net::TcpListener)>,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let mut connections = tokio::task::JoinSet::new();
        let mut stop = w.stop.clone();
        let mut tick = every(crate::balance::RESCUE_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => w.rescue(&mut connections, &listeners),
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = stop.changed() => break,
            }
        }
        drop(listeners);
        drain(connections).await;
        Ok(())
    })
}

/// An interval of `period` that does not catch up on ticks missed while the thread was busy.
fn every(period: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(period);
    i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    i
}

/// Accepts on `listener`, or never when there is none.
async fn accept(
    listener: Option<&tokio::net::TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// SIGTERM and SIGINT, caught from the moment this is made (inside the runtime).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Waits for the first of them.
    async fn wait(mut self) -> anyhow::Result<()> {
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM received"),
            _ = self.int.recv() => tracing::info!("SIGINT received"),
        }
        Ok(())
    }
}

/// Memory this process can use, in bytes: `MemTotal` of /proc/meminfo, or the cgroup's
/// `memory.max` when that is lower; unknown counts as unlimited.
fn physical_memory() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(u64::MAX, |kb| kb.saturating_mul(1024));
    let cgroup = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    total.min(cgroup)
}
