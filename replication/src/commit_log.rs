//! The replicated commit log: `orbit-txn`'s [`CommitLog`] over Raft. The commit pipeline hands
//! it each validated batch (under the pipeline's lock, so in commit order); it proposes the
//! batch to openraft at once, in that order, and completes the commit when the batch is on a
//! majority and applied here (visible to readers), or with why it failed.
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
//! Invariants: proposals reach openraft in submission order (the send is a synchronous push
//! onto openraft's channel, made inside `submit`); the fence is set at most once per term and
//! dropped as soon as the metrics say this node does not lead.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use openraft::error::ClientWriteError;
use openraft::metrics::RaftMetrics;
use openraft::{BasicNode, Raft, ServerState};
use orbit_lsm::{Db, WriteBatch};
use orbit_txn::{CommitLog, Completion, Failure, Submitted};
use tokio::runtime::Handle;

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
}

struct Inner {
    id: NodeId,
    raft: Raft<TypeConfig>,
    db: Arc<Db>,
    foreign: Arc<Foreign>,
    max_proposal: usize,
    runtime: Handle,
    lead: Mutex<Lead>,
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
    ) -> ReplicatedLog {
        let inner = Arc::new(Inner {
            id,
            raft,
            db,
            foreign,
            max_proposal,
            runtime,
            lead: Mutex::new(Lead::default()),
        });
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
        lead.leader = m
            .current_leader
            .and_then(|id| m.membership_config.membership().get_node(&id))
            .map(|n| n.addr.clone());
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
        }
    }
}

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
        let proposal = Proposal::from_batch(&inner.db, batch)
            .map_err(|e| orbit_txn::Error::Replication(e.to_string()))?;
        if proposal.0.len() > inner.max_proposal {
            return Err(orbit_txn::Error::Lsm(orbit_lsm::Error::BatchTooLarge {
                ops: batch.len(),
                bytes: proposal.0.len(),
            }));
        }
        // Sent now, in commit order: `client_write_ff` pushes onto an unbounded channel and
        // is ready at its first poll unless Raft has stopped.
        let sent = {
            let mut send = std::pin::pin!(inner.raft.client_write_ff(proposal));
            match send.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                Poll::Ready(Ok(rx)) => rx,
                Poll::Ready(Err(e)) => return Err(orbit_txn::Error::Replication(e.to_string())),
                Poll::Pending => {
                    return Err(orbit_txn::Error::Replication("raft has stopped".into()))
                }
            }
        };
        let done = Completion::new();
        let completing = Arc::clone(&done);
        let watched = Arc::clone(inner);
        inner.runtime.spawn(async move {
            let outcome = match sent.await {
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
            completing.complete(outcome);
        });
        Ok(Submitted::Replicated(done))
    }

    fn epoch(&self) -> u64 {
        self.inner.foreign.epoch.load(Ordering::SeqCst)
    }

    fn replicated(&self) -> bool {
        true
    }
}
