//! A transaction's buffered writes: the latest write of each key, the ranges it deleted, and
//! an undo log so savepoints can roll back to any earlier point.
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
}

#[derive(Default)]
pub(crate) struct WriteBuffer {
    writes: BTreeMap<Key, Option<Vec<u8>>>,
    ranges: Vec<DelRange>,
    undo: Vec<Undo>,
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
        let prev = self.writes.insert(k.clone(), value.map(<[u8]>::to_vec));
        self.undo.push(Undo::Key(k, prev));
    }

    pub(crate) fn delete_range(&mut self, keyspace: KeyspaceId, start: &[u8], end: &[u8]) {
        if start >= end {
            return;
        }
        let erased: Vec<(Key, Option<Vec<u8>>)> = self
            .writes
            .range((keyspace, start.to_vec())..(keyspace, end.to_vec()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, _) in &erased {
            self.writes.remove(k);
        }
        self.ranges.push(DelRange {
            keyspace,
            start: start.to_vec(),
            end: end.to_vec(),
        });
        self.undo.push(Undo::Range(erased));
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

    /// The undo position a savepoint remembers.
    pub(crate) fn mark(&self) -> usize {
        self.undo.len()
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
                None => break,
            }
        }
    }

    /// Keys written and ranges deleted, for conflict checks and the oracle's record.
    pub(crate) fn footprint(&self) -> (Vec<Key>, Vec<DelRange>) {
        (self.writes.keys().cloned().collect(), self.ranges.clone())
    }

    /// The commit batch: range deletes, then the writes.
    pub(crate) fn to_batch(&self) -> WriteBatch {
        let mut b = WriteBatch::new();
        for r in &self.ranges {
            b.delete_range(r.keyspace, &r.start, &r.end);
        }
        for ((ks, k), v) in &self.writes {
            match v {
                Some(v) => b.put(*ks, k, v),
                None => b.delete(*ks, k),
            };
        }
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
        assert_eq!(b.to_batch().len(), 1);
        assert_eq!(
            b.writes_in(0, &Bound::Unbounded, &Bound::Unbounded),
            vec![(b"a".to_vec(), Some(b"1".to_vec()))]
        );
    }
}
