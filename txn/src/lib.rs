//! `orbit-txn`: MVCC transactions over the LSM engine, the only door through which SQL,
//! Redis commands, time series and indexes touch data.
//!
//! ```text
//!  begin ─▶ snapshot (lsm) ─▶ reads: own buffered writes, else the snapshot
//!  commit ─▶ [oracle lock: validate ─▶ CommitLog::submit (seq, WAL queue) ─▶ record]
//!         ─▶ memtable insert (in parallel with other commits)
//!         ─▶ wait for the group commit ─▶ published in sequence order (lsm)
//! ```
//!
//! Modules: `txn` (transactions and isolation levels), `oracle` (conflict detection), `buffer`
//! (buffered writes and savepoints), `iter` (scans with read-your-own-writes), `shared_scan`
//! (a transaction's read of a range handed to other threads), `locks` and
//! `lock_wait` (row locks and waiting for them), `log` (the
//! `CommitLog` seam replication plugs into). [`TxnDb`] also offers non-transactional writes (the
//! single-key fast path most Redis commands take) with the same durability and ordering.
//!
//! Invariants: a transaction sees exactly the commits at or below its snapshot plus its own
//! writes; commits are validated and submitted in one critical section, so the order of
//! submissions is the order of validation; the lock is never held across an fsync.

mod buffer;
mod error;
mod iter;
mod lock_wait;
mod locks;
mod log;
mod oracle;
mod pending;
mod shared_scan;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod txn;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use orbit_lsm::{Db, KeyspaceId, WriteBatch};

pub use error::{Error, Result};
pub use iter::TxnIter;
pub use lock_wait::LockWait;
pub use log::{client_address, CommitLog, Leadership, LocalLog, ReadGate, Submitted};
pub use pending::{Completion, Failure, Pending};
pub use shared_scan::{PieceIter, SharedScan};
pub use txn::{Isolation, LockPolicy, ReadView, Transaction};

use oracle::{DelRange, Key, Oracle};

pub(crate) struct Shared {
    db: Arc<Db>,
    log: Arc<dyn CommitLog>,
    oracle: Oracle,
    locks: locks::LockTable,
}

/// Transactions over one database.
#[derive(Clone)]
pub struct TxnDb {
    shared: Arc<Shared>,
}

impl TxnDb {
    /// Transactions committing to `db`'s own WAL.
    pub fn new(db: Arc<Db>) -> TxnDb {
        let log = Arc::new(LocalLog::new(Arc::clone(&db)));
        TxnDb::with_log(db, log)
    }

    /// Transactions committing through `log` (e.g. a replicated log).
    pub fn with_log(db: Arc<Db>, log: Arc<dyn CommitLog>) -> TxnDb {
        TxnDb {
            shared: Arc::new(Shared {
                db,
                log,
                oracle: Oracle::default(),
                locks: locks::LockTable::default(),
            }),
        }
    }

    /// The database under the transactions (reads outside a transaction, keyspaces, stats).
    pub fn db(&self) -> &Arc<Db> {
        &self.shared.db
    }

    /// Starts a transaction.
    pub fn begin(&self, isolation: Isolation) -> Result<Transaction> {
        Transaction::begin(Arc::clone(&self.shared), isolation)
    }

    /// Orders and queues a non-transactional atomic batch (the fast path: no snapshot, no
    /// validation, but recorded so open transactions see the conflict). Durable and visible
    /// once the returned write is waited for or awaited.
    pub fn submit(&self, batch: &WriteBatch) -> Result<Pending> {
        let shared = &self.shared;
        let (submitted, provisional) = shared.oracle.commit(
            &[],
            || footprint(batch),
            shared.db.visible_seq(),
            || shared.log.submit(batch, None),
        )?;
        Ok(match submitted {
            Submitted::Local(ordered) => Pending::Local(ordered.apply()),
            Submitted::Replicated(done) => {
                if let Some(p) = provisional {
                    let shared = Arc::clone(shared);
                    done.on_complete(move |seq| {
                        shared.oracle.settle(p, seq, shared.db.visible_seq());
                    });
                }
                Pending::Replicated(done)
            }
        })
    }

    /// Changes whenever writes reach the database other than through this `TxnDb` (a
    /// follower applying its leader's log): caches of the database's contents compare it.
    pub fn epoch(&self) -> u64 {
        self.shared.log.epoch()
    }

    /// Whether commits are replicated to other nodes (a Raft cluster).
    pub fn is_replicated(&self) -> bool {
        self.shared.log.replicated()
    }

    /// A point in the order transactions begin: every transaction that began before this
    /// call has a smaller id than the value returned, every later one a larger or equal id.
    /// [`TxnDb::ended_before`] tells when the earlier ones are all over (a grace period:
    /// whatever they could see or were writing is then settled).
    pub fn horizon(&self) -> u64 {
        self.shared.oracle.horizon()
    }

    /// Whether every transaction that began before [`TxnDb::horizon`] returned `horizon` has
    /// ended (committed or rolled back).
    pub fn ended_before(&self, horizon: u64) -> bool {
        self.shared.oracle.ended_before(horizon)
    }

    /// See [`CommitLog::read_stamp`].
    pub fn read_stamp(&self) -> u64 {
        self.shared.log.read_stamp()
    }

    /// See [`CommitLog::read_gate`].
    pub fn read_gate(&self, stamp: u64, follower_ok: bool) -> ReadGate {
        self.shared.log.read_gate(stamp, follower_ok)
    }

    /// A mark to take before a read runs; [`TxnDb::read_intact`] after it tells whether what
    /// it read was whole.
    pub fn read_mark(&self) -> u64 {
        self.shared.log.replacements()
    }

    /// Whether a read that began at `mark` ([`TxnDb::read_mark`]) and has ended saw the
    /// database whole: no replacement of its contents (a snapshot install) was under way at
    /// any moment in between. [`Error::Installing`] if one may have been: the read's
    /// answer must be dropped.
    pub fn read_intact(&self, mark: u64) -> Result<()> {
        if mark % 2 == 0 && self.shared.log.replacements() == mark {
            Ok(())
        } else {
            Err(Error::Installing)
        }
    }

    /// See [`CommitLog::leadership`].
    pub fn leadership(&self) -> Leadership {
        self.shared.log.leadership()
    }

    /// Writes `batch` atomically outside any transaction; returns its commit sequence number.
    pub fn write(&self, batch: &WriteBatch) -> Result<u64> {
        self.submit(batch)?.wait()
    }

    /// Sets one key outside any transaction.
    pub fn put(&self, keyspace: KeyspaceId, key: &[u8], value: &[u8]) -> Result<u64> {
        self.write(WriteBatch::new().put(keyspace, key, value))
    }

    /// Deletes one key outside any transaction.
    pub fn delete(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<u64> {
        self.write(WriteBatch::new().delete(keyspace, key))
    }

    /// The latest committed value of `key`.
    pub fn get(&self, keyspace: KeyspaceId, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.shared.db.get(keyspace, key)?)
    }

    /// Commits the oracle is tracking for open transactions (a gauge for metrics and tests).
    pub fn tracked_commits(&self) -> usize {
        self.shared.oracle.tracked()
    }
}

/// The keys and ranges a batch writes (a committing transaction's, taken from its buffer,
/// in the buffer's key order).
pub(crate) fn footprint(batch: &WriteBatch) -> (Vec<Key>, Vec<DelRange>) {
    let mut keys = Vec::new();
    let mut ranges = Vec::new();
    for op in batch.ops() {
        if op.kind == orbit_lsm::key::ValueKind::RangeDelete {
            ranges.push(DelRange {
                keyspace: op.keyspace,
                start: op.key.clone(),
                end: op.value.clone(),
            });
        } else {
            keys.push((op.keyspace, op.key.clone()));
        }
    }
    (keys, ranges)
}
