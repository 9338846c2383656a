//! Orbit's Raft type configuration: what a log entry carries (a [`Proposal`]: one commit
//! batch), what applying it answers ([`Applied`]), and node identities.

use serde::{Deserialize, Serialize};

pub use crate::codec::Proposal;
pub use crate::snapshot::SnapshotFile;

/// What applying an entry produced on this node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The last sequence number the entry's writes got in this node's engine (`None` for an
    /// entry without writes: blank, membership, or an empty batch).
    pub seq: Option<u64>,
}

openraft::declare_raft_types!(
    /// Orbit's Raft types: entries carry commit batches; nodes are named by `u64` ids and
    /// reached at a `host:port` ([`openraft::BasicNode`]).
    pub TypeConfig:
        D = Proposal,
        R = Applied,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = crate::snapshot::SnapshotFile,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A node's id.
pub type NodeId = u64;
/// A log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// Errors openraft's storage traits return.
pub type StorageError = openraft::StorageError<NodeId>;
/// A log position.
pub type LogId = openraft::LogId<NodeId>;
/// Cluster membership as the state machine stores it.
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
/// A snapshot's description.
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
