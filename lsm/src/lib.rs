//! `orbit-lsm`: the log-structured merge-tree storage engine.
//!
//! Owns keyspaces, memtables, SSTables, compaction, the manifest, snapshots, iterators and
//! checkpoints. It stands on `orbit-wal` (durability of writes not yet in a table),
//! `orbit-buffer` (the block cache) and `orbit-env` (every file operation).
//!
//! ```text
//!  write batch ─▶ WAL ─▶ memtable ─(full)─▶ immutable memtable ─(flush)─▶ L0 SSTable
//!                                                           compaction ─▶ L1 … Ln
//!  get / iterator ◀─ merge(memtables, L0 newest first, L1…Ln) at a snapshot sequence number
//! ```
//!
//! Built so far: the SSTable format (`sst`): blocks with prefix compression and restart points,
//! per-block zstd and crc32c, a bloom filter, properties and a versioned footer, read through
//! the shared block cache; the memtable (`Memtable`, a concurrent skiplist); write batches and
//! their WAL encoding (`WriteBatch`), one record each or, when larger than a record, parts
//! and a commit record (`split`), so a batch of any size commits atomically; the manifest; and the database (`Db`): keyspaces, the
//! write path with ordered publication, point reads at snapshots, flushes to L0 and recovery.
//! bounded and prefix iterators both ways (`DbIter`); leveled compaction with registered
//! snapshots and a compaction filter; range deletes (`range_del`); keyspace drops; checkpoints.
//! Not yet: subcompactions. Internal keys are `user key ‖ (seq << 8 | kind)` (`key`).
//!
//! Invariants: a table's entries strictly increase in internal-key order (the builder refuses
//! anything else); every block is checksummed and verified before use, so damage is an error
//! naming the file and offset, never wrong data. Nothing above this crate knows about SST files.

mod batch;
pub mod coding;
mod db;
mod error;
pub mod key;
mod log_record;
pub mod manifest;
mod memtable;
mod pairs;
mod prefetch;
pub mod range_del;
mod split;
pub mod sst;

pub use batch::{KeyspaceId, Op, WriteBatch};
pub use db::{
    BackupInfo, CheckpointInfo, CompactionDecision, CompactionFilter, Db, DbIter, DbOptions,
    DbStats, Direction, KeySplit, Ordered, PendingWrite, Replayer, Snapshot, VisibleAt,
    DEFAULT_KEYSPACE, MAX_KEY_LEN, MAX_VALUE_LEN,
};
pub use error::{Error, Result};
pub use log_record::LogRecord;
pub use memtable::Memtable;
pub use pairs::Pairs;
