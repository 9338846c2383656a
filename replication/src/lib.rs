//! `orbit-replication`: Raft replication of commit batches, on openraft (`storage-v2`).
//!
//! ```text
//!  leader: commit batch ─▶ Proposal (keyspaces by name) ─▶ openraft ─▶ LogStore (orbit-wal, sync)
//!                                                            │  append entries to followers
//!  every node, in log order, once a majority holds it:       ▼
//!        StateMachine::apply ─▶ one atomic engine batch: the data + `raft:state` (applied log id)
//!  a lagging follower: snapshot (every keyspace's pairs at one engine snapshot, in a file)
//!        ─▶ sent in chunks ─▶ checked whole ─▶ installed in bounded batches
//! ```
//!
//! Modules: `types` (openraft's type configuration), `codec` (byte layouts of log records and
//! proposals), `commit_log` (`orbit-txn`'s `CommitLog` over Raft: what transactions commit through), `log_store` (the Raft log on `orbit-wal`), `durable` (how far applies are durable, which the log purges no further than), `state_machine` (the LSM as the
//! replicated state), `snapshot` (snapshot files: format, chunked I/O, directory), `network` (RPCs between nodes over TCP),
//! `node` (a running node: propose, membership, metrics).
//!
//! Invariants: openraft stays inside this crate; the Raft log is written in `sync` mode (a
//! vote or an entry is durable before Raft relies on it); the state machine's applied log id
//! is written atomically with the data it covers. What this crate does not know: SQL, Redis
//! commands, transactions above the commit batch.

mod codec;
mod commit_log;
mod durable;
mod error;
mod log_store;
mod membership;
mod network;
mod node;
mod snapshot;
mod state_machine;
mod types;

pub use codec::Proposal;
pub use commit_log::ReplicatedLog;
pub use error::{Error, Result};
pub use log_store::LogStore;
pub use membership::Status;
pub use network::{serve, Network, MAX_FRAME};
pub use node::{Committed, RaftNode, Tuning};
pub use state_machine::{StateMachine, STATE_KEYSPACE};
pub use types::{Applied, Entry, LogId, NodeId, SnapshotFile, TypeConfig};

#[cfg(test)]
mod chaos_tests;
#[cfg(test)]
mod cluster_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod txn_tests;
