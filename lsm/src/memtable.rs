//! The memtable: a concurrent skiplist of internal keys (crossbeam-skiplist), newest version of
//! each user key first. Writers insert concurrently; readers see an entry once its insert
//! returns, and filter by snapshot sequence number themselves.
//!
//! A bloom filter over the user keys (atomic bit set, sized from the memtable's capacity) lets a
//! point lookup of a key the memtable does not hold skip the skiplist search, most of a write's
//! cost when the write first reads the key (RocksDB's `memtable_whole_key_filtering`).
//!
//! Range deletes are kept apart, as tombstones and their fragments (`range_del`), behind a
//! lock that only range deletes take for writing.
//!
//! Invariant: an internal key (user key, seq, kind) is inserted at most once (sequence numbers
//! are unique), so inserts never replace an entry.

use std::cmp::Ordering;
use std::ops::Bound;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering as AtomicOrdering};
use std::sync::RwLock;

use crossbeam_skiplist::SkipMap;

use crate::key::{self, ValueKind};
use crate::range_del::{Fragments, RangeTombstone};

/// Per-entry bookkeeping charged on top of key and value bytes (skiplist node, pointers).
const ENTRY_OVERHEAD: usize = 64;

/// User keys up to this long live inside the skiplist node.
const INLINE: usize = 30;

/// A user key's bytes: inline when short, so a skiplist search compares without chasing a
/// pointer per node (the search is most of a write's time).
#[derive(Debug, Clone)]
enum UserBytes {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl UserBytes {
    fn new(b: &[u8]) -> UserBytes {
        let mut buf = [0u8; INLINE];
        match (u8::try_from(b.len()), buf.get_mut(..b.len())) {
            (Ok(len), Some(dst)) => {
                dst.copy_from_slice(b);
                UserBytes::Inline { len, buf }
            }
            _ => UserBytes::Heap(b.into()),
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            UserBytes::Inline { len, buf } => buf.get(..usize::from(*len)).unwrap_or_default(),
            UserBytes::Heap(b) => b,
        }
    }
}

/// An internal key as the memtable stores it: user key and trailer apart, ordered like
/// `key::compare` (user key ascending, trailer descending).
#[derive(Debug, Clone)]
struct MemKey {
    user: UserBytes,
    trailer: u64,
}

impl MemKey {
    fn new(user: &[u8], trailer: u64) -> MemKey {
        MemKey {
            user: UserBytes::new(user),
            trailer,
        }
    }

    /// From an encoded internal key (a malformed one sorts before every version of itself).
    fn from_internal(ikey: &[u8]) -> MemKey {
        match key::split(ikey) {
            Some((user, seq, kind)) => MemKey::new(user, key::trailer(seq, kind)),
            None => MemKey::new(ikey, u64::MAX),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let user = self.user.as_slice();
        let mut k = Vec::with_capacity(user.len() + key::TRAILER_LEN);
        k.extend_from_slice(user);
        k.extend_from_slice(&self.trailer.to_le_bytes());
        k
    }
}

impl PartialEq for MemKey {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for MemKey {}

impl Ord for MemKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.user
            .as_slice()
            .cmp(other.user.as_slice())
            .then_with(|| other.trailer.cmp(&self.trailer))
    }
}

impl PartialOrd for MemKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Bytes of memtable capacity per filter bit (~10 bits per 80-byte entry).
const BYTES_PER_FILTER_BIT: usize = 8;
const BLOOM_PROBES: u64 = 6;
/// The smallest filter (and the size `Memtable::new` gets).
const MIN_BLOOM_BITS: usize = 1 << 12;

/// A concurrent bloom filter: inserts set bits with `fetch_or`, so readers never block.
#[derive(Debug)]
struct KeyFilter {
    words: Vec<AtomicU64>,
}

impl KeyFilter {
    fn new(bits: usize) -> KeyFilter {
        let words = bits.max(MIN_BLOOM_BITS).div_ceil(64).next_power_of_two();
        KeyFilter {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn probes(&self, key: &[u8]) -> impl Iterator<Item = (usize, u64)> + '_ {
        let h = xxhash_rust::xxh3::xxh3_64(key);
        let (h1, h2) = (h, (h >> 32) | 1);
        let mask = (self.words.len() as u64 * 64) - 1;
        (0..BLOOM_PROBES).map(move |i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) & mask;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        })
    }

    fn insert(&self, key: &[u8]) {
        for (w, m) in self.probes(key) {
            if let Some(word) = self.words.get(w) {
                word.fetch_or(m, AtomicOrdering::Relaxed);
            }
        }
    }

    fn may_contain(&self, key: &[u8]) -> bool {
        self.probes(key).all(|(w, m)| {
            self.words
                .get(w)
                .is_some_and(|word| word.load(AtomicOrdering::Relaxed) & m != 0)
        })
    }
}

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter::new(MIN_BLOOM_BITS)
    }
}

/// A memtable.
#[derive(Debug, Default)]
pub struct Memtable {
    map: SkipMap<MemKey, Vec<u8>>,
    filter: KeyFilter,
    size: AtomicUsize,
    /// Whether `range_dels` holds anything (spares point reads the lock).
    has_range_dels: AtomicBool,
    range_dels: RwLock<(Vec<RangeTombstone>, Fragments)>,
}

impl Memtable {
    /// An empty memtable (with a small key filter: see `with_capacity`).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty memtable whose key filter is sized for about `bytes` of entries.
    pub fn with_capacity(bytes: usize) -> Self {
        Memtable {
            filter: KeyFilter::new(bytes / BYTES_PER_FILTER_BIT),
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
                t.start.len() + t.end.len() + ENTRY_OVERHEAD,
                AtomicOrdering::Relaxed,
            );
            let mut dels = self.range_dels.write().unwrap_or_else(|p| p.into_inner());
            dels.1.add(&t);
            dels.0.push(t);
            self.has_range_dels.store(true, AtomicOrdering::Release);
            return;
        }
        self.size.fetch_add(
            user_key.len() + key::TRAILER_LEN + value.len() + ENTRY_OVERHEAD,
            AtomicOrdering::Relaxed,
        );
        // The filter first: a reader that finds the entry also finds its bits.
        self.filter.insert(user_key);
        self.map.insert(
            MemKey::new(user_key, key::trailer(seq, kind as u8)),
            value.to_vec(),
        );
    }

    /// Bytes charged so far (keys, values and overhead).
    pub fn approximate_size(&self) -> usize {
        self.size.load(AtomicOrdering::Relaxed)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing was inserted.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty() && !self.has_range_dels.load(AtomicOrdering::Acquire)
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
        if !self.filter.may_contain(user_key) {
            return None;
        }
        let seek = MemKey::new(user_key, key::trailer(snapshot, ValueKind::SEEK));
        let entry = self.map.lower_bound(Bound::Included(&seek))?;
        let found = entry.key();
        if found.user.as_slice() != user_key {
            return None;
        }
        let kind = ValueKind::from_u8((found.trailer & 0xff) as u8)?;
        Some((found.trailer >> 8, kind, entry.value().clone()))
    }

    /// Every entry in internal-key order (what a flush writes).
    pub fn entries(&self) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
        self.map
            .iter()
            .map(|e| (e.key().encode(), e.value().clone()))
    }

    /// The first entry whose internal key is `>= target`.
    pub fn at_or_after(&self, target: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let t = MemKey::from_internal(target);
        self.map
            .lower_bound(Bound::Included(&t))
            .map(|e| (e.key().encode(), e.value().clone()))
    }

    /// The first entry whose internal key is `> target`.
    pub fn after(&self, target: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let t = MemKey::from_internal(target);
        self.map
            .lower_bound(Bound::Excluded(&t))
            .map(|e| (e.key().encode(), e.value().clone()))
    }

    /// The last entry whose internal key is `< target`.
    pub fn before(&self, target: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
        let t = MemKey::from_internal(target);
        self.map
            .upper_bound(Bound::Excluded(&t))
            .map(|e| (e.key().encode(), e.value().clone()))
    }

    /// The first entry.
    pub fn first(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.map
            .front()
            .map(|e| (e.key().encode(), e.value().clone()))
    }

    /// The last entry.
    pub fn last(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.map
            .back()
            .map(|e| (e.key().encode(), e.value().clone()))
    }

    /// Entries from the first internal key `>= from`, in order.
    pub fn entries_from(&self, from: &[u8]) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
        let start = MemKey::from_internal(from);
        self.map
            .range((Bound::Included(start), Bound::Unbounded))
            .map(|e| (e.key().encode(), e.value().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::sync::Arc;

    proptest! {
        #[test]
        fn gets_at_any_snapshot_match_a_model(
            ops in proptest::collection::vec((proptest::collection::vec(0u8..3, 0..3), any::<bool>(), any::<u8>()), 1..100),
            snapshots in proptest::collection::vec(0u64..120, 1..6),
        ) {
            let m = Memtable::new();
            let mut model: BTreeMap<Vec<u8>, BTreeMap<u64, Option<u8>>> = BTreeMap::new();
            for (seq, (k, put, v)) in ops.iter().enumerate() {
                let seq = seq as u64 + 1;
                if *put {
                    m.insert(k, seq, ValueKind::Put, &[*v]);
                } else {
                    m.insert(k, seq, ValueKind::Delete, &[]);
                }
                model.entry(k.clone()).or_default().insert(seq, put.then_some(*v));
            }
            for (k, versions) in &model {
                for &snap in &snapshots {
                    let want = versions.range(..=snap).next_back().map(|(s, v)| match v {
                        Some(v) => (*s, ValueKind::Put, vec![*v]),
                        None => (*s, ValueKind::Delete, vec![]),
                    });
                    prop_assert_eq!(m.get(k, snap), want);
                }
            }
            // Entries come out in internal-key order: user key ascending, newest first.
            let keys: Vec<Vec<u8>> = m.entries().map(|(k, _)| k).collect();
            prop_assert!(keys.windows(2).all(|w| key::compare(&w[0], &w[1]) == Ordering::Less));
            prop_assert_eq!(keys.len(), ops.len());
        }
    }

    proptest! {
        /// The node keys order exactly like encoded internal keys, short (inline) or long.
        #[test]
        fn node_keys_order_like_internal_keys(
            a in proptest::collection::vec(0u8..3, 0..40),
            b in proptest::collection::vec(0u8..3, 0..40),
            ta in any::<u64>(),
            tb in any::<u64>(),
        ) {
            let (ka, kb) = (MemKey::new(&a, ta), MemKey::new(&b, tb));
            prop_assert_eq!(ka.cmp(&kb), key::compare(&ka.encode(), &kb.encode()));
            prop_assert_eq!(MemKey::from_internal(&ka.encode()).cmp(&ka), Ordering::Equal);
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
        assert!(m.approximate_size() >= 4000 * ENTRY_OVERHEAD);
    }
}
