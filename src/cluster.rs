//! `orbit serve --node-id N --raft-addr HOST:PORT --peers ...`: the server as one node of a
//! Raft cluster. Owns the Raft runtime (two threads beside the workers), the node (its log in
//! `<data-dir>/raft`, its state machine over the server's database) and the replicated commit
//! log every transaction and Redis write commits through.
//!
//! A node whose Raft log is empty proposes the initial membership from `--peers`; openraft
//! takes the same membership from every node and refuses it once a log has entries, so
//! every node may do it and a restarted node does nothing. Without `--node-id` nothing here
//! runs and the server commits to its own WAL.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use orbit_env::{FileSystem, SystemClock};
use orbit_lsm::Db;
use orbit_replication::{LogStore, RaftNode, ReplicatedLog, StateMachine, Timing};
use orbit_wal::WalOptions;

use crate::cli::ClusterArgs;

/// A running cluster node.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    node: RaftNode,
    log: ReplicatedLog,
}

impl Cluster {
    /// Starts this node if `--node-id` is given (`None` otherwise).
    pub fn start(
        args: &ClusterArgs,
        fs: Arc<dyn FileSystem>,
        data_dir: &Path,
        db: &Arc<Db>,
    ) -> anyhow::Result<Option<Cluster>> {
        let Some(id) = args.node_id else {
            return Ok(None);
        };
        let (Some(raft_addr), Some(peers)) = (&args.raft_addr, &args.peers) else {
            bail!("--node-id needs --raft-addr and --peers");
        };
        if !peers.0.contains_key(&id) {
            bail!("--peers does not list this node (--node-id {id})");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("orbit-raft")
            .enable_all()
            .build()
            .context("cannot start the raft runtime")?;
        let dir = data_dir.join("raft");
        let log = LogStore::open(
            fs,
            &dir,
            WalOptions {
                clock: Arc::new(SystemClock::new()),
                ..WalOptions::default()
            },
        )
        .with_context(|| format!("cannot open the raft log in {}", dir.display()))?;
        let state_machine =
            StateMachine::open(Arc::clone(db)).context("cannot open the raft state machine")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(raft_addr))
            .with_context(|| format!("cannot listen on --raft-addr {raft_addr}"))?;
        let node = runtime
            .block_on(RaftNode::start(
                id,
                listener,
                log,
                state_machine,
                Timing::default(),
            ))
            .context("cannot start raft")?;
        match runtime.block_on(node.initialize_addrs(&peers.0)) {
            Ok(()) => tracing::info!(node = id, "proposed the initial membership"),
            // Not pristine: the cluster exists (this is a restart), or another node's
            // proposal reached this one first.
            Err(e) => tracing::debug!(node = id, error = %e, "membership already set"),
        }
        let log = {
            let _entered = runtime.enter();
            node.commit_log()
        };
        tracing::info!(node = id, raft = %raft_addr, "raft node started");
        Ok(Some(Cluster { runtime, node, log }))
    }

    /// What transactions commit through.
    pub fn commit_log(&self) -> Arc<dyn orbit_txn::CommitLog> {
        Arc::new(self.log.clone())
    }

    /// Stops Raft (the database stays open for the caller to close).
    pub fn shutdown(self) {
        let Cluster { runtime, node, log } = self;
        if let Err(e) = runtime.block_on(node.shutdown()) {
            tracing::warn!(error = %e, "raft shutdown failed");
        }
        drop((node, log));
        runtime.shutdown_timeout(std::time::Duration::from_secs(5));
    }
}
