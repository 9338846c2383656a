//! The commit log: where the commit pipeline hands a validated batch to be ordered and made
//! durable. Locally that is the LSM's WAL (`LocalLog`); replication implements the same trait by
//! proposing the batch to Raft and completing it once it is committed and applied, and nothing
//! above `txn` changes.

use std::sync::Arc;

use orbit_lsm::{Db, Ordered, WriteBatch};

use crate::pending::Completion;
use crate::Result;

/// A batch the log took.
pub enum Submitted<'b> {
    /// Ordered in this node's WAL: the caller inserts it into the memtables.
    Local(Ordered<'b>),
    /// Handed to a replicated log, which completes it once the batch is committed and
    /// visible on this node (or failed). The log takes batches in submission order and
    /// commits them in that order.
    Replicated(Arc<Completion>),
}

/// Whether a read may run now ([`CommitLog::read_gate`]).
pub enum ReadGate {
    /// Run it.
    Ready,
    /// Run it once this completes (whatever its outcome: then ask again).
    Wait(Arc<Completion>),
    /// Do not: this node cannot serve it (a follower, without follower reads).
    Refuse(crate::Error),
}

/// Which node takes commits ([`CommitLog::leadership`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// This one.
    Here,
    /// Another node: its client addresses as this node knows them (`resp HOST:PORT, pg
    /// HOST:PORT`, see [`client_address`]; `raft HOST:PORT` until it has said), or `None`
    /// while no leader is known.
    Elsewhere(Option<String>),
}

/// The address for `protocol` (`resp`, `pg`) in a leader's description (`resp HOST:PORT, pg
/// HOST:PORT`, as nodes advertise themselves); `None` if it names none.
pub fn client_address<'a>(leader: &'a str, protocol: &str) -> Option<&'a str> {
    leader.split(", ").find_map(|part| {
        let (name, addr) = part.split_once(' ')?;
        (name == protocol && !addr.is_empty()).then_some(addr)
    })
}

/// Orders commit batches and makes them durable.
pub trait CommitLog: Send + Sync {
    /// Orders `batch` after every earlier submission (calls are serialized by the commit
    /// pipeline) and starts making it durable. `since` is the snapshot a transaction read at
    /// (`None` for a write outside transactions): a log may refuse a transaction whose
    /// snapshot predates writes the commit pipeline did not see (a replicated node that
    /// applied another leader's writes).
    fn submit<'b>(&self, batch: &'b WriteBatch, since: Option<u64>) -> Result<Submitted<'b>>;

    /// Changes whenever writes reach the database other than through [`CommitLog::submit`]
    /// (a follower applying its leader's log): caches of what the database holds compare it.
    fn epoch(&self) -> u64 {
        0
    }

    /// Whether commits are replicated to other nodes.
    fn replicated(&self) -> bool {
        false
    }

    /// A stamp to take when a request arrives, before it is parsed: its reads are then
    /// linearizable with respect to it ([`CommitLog::read_gate`]).
    fn read_stamp(&self) -> u64 {
        0
    }

    /// Whether a read of a request that arrived at `stamp` may run now. Locally, always. On a
    /// replicated leader, once leadership was confirmed by a majority after the request
    /// arrived (and what was committed then is applied): a deposed leader cannot serve a
    /// stale read. On a follower, only with `follower_ok` (possibly stale reads) and while it
    /// follows a leader.
    fn read_gate(&self, _stamp: u64, _follower_ok: bool) -> ReadGate {
        ReadGate::Ready
    }

    /// Counts the starts and ends of replacements of the whole database's contents (a
    /// follower installing its leader's snapshot, in several batches): odd while one is under
    /// way. A read that ran between two equal even counts saw the database whole
    /// ([`crate::TxnDb::read_intact`]).
    fn replacements(&self) -> u64 {
        0
    }

    /// Which node takes commits now, as far as this one knows (a write on another node is
    /// refused with [`crate::Error::NotLeader`], or forwarded there by the protocol layer).
    fn leadership(&self) -> Leadership {
        Leadership::Here
    }
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
    fn submit<'b>(&self, batch: &'b WriteBatch, _since: Option<u64>) -> Result<Submitted<'b>> {
        Ok(Submitted::Local(self.db.write_ordered(batch)?))
    }
}

#[cfg(test)]
mod tests {
    use super::client_address;

    #[test]
    fn client_addresses_are_found_by_protocol() {
        let l = "resp 127.0.0.1:6379, pg 127.0.0.1:5432";
        assert_eq!(client_address(l, "resp"), Some("127.0.0.1:6379"));
        assert_eq!(client_address(l, "pg"), Some("127.0.0.1:5432"));
        assert_eq!(client_address("resp 10.0.0.1:7000", "pg"), None);
        assert_eq!(client_address("raft 10.0.0.1:7000", "resp"), None);
        assert_eq!(client_address("", "resp"), None);
        assert_eq!(client_address("resp ", "resp"), None);
    }
}
