//! What a node knows of its cluster ([`Status`], for metrics, health checks and
//! `orbit cluster status`) and membership changes: adding a node (as a learner that catches
//! up, then a voter) and removing one. Changes go through the leader; another node answers
//! [`Error::NotLeader`] naming it.

use std::collections::{BTreeMap, BTreeSet};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::types::NodeId;
use crate::RaftNode;

/// A node's view of its cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    /// This node.
    pub id: NodeId,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: &'static str,
    pub term: u64,
    pub leader: Option<NodeId>,
    /// The last entry in this node's log (0: none).
    pub last_log_index: u64,
    /// The last entry applied to this node's database (0: none).
    pub applied_index: u64,
    /// Voting members and learners, with their Raft addresses.
    pub voters: BTreeMap<NodeId, String>,
    pub learners: BTreeMap<NodeId, String>,
    /// On the leader: per other member, the last entry it is known to hold.
    pub matched: BTreeMap<NodeId, u64>,
}

impl Status {
    /// On the leader: per other member, how many entries it lags behind the leader's log.
    pub fn lag(&self) -> BTreeMap<NodeId, u64> {
        self.matched
            .iter()
            .map(|(id, m)| (*id, self.last_log_index.saturating_sub(*m)))
            .collect()
    }
}

/// A failed membership change: `NotLeader` when it must go to the leader.
fn forward(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> Error {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => Error::NotLeader {
            leader_id: f.leader_id,
            leader_addr: f.leader_node.map(|n| n.addr),
        },
        e => Error::Raft(e.to_string()),
    }
}

impl RaftNode {
    /// This node's view of its cluster.
    pub fn status(&self) -> Status {
        let m = self.metrics();
        let membership = m.membership_config.membership();
        let voter_ids: BTreeSet<NodeId> = membership.voter_ids().collect();
        let mut voters = BTreeMap::new();
        let mut learners = BTreeMap::new();
        for (id, node) in membership.nodes() {
            if voter_ids.contains(id) {
                voters.insert(*id, node.addr.clone());
            } else {
                learners.insert(*id, node.addr.clone());
            }
        }
        Status {
            id: m.id,
            role: match m.state {
                ServerState::Leader => "leader",
                ServerState::Follower => "follower",
                ServerState::Candidate => "candidate",
                ServerState::Learner => "learner",
                ServerState::Shutdown => "shutdown",
            },
            term: m.current_term,
            leader: m.current_leader,
            last_log_index: m.last_log_index.unwrap_or(0),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            voters,
            learners,
            matched: m
                .replication
                .iter()
                .flatten()
                .filter(|(id, _)| **id != m.id)
                .map(|(id, l)| (*id, l.map_or(0, |l| l.index)))
                .collect(),
        }
    }

    /// Adds node `id` at Raft address `addr`: first as a learner, returning once it has
    /// caught up with the log, then as a voter.
    pub async fn add_member(&self, id: NodeId, addr: &str) -> Result<()> {
        self.raft()
            .add_learner(id, BasicNode::new(addr), true)
            .await
            .map_err(forward)?;
        self.raft()
            .change_membership(ChangeMembers::AddVoterIds([id].into()), false)
            .await
            .map_err(forward)?;
        Ok(())
    }

    /// Removes node `id` from the cluster (voter or learner).
    pub async fn remove_member(&self, id: NodeId) -> Result<()> {
        let status = self.status();
        let change = if status.voters.contains_key(&id) {
            ChangeMembers::RemoveVoters([id].into())
        } else if status.learners.contains_key(&id) {
            ChangeMembers::RemoveNodes([id].into())
        } else {
            return Err(Error::Raft(format!("node {id} is not a member")));
        };
        self.raft()
            .change_membership(change, false)
            .await
            .map_err(forward)?;
        Ok(())
    }
}
