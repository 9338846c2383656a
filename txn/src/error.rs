//! Errors of the transaction layer, each with the PostgreSQL SQLSTATE an SQL front end reports.

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// An error of a transaction or of the store under it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The storage engine failed (I/O, corruption, poisoned after a failed write).
    #[error(transparent)]
    Lsm(#[from] orbit_lsm::Error),
    /// The transaction cannot commit without breaking its isolation level; retry it.
    #[error("could not serialize access due to {0}")]
    SerializationFailure(&'static str),
    /// The transaction already committed or rolled back.
    #[error("transaction is already {0}")]
    Finished(&'static str),
    /// `rollback_to` or `release` named a savepoint that does not exist.
    #[error("savepoint \"{0}\" does not exist")]
    NoSuchSavepoint(String),
    /// A row this statement must lock is locked by another open transaction: undo the
    /// statement and run it again once that one may have ended (never reaches clients unless
    /// a lock or statement timeout expires).
    #[error("could not obtain lock on row")]
    LockBusy,
    /// A row this statement must lock is locked by another open transaction, and the
    /// statement asked not to wait (`FOR UPDATE NOWAIT`).
    #[error("could not obtain lock on row")]
    LockNotAvailable,
    /// A row this statement must lock is locked by another open transaction, and the
    /// statement leaves such rows out (`FOR UPDATE SKIP LOCKED`): its reader skips the row
    /// (never reaches clients).
    #[error("could not obtain lock on row (skipped)")]
    LockSkipped,
    /// Waiting for the lock would close a cycle of waiting transactions.
    #[error("deadlock detected")]
    Deadlock,
    /// This node follows a replicated leader and takes no writes; `leader` is the leader's
    /// address, if known.
    #[error("cannot write on a follower{}", leader.as_ref().map(|l| format!("; the leader is at {l}")).unwrap_or_else(|| "; no leader is known".into()))]
    NotLeader { leader: Option<String> },
    /// A follower read refused: this follower cannot show that it holds everything its
    /// leader committed more than the staleness bound ago (it lags, or has not heard from
    /// the leader lately); `heard_ms`: how long ago it last did.
    #[error("this follower may be more than {bound_ms} ms behind its leader (last heard {}): read from the leader, or try again", heard_ms.map(|m| format!("{m} ms ago")).unwrap_or_else(|| "never".into()))]
    Stale {
        heard_ms: Option<u64>,
        bound_ms: u64,
    },
    /// A follower read overlapped the install of a snapshot of the leader's database, which
    /// replaces its contents in several batches: what it read may be part old, part new.
    #[error("this follower is installing a snapshot of its leader's database: read from the leader, or try again")]
    Installing,
    /// The replicated log failed a commit: it may or may not have happened.
    #[error("replication failed, the commit's outcome is unknown: {0}")]
    Replication(String),
}

impl Error {
    /// The PostgreSQL SQLSTATE for this error.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Error::SerializationFailure(_) => "40001",
            Error::Finished(_) => "25000",
            Error::NoSuchSavepoint(_) => "3B001",
            Error::LockBusy | Error::LockNotAvailable | Error::LockSkipped => "55P03",
            Error::Deadlock => "40P01",
            // read_only_sql_transaction: what a PostgreSQL standby answers to a write.
            Error::NotLeader { .. } => "25006",
            // transaction_resolution_unknown.
            Error::Replication(_) => "40003",
            // object_not_in_prerequisite_state, as for other refused reads.
            Error::Stale { .. } | Error::Installing => "55000",
            // program_limit_exceeded: a key, or a transaction's writes, past what the engine
            // takes (a transaction's size is limited by memory long before that).
            Error::Lsm(e) if e.is_size_limit() => "54000",
            Error::Lsm(orbit_lsm::Error::UnknownKeyspace(_)) => "42P01",
            Error::Lsm(orbit_lsm::Error::Corruption { .. }) => "XX001",
            Error::Lsm(_) => "58030",
        }
    }

    /// Whether retrying the whole transaction may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::SerializationFailure(_))
    }

    /// Whether the statement found a row locked and should run again later.
    pub fn is_lock_busy(&self) -> bool {
        matches!(self, Error::LockBusy)
    }
}
