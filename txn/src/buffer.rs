//! A transaction's buffered writes: the latest write of each key, the ranges it deleted, and
//! an undo log so savepoints can roll back to any earlier point.
//!
//! The undo log is kept only while a savepoint is held (`mark` starts it, `forget_undo` ends
//! it): a transaction without one rolls back whole, and a COPY of millions of rows outside a
//! block would otherwise hold a second copy of every key.
//!
//! Invariant: a key in `writes` was written after every buffered range delete covering it (a
//! range delete erases the buffered writes it covers), so a read finds the newest buffered
//! state of a key as: its entry in `writes`, else deleted if a buffered range covers it, else
//! whatever the snapshot holds. The commit batch replays this in that order: range deletes
//! first, then the writes.

use std::collections::BTreeMap;
use std::ops::Bound;

use orbit_lsm::{KeyspaceId, WriteBatch};

use crate::oracle::{DelRange, Key};

/// What the buffer says about a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Buffered {
    /// Written (`None`: deleted) by this transaction.
    Written(Option<Vec<u8>>),
    /// Inside a range this transaction deleted.
    RangeDeleted,
    /// Not touched: read the snapshot.
    Untouched,
}

enum Undo {
    /// Restore the key's previous buffered write (`None`: it had none).
    Key(Key, Option<Option<Vec<u8>>>),
    /// Drop the last range and put back the writes it erased.
    Range(Vec<(Key, Option<Vec<u8>>)>),
    /// Drop every write from `first` to `last` (inclusive) and put back `kept`: the writes
    /// buffered in that span before a sorted run was written over it.
    Span {
        first: Key,
        last: Key,
        kept: Vec<(Key, Option<Vec<u8>>)>,
    },
}

#[derive(Default)]
pub(crate) struct WriteBuffer {
    writes: BTreeMap<Key, Option<Vec<u8>>>,
    ranges: Vec<DelRange>,
    undo: Vec<Undo>,
    /// Whether changes are recorded in `undo` (a savepoint is held).
    recording: bool,
}

impl WriteBuffer {
    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.ranges.is_empty()
    }

    /// Whether any buffered write or range deletion is in `keyspace`.
    pub(crate) fn touches(&self, keyspace: KeyspaceId) -> bool {
        self.ranges.iter().any(|r| r.keyspace == keyspace)
            || self
                .writes
                .range((keyspace, Vec::new())..)
                .next()
                .is_some_and(|((k, _), _)| *k == keyspace)
    }

    pub(crate) fn write(&mut self, keyspace: KeyspaceId, key: &[u8], value: Option<&[u8]>) {
        let k = (keyspace, key.to_vec());
        if self.recording {
            let prev = self.writes.insert(k.clone(), value.map(<[u8]>::to_vec));
            self.undo.push(Undo::Key(k, prev));
        } else {
            self.writes.insert(k, value.map(<[u8]>::to_vec));
        }
    }

    /// Writes `pairs`, whose keys ascend strictly, as one `write` each would, in one pass:
    /// a run merged into the map as a whole (a bulk build when the map holds nothing else)
    /// instead of a search from the root and a copied key per pair; its undo is one span.
    /// Pairs not strictly ascending are written one by one.
    pub(crate) fn write_sorted(&mut self, keyspace: KeyspaceId, pairs: Vec<(Vec<u8>, Vec<u8>)>) {
        if !pairs.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)) {
            for (k, v) in pairs {
                self.write(keyspace, &k, Some(&v));
            }
            return;
        }
        let (Some(first), Some(last)) = (pairs.first(), pairs.last()) else {
            return;
        };
        let (first, last) = ((keyspace, first.0.clone()), (keyspace, last.0.clone()));
        let kept: Vec<(Key, Option<Vec<u8>>)> = if self.recording {
            self.writes
                .range(first.clone()..=last.clone())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let mut run: BTreeMap<Key, Option<Vec<u8>>> = pairs
            .into_iter()
            .map(|(k, v)| ((keyspace, k), Some(v)))
            .collect();
        // `append` keeps `run`'s value of a key both hold: the later write wins.
        self.writes.append(&mut run);
        if self.recording {
            self.undo.push(Undo::Span { first, last, kept });
        }
    }

    pub(crate) fn delete_range(&mut self, keyspace: KeyspaceId, start: &[u8], end: &[u8]) {
        if start >= end {
            return;
        }
        let covered: Vec<Key> = self
            .writes
            .range((keyspace, start.to_vec())..(keyspace, end.to_vec()))
            .map(|(k, _)| k.clone())
            .collect();
        let mut erased = Vec::new();
        for k in covered {
            if let Some(v) = self.writes.remove(&k) {
                if self.recording {
                    erased.push((k, v));
                }
            }
        }
        self.ranges.push(DelRange {
            keyspace,
            start: start.to_vec(),
            end: end.to_vec(),
        });
        if self.recording {
            self.undo.push(Undo::Range(erased));
        }
    }

    pub(crate) fn lookup(&self, keyspace: KeyspaceId, key: &[u8]) -> Buffered {
        if let Some(v) = self.writes.get(&(keyspace, key.to_vec())) {
            return Buffered::Written(v.clone());
        }
        if self.range_covers(keyspace, key) {
            return Buffered::RangeDeleted;
        }
        Buffered::Untouched
    }

    /// Buffered range deletes of `keyspace`.
    pub(crate) fn ranges_of(&self, keyspace: KeyspaceId) -> Vec<DelRange> {
        self.ranges
            .iter()
            .filter(|r| r.keyspace == keyspace)
            .cloned()
            .collect()
    }

    pub(crate) fn range_covers(&self, keyspace: KeyspaceId, key: &[u8]) -> bool {
        self.ranges
            .iter()
            .any(|r| r.keyspace == keyspace && r.start.as_slice() <= key && key < r.end.as_slice())
    }

    /// Buffered writes of `keyspace` within the bounds, ascending.
    pub(crate) fn writes_in(
        &self,
        keyspace: KeyspaceId,
        lo: &Bound<Vec<u8>>,
        hi: &Bound<Vec<u8>>,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let map = |b: &Bound<Vec<u8>>, unbounded: Bound<Key>| match b {
            Bound::Included(k) => Bound::Included((keyspace, k.clone())),
            Bound::Excluded(k) => Bound::Excluded((keyspace, k.clone())),
            Bound::Unbounded => unbounded,
        };
        let lo = map(lo, Bound::Included((keyspace, Vec::new())));
        let hi = match keyspace.checked_add(1) {
            Some(next) => map(hi, Bound::Excluded((next, Vec::new()))),
            None => map(hi, Bound::Unbounded),
        };
        if let (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) =
            (&lo, &hi)
        {
            if a > b || (a == b && !matches!((&lo, &hi), (Bound::Included(_), Bound::Included(_))))
            {
                return Vec::new();
            }
        }
        self.writes
            .range((lo, hi))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect()
    }

    /// The undo position a savepoint remembers; changes are recorded from here on.
    pub(crate) fn mark(&mut self) -> usize {
        self.recording = true;
        self.undo.len()
    }

    /// No savepoint is held any more: the undo log is dropped and no longer kept.
    pub(crate) fn forget_undo(&mut self) {
        self.recording = false;
        self.undo = Vec::new();
    }

    /// Undoes everything after `mark`.
    pub(crate) fn rollback_to(&mut self, mark: usize) {
        while self.undo.len() > mark {
            match self.undo.pop() {
                Some(Undo::Key(k, Some(prev))) => {
                    self.writes.insert(k, prev);
                }
                Some(Undo::Key(k, None)) => {
                    self.writes.remove(&k);
                }
                Some(Undo::Range(erased)) => {
                    self.ranges.pop();
                    self.writes.extend(erased);
                }
                Some(Undo::Span { first, last, kept }) => {
                    let mut after = self.writes.split_off(&first);
                    let mut rest = after.split_off(&last);
                    rest.remove(&last);
                    self.writes.append(&mut rest);
                    self.writes.extend(kept);
                }
                None => break,
            }
        }
    }

    /// Keys written and ranges deleted, for conflict checks and the oracle's record.
    pub(crate) fn footprint(&self) -> (Vec<Key>, Vec<DelRange>) {
        (self.writes.keys().cloned().collect(), self.ranges.clone())
    }

    /// The commit batch: range deletes, then the writes. Leaves the buffer empty: the
    /// writes move into the batch, which a commit of millions of rows would otherwise hold
    /// beside a copy of them.
    pub(crate) fn take_batch(&mut self) -> WriteBatch {
        let mut b = WriteBatch::new();
        for r in std::mem::take(&mut self.ranges) {
            b.delete_range(r.keyspace, &r.start, &r.end);
        }
        for ((ks, k), v) in std::mem::take(&mut self.writes) {
            b.push_owned(ks, k, v);
        }
        self.undo = Vec::new();
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn touches_names_the_keyspaces_written() {
        let mut b = WriteBuffer::default();
        assert!(!b.touches(0));
        assert_eq!(b.mark(), 0);
        b.write(2, b"", None);
        b.delete_range(5, b"a", b"b");
        assert!(b.touches(2) && b.touches(5));
        assert!(!b.touches(1) && !b.touches(3) && !b.touches(4));
        b.rollback_to(0);
        assert!(!b.touches(2) && !b.touches(5));
    }

    #[test]
    fn savepoints_undo_writes_and_range_deletes() {
        let mut b = WriteBuffer::default();
        b.write(0, b"a", Some(b"1"));
        let sp = b.mark();
        b.write(0, b"a", Some(b"2"));
        b.write(0, b"c", None);
        b.delete_range(0, b"a", b"b");
        assert_eq!(b.lookup(0, b"a"), Buffered::RangeDeleted);
        b.write(0, b"a", Some(b"3"));
        assert_eq!(b.lookup(0, b"a"), Buffered::Written(Some(b"3".to_vec())));
        assert_eq!(b.lookup(0, b"c"), Buffered::Written(None));
        assert_eq!(b.lookup(1, b"a"), Buffered::Untouched);
        b.rollback_to(sp);
        assert_eq!(b.lookup(0, b"a"), Buffered::Written(Some(b"1".to_vec())));
        assert_eq!(b.lookup(0, b"c"), Buffered::Untouched);
        assert_eq!(
            b.writes_in(0, &Bound::Unbounded, &Bound::Unbounded),
            vec![(b"a".to_vec(), Some(b"1".to_vec()))]
        );
        let footprint = b.footprint();
        let batch = b.take_batch();
        assert_eq!(batch.len(), 1);
        assert_eq!(crate::footprint(&batch).0, footprint.0);
        assert!(b.is_empty());
    }

    /// One step of a buffer's life, for the model test below.
    #[derive(Debug, Clone)]
    enum Step {
        Write(u8, u8, Option<u8>),
        Sorted(u8, Vec<(u8, u8)>),
        DeleteRange(u8, u8, u8),
        Mark,
        Rollback,
        Release,
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (0..2u8, any::<u8>(), proptest::option::of(any::<u8>()))
                .prop_map(|(ks, k, v)| Step::Write(ks, k % 16, v)),
            (
                0..2u8,
                proptest::collection::vec((0..16u8, any::<u8>()), 0..8)
            )
                .prop_map(|(ks, pairs)| Step::Sorted(ks, pairs)),
            (0..2u8, 0..16u8, 0..16u8).prop_map(|(ks, a, b)| Step::DeleteRange(ks, a, b)),
            Just(Step::Mark),
            Just(Step::Rollback),
            Just(Step::Release),
        ]
    }

    proptest::proptest! {
        /// A sorted run written at once (keys ascending or not) leaves the buffer as the
        /// same writes made one by one would, through range deletes, savepoints, rollbacks
        /// and releases (which drop one buffer's undo log once none is held): every key's
        /// lookup, the writes listed and the keys written agree.
        #[test]
        fn a_sorted_run_is_its_writes_one_by_one(steps in proptest::collection::vec(step(), 0..40)) {
            let (mut bulk, mut single) = (WriteBuffer::default(), WriteBuffer::default());
            let mut marks: Vec<(usize, usize)> = Vec::new();
            for s in steps {
                match s {
                    Step::Write(ks, k, v) => {
                        let v = v.map(|v| vec![v]);
                        bulk.write(KeyspaceId::from(ks), &[k], v.as_deref());
                        single.write(KeyspaceId::from(ks), &[k], v.as_deref());
                    }
                    Step::Sorted(ks, mut pairs) => {
                        // Mostly strictly ascending runs (the fast path); sometimes as drawn.
                        if pairs.first().is_some_and(|p| p.1 % 4 != 0) {
                            pairs.sort_by_key(|p| p.0);
                            pairs.dedup_by_key(|p| p.0);
                        }
                        for (k, v) in &pairs {
                            single.write(KeyspaceId::from(ks), &[*k], Some(&[*v]));
                        }
                        let pairs = pairs.into_iter().map(|(k, v)| (vec![k], vec![v])).collect();
                        bulk.write_sorted(KeyspaceId::from(ks), pairs);
                    }
                    Step::DeleteRange(ks, a, b) => {
                        bulk.delete_range(KeyspaceId::from(ks), &[a], &[b]);
                        single.delete_range(KeyspaceId::from(ks), &[a], &[b]);
                    }
                    Step::Mark => marks.push((bulk.mark(), single.mark())),
                    Step::Rollback => {
                        if let Some((b, s)) = marks.pop() {
                            bulk.rollback_to(b);
                            single.rollback_to(s);
                        }
                    }
                    // The last savepoint released: the undo log goes (only `bulk`'s, so a
                    // write kept after it is compared with one still recorded).
                    Step::Release => {
                        marks.pop();
                        if marks.is_empty() {
                            bulk.forget_undo();
                        }
                    }
                }
                for ks in 0..2u8 {
                    let ks = KeyspaceId::from(ks);
                    for k in 0..16u8 {
                        proptest::prop_assert_eq!(bulk.lookup(ks, &[k]), single.lookup(ks, &[k]));
                    }
                    proptest::prop_assert_eq!(
                        bulk.writes_in(ks, &Bound::Unbounded, &Bound::Unbounded),
                        single.writes_in(ks, &Bound::Unbounded, &Bound::Unbounded)
                    );
                }
                proptest::prop_assert_eq!(bulk.footprint().0, single.footprint().0);
            }
            // The commit batches agree, and each says what its buffer's footprint said.
            let footprint = single.footprint();
            let (b, s) = (bulk.take_batch(), single.take_batch());
            proptest::prop_assert_eq!(&b, &s);
            let taken = crate::footprint(&s);
            proptest::prop_assert_eq!(taken.0, footprint.0);
            proptest::prop_assert_eq!(taken.1.len(), footprint.1.len());
            proptest::prop_assert!(bulk.is_empty() && single.is_empty());
        }
    }
}
