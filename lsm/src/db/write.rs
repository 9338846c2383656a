//! The write path: a batch gets its sequence numbers under `write_lock`, is queued on the WAL
//! and inserted into the memtables; it is published (made visible) once the WAL acknowledges
//! it (`pending`).
//!
//! A batch whose one-record encoding is larger than [`Inner::max_record`] (the WAL's largest
//! record, and at most one write group) is queued as several records, parts and a commit
//! (`crate::split`), still under `write_lock` so no other record comes between them, and is
//! published from the commit's acknowledgement: the WAL acknowledges in append order and
//! refuses everything after a failure, so a successful commit means every part is written (and
//! durable in `sync` mode). Its records are produced one at a time while the WAL's queue
//! bounds what is waiting, so memory holds the batch plus about the queue's limit. Its ops are
//! inserted into memtables held by `Arc` outside the trees lock: rotation, keyspace creation
//! and drop all need `write_lock`, which the writer holds throughout, and readers and the
//! flush thread (which takes the trees lock for writing) are not held up by a long insert.
//!
//! Invariants: LSN order is sequence order (records are queued under `write_lock`); a batch's
//! ops all go into the memtables current when it got its numbers, so a flush's replay position
//! (the end of the last record of the batches it holds) never falls inside a batch's records.

use std::collections::btree_map::{BTreeMap, Entry};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use super::pending::{Pending, PendingWrite};
use super::{lock, Db, Inner, WriteState, MAX_KEY_LEN};
use crate::batch::{KeyspaceId, WriteBatch};
use crate::key::ValueKind;
use crate::memtable::Memtable;
use crate::{split, Error, Result};

impl Inner {
    /// The largest WAL payload a batch is written as: the WAL's limit, and at most one write
    /// group's worth, so a large batch goes out in pieces the writer can pipeline and pack
    /// into segments with little waste.
    pub(crate) fn max_record(&self) -> usize {
        let max = self.wal.max_record_len().min(orbit_wal::MAX_GROUP_BYTES);
        usize::try_from(max).unwrap_or(usize::MAX)
    }
}

impl Db {
    /// Applies `batch` atomically; returns once it is durable (per the WAL's sync mode) and
    /// visible.
    pub fn write(&self, batch: &WriteBatch) -> Result<()> {
        self.write_pending(batch)?.wait().map(|_| ())
    }

    /// Starts applying `batch`: it gets its sequence numbers, is queued on the WAL and
    /// inserted into the memtables, in the order of calls. It becomes durable and visible when
    /// the returned [`PendingWrite`] is waited for or awaited (this is how a commit pipeline
    /// orders commits under its own lock without holding it across the fsync). A batch of any
    /// size is accepted (see the module docs): one larger than a WAL record is written as
    /// several, and is still all or nothing, after a crash too.
    pub fn write_pending(&self, batch: &WriteBatch) -> Result<PendingWrite> {
        let inner = &self.inner;
        inner.check_poison()?;
        for op in batch.ops() {
            let len = match op.kind {
                ValueKind::RangeDelete => op.key.len().max(op.value.len()),
                _ => op.key.len(),
            };
            if len > MAX_KEY_LEN {
                return Err(Error::KeyTooLarge {
                    len,
                    max: MAX_KEY_LEN,
                });
            }
        }
        if batch.is_empty() {
            return Ok(PendingWrite {
                inner: Arc::clone(inner),
                state: None,
            });
        }
        let max_record = inner.max_record();
        let encoded = batch.encoded_len();
        let split = encoded > max_record;
        if split
            && (u32::try_from(batch.len()).is_err()
                || split::part_count(encoded, max_record).is_none())
        {
            return Err(split::too_large(batch));
        }
        inner.throttle(batch.payload_bytes());
        let mut ws = lock(&inner.write_lock);
        inner.check_poison()?;
        if inner.memtable_bytes() >= inner.opts.memtable_bytes {
            inner.rotate(&ws)?;
        }
        if split {
            return inner.write_split(ws, batch, max_record);
        }
        let first = ws.next_seq;
        let last = first + batch.len() as u64 - 1;
        let record = batch.encode(first);
        let record_len = orbit_wal::format::RECORD_HEADER_SIZE + record.len() as u64;
        let trees = inner.trees();
        for op in batch.ops() {
            if !trees.keyspaces.contains_key(&op.keyspace) {
                return Err(Error::UnknownKeyspace(op.keyspace));
            }
        }
        let handle = inner.wal.append(record)?;
        for (i, op) in batch.ops().iter().enumerate() {
            if let Some(tree) = trees.keyspaces.get(&op.keyspace) {
                tree.mem
                    .insert(&op.key, first + i as u64, op.kind, &op.value);
            }
        }
        let end_lsn = Arc::clone(&trees.end_lsn);
        drop(trees);
        ws.next_seq = last + 1;
        inner.assigned.store(last, Ordering::Release);
        Ok(PendingWrite {
            inner: Arc::clone(inner),
            state: Some(Pending {
                first,
                last,
                handle,
                end_lsn,
                record_len,
                user_bytes: batch.payload_bytes() as u64,
            }),
        })
    }
}

impl Inner {
    /// Writes a batch larger than one record as parts and a commit (see the module docs).
    fn write_split(
        self: &Arc<Self>,
        mut ws: MutexGuard<'_, WriteState>,
        batch: &WriteBatch,
        max_record: usize,
    ) -> Result<PendingWrite> {
        let first = ws.next_seq;
        let last = first + batch.len() as u64 - 1;
        let (mems, end_lsn) = {
            let trees = self.trees();
            let mut mems: BTreeMap<KeyspaceId, Arc<Memtable>> = BTreeMap::new();
            for op in batch.ops() {
                if let Entry::Vacant(e) = mems.entry(op.keyspace) {
                    let tree = trees
                        .keyspaces
                        .get(&op.keyspace)
                        .ok_or(Error::UnknownKeyspace(op.keyspace))?;
                    e.insert(Arc::clone(&tree.mem));
                }
            }
            (mems, Arc::clone(&trees.end_lsn))
        };
        let mut commit = None;
        for record in
            split::split(batch, first, max_record).ok_or_else(|| split::too_large(batch))?
        {
            let record_len = orbit_wal::format::RECORD_HEADER_SIZE + record.len() as u64;
            // A part's own acknowledgement is implied by the commit's: its handle is dropped.
            // If a part cannot be queued the batch is abandoned before it reached memory (its
            // sequence numbers are handed out again); replay drops the parts queued before.
            commit = Some((self.wal.append(record)?, record_len));
        }
        let (handle, record_len) = commit.ok_or(Error::Internal("a split batch has no records"))?;
        let mut cached: Option<(KeyspaceId, &Arc<Memtable>)> = None;
        for (i, op) in batch.ops().iter().enumerate() {
            let mem = match cached {
                Some((ks, mem)) if ks == op.keyspace => Some(mem),
                _ => mems.get(&op.keyspace),
            };
            if let Some(mem) = mem {
                cached = Some((op.keyspace, mem));
                mem.insert(&op.key, first + i as u64, op.kind, &op.value);
            }
        }
        ws.next_seq = last + 1;
        self.assigned.store(last, Ordering::Release);
        drop(ws);
        Ok(PendingWrite {
            inner: Arc::clone(self),
            state: Some(Pending {
                first,
                last,
                handle,
                end_lsn,
                record_len,
                user_bytes: batch.payload_bytes() as u64,
            }),
        })
    }
}
