//! One replicated node: its Raft log, its state machine (the database), openraft's `Raft`
//! and the server answering its peers. Writes enter through [`RaftNode::propose`], which
//! returns once a majority holds the batch and this node has applied it.
//!
//! Invariant: a proposal is acknowledged only after it is committed (on a majority's durable
//! logs) and applied here; a node that is not the leader refuses it, naming the leader it
//! knows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::metrics::RaftMetrics;
use openraft::network::RaftNetworkFactory;
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use orbit_lsm::WriteBatch;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::network::{serve, Heard, Network};
use crate::types::{Applied, LogId, NodeId, TypeConfig};
use crate::{LogStore, Proposal, ReplicatedLog, StateMachine};

/// How long a snapshot chunk's RPC may take: the last one includes the follower's install of
/// the whole snapshot.
const SNAPSHOT_CHUNK_TIMEOUT: Duration = Duration::from_secs(60);

/// Elections, heartbeats, follower reads and snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Leader heartbeat period.
    pub heartbeat: Duration,
    /// A follower that hears no leader for a random time in this range stands for election.
    pub election_min: Duration,
    pub election_max: Duration,
    /// A follower serves follower reads only while it heard from its leader this recently
    /// (`CommitLog::read_gate`).
    pub max_staleness: Duration,
    /// Entries between snapshots. A snapshot is a dump of the whole database (see
    /// `snapshot`), so openraft's default of 5,000 would rescan a large database every few
    /// thousand writes; the cost is the live log tail this many entries long held in memory.
    /// The log keeps a hundredth of this behind each snapshot, for followers a little behind.
    pub snapshot_every: u64,
}

impl Default for Tuning {
    /// Tuned for a LAN: a dead leader is replaced within about half a second.
    fn default() -> Self {
        Tuning {
            heartbeat: Duration::from_millis(50),
            election_min: Duration::from_millis(250),
            election_max: Duration::from_millis(500),
            max_staleness: Duration::from_secs(1),
            snapshot_every: 100_000,
        }
    }
}

/// A proposal once committed and applied here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Committed {
    /// Where it is in the Raft log.
    pub log_id: LogId,
    /// What applying it produced on this node.
    pub applied: Applied,
}

/// A running replicated node.
pub struct RaftNode {
    id: NodeId,
    raft: Raft<TypeConfig>,
    state_machine: StateMachine,
    /// The RPC server: what stops it, and its task.
    server: std::sync::Mutex<Option<(oneshot::Sender<()>, JoinHandle<()>)>>,
    /// The largest proposal the Raft log takes.
    max_proposal: usize,
    /// When a leader's entries or heartbeat last arrived (over TCP: `network::serve`).
    heard: Arc<Heard>,
    max_staleness: Duration,
}

impl RaftNode {
    /// Starts node `id`: Raft over `log` and `state_machine`, answering peers on `listener`
    /// and reaching them over TCP ([`Network`]).
    pub async fn start(
        id: NodeId,
        listener: TcpListener,
        log: LogStore,
        state_machine: StateMachine,
        tuning: Tuning,
    ) -> Result<RaftNode> {
        RaftNode::start_with(
            id,
            Network::default(),
            Some(listener),
            log,
            state_machine,
            tuning,
        )
        .await
    }

    /// [`RaftNode::start`] with another way of reaching peers (`listener`: where to answer
    /// them over TCP, if they use it; tests route RPCs in memory).
    pub async fn start_with<N: RaftNetworkFactory<TypeConfig>>(
        id: NodeId,
        network: N,
        listener: Option<TcpListener>,
        log: LogStore,
        state_machine: StateMachine,
        tuning: Tuning,
    ) -> Result<RaftNode> {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let config = Config {
            cluster_name: "orbit".into(),
            heartbeat_interval: millis(tuning.heartbeat),
            election_timeout_min: millis(tuning.election_min),
            election_timeout_max: millis(tuning.election_max),
            snapshot_policy: SnapshotPolicy::LogsSinceLast(tuning.snapshot_every.max(1)),
            max_in_snapshot_log_to_keep: tuning.snapshot_every / 100,
            install_snapshot_timeout: millis(SNAPSHOT_CHUNK_TIMEOUT),
            // Entries per AppendEntries: the network sends at most 512 KiB of them at a time
            // (`network::APPEND_BYTES`), so more small entries may go together.
            max_payload_entries: 2000,
            ..Config::default()
        }
        .validate()
        .map_err(|e| Error::Raft(e.to_string()))?;
        // The log purges nothing the state machine could still need after a crash.
        log.keep_for(state_machine.durable());
        let max_proposal = log.max_proposal_len();
        let raft = Raft::new(id, Arc::new(config), network, log, state_machine.clone())
            .await
            .map_err(|e| Error::Raft(e.to_string()))?;
        let heard = Arc::new(Heard::default());
        let server = listener.map(|l| {
            let (stop, stopped) = oneshot::channel();
            let task = tokio::spawn(serve(l, raft.clone(), Arc::clone(&heard), stopped));
            (stop, task)
        });
        Ok(RaftNode {
            id,
            raft,
            state_machine,
            server: std::sync::Mutex::new(server),
            max_proposal,
            heard,
            max_staleness: tuning.max_staleness,
        })
    }

    /// The commit log transactions on this node commit through ([`ReplicatedLog`]); its
    /// tasks run on the current tokio runtime (call it inside the runtime Raft runs on).
    /// `advertise` is where clients reach this node (`resp HOST:PORT, pg HOST:PORT`), which
    /// other nodes name when they refuse a write; empty: the Raft address is named.
    pub fn commit_log(&self, advertise: &str) -> ReplicatedLog {
        ReplicatedLog::start(
            self.id,
            self.raft.clone(),
            Arc::clone(self.state_machine.db()),
            Arc::clone(self.state_machine.foreign()),
            self.max_proposal,
            tokio::runtime::Handle::current(),
            crate::commit_log::Serving {
                advertise: advertise.to_string(),
                heard: Arc::clone(&self.heard),
                max_staleness: self.max_staleness,
            },
        )
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// openraft's handle (membership changes, metrics, waits).
    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.raft
    }

    /// The current metrics (role, term, leader, log and apply positions).
    pub fn metrics(&self) -> RaftMetrics<NodeId, BasicNode> {
        self.raft.metrics().borrow().clone()
    }

    /// Makes a new cluster of `members` (once, on one node; the others learn it from the
    /// leader).
    pub async fn initialize(&self, members: BTreeMap<NodeId, BasicNode>) -> Result<()> {
        self.raft
            .initialize(members)
            .await
            .map_err(|e| Error::Raft(e.to_string()))
    }

    /// [`RaftNode::initialize`] with members given by Raft address.
    pub async fn initialize_addrs(&self, members: &BTreeMap<NodeId, String>) -> Result<()> {
        self.initialize(
            members
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect(),
        )
        .await
    }

    /// Replicates `batch`: returns once a majority holds it and this node has applied it.
    pub async fn propose(&self, batch: &WriteBatch) -> Result<Committed> {
        let proposal = Proposal::from_batch(self.state_machine.db(), batch)?;
        // Refused here: a record the log cannot write would be a storage failure, which
        // stops the node.
        if proposal.0.len() > self.max_proposal {
            return Err(Error::TooLarge {
                what: "commit batch",
                len: proposal.0.len(),
                max: self.max_proposal,
            });
        }
        match self.raft.client_write(proposal).await {
            Ok(response) => Ok(Committed {
                log_id: response.log_id,
                applied: response.data,
            }),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(Error::NotLeader {
                    leader_id: f.leader_id,
                    leader_addr: f.leader_node.map(|n| n.addr),
                })
            }
            Err(e) => Err(Error::Raft(e.to_string())),
        }
    }

    /// Stops Raft and the RPC server (the log and the database stay open until dropped).
    pub async fn shutdown(&self) -> Result<()> {
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((stop, task)) = server {
            let _ = stop.send(());
            // It closed its listener and connections once it returns (it does not panic).
            let _ = task.await;
        }
        self.raft
            .shutdown()
            .await
            .map_err(|e| Error::Raft(e.to_string()))
    }
}
