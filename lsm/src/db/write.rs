//! The write path: a batch gets its sequence numbers under `write_lock` and is queued on the WAL
//! ([`Db::write_ordered`]), then is inserted into the memtables outside the lock, in parallel
//! with other writers' inserts ([`Ordered::apply`]); it is published (made visible) once the
//! WAL acknowledges it and it is inserted (`pending`).
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
//! An unlogged batch ([`Db::write_unlogged`]) takes the same path without a WAL record: its
//! publication waits for nothing but the writes numbered before it, and a flush is what makes
//! it durable (the flush records the set's last sequence number, so recovery numbers every
//! later write above it; a set holding only unlogged batches leaves the replay position
//! where it was).
//!
//! Invariants: LSN order is sequence order among logged batches (records are queued under
//! `write_lock`); a batch's ops all go into the memtables current when it got its numbers,
//! so a flush's replay position (the end of the last record of the batches it holds) never
//! falls inside a batch's records; a batch is published only after its insert (the
//! `PendingWrite` exists only then), so once a rotated memtable's last sequence number is
//! visible, which the flush waits for, no insert into it is still running.

use std::collections::btree_map::{BTreeMap, Entry};
use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use super::pending::{PendingWrite, Written};
use super::{lock, Db, Inner, WriteState, MAX_KEY_LEN, MAX_VALUE_LEN};
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
    /// published: `get_latest` sees it, and readers at the visible sequence number see it
    /// once the writes other threads have in flight before it are published too
    /// ([`Db::visible_at`] waits for that).
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
        Ok(self.write_ordered(batch)?.apply())
    }

    /// The first half of [`Db::write_pending`]: `batch` gets its sequence numbers and is
    /// queued on the WAL, in the order of calls; [`Ordered::apply`] then inserts it into the
    /// memtables. A caller that orders writes under a lock of its own (the transaction
    /// oracle) applies after releasing it, so inserts of concurrent writers run in parallel
    /// and no lock is held across a skiplist search.
    pub fn write_ordered<'b>(&self, batch: &'b WriteBatch) -> Result<Ordered<'b>> {
        self.order(batch, true)
    }

    /// Applies `batch` without a WAL record: it gets its sequence numbers, goes into the
    /// memtables and is published as [`Db::write_pending`] does, but it is durable only once
    /// a flush has written its memtable ([`Db::flush`]), and a crash before loses it. For a
    /// caller that keeps its own log of what it writes and, after a crash, writes again
    /// whatever the recovered database does not hold: a Raft state machine, whose log is
    /// durable before it applies an entry, and which records in each batch the last entry
    /// it applied. Recovery never brings back part of such a batch: a flush writes every
    /// keyspace's memtable of one rotation in one manifest edit.
    pub fn write_unlogged(&self, batch: &WriteBatch) -> Result<PendingWrite> {
        Ok(self.order(batch, false)?.apply())
    }

    /// [`Db::write_ordered`], with a WAL record (`logged`) or without.
    fn order<'b>(&self, batch: &'b WriteBatch, logged: bool) -> Result<Ordered<'b>> {
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
            if op.kind != ValueKind::RangeDelete && op.value.len() > MAX_VALUE_LEN {
                return Err(Error::ValueTooLarge {
                    len: op.value.len(),
                    max: MAX_VALUE_LEN,
                });
            }
        }
        let applied = |pending| Ordered {
            insert: Insert {
                batch,
                first: 0,
                mems: Vec::new(),
            },
            pending,
        };
        if batch.is_empty() {
            return Ok(applied(PendingWrite::empty(inner)));
        }
        let max_record = inner.max_record();
        let encoded = batch.encoded_len();
        let split = logged && encoded > max_record;
        if split
            && (u32::try_from(batch.len()).is_err()
                || split::part_count(encoded, max_record).is_none())
        {
            return Err(split::too_large(batch));
        }
        inner.throttle(batch.payload_bytes());
        let mut ws = lock(&inner.write_lock);
        inner.check_poison()?;
        if inner.needs_rotation() {
            inner.rotate(&ws)?;
        }
        if split {
            return inner.write_split(ws, batch, max_record).map(applied);
        }
        let first = ws.next_seq;
        let last = first + batch.len() as u64 - 1;
        // Encoded before the trees lock is taken: readers and the flush thread wait on it.
        let record = logged.then(|| batch.encode(first));
        let trees = inner.trees();
        let mut mems: Vec<(KeyspaceId, Arc<Memtable>)> = Vec::new();
        for op in batch.ops() {
            if mems.iter().any(|(ks, _)| *ks == op.keyspace) {
                continue;
            }
            let tree = trees
                .keyspaces
                .get(&op.keyspace)
                .ok_or(Error::UnknownKeyspace(op.keyspace))?;
            mems.push((op.keyspace, Arc::clone(&tree.mem)));
        }
        let end_lsn = Arc::clone(&trees.end_lsn);
        let pending = match record {
            Some(record) => {
                let record_len = orbit_wal::format::RECORD_HEADER_SIZE + record.len() as u64;
                let handle = inner.wal.append(record)?;
                let write = Written::of(batch, first, end_lsn, record_len);
                PendingWrite::new(inner, handle, write)
            }
            None => PendingWrite::unlogged(inner, Written::of(batch, first, end_lsn, 0)),
        };
        drop(trees);
        ws.next_seq = last + 1;
        inner.assigned.store(last, Ordering::Release);
        drop(ws);
        Ok(Ordered {
            insert: Insert { batch, first, mems },
            pending,
        })
    }
}

/// A batch that has its sequence numbers and is queued on the WAL, not yet in the memtables
/// ([`Db::write_ordered`]). [`Ordered::apply`] inserts it and hands over the write to wait
/// for; dropping it unapplied inserts it too, since its sequence numbers must be published
/// before any later write can be (a flush waits for that, and relies on it: once a memtable's
/// last sequence number is visible, every insert into it is done).
#[must_use = "an ordered write must be applied"]
pub struct Ordered<'b> {
    insert: Insert<'b>,
    pending: PendingWrite,
}

/// The memtable insert an [`Ordered`] write still owes; done when applied or dropped.
struct Insert<'b> {
    batch: &'b WriteBatch,
    first: u64,
    /// The memtables the batch goes into (current when it got its numbers), per keyspace;
    /// empty once inserted.
    mems: Vec<(KeyspaceId, Arc<Memtable>)>,
}

impl Ordered<'_> {
    /// The batch's last sequence number (`None` for an empty batch).
    pub fn seq(&self) -> Option<u64> {
        self.pending.seq()
    }

    /// Inserts the batch into the memtables; wait for (or await) the returned write to make
    /// it durable and visible.
    pub fn apply(self) -> PendingWrite {
        let Ordered {
            mut insert,
            pending,
        } = self;
        insert.run();
        pending
    }
}

impl Insert<'_> {
    fn run(&mut self) {
        if self.mems.is_empty() {
            return;
        }
        let mems = &self.mems;
        let mem_of = |ks| mems.iter().find(|(k, _)| *k == ks).map(|(_, m)| &**m);
        insert_ops(mem_of, self.batch.ops(), self.first);
        self.mems.clear();
    }
}

/// Inserts `ops`, numbered from `first`, into the memtables of their keyspaces (`mem_of`;
/// an op of a keyspace it does not know is skipped), in batch order: a run of consecutive
/// ops of one keyspace goes in together, so that their list searches overlap
/// (`Memtable::insert_many`), a lone op on its own.
fn insert_ops<'m>(
    mem_of: impl Fn(KeyspaceId) -> Option<&'m Memtable>,
    ops: &[crate::batch::Op],
    first: u64,
) {
    let mut puts = Vec::new();
    let mut start = 0;
    while let Some(head) = ops.get(start) {
        let run = ops
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|op| op.keyspace == head.keyspace)
            .count();
        if let Some(mem) = mem_of(head.keyspace) {
            if run == 1 {
                mem.insert(&head.key, first + start as u64, head.kind, &head.value);
            } else {
                puts.clear();
                let numbered = ops.iter().zip(first..).skip(start).take(run);
                puts.extend(numbered.map(|(op, seq)| (&op.key[..], seq, op.kind, &op.value[..])));
                mem.insert_many(&puts);
            }
        }
        start += run;
    }
}

impl Drop for Insert<'_> {
    fn drop(&mut self) {
        // An `Ordered` dropped unapplied: its insert is dropped before its `PendingWrite`
        // (field order), which then publishes the write once the WAL acknowledges it.
        self.run();
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
        insert_ops(|ks| mems.get(&ks).map(|m| &**m), batch.ops(), first);
        ws.next_seq = last + 1;
        self.assigned.store(last, Ordering::Release);
        drop(ws);
        Ok(PendingWrite::new(
            self,
            handle,
            Written::of(batch, first, end_lsn, record_len),
        ))
    }
}
