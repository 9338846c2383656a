//! `orbit serve --node-id N --raft-addr HOST:PORT --peers ...`: the server as one node of a
//! Raft cluster. Owns the Raft runtime (two threads beside the workers), the node (its log in
//! `<data-dir>/raft`, its state machine over the server's database) and the replicated commit
//! log every transaction and Redis write commits through. Also `orbit cluster
//! status|add|remove`, which talks to a node's admin endpoint (`/cluster` in `http.rs`).
//!
//! A node whose Raft log is empty proposes the initial membership from `--peers`; openraft
//! takes the same membership from every node and refuses it once a log has entries, so
//! every node may do it and a restarted node does nothing. A node started with `--join`
//! proposes nothing and waits to be added. Without `--node-id` nothing here runs and the
//! server commits to its own WAL.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use orbit_env::{FileSystem, SystemClock};
use orbit_lsm::Db;
use orbit_replication::{LogStore, RaftNode, ReplicatedLog, StateMachine, Status, Tuning};
use orbit_wal::WalOptions;

use crate::cli::{ClusterAction, ClusterArgs, ClusterCmdArgs};

/// A running cluster node.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    node: Arc<RaftNode>,
    log: ReplicatedLog,
}

impl Cluster {
    /// Starts this node if `--node-id` is given (`None` otherwise).
    /// `advertise`: where clients reach this node (`resp HOST:PORT, pg HOST:PORT`), which
    /// the other nodes name when they refuse a write while this one leads. `archived`: the
    /// engine WAL is archived (`--wal-archive`), so Raft's applies are written to it too.
    pub fn start(
        args: &ClusterArgs,
        fs: Arc<dyn FileSystem>,
        data_dir: &Path,
        db: &Arc<Db>,
        advertise: &str,
        archived: bool,
    ) -> anyhow::Result<Option<Cluster>> {
        let Some(id) = args.node_id else {
            return Ok(None);
        };
        let Some(raft_addr) = &args.raft_addr else {
            bail!("--node-id needs --raft-addr");
        };
        match &args.peers {
            Some(peers) if !peers.0.contains_key(&id) => {
                bail!("--peers does not list this node (--node-id {id})")
            }
            None if !args.join => bail!("--node-id needs --peers (or --join)"),
            _ => {}
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("orbit-raft")
            .enable_all()
            .build()
            .context("cannot start the raft runtime")?;
        let dir = data_dir.join("raft");
        let log = LogStore::open(
            Arc::clone(&fs),
            &dir,
            WalOptions {
                clock: Arc::new(SystemClock::new()),
                ..WalOptions::default()
            },
        )
        .with_context(|| format!("cannot open the raft log in {}", dir.display()))?;
        let snapshots = data_dir.join("raft-snapshots");
        let state_machine =
            StateMachine::open(Arc::clone(db), fs, &snapshots).with_context(|| {
                format!(
                    "cannot open the raft state machine ({})",
                    snapshots.display()
                )
            })?;
        // An archived WAL must carry the replicated writes for a point-in-time restore.
        state_machine.log_applies(archived);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(raft_addr))
            .with_context(|| format!("cannot listen on --raft-addr {raft_addr}"))?;
        let node = runtime
            .block_on(RaftNode::start(
                id,
                listener,
                log,
                state_machine,
                Tuning {
                    max_staleness: std::time::Duration::from_millis(args.max_staleness_ms),
                    snapshot_every: args.raft_snapshot_every,
                    ..Tuning::default()
                },
            ))
            .context("cannot start raft")?;
        if let Some(peers) = &args.peers {
            match runtime.block_on(node.initialize_addrs(&peers.0)) {
                Ok(()) => tracing::info!(node = id, "proposed the initial membership"),
                // Not pristine: the cluster exists (this is a restart), or another node's
                // proposal reached this one first.
                Err(e) => tracing::debug!(node = id, error = %e, "membership already set"),
            }
        }
        let log = {
            let _entered = runtime.enter();
            node.commit_log(advertise)
        };
        tracing::info!(node = id, raft = %raft_addr, "raft node started");
        Ok(Some(Cluster {
            runtime,
            node: Arc::new(node),
            log,
        }))
    }

    /// What transactions commit through.
    pub fn commit_log(&self) -> Arc<dyn orbit_txn::CommitLog> {
        Arc::new(self.log.clone())
    }

    /// This node's view of the cluster.
    pub fn status(&self) -> Status {
        self.node.status()
    }

    /// Adds node `id` (a learner until it has caught up, then a voter); runs on the Raft
    /// runtime, awaitable from any other.
    pub async fn add(&self, id: u64, addr: String) -> Result<(), orbit_replication::Error> {
        let node = Arc::clone(&self.node);
        self.runtime
            .spawn(async move { node.add_member(id, &addr).await })
            .await
            .map_err(|e| orbit_replication::Error::Task(e.to_string()))?
    }

    /// Removes node `id`.
    pub async fn remove(&self, id: u64) -> Result<(), orbit_replication::Error> {
        let node = Arc::clone(&self.node);
        self.runtime
            .spawn(async move { node.remove_member(id).await })
            .await
            .map_err(|e| orbit_replication::Error::Task(e.to_string()))?
    }

    /// Stops Raft (the database stays open for the caller to close). Call it outside any
    /// async runtime.
    pub fn shutdown(self) {
        let Cluster { runtime, node, log } = self;
        if let Err(e) = runtime.block_on(node.shutdown()) {
            tracing::warn!(error = %e, "raft shutdown failed");
        }
        drop((node, log));
        runtime.shutdown_timeout(Duration::from_secs(5));
    }
}

/// `orbit cluster status|add|remove --server HOST:PORT`.
pub fn command(args: ClusterCmdArgs) -> anyhow::Result<()> {
    let (method, path, wait) = match &args.action {
        ClusterAction::Status => ("GET", "/cluster".to_string(), Duration::from_secs(10)),
        ClusterAction::Add { id, raft_addr } => (
            "POST",
            format!("/cluster/add?id={id}&addr={raft_addr}"),
            // The new node catches up first: as long as copying the database takes.
            Duration::from_secs(3600),
        ),
        ClusterAction::Remove { id } => (
            "POST",
            format!("/cluster/remove?id={id}"),
            Duration::from_secs(60),
        ),
    };
    let response = crate::backup::http::request(&args.server, method, &path, wait)?;
    let status = response.status;
    let body = response.text()?;
    if status != 200 {
        bail!("{} answered {status}: {}", args.server, body.trim());
    }
    print!("{body}");
    Ok(())
}

/// `/cluster` (GET: the status as JSON) and `/cluster/add?id=N&addr=HOST:PORT`,
/// `/cluster/remove?id=N` (POST) on the admin endpoint: status code and body.
pub async fn answer(cluster: Option<&Cluster>, method: &str, path: &str) -> (u16, String) {
    let Some(cluster) = cluster else {
        return (
            404,
            "this server is not a node of a cluster (no --node-id)\n".into(),
        );
    };
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    let id = param("id").map(str::parse::<u64>);
    let done = match (method, route, id) {
        ("GET", "/cluster", _) => return (200, status_json(&cluster.status())),
        ("POST", "/cluster/add", Some(Ok(id))) => match param("addr") {
            Some(addr) => cluster.add(id, addr.to_string()).await,
            None => return (400, "add needs addr=HOST:PORT\n".into()),
        },
        ("POST", "/cluster/remove", Some(Ok(id))) => cluster.remove(id).await,
        ("POST", "/cluster/add" | "/cluster/remove", _) => {
            return (400, "needs id=N (a node id)\n".into())
        }
        _ => return (404, "not found\n".into()),
    };
    match done {
        Ok(()) => (200, status_json(&cluster.status())),
        Err(e @ orbit_replication::Error::NotLeader { .. }) => (409, format!("{e}\n")),
        Err(e) => (500, format!("{e}\n")),
    }
}

fn status_json(status: &Status) -> String {
    let mut s = serde_json::to_string_pretty(status).unwrap_or_default();
    s.push('\n');
    s
}

/// Prometheus lines for a cluster node: role, term, leader, log positions, per-member lag.
pub fn metrics(status: &Status, out: &mut String) {
    use std::fmt::Write as _;
    let mut gauge = |name: &str, help: &str, value: u64| {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        );
    };
    gauge(
        "orbit_raft_is_leader",
        "1 if this node leads its cluster.",
        u64::from(status.role == "leader"),
    );
    gauge("orbit_raft_term", "Current Raft term.", status.term);
    gauge(
        "orbit_raft_leader_id",
        "The leader's node id (0: none known).",
        status.leader.unwrap_or(0),
    );
    gauge(
        "orbit_raft_last_log_index",
        "Last entry in this node's Raft log.",
        status.last_log_index,
    );
    gauge(
        "orbit_raft_applied_index",
        "Last entry applied to this node's database.",
        status.applied_index,
    );
    gauge(
        "orbit_raft_voters",
        "Voting members.",
        status.voters.len() as u64,
    );
    let lag = status.lag();
    if !lag.is_empty() {
        let _ = writeln!(
            out,
            "# HELP orbit_raft_follower_lag_entries Entries a member lacks of the leader's log.\n# TYPE orbit_raft_follower_lag_entries gauge"
        );
        for (id, l) in lag {
            let _ = writeln!(out, "orbit_raft_follower_lag_entries{{node=\"{id}\"}} {l}");
        }
    }
}
