//! The replication crate's errors.

use orbit_wal::Lsn;

/// What can go wrong in the Raft log or the state machine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Raft log's WAL failed (I/O, poisoned, closed).
    #[error("raft log: {0}")]
    Wal(#[from] orbit_wal::Error),
    /// A snapshot file could not be read or written.
    #[error("snapshot file: {0}")]
    Env(#[from] orbit_env::Error),
    /// The storage engine under the state machine failed.
    #[error("state machine: {0}")]
    Lsm(#[from] orbit_lsm::Error),
    /// A record of the Raft log does not decode: the log is damaged or from another format.
    #[error("raft log record at lsn {lsn} is malformed: {what}")]
    CorruptLog { lsn: Lsn, what: &'static str },
    /// A proposal (an encoded commit batch) does not decode.
    #[error("raft proposal is malformed: {0}")]
    CorruptProposal(&'static str),
    /// Snapshot data does not decode or fails its checksum.
    #[error("raft snapshot is malformed: {0}")]
    CorruptSnapshot(&'static str),
    /// A batch names a keyspace this database does not have.
    #[error("keyspace {0} is unknown")]
    UnknownKeyspace(u32),
    /// A log entry or proposal is larger than the encoding allows.
    #[error("{what} of {len} bytes is larger than the limit of {max}")]
    TooLarge {
        what: &'static str,
        len: usize,
        max: usize,
    },
    /// Encoding or decoding Raft metadata (membership, applied state).
    #[error("raft metadata: {0}")]
    Json(#[from] serde_json::Error),
    /// This node is not the leader; `leader_*` name the one it knows of, if any.
    #[error("not the raft leader{}", leader_addr.as_ref().map(|a| format!(" (the leader is at {a})")).unwrap_or_default())]
    NotLeader {
        leader_id: Option<u64>,
        leader_addr: Option<String>,
    },
    /// openraft refused or failed (shut down, fatal storage error, configuration).
    #[error("raft: {0}")]
    Raft(String),
    /// The state machine failed before making durable what the Raft log waited for.
    #[error("the state machine failed before its applies were durable")]
    StateMachineFailed,
    /// A blocking task was cancelled or panicked.
    #[error("raft storage task failed: {0}")]
    Task(String),
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
