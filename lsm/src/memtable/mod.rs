//! The memtable: an arena skiplist of internal keys (`skiplist`), newest version of each user
//! key first. Any number of threads insert at once (the engine inserts outside its write lock,
//! after the batch has its sequence numbers); readers never block and see an entry once its
//! insert returns, filtering by snapshot sequence number themselves.
//!
//! A hash index over the user keys (`index`, sized from the memtable's capacity) answers a
//! point lookup with each key's newest node, or "absent", without a skiplist search: reads,
//! and writes that first read their key (every Redis command does), cost a cache miss or two
//! instead of twenty. It supersedes the whole-key bloom filter this module had.
//!
//! The engine inserts a write batch's entries for one memtable together (`insert_many`): their
//! list searches overlap, so a batch of 40 random keys costs about a third of what 40 single
//! inserts do.
//!
//! Range deletes are kept apart, as tombstones and their fragments (`range_del`), behind a
//! lock that only range deletes take for writing.
//!
//! Invariant: an internal key (user key, seq, kind) is inserted at most once (sequence numbers
//! are unique), so inserts never replace an entry.

mod arena;
mod index;
mod skiplist;

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, RwLock};

use crate::key::{self, ValueKind};
use crate::range_del::{Fragments, RangeTombstone};
use index::{KeyIndex, Lookup};
use skiplist::{Node, SkipList};

/// Per-entry bookkeeping charged for a range tombstone on top of its bytes.
const RANGE_DEL_OVERHEAD: usize = 64;

/// A target internal key as (user key, trailer); a malformed one sorts before every version of
/// itself.
fn split_target(ikey: &[u8]) -> (&[u8], u64) {
    match key::split(ikey) {
        Some((user, seq, kind)) => (user, key::trailer(seq, kind)),
        None => (ikey, u64::MAX),
    }
}

/// An entry as the memtable's readers return it: encoded internal key and value.
#[cfg(test)]
fn owned(n: Node<'_>) -> (Vec<u8>, Vec<u8>) {
    let mut k = Vec::with_capacity(n.key().len() + key::TRAILER_LEN);
    n.encode_key_into(&mut k);
    (k, n.value().to_vec())
}

/// Bytes of memtable capacity per index slot: a memtable of ~150-byte entries fills about
/// 40% of its slots; one of tiny entries may fill the index, whose keys then start to overflow.
const BYTES_PER_SLOT: usize = 64;
/// Entries [`Memtable::insert_many`] takes at a time: their index slots are prefetched as the
/// window's searches start and used once they are linked.
const WINDOW: usize = 64;
/// Versions of one key a lookup walks from the newest before it searches the list instead.
const VERSIONS_WALKED: usize = 8;

/// Where walking a key's versions from its newest ended.
enum Walk<'a> {
    /// The first version at or below the target trailer.
    Found(Node<'a>),
    /// Past the key's last version: none is old enough.
    NoneOldEnough,
    /// `VERSIONS_WALKED` versions, all too new: search instead.
    TooMany,
}

/// Walks `user_key`'s versions from `newest` (newest first) for the first one whose trailer is
/// at most `target`.
fn walk_versions<'a>(newest: Node<'a>, user_key: &[u8], target: u64) -> Walk<'a> {
    let mut version = Some(newest);
    for _ in 0..VERSIONS_WALKED {
        match version {
            Some(v) if v.key() == user_key => {
                if v.trailer() <= target {
                    return Walk::Found(v);
                }
                version = v.successor();
            }
            _ => return Walk::NoneOldEnough,
        }
    }
    Walk::TooMany
}

/// The hash of a user key that [`Memtable::get_hashed`] and the prefetches take.
pub fn key_hash(user_key: &[u8]) -> u64 {
    index::hash(user_key)
}

/// One entry for [`Memtable::insert_many`]: user key, sequence number, kind and value (as
/// [`Memtable::insert`] takes them).
pub type Put<'a> = (&'a [u8], u64, ValueKind, &'a [u8]);

/// A memtable.
#[derive(Debug, Default)]
pub struct Memtable {
    list: SkipList,
    index: KeyIndex,
    size: AtomicUsize,
    /// Whether `range_dels` holds anything (spares point reads the lock).
    has_range_dels: AtomicBool,
    range_dels: RwLock<(Vec<RangeTombstone>, Fragments)>,
}

impl Memtable {
    /// An empty memtable (with a small key index: see `with_capacity`).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty memtable whose key index is sized for about `bytes` of entries.
    pub fn with_capacity(bytes: usize) -> Self {
        Memtable {
            index: KeyIndex::new(bytes / BYTES_PER_SLOT),
            ..Self::default()
        }
    }

    /// Records `kind` for `user_key` at `seq` with `value` (empty for deletes; for a range
    /// delete, `user_key` is the start and `value` the exclusive end).
    pub fn insert(&self, user_key: &[u8], seq: u64, kind: ValueKind, value: &[u8]) {
        if kind == ValueKind::RangeDelete {
            let t = RangeTombstone {
                start: user_key.to_vec(),
                end: value.to_vec(),
                seq,
            };
            self.size.fetch_add(
                t.start.len() + t.end.len() + RANGE_DEL_OVERHEAD,
                AtomicOrdering::Relaxed,
            );
            let mut dels = self.range_dels.write().unwrap_or_else(|p| p.into_inner());
            dels.1.add(&t);
            dels.0.push(t);
            self.has_range_dels.store(true, AtomicOrdering::Release);
            return;
        }
        let trailer = key::trailer(seq, kind as u8);
        self.insert_point(user_key, trailer, value, index::hash(user_key));
    }

    /// Inserts one point entry (its user key's hash is `hash`) and records it in the index.
    fn insert_point(&self, user_key: &[u8], trailer: u64, value: &[u8], hash: u64) {
        let (size, node) = self.list.insert_node(user_key, trailer, value);
        // After linking: a node the index returns is in the list, its older versions after it.
        self.index.insert(&self.list, hash, node);
        self.size.fetch_add(size, AtomicOrdering::Relaxed);
    }

    /// Records several entries, as [`Memtable::insert`] records each, a window of
    /// [`WINDOW`] at a time: the window's range deletes as they come, then its point entries
    /// together, their list searches side by side (`SkipList::insert_many`, so their cache
    /// misses overlap) and their index slots prefetched while the searches run. Readers
    /// filter by sequence number, so only a reader at the newest sequence number (which
    /// sees writes still being applied) can tell the order apart.
    pub fn insert_many(&self, entries: &[Put<'_>]) {
        let mut points = Vec::with_capacity(entries.len().min(WINDOW));
        let mut hashes = Vec::with_capacity(entries.len().min(WINDOW));
        for window in entries.chunks(WINDOW) {
            points.clear();
            hashes.clear();
            for &(user_key, seq, kind, value) in window {
                if kind == ValueKind::RangeDelete {
                    self.insert(user_key, seq, kind, value);
                    continue;
                }
                let hash = index::hash(user_key);
                self.index.prefetch(hash);
                hashes.push(hash);
                points.push((user_key, key::trailer(seq, kind as u8), value));
            }
            if let ([(user_key, trailer, value)], [hash]) = (&points[..], &hashes[..]) {
                self.insert_point(user_key, *trailer, value, *hash);
                continue;
            }
            let mut size = 0;
            for ((bytes, node), &hash) in self.list.insert_many(&points).into_iter().zip(&hashes) {
                // After linking, as in `insert`.
                self.index.insert(&self.list, hash, node);
                size += bytes;
            }
            self.size.fetch_add(size, AtomicOrdering::Relaxed);
        }
    }

    /// Bytes charged so far (keys, values and overhead).
    pub fn approximate_size(&self) -> usize {
        self.size.load(AtomicOrdering::Relaxed)
    }

    /// Whether the key index is three quarters full (or overflowing): the engine then rotates
    /// the memtable, so that point lookups stay one or two cache misses.
    pub fn index_nearly_full(&self) -> bool {
        self.index.nearly_full()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.list.len() == 0 && !self.has_range_dels.load(AtomicOrdering::Acquire)
    }

    /// Starts loading what a lookup of a key of hash `hash` reads first: its index slot. A
    /// batch of lookups prefetches every key's slot, then (`prefetch_node`) every key's node,
    /// then looks them up: their cache misses overlap instead of coming one after another.
    pub fn prefetch_slot(&self, hash: u64) {
        self.index.prefetch(hash);
    }

    /// Starts loading the node a key of hash `hash` finds in its index slot, if the slot holds
    /// one of that hash (it reads the slot: `prefetch_slot` first).
    pub fn prefetch_node(&self, hash: u64) {
        self.index.prefetch_node(hash);
    }

    /// The range tombstones, in insertion order.
    pub fn range_dels(&self) -> Vec<RangeTombstone> {
        if !self.has_range_dels.load(AtomicOrdering::Acquire) {
            return Vec::new();
        }
        let dels = self.range_dels.read().unwrap_or_else(|p| p.into_inner());
        dels.0.clone()
    }

    /// The newest sequence number `<= snapshot` of a range tombstone covering `user_key`.
    pub fn range_del_covering(&self, user_key: &[u8], snapshot: u64) -> Option<u64> {
        if !self.has_range_dels.load(AtomicOrdering::Acquire) {
            return None;
        }
        let dels = self.range_dels.read().unwrap_or_else(|p| p.into_inner());
        dels.1.covering(user_key, snapshot)
    }

    /// The newest entry for `user_key` visible at `snapshot`, if this memtable has one: its
    /// sequence number, kind and value.
    pub fn get(&self, user_key: &[u8], snapshot: u64) -> Option<(u64, ValueKind, Vec<u8>)> {
        self.get_hashed(user_key, key_hash(user_key), snapshot)
    }

    /// [`Memtable::get`] of a key whose [`key_hash`] is `hash`.
    pub fn get_hashed(
        &self,
        user_key: &[u8],
        hash: u64,
        snapshot: u64,
    ) -> Option<(u64, ValueKind, Vec<u8>)> {
        // The first version at or below the snapshot: versions run newest first.
        let target = key::trailer(snapshot, ValueKind::SEEK);
        let walked = match self.index.find(&self.list, hash, user_key) {
            Lookup::Absent => return None,
            Lookup::Newest(newest) => match walk_versions(newest, user_key, target) {
                Walk::Found(n) => Some(n),
                Walk::NoneOldEnough => return None,
                Walk::TooMany => None,
            },
            Lookup::Unknown => None,
        };
        let found = match walked {
            Some(n) => n,
            None => self.list.seek(user_key, target, true)?,
        };
        if found.key() != user_key {
            return None;
        }
        let trailer = found.trailer();
        let kind = ValueKind::from_u8((trailer & 0xff) as u8)?;
        Some((trailer >> 8, kind, found.value().to_vec()))
    }

    /// Every entry in internal-key order, copied out (tests compare memtables with it; a
    /// flush borrows them through [`Memtable::walk`]).
    #[cfg(test)]
    pub fn entries(&self) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
        std::iter::successors(self.list.first(), |n| n.successor()).map(owned)
    }

    /// Calls `f` with every entry's internal key and value, in internal-key order, borrowed
    /// (what a flush writes; it stops at `f`'s first error). The nodes lie in the arena in
    /// insertion order, so in key order each entry would cost two cache misses, its node and
    /// its value: the walk runs a node ahead, and while `f` handles one entry the next one's
    /// value and the node after it are on their way.
    pub fn walk<E>(&self, mut f: impl FnMut(&[u8], &[u8]) -> Result<(), E>) -> Result<(), E> {
        let mut key = Vec::new();
        let mut at = self.list.first();
        if let Some(n) = at {
            n.prefetch_ahead();
        }
        while let Some(n) = at {
            let next = n.successor();
            if let Some(m) = next {
                m.prefetch_ahead();
            }
            key.clear();
            n.encode_key_into(&mut key);
            f(&key, n.value())?;
            at = next;
        }
        Ok(())
    }
}

/// A cursor over a memtable it holds: its position is a node, so a step forwards is one link
/// and costs no search and no allocation (a step backwards is a search, as in any skiplist).
/// Keys are encoded internal keys (user key, trailer).
pub struct MemCursor {
    mem: Arc<Memtable>,
    /// The current node of `mem.list` (from `Node::raw`), if positioned.
    node: Option<NonNull<u8>>,
    /// The current node's encoded internal key.
    key: Vec<u8>,
}

// SAFETY: `node` addresses immutable bytes of a list the cursor keeps alive through `mem`,
// which is itself Send and Sync; the pointer is only turned back into a node of that list.
unsafe impl Send for MemCursor {}

impl MemCursor {
    /// A cursor over `mem`, not positioned.
    pub fn new(mem: Arc<Memtable>) -> MemCursor {
        MemCursor {
            mem,
            node: None,
            key: Vec::new(),
        }
    }

    fn land(&mut self, raw: Option<NonNull<u8>>) {
        self.node = raw;
        self.key.clear();
        if let Some(raw) = raw {
            // SAFETY: `raw` came from a node of `self.mem.list`, alive while `mem` is held.
            unsafe { self.mem.list.node_at(raw) }.encode_key_into(&mut self.key);
        }
    }

    fn current(&self) -> Option<Node<'_>> {
        // SAFETY: as in `land`.
        self.node.map(|raw| unsafe { self.mem.list.node_at(raw) })
    }

    /// Whether the cursor is on an entry.
    pub fn valid(&self) -> bool {
        self.node.is_some()
    }

    /// The current entry's internal key (empty when not valid).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The current entry's value (empty when not valid).
    pub fn value(&self) -> &[u8] {
        self.current().map_or(&[][..], |n| n.value())
    }

    /// Moves to the next entry (invalid past the last).
    pub fn next(&mut self) {
        let next = self.current().and_then(|n| n.successor()).map(|n| n.raw());
        self.land(next);
    }

    /// Moves to the previous entry (invalid before the first).
    pub fn prev(&mut self) {
        let prev = self
            .current()
            .and_then(|n| self.mem.list.seek_before(n.key(), n.trailer()))
            .map(|n| n.raw());
        self.land(prev);
    }

    /// Moves to the first entry `>= target` (an internal key).
    pub fn seek(&mut self, target: &[u8]) {
        let (user, trailer) = split_target(target);
        let found = self.mem.list.seek(user, trailer, true).map(|n| n.raw());
        self.land(found);
    }

    /// Moves to the first entry.
    pub fn seek_to_first(&mut self) {
        let first = self.mem.list.first().map(|n| n.raw());
        self.land(first);
    }

    /// Moves to the last entry.
    pub fn seek_to_last(&mut self) {
        let last = self.mem.list.last().map(|n| n.raw());
        self.land(last);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cmp::Ordering;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    proptest! {
        #[test]
        fn gets_at_any_snapshot_match_a_model(
            ops in proptest::collection::vec((proptest::collection::vec(0u8..3, 0..3), any::<bool>(), any::<u8>()), 1..200),
            snapshots in proptest::collection::vec(0u64..220, 1..8),
            batch in 1usize..12,
        ) {
            let m = Memtable::new();
            let one_by_one = Memtable::new();
            let mut model: BTreeMap<Vec<u8>, BTreeMap<u64, Option<u8>>> = BTreeMap::new();
            let values: Vec<[u8; 1]> = ops.iter().map(|(_, _, v)| [*v]).collect();
            let mut puts: Vec<Put<'_>> = Vec::new();
            for (seq, ((k, put, v), value)) in ops.iter().zip(&values).enumerate() {
                let seq = seq as u64 + 1;
                let (kind, value): (ValueKind, &[u8]) = match put {
                    true => (ValueKind::Put, value),
                    false => (ValueKind::Delete, &[]),
                };
                one_by_one.insert(k, seq, kind, value);
                puts.push((k, seq, kind, value));
                model.entry(k.clone()).or_default().insert(seq, put.then_some(*v));
            }
            // In batches (versions of one key often in the same batch) or one by one: the
            // same memtable either way.
            for chunk in puts.chunks(batch) {
                m.insert_many(chunk);
            }
            prop_assert_eq!(m.approximate_size(), one_by_one.approximate_size());
            prop_assert!(m.entries().eq(one_by_one.entries()));
            for (k, versions) in &model {
                for &snap in &snapshots {
                    let want = versions.range(..=snap).next_back().map(|(s, v)| match v {
                        Some(v) => (*s, ValueKind::Put, vec![*v]),
                        None => (*s, ValueKind::Delete, vec![]),
                    });
                    prop_assert_eq!(m.get(k, snap), want);
                }
            }
            // Keys never written (the index answers "absent" without a search).
            for &snap in &snapshots {
                prop_assert_eq!(m.get(&[7], snap), None);
                prop_assert_eq!(m.get(&[0, 0, 0, 0], snap), None);
            }
            // Entries come out in internal-key order: user key ascending, newest first.
            let keys: Vec<Vec<u8>> = m.entries().map(|(k, _)| k).collect();
            prop_assert!(keys.windows(2).all(|w| key::compare(&w[0], &w[1]) == Ordering::Less));
            prop_assert_eq!(keys.len(), ops.len());
        }
    }

    proptest! {
        /// Batches mixing puts, deletes and range deletes, in windows and runs of any length:
        /// the memtable ends as one fed the same entries one by one (entries, range
        /// tombstones, what covers a key at a snapshot, reads, size).
        #[test]
        fn batches_with_range_deletes_match_single_inserts(
            ops in proptest::collection::vec(
                (0u8..3, proptest::collection::vec(0u8..3, 0..3), proptest::collection::vec(0u8..3, 0..3)),
                1..200),
            batch in 2usize..150,
            probes in proptest::collection::vec((proptest::collection::vec(0u8..3, 0..3), 0u64..210), 1..10),
        ) {
            let puts: Vec<Put<'_>> = ops
                .iter()
                .zip(1u64..)
                .map(|((kind, a, b), seq)| match kind {
                    0 => (a.as_slice(), seq, ValueKind::Put, b.as_slice()),
                    1 => (a.as_slice(), seq, ValueKind::Delete, &[][..]),
                    _ => (a.as_slice(), seq, ValueKind::RangeDelete, b.as_slice()),
                })
                .collect();
            let (batched, single) = (Memtable::new(), Memtable::new());
            for chunk in puts.chunks(batch) {
                batched.insert_many(chunk);
            }
            for &(k, seq, kind, v) in &puts {
                single.insert(k, seq, kind, v);
            }
            prop_assert!(batched.entries().eq(single.entries()));
            // A walk sees what the iterator sees, and stops at its closure's first error.
            let mut walked = Vec::new();
            batched.walk(|k, v| {
                walked.push((k.to_vec(), v.to_vec()));
                Ok::<(), ()>(())
            }).unwrap();
            prop_assert!(walked.into_iter().eq(single.entries()));
            let mut calls = 0;
            let stopped = batched.walk(|_, _| {
                calls += 1;
                if calls == 2 { Err(calls) } else { Ok(()) }
            });
            prop_assert_eq!(stopped.err(), (batched.len() >= 2).then_some(2));
            prop_assert_eq!(calls, batched.len().min(2));
            prop_assert_eq!(batched.range_dels(), single.range_dels());
            prop_assert_eq!(batched.approximate_size(), single.approximate_size());
            prop_assert_eq!(batched.len(), single.len());
            for (k, snap) in &probes {
                prop_assert_eq!(batched.range_del_covering(k, *snap), single.range_del_covering(k, *snap));
                prop_assert_eq!(batched.get(k, *snap), single.get(k, *snap));
            }
        }
    }

    proptest! {
        /// Entries come out ordered exactly like encoded internal keys, and each one's encoded
        /// key finds it again (`split_target` is the inverse of the encoding).
        #[test]
        fn entries_order_like_internal_keys(
            entries in proptest::collection::btree_map(
                (proptest::collection::vec(0u8..3, 0..40), 0u64..1000), any::<u8>(), 1..60),
        ) {
            let m = Memtable::new();
            for ((user, seq), v) in &entries {
                m.insert(user, *seq, ValueKind::Put, &[*v]);
            }
            let out: Vec<(Vec<u8>, Vec<u8>)> = m.entries().collect();
            prop_assert_eq!(out.len(), entries.len());
            prop_assert!(out.windows(2).all(|w| key::compare(&w[0].0, &w[1].0) == Ordering::Less));
            let m = Arc::new(m);
            let mut cursor = MemCursor::new(Arc::clone(&m));
            // Forwards and backwards through the cursor give the entries.
            cursor.seek_to_first();
            let mut forwards = Vec::new();
            while cursor.valid() {
                forwards.push((cursor.key().to_vec(), cursor.value().to_vec()));
                cursor.next();
            }
            prop_assert_eq!(&forwards, &out);
            cursor.seek_to_last();
            let mut backwards = Vec::new();
            while cursor.valid() {
                backwards.push((cursor.key().to_vec(), cursor.value().to_vec()));
                cursor.prev();
            }
            backwards.reverse();
            prop_assert_eq!(&backwards, &out);
            for (k, v) in &out {
                cursor.seek(k);
                prop_assert_eq!((cursor.key(), cursor.value()), (k.as_slice(), v.as_slice()));
                let (user, seq, _) = key::split(k).unwrap();
                prop_assert_eq!(&entries[&(user.to_vec(), seq)], &v[0]);
            }
        }
    }

    #[test]
    fn concurrent_writers_all_land() {
        let m = Arc::new(Memtable::new());
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    for i in 0..1000u64 {
                        m.insert(
                            format!("k{i}").as_bytes(),
                            t * 1000 + i + 1,
                            ValueKind::Put,
                            &t.to_le_bytes(),
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(m.len(), 4000);
        // The newest version of k5 is thread 3's (seq 3006).
        assert_eq!(
            m.get(b"k5", u64::MAX >> 8),
            Some((3006, ValueKind::Put, 3u64.to_le_bytes().to_vec()))
        );
        assert!(m.approximate_size() >= 4000 * (2 + 8 + 8));
    }
}
