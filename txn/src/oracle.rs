//! The oracle: what recent commits wrote, so a committing transaction can check that nothing
//! it depends on changed after its snapshot (optimistic validation, "first committer wins").
//!
//! Every commit records its write set (keys and deleted ranges) under its commit sequence
//! number, while any transaction that might have to check against it is open: a commit is
//! dropped once its sequence number is at or below both the oldest open transaction's snapshot
//! and the visible sequence number (no later transaction can have a snapshot before it).
//!
//! The commit critical section is short and never holds the lock across an fsync: validate,
//! submit to the commit log (which orders the batch and queues it for group commit), record,
//! release; the transaction then waits for durability outside. Submissions are therefore
//! ordered like the recorded commits.
//!
//! Writes outside transactions (the single-key fast path) are recorded only while a
//! transaction is open; otherwise the oracle remembers the highest such sequence number and a
//! transaction starting later first waits for it to be visible, so its snapshot includes every
//! write it was not told about.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;
use std::sync::{Mutex, MutexGuard};

use orbit_lsm::KeyspaceId;

use crate::log::Submitted;

use crate::{Error, Result};

/// A key in a keyspace.
pub(crate) type Key = (KeyspaceId, Vec<u8>);

/// What a transaction read or wrote, as conflict detection sees it.
#[derive(Debug, Clone)]
pub(crate) enum Item {
    Key(Key),
    /// Keys of a keyspace within bounds (a scan, or a range delete `[start, end)`).
    Range(KeyspaceId, Bound<Vec<u8>>, Bound<Vec<u8>>),
}

/// One thing to check: an item, whether it was read (else written or locked), and the
/// snapshot it was read or written against: commits after it conflict.
#[derive(Debug, Clone)]
pub(crate) struct Check {
    pub(crate) item: Item,
    pub(crate) read: bool,
    pub(crate) since: u64,
}

/// A deleted range `[start, end)` of a keyspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct DelRange {
    pub(crate) keyspace: KeyspaceId,
    pub(crate) start: Vec<u8>,
    pub(crate) end: Vec<u8>,
}

fn in_bounds(k: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let above = match lo {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(h) => k <= h.as_slice(),
        Bound::Excluded(h) => k < h.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

/// Whether `[start, end)` meets the bounds.
fn overlaps(start: &[u8], end: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    if start >= end {
        return false;
    }
    let starts_before_hi = match hi {
        Bound::Included(h) => start <= h.as_slice(),
        Bound::Excluded(h) => start < h.as_slice(),
        Bound::Unbounded => true,
    };
    let ends_after_lo = match lo {
        Bound::Included(l) | Bound::Excluded(l) => end > l.as_slice(),
        Bound::Unbounded => true,
    };
    starts_before_hi && ends_after_lo
}

#[derive(Default)]
struct State {
    /// The newest recorded commit of each key: a key check is one lookup, a range check a
    /// scan of the recently written keys in the range.
    latest: BTreeMap<Key, u64>,
    /// Recorded range deletes, oldest first.
    ranges: VecDeque<(u64, DelRange)>,
    /// Recorded commits' keys, oldest first (ascending sequence numbers), for forgetting them.
    log: VecDeque<(u64, Vec<Key>)>,
    /// Recorded commits of at least `BULK_KEYS` keys, oldest first, each with its keys sorted:
    /// kept out of `latest` (an index build or a COPY writes millions, and inserting each
    /// into a tree cost more than the rest of its commit), and searched by bisection. There
    /// are few such commits at a time, as each is big.
    bulk: VecDeque<(u64, Vec<Key>)>,
    /// Open transactions by registration sequence number.
    active: BTreeMap<u64, usize>,
    /// The highest sequence number written without being recorded.
    unrecorded: u64,
    /// Provisional numbers handed out (replicated commits; see [`Oracle::commit`]).
    provisionals: u64,
    /// Transaction ids handed out (the last one; ids start at 1).
    begun: u64,
    /// Ids of the open transactions.
    open: BTreeSet<u64>,
}

/// Where provisional numbers start: above every sequence number a snapshot can have.
const PROVISIONAL: u64 = 1 << 63;

/// A commit writing at least this many keys is recorded in `State::bulk`.
const BULK_KEYS: usize = 1024;

impl State {
    fn record(&mut self, seq: u64, keys: Vec<Key>, ranges: Vec<DelRange>) {
        let bulk = keys.len() >= BULK_KEYS;
        self.record_as(seq, keys, ranges, bulk);
    }

    fn record_as(&mut self, seq: u64, mut keys: Vec<Key>, ranges: Vec<DelRange>, bulk: bool) {
        if bulk {
            if !keys.is_sorted() {
                keys.sort_unstable();
            }
            self.bulk.push_back((seq, keys));
        } else {
            for k in &keys {
                self.latest.insert(k.clone(), seq);
            }
            self.log.push_back((seq, keys));
        }
        self.ranges.extend(ranges.into_iter().map(|r| (seq, r)));
    }

    /// Whether a bulk commit after `since` wrote a key of `keyspace` within the bounds.
    fn bulk_wrote(
        &self,
        keyspace: KeyspaceId,
        lo: &Bound<Vec<u8>>,
        hi: &Bound<Vec<u8>>,
        since: u64,
    ) -> bool {
        self.bulk.iter().any(|(seq, keys)| {
            if *seq <= since {
                return false;
            }
            // The first key of the keyspace at or above `lo`.
            let first = keys.partition_point(|(ks, k)| {
                *ks < keyspace
                    || (*ks == keyspace
                        && match lo {
                            Bound::Included(l) => k < l,
                            Bound::Excluded(l) => k <= l,
                            Bound::Unbounded => false,
                        })
            });
            keys.get(first)
                .is_some_and(|(ks, k)| *ks == keyspace && in_bounds(k, lo, hi))
        })
    }

    /// Whether a commit after `since` wrote something `item` covers.
    fn conflicts(&self, item: &Item, since: u64) -> bool {
        match item {
            Item::Key(k) => {
                self.latest.get(k).is_some_and(|&seq| seq > since)
                    || self
                        .bulk
                        .iter()
                        .any(|(seq, keys)| *seq > since && keys.binary_search(k).is_ok())
                    || self.ranges.iter().any(|(seq, r)| {
                        *seq > since
                            && r.keyspace == k.0
                            && r.start.as_slice() <= k.1.as_slice()
                            && k.1 < r.end
                    })
            }
            Item::Range(ks, lo, hi) => {
                let from = (*ks, Vec::new());
                let to = ks.checked_add(1).map(|next| (next, Vec::new()));
                let keys = match &to {
                    Some(to) => self.latest.range(from..to.clone()),
                    None => self.latest.range(from..),
                };
                let lo_key = match lo {
                    Bound::Included(l) | Bound::Excluded(l) => Some(l.as_slice()),
                    Bound::Unbounded => None,
                };
                keys.skip_while(|(k, _)| lo_key.is_some_and(|l| k.1.as_slice() < l))
                    .take_while(|(k, _)| in_bounds(&k.1, &Bound::Unbounded, hi))
                    .any(|(k, &seq)| seq > since && in_bounds(&k.1, lo, hi))
                    || self.bulk_wrote(*ks, lo, hi, since)
                    || self.ranges.iter().any(|(seq, r)| {
                        *seq > since && r.keyspace == *ks && overlaps(&r.start, &r.end, lo, hi)
                    })
            }
        }
    }

    fn gc(&mut self, visible: u64) {
        let horizon = self
            .active
            .keys()
            .next()
            .copied()
            .unwrap_or(u64::MAX)
            .min(visible);
        while self.log.front().is_some_and(|(seq, _)| *seq <= horizon) {
            if let Some((seq, keys)) = self.log.pop_front() {
                for k in keys {
                    if self.latest.get(&k) == Some(&seq) {
                        self.latest.remove(&k);
                    }
                }
            }
        }
        while self.bulk.front().is_some_and(|(seq, _)| *seq <= horizon) {
            self.bulk.pop_front();
        }
        while self.ranges.front().is_some_and(|(seq, _)| *seq <= horizon) {
            self.ranges.pop_front();
        }
    }
}

/// Conflict tracking for one database.
#[derive(Default)]
pub(crate) struct Oracle {
    state: Mutex<State>,
}

impl Oracle {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers an open transaction whose reads start at or after `visible`; returns the
    /// sequence number it is registered under, the one its snapshot must include, and its
    /// id (ids rise in the order transactions begin).
    pub(crate) fn begin(&self, visible: u64) -> (u64, u64, u64) {
        let mut st = self.lock();
        *st.active.entry(visible).or_insert(0) += 1;
        st.begun += 1;
        let id = st.begun;
        st.open.insert(id);
        (visible, st.unrecorded, id)
    }

    /// The id the next transaction to begin will get.
    pub(crate) fn horizon(&self) -> u64 {
        self.lock().begun + 1
    }

    /// Whether every transaction with an id below `horizon` has ended.
    pub(crate) fn ended_before(&self, horizon: u64) -> bool {
        self.lock().open.first().is_none_or(|&id| id >= horizon)
    }

    /// Unregisters transaction `id`, registered at `registered`.
    pub(crate) fn end(&self, registered: u64, id: u64, visible: u64) {
        let mut st = self.lock();
        st.open.remove(&id);
        if let Some(n) = st.active.get_mut(&registered) {
            *n -= 1;
            if *n == 0 {
                st.active.remove(&registered);
            }
        }
        st.gc(visible);
    }

    /// Validates `checks` against the commits recorded after each check's snapshot; if none
    /// conflicts, submits the batch (`submit`) and records its writes, all under the lock. The
    /// caller applies a local write after this returns (the lock is released): inserting it
    /// into the memtables is the long part, and concurrent commits do it in parallel.
    ///
    /// A replicated submission's sequence number is known only once it completes: its writes
    /// are recorded under a provisional number above every snapshot (so every open
    /// transaction conflicts with them) and the caller settles them (`settle`) when it
    /// completes. Returns that provisional number.
    pub(crate) fn commit<'b>(
        &self,
        checks: &[Check],
        footprint: impl FnOnce() -> (Vec<Key>, Vec<DelRange>),
        visible: u64,
        submit: impl FnOnce() -> Result<Submitted<'b>>,
    ) -> Result<(Submitted<'b>, Option<u64>)> {
        let mut st = self.lock();
        st.gc(visible);
        if let Some(check) = checks.iter().find(|c| st.conflicts(&c.item, c.since)) {
            return Err(Error::SerializationFailure(if check.read {
                "read/write dependencies among transactions"
            } else {
                "concurrent update"
            }));
        }
        let submitted = submit()?;
        let provisional = match &submitted {
            Submitted::Local(ordered) => {
                if let Some(seq) = ordered.seq() {
                    if st.active.is_empty() {
                        st.unrecorded = st.unrecorded.max(seq);
                    } else {
                        let (keys, ranges) = footprint();
                        st.record(seq, keys, ranges);
                    }
                }
                None
            }
            // Recorded even with no transaction open: one may begin before it completes, and
            // it cannot wait for a sequence number nobody knows yet.
            Submitted::Replicated(_) => {
                let p = PROVISIONAL + st.provisionals;
                st.provisionals += 1;
                let (keys, ranges) = footprint();
                st.record(p, keys, ranges);
                Some(p)
            }
        };
        Ok((submitted, provisional))
    }

    /// Gives the writes recorded under `provisional` their commit sequence number, once the
    /// replicated commit completed; a failed one gets `visible` (it may still be committed
    /// by a later leader, and its writes are not forgotten earlier than a completed write's
    /// would be: the replicated log refuses transactions older than a change of leader).
    pub(crate) fn settle(&self, provisional: u64, seq: Option<u64>, visible: u64) {
        let seq = seq.unwrap_or(visible);
        let mut st = self.lock();
        let st = &mut *st;
        if let Some(entry) = st.log.iter_mut().rev().find(|(s, _)| *s == provisional) {
            entry.0 = seq;
            for k in &entry.1 {
                if let Some(latest) = st.latest.get_mut(k) {
                    if *latest == provisional {
                        *latest = seq;
                    }
                }
            }
        }
        for b in st.bulk.iter_mut().rev() {
            if b.0 == provisional {
                b.0 = seq;
            }
        }
        for r in st.ranges.iter_mut().rev() {
            if r.0 == provisional {
                r.0 = seq;
            }
        }
    }

    /// Whether a commit after `since` wrote something `item` covers (an early look at what
    /// [`Oracle::commit`] would find: a transaction that waited for a row lock learns at once
    /// that the row changed under its snapshot).
    pub(crate) fn changed_since(&self, item: &Item, since: u64) -> bool {
        self.lock().conflicts(item, since)
    }

    /// Forgets commits no open or future transaction can conflict with.
    pub(crate) fn gc(&self, visible: u64) {
        self.lock().gc(visible);
    }

    /// Commits tracked (for tests and statistics).
    pub(crate) fn tracked(&self) -> usize {
        let st = self.lock();
        st.log.len() + st.bulk.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Key {
        (0, k.as_bytes().to_vec())
    }

    #[test]
    fn ranges_and_keys_conflict_where_they_meet() {
        // Recorded key by key and as a bulk commit: the same answers.
        for bulk in [false, true] {
            ranges_and_keys_conflict_where_they_meet_as(bulk);
        }
    }

    fn ranges_and_keys_conflict_where_they_meet_as(bulk: bool) {
        let mut st = State::default();
        st.record_as(
            5,
            vec![key("b"), key("d")],
            vec![DelRange {
                keyspace: 0,
                start: b"m".to_vec(),
                end: b"p".to_vec(),
            }],
            bulk,
        );
        // Another keyspace's writes, on both sides of keyspace 0's, touch none of its keys.
        st.record_as(
            6,
            vec![(1, b"a".to_vec()), (1, b"n".to_vec())],
            vec![],
            bulk,
        );
        let range = |lo: Bound<&str>, hi: Bound<&str>| {
            let f = |b: Bound<&str>| b.map(|s| s.as_bytes().to_vec());
            Item::Range(0, f(lo), f(hi))
        };
        let c = |item: &Item| st.conflicts(item, 4);
        assert!(c(&Item::Key(key("b"))));
        assert!(
            !st.conflicts(&Item::Key(key("b")), 5),
            "not after its own snapshot"
        );
        assert!(!c(&Item::Key(key("c"))));
        assert!(c(&Item::Key(key("n"))));
        assert!(!c(&Item::Key(key("p"))));
        assert!(!c(&Item::Key((1, b"b".to_vec()))));
        assert!(c(&Item::Key((1, b"n".to_vec()))));
        assert!(c(&range(Bound::Included("c"), Bound::Included("d"))));
        assert!(!c(&range(Bound::Included("c"), Bound::Excluded("d"))));
        assert!(!c(&range(Bound::Excluded("d"), Bound::Excluded("m"))));
        assert!(c(&range(Bound::Excluded("d"), Bound::Included("m"))));
        assert!(c(&range(Bound::Included("o"), Bound::Unbounded)));
        assert!(!c(&range(Bound::Included("p"), Bound::Unbounded)));
        assert!(c(&range(Bound::Unbounded, Bound::Unbounded)));
        assert!(!c(&range(Bound::Included("z"), Bound::Included("a"))));
        assert!(
            c(&range(Bound::Excluded("a"), Bound::Excluded("b\0"))),
            "bulk: {bulk}"
        );
        assert!(!c(&range(Bound::Excluded("b"), Bound::Excluded("d"))));
        st.gc(6);
        assert!(
            !st.conflicts(&Item::Key(key("b")), 4),
            "forgotten once no one can conflict"
        );
        assert!(st.latest.is_empty() && st.log.is_empty() && st.ranges.is_empty());
        assert!(st.bulk.is_empty());
    }
}
