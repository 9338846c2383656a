//! The replicated commit log: `orbit-txn`'s [`CommitLog`] over Raft. The commit pipeline hands
//! it each validated batch (under the pipeline's lock, so in commit order); it queues the
//! batch, and completes the commit when the batch is on a majority and applied here (visible
//! to readers), or with why it failed.
//!
//! Group commit: one proposer task takes everything queued and proposes it as one Raft entry
//! (the batches' operations in order, applied atomically), with up to [`DEPTH`] entries in
//! flight. openraft 0.9 writes each entry to its log with its own fsync before taking the
//! next, so an entry per commit would cap a node at one commit per fsync; batching while
//! entries are in flight makes the batches as large as the load. An entry's batches all
//! complete with the entry's last sequence number: they become visible together, so no
//! snapshot falls between them.
//!
//! Only a leader whose commit pipeline has seen every write takes commits. A node opens its
//! pipeline ("fences") once it leads a term and has applied that term's first entry (so every
//! entry of earlier terms, which other leaders proposed, is applied and visible); the fence is
//! the visible sequence number then. A transaction whose snapshot is older than the fence may
//! have read under writes the pipeline's conflict tracking never saw, so it is refused as a
//! serialization failure (retry); a write outside transactions needs no snapshot and only the
//! fence. A node that does not lead answers [`orbit_txn::Error::NotLeader`] with the leader's
//! address.
//!
//! Reads (`CommitLog::read_gate`): a leader serves a read once a confirmation round (openraft's
//! `ensure_linearizable`) that began after the read arrived has succeeded; one round serves
//! every read that arrived before it; a round that fails or times out refuses them (see
//! [`Reads`]). A follower serves reads only to sessions that accept stale data, while it names
//! a leader.
//!
//! Invariants: batches reach openraft in submission order (one FIFO queue, one proposer, and
//! `client_write_ff` pushes onto openraft's channel in call order); an entry is at most the
//! Raft log's largest proposal; the fence is set at most once per term and dropped as soon as
//! the metrics say this node does not lead.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::error::ClientWriteError;
use openraft::metrics::RaftMetrics;
use openraft::{BasicNode, Raft, ServerState};
use orbit_lsm::{Db, WriteBatch};
use orbit_txn::{CommitLog, Completion, Failure, Leadership, ReadGate, Submitted};
use tokio::runtime::Handle;
use tokio::sync::{Notify, Semaphore};

use crate::state_machine::Foreign;
use crate::types::{NodeId, TypeConfig};
use crate::Proposal;

/// Whether, and since when, this node takes commits.
#[derive(Debug, Default, Clone)]
struct Lead {
    /// `Some(visible seq)` while this node leads with its pipeline open (see the module docs).
    fence: Option<u64>,
    /// The last term a fence was set in.
    fenced_term: u64,
    /// The leader's address, as far as this node knows.
    leader: Option<String>,
    /// Which node `leader` names.
    leader_id: Option<NodeId>,
    /// Whether `leader` gives the client addresses the leader recorded.
    advertised: bool,
    /// The last log index applied here.
    applied: u64,
}

/// How long a read confirmation round may take before its readers are refused.
const CONFIRM_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Raft entries proposed and not yet answered, at most.
pub const DEPTH: usize = 4;

/// A batch waiting for the proposer.
struct Queued {
    batch: WriteBatch,
    done: Arc<Completion>,
    /// An upper bound of its encoded size.
    len: usize,
}

struct Inner {
    id: NodeId,
    raft: Raft<TypeConfig>,
    db: Arc<Db>,
    foreign: Arc<Foreign>,
    max_proposal: usize,
    runtime: Handle,
    /// Where clients reach this node (`resp HOST:PORT, pg HOST:PORT`; empty: not said). A
    /// leader records it in [`NODES_KEYSPACE`] when it opens its pipeline, so other nodes
    /// name the leader by its client addresses.
    advertise: String,
    lead: Mutex<Lead>,
    /// When a leader was last heard, and how long ago that may be for follower reads.
    heard: Arc<crate::network::Heard>,
    max_staleness: std::time::Duration,
    queue: Mutex<VecDeque<Queued>>,
    queued: Notify,
    reads: Reads,
}

/// Read confirmation rounds (see [`CommitLog::read_gate`]): a round confirms leadership with
/// openraft's `ensure_linearizable` (heartbeats to a majority, then waiting until what was
/// committed is applied) and serves every read that arrived before it started. A request's
/// stamp is `started` when it arrived; a round's stamp is `started` once it began, so a round
/// whose stamp is above a request's began after the request arrived.
#[derive(Default)]
struct Reads {
    started: AtomicU64,
    /// The stamp of the latest round that confirmed leadership.
    confirmed: AtomicU64,
    /// The stamp of the latest round that could not (a deposed or cut-off leader).
    failed: AtomicU64,
    /// What readers waiting for the next round wait on.
    next: Mutex<Option<Arc<Completion>>>,
    wake: Notify,
}

/// How a node serves clients: where they reach it, and the freshness of its follower reads.
pub(crate) struct Serving {
    /// `resp HOST:PORT, pg HOST:PORT` (empty: not said).
    pub advertise: String,
    /// What it heard from leaders.
    pub heard: Arc<crate::network::Heard>,
    /// How far behind its leader a follower read may be.
    pub max_staleness: std::time::Duration,
}

/// Commits through Raft (see the module docs). Clones share it.
#[derive(Clone)]
pub struct ReplicatedLog {
    inner: Arc<Inner>,
}

impl ReplicatedLog {
    /// The commit log of node `id`, proposing to `raft`; its tasks run on `runtime`.
    pub(crate) fn start(
        id: NodeId,
        raft: Raft<TypeConfig>,
        db: Arc<Db>,
        foreign: Arc<Foreign>,
        max_proposal: usize,
        runtime: Handle,
        serving: Serving,
    ) -> ReplicatedLog {
        let Serving {
            advertise,
            heard,
            max_staleness,
        } = serving;
        let inner = Arc::new(Inner {
            id,
            raft,
            db,
            foreign,
            max_proposal,
            runtime,
            advertise,
            lead: Mutex::new(Lead::default()),
            heard,
            max_staleness,
            queue: Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            reads: Reads::default(),
        });
        inner.runtime.spawn(propose(Arc::clone(&inner)));
        inner.runtime.spawn(confirm_reads(Arc::clone(&inner)));
        let watched = Arc::clone(&inner);
        inner.runtime.spawn(async move {
            let mut metrics = watched.raft.metrics();
            loop {
                let m = metrics.borrow_and_update().clone();
                watched.observe(&m);
                if metrics.changed().await.is_err() {
                    watched.lock().fence = None;
                    return;
                }
            }
        });
        ReplicatedLog { inner }
    }

    /// Whether this node takes commits now.
    pub fn is_leading(&self) -> bool {
        self.inner.lock().fence.is_some()
    }

    /// The leader's address as this node knows it.
    pub fn leader(&self) -> Option<String> {
        self.inner.lock().leader.clone()
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Lead> {
        self.lead.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn observe(&self, m: &RaftMetrics<NodeId, BasicNode>) {
        let mut lead = self.lock();
        lead.applied = m.last_applied.map_or(0, |l| l.index);
        // Looked up when the leader changes, and until its client addresses have arrived
        // (not at every metrics change: one comes with every apply).
        if m.current_leader != lead.leader_id || !lead.advertised {
            lead.leader_id = m.current_leader;
            let advertised = m.current_leader.and_then(|id| self.advertised(id));
            lead.advertised = advertised.is_some();
            lead.leader = advertised.or_else(|| {
                let id = m.current_leader?;
                let node = m.membership_config.membership().get_node(&id)?;
                Some(format!("raft {}", node.addr))
            });
        }
        let leading = m.state == ServerState::Leader && m.current_leader == Some(self.id);
        let caught_up = m
            .last_applied
            .is_some_and(|l| l.leader_id.term == m.current_term);
        if !leading {
            lead.fence = None;
        } else if caught_up && lead.fence.is_none() && lead.fenced_term < m.current_term {
            // Entries of this term are this node's own from here on.
            self.foreign
                .own_term
                .store(m.current_term, Ordering::SeqCst);
            lead.fence = Some(self.db.visible_seq());
            lead.fenced_term = m.current_term;
            self.advertise();
        }
    }

    /// Node `id`'s client addresses, as it recorded them when it last led.
    fn advertised(&self, id: NodeId) -> Option<String> {
        let ks = self.db.keyspace(NODES_KEYSPACE)?;
        let bytes = self.db.get(ks, id.to_string().as_bytes()).ok()??;
        String::from_utf8(bytes).ok().filter(|a| !a.is_empty())
    }

    /// Records this node's client addresses through the log (a new leader's first write).
    fn advertise(&self) {
        if self.advertise.is_empty() || self.advertised(self.id).as_deref() == Some(&self.advertise)
        {
            return;
        }
        // Created by `StateMachine::open` (creating one here would block the runtime).
        let Some(ks) = self.db.keyspace(NODES_KEYSPACE) else {
            return;
        };
        let mut batch = WriteBatch::new();
        batch.put(
            ks,
            self.id.to_string().as_bytes(),
            self.advertise.as_bytes(),
        );
        let len = Proposal::len_bound(&self.db, &batch);
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Queued {
                batch,
                done: Completion::new(),
                len,
            });
        self.queued.notify_one();
    }
}

/// Where nodes record their client addresses (node id in decimal → `resp ..., pg ...`).
pub const NODES_KEYSPACE: &str = "raft:nodes";

impl CommitLog for ReplicatedLog {
    fn submit<'b>(
        &self,
        batch: &'b WriteBatch,
        since: Option<u64>,
    ) -> orbit_txn::Result<Submitted<'b>> {
        let inner = &self.inner;
        {
            let lead = inner.lock();
            match lead.fence {
                None => {
                    return Err(orbit_txn::Error::NotLeader {
                        leader: lead.leader.clone(),
                    })
                }
                Some(fence) if since.is_some_and(|s| s < fence) => {
                    return Err(orbit_txn::Error::SerializationFailure(
                        "a change of leader after the transaction began",
                    ))
                }
                Some(_) => {}
            }
        }
        let len = Proposal::len_bound(&inner.db, batch);
        if len > inner.max_proposal {
            return Err(orbit_txn::Error::Lsm(orbit_lsm::Error::BatchTooLarge {
                ops: batch.len(),
                bytes: len,
            }));
        }
        let done = Completion::new();
        inner
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Queued {
                batch: batch.clone(),
                done: Arc::clone(&done),
                len,
            });
        inner.queued.notify_one();
        Ok(Submitted::Replicated(done))
    }

    fn epoch(&self) -> u64 {
        self.inner.foreign.epoch.load(Ordering::SeqCst)
    }

    fn replicated(&self) -> bool {
        true
    }

    fn read_stamp(&self) -> u64 {
        self.inner.reads.started.load(Ordering::SeqCst)
    }

    fn replacements(&self) -> u64 {
        self.inner.foreign.replacements.load(Ordering::SeqCst)
    }

    fn leadership(&self) -> Leadership {
        let lead = self.inner.lock();
        match lead.fence {
            Some(_) => Leadership::Here,
            // Elected, pipeline not open yet: naming itself would send writes back here.
            None if lead.leader_id == Some(self.inner.id) => Leadership::Elsewhere(None),
            None => Leadership::Elsewhere(lead.leader.clone()),
        }
    }

    fn read_gate(&self, stamp: u64, follower_ok: bool) -> ReadGate {
        let inner = &self.inner;
        {
            let lead = inner.lock();
            // A leader confirms its leadership for every read (below), follower reads
            // included: one cut off from the others has nothing fresher to offer.
            if follower_ok && lead.fence.is_none() && lead.leader.is_some() {
                // Possibly stale, by at most the bound: this node has applied everything its
                // leader had committed that long ago. Installing a snapshot, it holds part of
                // one: as behind as can be.
                let installing = inner.foreign.replacements.load(Ordering::SeqCst) % 2 == 1;
                let applied = if installing { 0 } else { lead.applied };
                let Err(age) = inner.heard.fresh(applied, inner.max_staleness) else {
                    return ReadGate::Ready;
                };
                let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                return ReadGate::Refuse(orbit_txn::Error::Stale {
                    heard_ms: age.map(ms),
                    bound_ms: ms(inner.max_staleness),
                });
            }
            if lead.fence.is_none() {
                return ReadGate::Refuse(orbit_txn::Error::NotLeader {
                    leader: lead.leader.clone(),
                });
            }
        }
        let reads = &inner.reads;
        if reads.confirmed.load(Ordering::SeqCst) > stamp {
            return ReadGate::Ready;
        }
        if reads.failed.load(Ordering::SeqCst) > stamp {
            return ReadGate::Refuse(orbit_txn::Error::NotLeader { leader: None });
        }
        let round = Arc::clone(
            reads
                .next
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(Completion::new),
        );
        reads.wake.notify_one();
        ReadGate::Wait(round)
    }
}

/// Runs read confirmation rounds while readers wait (see [`Reads`]).
async fn confirm_reads(inner: Arc<Inner>) {
    let reads = &inner.reads;
    loop {
        reads.wake.notified().await;
        let Some(round) = reads.next.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            continue;
        };
        let stamp = reads.started.fetch_add(1, Ordering::SeqCst) + 1;
        // A leader cut off from the others gets no answer: it is not left waiting.
        let confirmed =
            tokio::time::timeout(CONFIRM_WITHIN, inner.raft.ensure_linearizable()).await;
        if let Ok(Ok(_)) = confirmed {
            reads.confirmed.fetch_max(stamp, Ordering::SeqCst);
        } else {
            // Readers ask again and are refused.
            reads.failed.fetch_max(stamp, Ordering::SeqCst);
        }
        round.complete(Ok(0));
    }
}

/// The proposer (see the module docs): takes what is queued, up to the largest proposal, and
/// proposes it as one entry, with up to [`DEPTH`] entries in flight.
async fn propose(inner: Arc<Inner>) {
    let depth = Arc::new(Semaphore::new(DEPTH));
    loop {
        let Ok(slot) = Arc::clone(&depth).acquire_owned().await else {
            return;
        };
        let group = loop {
            let group = take(&inner);
            if !group.is_empty() {
                break group;
            }
            // A notification sent since the queue was looked at is kept for this wait.
            inner.queued.notified().await;
        };
        let sent = match Proposal::from_batches(&inner.db, group.iter().map(|q| &q.batch)) {
            Ok(proposal) => inner.raft.client_write_ff(proposal).await,
            Err(e) => {
                finish(&group, Err(Failure::Log(e.to_string())));
                continue;
            }
        };
        let answer = match sent {
            Ok(answer) => answer,
            Err(e) => {
                finish(&group, Err(Failure::Log(e.to_string())));
                continue;
            }
        };
        let watched = Arc::clone(&inner);
        tokio::spawn(async move {
            let outcome = match answer.await {
                Ok(Ok(response)) => Ok(response.data.seq.unwrap_or(0)),
                Ok(Err(ClientWriteError::ForwardToLeader(f))) => Err(Failure::NotLeader {
                    leader: f.leader_node.map(|n| n.addr),
                }),
                Ok(Err(e)) => Err(Failure::Log(e.to_string())),
                Err(_) => Err(Failure::Log("raft stopped before the commit".into())),
            };
            if let Err(Failure::NotLeader { .. }) = &outcome {
                // The metrics will say so too; refuse further commits at once.
                watched.lock().fence = None;
            }
            finish(&group, outcome);
            drop(slot);
        });
    }
}

/// Takes queued batches, oldest first, while they fit one proposal of at most
/// `network::APPEND_BYTES` (always at least one). A follower must take in an AppendEntries
/// within one heartbeat interval, and one carries that many bytes of entries, or a single
/// larger entry: merged batches never make an entry larger than that.
fn take(inner: &Inner) -> Vec<Queued> {
    let mut queue = inner.queue.lock().unwrap_or_else(|p| p.into_inner());
    let mut group = Vec::new();
    let mut len = 0;
    let max = inner.max_proposal.min(crate::network::APPEND_BYTES);
    while let Some(next) = queue.front() {
        if !group.is_empty() && len + next.len > max {
            break;
        }
        len += next.len;
        if let Some(q) = queue.pop_front() {
            group.push(q);
        }
    }
    group
}

fn finish(group: &[Queued], outcome: std::result::Result<u64, Failure>) {
    for q in group {
        q.done.complete(outcome.clone());
    }
}
