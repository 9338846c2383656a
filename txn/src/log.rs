//! The commit log: where the commit pipeline hands a validated batch to be ordered and made
//! durable. Locally that is the LSM's WAL (`LocalLog`); replication implements the same trait by
//! proposing the batch to Raft and applying it on quorum, and nothing above `txn` changes.

use std::sync::Arc;

use orbit_lsm::{Db, Ordered, WriteBatch};

use crate::Result;

/// Orders commit batches and makes them durable.
pub trait CommitLog: Send + Sync {
    /// Orders `batch` after every earlier submission (calls are serialized by the commit
    /// pipeline) and starts making it durable; the caller applies the returned write (outside
    /// its lock) and waits for it to make it visible.
    fn submit<'b>(&self, batch: &'b WriteBatch) -> Result<Ordered<'b>>;
}

/// The local commit log: the database's own WAL.
pub struct LocalLog {
    db: Arc<Db>,
}

impl LocalLog {
    /// Commits to `db`'s WAL.
    pub fn new(db: Arc<Db>) -> LocalLog {
        LocalLog { db }
    }
}

impl CommitLog for LocalLog {
    fn submit<'b>(&self, batch: &'b WriteBatch) -> Result<Ordered<'b>> {
        Ok(self.db.write_ordered(batch)?)
    }
}
